// Lockers during a chaos run: clients that take one mutex over and over and, holding it, make
// fenced writes — a Txn that writes the protected key only while their lock key still exists with
// their fencing token. Even-numbered lockers use the SDK's Mutex (src/client/recipes), odd ones
// etcd's Lock service (v3lockpb.Lock/Lock and Unlock, served by the member: src/api/etcd/lock.ts)
// on their SDK session's lease; both queue on the same keys. A locker whose session expires under
// a fault starts a new one. After the run, the committed history of the lock's keys is read by a
// fresh watch and checked (checker/locks.ts): every protected write came from the lock's owner at
// its revision.
import * as grpc from '@grpc/grpc-js';
import { Mutex, PlacementClient, cmp, op, type PlacementClientOptions, type Session } from '../../src/client/index.js';
import { LockRequest, LockResponse, UnlockRequest, UnlockResponse } from '../../proto/gen/etcd/v3lockpb/v3lock.js';
import { checkFencing, fencedValue, type FencingResult, type LockHistoryEvent } from './checker/locks.js';

export interface LockCheckResult extends FencingResult {
  lockers: number;
  /** Times a locker got the lock. */
  acquired: number;
  /** Of those, through etcd's Lock service. */
  acquiredViaService: number;
  /** Fenced writes the cluster refused because the writer no longer held the lock (its lease ended). */
  refusedStale: number;
  /** Fenced writes acknowledged as applied. */
  ackedWrites: number;
  /** Lock or write attempts that failed (faults: timeouts, expired sessions). */
  errors: number;
  /** The most frequent kinds of those errors (message with numbers elided → count). */
  errorKinds: Record<string, number>;
}

/** The mutex's name and the key its holders protect, under one prefix the check watches. */
const lockName = (prefix: string): string => `${prefix}mutex`;
const fencedKey = (prefix: string): string => `${prefix}fenced`;

/** How long one locker holds the lock: a few fenced writes. */
const WRITES_PER_HOLD = 3;
const SESSION_TTL_MS = 3000;
const OP_DEADLINE_MS = 2000;
/** How long a locker waits in etcd's Lock service before it gives up and queues again. */
const LOCK_WAIT_MS = 5000;

/** A lock a locker holds: its key, its fencing token (the key's create revision), how to let it go. */
interface Held {
  key: string;
  token: number;
  unlock(): Promise<void>;
}

export class ChaosLockers {
  private readonly stop = new AbortController();
  private readonly loops: Promise<void>[];
  private acquired = 0;
  private acquiredViaService = 0;
  private refusedStale = 0;
  private ackedWrites = 0;
  private errors = 0;
  private readonly errorKinds = new Map<string, number>();

  constructor(
    private readonly addresses: ReadonlyArray<{ id: number; grpcAddress: string }>,
    private readonly prefix: string,
    readonly startRevision: number,
    readonly lockers: number,
    /** Added to every client's options (TLS and credentials in a secure run). */
    private readonly sdk: Partial<PlacementClientOptions> = {},
    /** Learn members added at run time (the SDK's discovery), when the membership changes. */
    private readonly discover = false,
  ) {
    this.loops = Array.from({ length: lockers }, (_, i) => this.run(`locker${i}`, i));
  }

