// Leader election on a session's lease, queued by create revision (wait.ts has the scheme).
//
//   const session = await client.session({ ttlMs: 10_000 });
//   const e = new Election(client, 'elections/controller', session);
//   const token = await e.campaign('broker-1');     // resolves once elected; the fencing token
//   await e.proclaim('broker-1 v2');                // change the announced value while leader
//   await e.resign();                               // the next candidate is elected
//   await e.leader();                               // { key, value, fencingToken, … } | undefined
//   for await (const l of e.observe({ signal })) …  // every leader (and proclaimed value) in turn
//
// Candidates write `<name>/<lease id hex>` = proposal, as etcd's concurrency.Election does, so
// `etcdctl elect <name>` candidates and these queue together and observe each other. The leader
// is the candidate whose key is oldest (lowest create revision); that revision is its fencing
// token: it grows with every new leader, so a store that remembers the highest token seen can
// refuse a deposed leader's late writes.
import { cmp, op, type Cmp } from '../etcd-kv.js';
import { FailedPreconditionError, InvalidArgumentError } from '../errors.js';
import { confirmOwnKey, firstCreated, contenderKey, namePrefix, sessionGone, sessionGoneError, waitDeletes, waitScope, type RecipeClient, type RecipeSession } from './wait.js';
import type { WatchBatch } from '../watch.js';

/** A leader as read from the cluster. */
export interface Leader {
  /** The leader's key: `<name>/<lease id hex>`. */
  readonly key: string;
  /** What the leader proclaimed. */
  readonly value: Buffer;
  /** The key's create revision: the leader's fencing token. */
  readonly fencingToken: number;
  /** The revision of the leader's last proclaim (or of its campaign). */
  readonly modRevision: number;
  /** The leader's lease. */
  readonly lease: number;
}

export interface CampaignOptions {
  /** Aborting gives up the campaign: the candidate key is deleted and campaign() rejects. */
  signal?: AbortSignal;
}

/** This election is not (any more) led by this candidate. */
export class NotLeaderError extends FailedPreconditionError {
  override name = 'NotLeaderError';
}

export class Election {
  private readonly prefix: string;
  private key_: string | undefined;
  /** Create revision of this candidate's key (set from the campaign's write on). */
  private rev: number | undefined;
  private leading = false;

  /** `session` is needed to campaign; observe() and leader() work without one. */
  constructor(
    private readonly client: RecipeClient,
    readonly name: string,
    private readonly session?: RecipeSession,
  ) {
    this.prefix = namePrefix(name);
  }

  /** This candidate's key while campaigning or leading. */
  get key(): string | undefined {
    return this.key_;
  }

  /** The fencing token while leading: the leader key's create revision. */
  get fencingToken(): number | undefined {
    return this.leading ? this.rev : undefined;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Becomes a candidate with `proposal` and resolves with the fencing token once elected. A
   * session that is already a candidate (or leader) keeps its place, proclaiming `proposal`.
   * Rejects, leaving the queue, when the signal aborts or the session expires or closes first.
   */
  async campaign(proposal: string | Uint8Array, options: CampaignOptions = {}): Promise<number> {
    const session = this.session;
    if (!session) throw new InvalidArgumentError(`election ${this.name}: campaign needs a session`);
    if (sessionGone(session)) throw sessionGoneError(session);
    const key = contenderKey(this.prefix, session);
    const r = await this.client
      .txn()
      .if(cmp.createRevision(key, '=', 0))
      .then(op.put(key, proposal, { lease: session.leaseId }))
      .else(op.get(key))
      .commit({ signal: options.signal });
    let rev = r.header.revision;
    if (!r.succeeded) {
      const got = r.responses[0];
      const kv = got?.type === 'range' ? got.range.kvs[0] : undefined;
      if (!kv) throw new FailedPreconditionError(`election ${this.name}: the cluster answered the campaign Txn without ${key}`);
      rev = kv.createRevision;
      this.key_ = key;
      this.rev = rev;
      if (!kv.value.equals(Buffer.from(proposal))) await this.put(proposal);
    }
    this.key_ = key;
    this.rev = rev;
    const scope = waitScope(session, options.signal);
    try {
      await waitDeletes(this.client, this.prefix, rev - 1, scope.signal);
      await confirmOwnKey(this.client, session, key, rev, scope.signal);
    } catch (err) {
      await this.resign().catch(() => {});
      throw err;
    } finally {
      scope.done();
    }
    this.leading = true;
    return rev;
  }

  /** Announces a new value while leading; NotLeaderError when the leadership is gone. */
  async proclaim(value: string | Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.leading) throw new NotLeaderError(`election ${this.name}: not the leader`);
    await this.put(value, options.signal);
  }

