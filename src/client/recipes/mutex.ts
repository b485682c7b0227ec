// A distributed mutex on a session's lease, queued by create revision (wait.ts has the scheme).
//
//   const session = await client.session({ ttlMs: 10_000 });
//   const m = new Mutex(client, 'locks/orders', session);
//   const token = await m.lock();                  // the fencing token: the lock key's create revision
//   await client.txn().if(m.isOwner()).then(op.put('orders/1', 'x')).commit();  // a fenced write
//   await m.unlock();
//   await m.withLock(async (token) => { ... });    // lock, run, unlock (also when fn throws)
//
// The lock key is `<name>/<lease id hex>` with an empty value, as etcd's concurrency.Mutex writes
// it, so `etcdctl lock <name>` and this mutex exclude each other. Mutexes on one session and name
// share that key: the second lock() of the same session finds it held already (etcd does the same).
//
// The holder learns it lost the lock only when its session reports `expired`; between the lease's
// end and that moment another holder may already run. Writes that must not interleave should be
// fenced: guarded by `isOwner()` in a Txn, or carry the token to a store that refuses older ones.
import { cmp, op, type Cmp } from '../etcd-kv.js';
import { FailedPreconditionError, PlacementClientError } from '../errors.js';
import { confirmOwnKey, contenderKey, firstCreated, namePrefix, sessionGone, sessionGoneError, waitDeletes, waitScope, type RecipeClient, type RecipeSession } from './wait.js';

export interface LockOptions {
  /** Aborting gives up waiting: the queued key is deleted and lock() rejects. */
  signal?: AbortSignal;
}

export class Mutex {
  private readonly prefix: string;
  private key_: string | undefined;
  private token: number | undefined;

  constructor(
    private readonly client: RecipeClient,
    readonly name: string,
    private readonly session: RecipeSession,
  ) {
    this.prefix = namePrefix(name);
  }

  /** The lock key while held (or queued), else undefined. */
  get key(): string | undefined {
    return this.key_;
  }

  /** The fencing token while held: the lock key's create revision. */
  get fencingToken(): number | undefined {
    return this.token;
  }

  /**
   * Waits until the lock is this session's; resolves with the fencing token. Rejects (and leaves
   * the queue) when the signal aborts or the session expires or closes while waiting.
   */
  async lock(options: LockOptions = {}): Promise<number> {
    if (sessionGone(this.session)) throw sessionGoneError(this.session);
    const key = contenderKey(this.prefix, this.session);
    const r = await this.client
      .txn()
      .if(cmp.createRevision(key, '=', 0))
      .then(op.put(key, '', { lease: this.session.leaseId }), op.get(this.prefix, firstCreated))
      .else(op.get(key), op.get(this.prefix, firstCreated))
      .commit({ signal: options.signal });
    // Absent: created now. Present: this session queued (or held) it before; keep its place.
    const own = r.responses[0]!;
    const myRev = r.succeeded ? r.header.revision : own.type === 'range' ? (own.range.kvs[0]?.createRevision ?? 0) : 0;
    if (myRev === 0) throw new FailedPreconditionError(`lock ${this.name}: the cluster answered the queueing Txn without ${key}`);
    this.key_ = key;
    const owner = r.responses[1]!;
    const first = owner.type === 'range' ? owner.range.kvs[0] : undefined;
    if (!first || first.createRevision === myRev) {
      this.token = myRev;
      return myRev;
    }
    const scope = waitScope(this.session, options.signal);
    try {
      await waitDeletes(this.client, this.prefix, myRev - 1, scope.signal);
      await confirmOwnKey(this.client, this.session, key, myRev, scope.signal);
    } catch (err) {
      // Leave the queue, or the next in line would wait behind a key nobody will release.
      await this.release(key, myRev).catch(() => {});
      throw err;
    } finally {
      scope.done();
    }
    this.token = myRev;
    return myRev;
  }

  /** Releases the lock (deletes the lock key if it is still the one locked). Idempotent. */
  async unlock(options: { signal?: AbortSignal } = {}): Promise<void> {
    const key = this.key_;
    const rev = this.token;
    if (key === undefined || rev === undefined) return;
    await this.release(key, rev, options.signal);
  }

  /** A Txn comparison that holds only while this mutex holds the lock (for fenced writes). */
  isOwner(): Cmp {
    if (this.key_ === undefined || this.token === undefined) throw new FailedPreconditionError(`lock ${this.name} is not held`);
    return cmp.createRevision(this.key_, '=', this.token);
  }

  /** Runs `fn` holding the lock (given the fencing token) and unlocks afterwards, whatever `fn` does. */
  async withLock<T>(fn: (fencingToken: number) => Promise<T> | T, options: LockOptions = {}): Promise<T> {
    const token = await this.lock(options);
    try {
      return await fn(token);
    } finally {
      try {
        await this.unlock();
      } catch (err) {
        // The lease then expires by itself; an unlock failure must not hide fn's outcome.
        if (!(err instanceof PlacementClientError)) throw err;
      }
    }
  }

  /** Deletes `key` only if it is still the key created at `rev` (a re-created one belongs to a later lock). */
  private async release(key: string, rev: number, signal?: AbortSignal): Promise<void> {
    await this.client.txn().if(cmp.createRevision(key, '=', rev)).then(op.delete(key)).commit({ signal });
    if (this.key_ === key) {
      this.key_ = undefined;
      this.token = undefined;
    }
  }
}