  private async run(name: string, i: number): Promise<void> {
    const endpoints = this.addresses.map((a) => a.grpcAddress);
    // Each locker starts at a different member, as the workload's clients do.
    const client = new PlacementClient({ ...this.sdk, endpoints: [...endpoints.slice(i % endpoints.length), ...endpoints.slice(0, i % endpoints.length)], discoverMembers: this.discover, deadlineMs: OP_DEADLINE_MS });
    const signal = this.stop.signal;
    let session: Session | undefined;
    try {
      while (!signal.aborted) {
        try {
          if (!session || session.state === 'expired' || session.state === 'closed') session = await client.session({ ttlMs: SESSION_TTL_MS });
          const held = i % 2 === 1 ? await this.lockViaService(client, session, i, signal) : await this.lockViaMutex(client, session, signal);
          if (!held) continue;
          this.acquired++;
          try {
            for (let w = 0; w < WRITES_PER_HOLD && !signal.aborted; w++) {
              const r = await client.txn().if(cmp.createRevision(held.key, '=', held.token)).then(op.put(fencedKey(this.prefix), fencedValue(held.token, name))).commit({ signal });
              if (r.succeeded) this.ackedWrites++;
              else {
                this.refusedStale++;
                break;
              }
            }
          } finally {
            await held.unlock().catch(() => {});
          }
        } catch (err) {
          if (signal.aborted) break;
          this.errors++;
          const kind = `${(err as Error).name}: ${(err as Error).message}`.replace(/\d+/g, 'N').slice(0, 160);
          this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + 1);
          // A fault: back off a little before queueing again.
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      await session?.close().catch(() => {});
      client.close();
    }
  }

  private async lockViaMutex(client: PlacementClient, session: Session, signal: AbortSignal): Promise<Held> {
    const m = new Mutex(client, lockName(this.prefix), session);
    const token = await m.lock({ signal });
    return { key: m.key!, token, unlock: () => m.unlock() };
  }

  /**
   * etcd's Lock service on the SDK's connection to one member (its TLS and credentials): Lock
   * answers the lock key once it is ours; its create revision is the fencing token. Undefined when
   * the key is already gone (the session's lease ended meanwhile).
   */
  private async lockViaService(client: PlacementClient, session: Session, i: number, signal: AbortSignal): Promise<Held | undefined> {
    // The members the SDK knows now (they change in membership runs), a different one each time.
    const endpoints = client.endpoints;
    const address = endpoints[(i + this.acquired) % endpoints.length]!;
    const channel = client.watchChannel(address);
    const md = await client.watchMetadata(address);
    const unary = <Req, Rep>(method: string, req: { encode(m: Req): { finish(): Uint8Array } }, rep: { decode(b: Uint8Array): Rep }, message: Req, deadlineMs: number): Promise<Rep> =>
      new Promise((resolve, reject) => {
        const call: grpc.ClientUnaryCall = channel.makeUnaryRequest(
          method,
          (m: Req) => Buffer.from(req.encode(m).finish()),
          (b: Buffer) => rep.decode(b),
          message,
          md ?? new grpc.Metadata(),
          { deadline: Date.now() + deadlineMs },
          (err, r) => {
            signal.removeEventListener('abort', cancel);
            if (err || !r) reject(err ?? new Error('empty reply'));
            else resolve(r);
          },
        );
        const cancel = (): void => call.cancel();
        signal.addEventListener('abort', cancel, { once: true });
      });
    // Waiting for the lock may take a few holds; a Lock that times out leaves the queue (the server deletes its key).
    const locked = await unary('/v3lockpb.Lock/Lock', LockRequest, LockResponse, LockRequest.fromPartial({ name: Buffer.from(lockName(this.prefix)), lease: session.leaseId }), LOCK_WAIT_MS);
    const key = Buffer.from(locked.key).toString('utf8');
    const kv = await client.etcd.range(key, { signal });
    const token = kv.kvs[0]?.createRevision;
    if (token === undefined) return undefined;
    this.acquiredViaService++;
    return { key, token, unlock: () => unary('/v3lockpb.Lock/Unlock', UnlockRequest, UnlockResponse, UnlockRequest.fromPartial({ key: locked.key }), OP_DEADLINE_MS).then(() => undefined) };
  }

  /** Stops the lockers (their sessions are closed, releasing what they held). */
  async halt(): Promise<void> {
    this.stop.abort(new Error('chaos run over'));
    await Promise.all(this.loops);
  }

  /** Once the cluster converged and wrote a last event under the prefix at `finalRevision`: the lock's committed history against the fencing rule. */
  async check(finalRevision: number, timeoutMs: number, endpoints = this.addresses.map((a) => a.grpcAddress)): Promise<LockCheckResult> {
    const counts = { lockers: this.lockers, acquired: this.acquired, acquiredViaService: this.acquiredViaService, refusedStale: this.refusedStale, ackedWrites: this.ackedWrites, errors: this.errors, errorKinds: Object.fromEntries([...this.errorKinds].sort((a, b) => b[1] - a[1]).slice(0, 5)) };
    const client = new PlacementClient({ ...this.sdk, endpoints, discoverMembers: false });
    const watch = client.watch(this.prefix, { prefix: true, startRevision: this.startRevision });
    const events: LockHistoryEvent[] = [];
    const timer = setTimeout(() => watch.close(), timeoutMs);
    let last = 0;
    try {
      for await (const b of watch) {
        for (const e of b.events) events.push({ revision: b.revision, type: e.type, key: e.kv.key, createRevision: e.kv.createRevision, value: e.kv.value.toString('utf8') });
        last = b.revision;
        if (last >= finalRevision) break;
      }
    } catch (err) {
      return { ok: false, message: `reading the lock history failed: ${(err as Error).message}`, fencedWrites: 0, ...counts };
    } finally {
      clearTimeout(timer);
      watch.close();
      client.close();
    }
    if (last < finalRevision) return { ok: false, message: `the lock history was read only up to revision ${last} of ${finalRevision}`, fencedWrites: 0, ...counts };
    const r = checkFencing(`${lockName(this.prefix)}/`, fencedKey(this.prefix), events.filter((e) => e.revision <= finalRevision));
    if (r.ok && r.fencedWrites < this.ackedWrites) {
      return { ...r, ...counts, ok: false, message: `${this.ackedWrites} fenced writes were acknowledged but the history holds ${r.fencedWrites}` };
    }
    return { ...r, ...counts, message: `${r.message}; ${this.acquired} acquisitions by ${this.lockers} lockers (${this.acquiredViaService} through the Lock service), ${this.refusedStale} stale writes refused, ${this.errors} errors` };
  }
}
