// What the election and mutex recipes share: the narrow view of the client and session they use,
// and the wait for every older contender to go away.
//
// Contenders for one name each hold a key `<name>/<lease id in hex>` attached to their session's
// lease, as etcd's concurrency package lays them out, so etcdctl's `elect` and `lock` and these
// recipes queue on the same keys. The key with the lowest create revision holds the name; the
// others wait, each on the one key created just before its own (not on the holder: when the
// holder goes, only the next in line wakes up, not the whole queue). Waiting is a watch for that
// key's delete event, never a re-read on a timer: a waiter costs one Range per predecessor that
// leaves, and nothing while nobody leaves.
import { FailedPreconditionError, InvalidArgumentError, PlacementClientError } from '../errors.js';
import type { EtcdKeyValue, EtcdKvApi, TxnBuilder } from '../etcd-kv.js';
import type { SessionState } from '../lease.js';
import { WatchCompactedError, type WatchBatch, type WatchOptions } from '../watch.js';

/** What the recipes use of a PlacementClient (a test can supply its own). */
export interface RecipeClient {
  readonly etcd: Pick<EtcdKvApi, 'range'>;
  txn(): TxnBuilder;
  watch(key: string, options?: WatchOptions): AsyncIterable<WatchBatch>;
}

/** What the recipes use of a Session (client.session() gives one). */
export interface RecipeSession {
  readonly leaseId: number;
  readonly state: SessionState;
  on(event: 'state', listener: (state: SessionState, previous: SessionState) => void): unknown;
  off(event: 'state', listener: (state: SessionState, previous: SessionState) => void): unknown;
}

/** etcd's WithFirstCreate: the oldest key under the prefix (the holder). */
export const firstCreated = { prefix: true, sortTarget: 'create', sortOrder: 'ascend', limit: 1 } as const;

/** The contender key of `session` under `prefix` (which ends with '/'): etcd's `%x` of the lease id. */
export function contenderKey(prefix: string, session: RecipeSession): string {
  return prefix + session.leaseId.toString(16);
}

/** A recipe name as a key prefix: etcd appends '/' to the name it is given. */
export function namePrefix(name: string): string {
  if (typeof name !== 'string' || name === '') throw new InvalidArgumentError(`a recipe name must be a non-empty string, got ${JSON.stringify(name)}`);
  return name + '/';
}

export function sessionGone(session: RecipeSession): boolean {
  return session.state === 'expired' || session.state === 'closed';
}

export function sessionGoneError(session: RecipeSession): FailedPreconditionError {
  return new FailedPreconditionError(`session ${session.state}: lease ${session.leaseId} is gone, and with it this contender's key`);
}

/** The error an aborted wait rejects with. */
export function abortError(signal: AbortSignal): PlacementClientError {
  const reason: unknown = signal.reason;
  if (reason instanceof PlacementClientError) return reason;
  return new PlacementClientError(1 /* CANCELLED */, `aborted: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: reason });
}

/**
 * A signal that aborts when `outer` does or when the session expires or closes (its keys are then
 * gone: waiting on would wait for a position it no longer has). `done()` detaches the listeners.
 */
export function waitScope(session: RecipeSession, outer: AbortSignal | undefined): { signal: AbortSignal; done(): void } {
  const ac = new AbortController();
  const onOuter = (): void => ac.abort(outer!.reason);
  const onState = (s: SessionState): void => {
    if (s === 'expired' || s === 'closed') ac.abort(sessionGoneError(session));
  };
  if (outer?.aborted) ac.abort(outer.reason);
  else if (sessionGone(session)) ac.abort(sessionGoneError(session));
  outer?.addEventListener('abort', onOuter, { once: true });
  session.on('state', onState);
  return {
    signal: ac.signal,
    done: () => {
      outer?.removeEventListener('abort', onOuter);
      session.off('state', onState);
    },
  };
}

/**
 * Resolves once `key` is deleted at or after revision `fromRevision`. A watch that needs compacted
 * history resolves too: the caller re-reads, which tells whether the key is still there.
 */
async function waitDelete(client: RecipeClient, key: string, fromRevision: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw abortError(signal);
  try {
    for await (const batch of client.watch(key, { startRevision: fromRevision, filters: ['noPut'], signal })) {
      if (batch.events.some((e) => e.type === 'delete')) return;
    }
  } catch (err) {
    if (err instanceof WatchCompactedError) return;
    throw err;
  }
  // The watch ends without a delete only when it was closed: by the signal.
  throw abortError(signal);
}

/** The newest key under `prefix` created at or below `maxCreateRevision` (and the read's revision). */
export async function lastCreatedBefore(
  client: RecipeClient,
  prefix: string,
  maxCreateRevision: number,
  signal: AbortSignal,
): Promise<{ kv: EtcdKeyValue | undefined; revision: number }> {
  const r = await client.etcd.range(prefix, { prefix: true, sortTarget: 'create', sortOrder: 'descend', limit: 1, maxCreateRevision, signal });
  return { kv: r.kvs[0], revision: r.header.revision };
}

/**
 * Waits until no key under `prefix` was created at or below `maxCreateRevision`: every contender
 * ahead of the caller is gone. Returns the revision at which that was read.
 */
export async function waitDeletes(client: RecipeClient, prefix: string, maxCreateRevision: number, signal: AbortSignal): Promise<number> {
  for (;;) {
    if (signal.aborted) throw abortError(signal);
    // max_create_revision 0 means "no bound" on the wire: nothing can be older than revision 1.
    if (maxCreateRevision < 1) return (await client.etcd.range(prefix, { prefix: true, countOnly: true, signal })).header.revision;
    const { kv, revision } = await lastCreatedBefore(client, prefix, maxCreateRevision, signal);
    if (!kv) return revision;
    await waitDelete(client, kv.key.toString('utf8'), revision + 1, signal);
  }
}

/**
 * After the wait: is the caller's own key still the one it queued with? Its lease may have expired
 * while it waited (the session learns that only later), and then the name is not its to take.
 */
export async function confirmOwnKey(client: RecipeClient, session: RecipeSession, key: string, createRevision: number, signal: AbortSignal): Promise<number> {
  const r = await client.etcd.range(key, { signal });
  const kv = r.kvs[0];
  if (!kv || kv.createRevision !== createRevision) {
    throw new FailedPreconditionError(`${key} (created at revision ${createRevision}) is gone: lease ${session.leaseId} expired or was revoked while waiting`);
  }
  return r.header.revision;
}