  /** Steps down (or leaves the queue): deletes this candidate's key if it is still the one campaigned with. */
  async resign(options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = this.key_;
    const rev = this.rev;
    if (key === undefined || rev === undefined) return;
    this.leading = false;
    await this.client.txn().if(cmp.createRevision(key, '=', rev)).then(op.delete(key)).commit({ signal: options.signal });
    if (this.key_ === key && this.rev === rev) {
      this.key_ = undefined;
      this.rev = undefined;
    }
  }

  /** A Txn comparison that holds only while this candidate leads (for fenced writes). */
  isLeaderCmp(): Cmp {
    if (!this.leading || this.key_ === undefined || this.rev === undefined) throw new NotLeaderError(`election ${this.name}: not the leader`);
    return cmp.createRevision(this.key_, '=', this.rev);
  }

  /** The current leader, or undefined when nobody leads. */
  async leader(options: { signal?: AbortSignal } = {}): Promise<Leader | undefined> {
    const r = await this.client.etcd.range(this.prefix, { ...firstCreated, signal: options.signal });
    const kv = r.kvs[0];
    return kv ? toLeader(kv) : undefined;
  }

  /**
   * Every leader in turn, and every value a leader proclaims, as they happen: first the current
   * leader (once there is one), then each change. Ends when the signal aborts. Like etcd's
   * Observe, it follows one leader key until its delete, then reads who leads next.
   */
  async *observe(options: { signal?: AbortSignal } = {}): AsyncGenerator<Leader> {
    const signal = options.signal;
    for (;;) {
      if (signal?.aborted) return;
      let current: Leader | undefined;
      let from: number;
      try {
        const r = await this.client.etcd.range(this.prefix, { ...firstCreated, signal });
        current = r.kvs[0] ? toLeader(r.kvs[0]) : undefined;
        from = r.header.revision + 1;
        if (!current) {
          // Nobody leads: the first candidate key put under the name is the next leader.
          const w = linked(signal);
          try {
            current = await firstPut(this.client.watch(this.prefix, { prefix: true, startRevision: from, filters: ['noDelete'], signal: w.signal }));
          } finally {
            w.done();
          }
          if (!current) return; // aborted
          from = current.modRevision + 1;
        }
      } catch (err) {
        if (signal?.aborted) return;
        throw err;
      }
      yield current;
      // Follow this leader's key: its proclaims, until its delete.
      let deleted = false;
      const w = linked(signal);
      try {
        for await (const b of this.client.watch(current.key, { startRevision: from, signal: w.signal })) {
          for (const e of b.events) {
            if (e.type === 'delete') {
              deleted = true;
              break;
            }
            const next: Leader = { ...current, value: e.kv.value, modRevision: e.kv.modRevision };
            current = next;
            yield next;
          }
          if (deleted) break;
        }
      } finally {
        w.done();
      }
      if (!deleted) return; // the watch ended: aborted
    }
  }

  /** Writes this candidate's key if it is still the one campaigned with. */
  private async put(value: string | Uint8Array, signal?: AbortSignal): Promise<void> {
    const key = this.key_;
    const rev = this.rev;
    const session = this.session;
    if (key === undefined || rev === undefined || !session) throw new NotLeaderError(`election ${this.name}: not a candidate`);
    const r = await this.client.txn().if(cmp.createRevision(key, '=', rev)).then(op.put(key, value, { lease: session.leaseId })).commit({ signal });
    if (!r.succeeded) {
      this.leading = false;
      this.key_ = undefined;
      this.rev = undefined;
      throw new NotLeaderError(`election ${this.name}: ${key} (created at revision ${rev}) is gone`);
    }
  }
}

function toLeader(kv: { key: Buffer | string; value: Buffer; createRevision: number; modRevision: number; lease: number }): Leader {
  return { key: kv.key.toString('utf8'), value: kv.value, fencingToken: kv.createRevision, modRevision: kv.modRevision, lease: kv.lease };
}

/**
 * A signal for one watch that aborts with `outer`: each watch listens on its own, so a long
 * observation does not pile one listener per leader change onto the caller's signal.
 */
function linked(outer: AbortSignal | undefined): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const on = (): void => ac.abort(outer!.reason);
  if (outer?.aborted) ac.abort(outer.reason);
  else outer?.addEventListener('abort', on, { once: true });
  return { signal: ac.signal, done: () => outer?.removeEventListener('abort', on) };
}

async function firstPut(w: AsyncIterable<WatchBatch>): Promise<Leader | undefined> {
  for await (const b of w) {
    const e = b.events.find((x) => x.type === 'put');
    if (e) return toLeader(e.kv);
  }
  return undefined;
}
