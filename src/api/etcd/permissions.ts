// Where every etcd request's permission is checked, before it reaches Raft or the keyspace. The
// etcd Auth API (users, roles, tokens) replaces ALLOW_ALL with a guard that resolves the caller
// (src/auth/caller.ts: grpcCaller) and throws etcd's "etcdserver: permission denied"
// (PERMISSION_DENIED) or "etcdserver: invalid auth token" (UNAUTHENTICATED). One method per KV
// operation, so a Txn can be judged on everything it compares, reads and writes.
import type { CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { GrpcCallLike } from '../../auth/caller.js';

/**
 * `caughtUp`: the request is judged after its read barrier, on state at least as new as the
 * leader's commit when it arrived; its refusal is final (no catching up to decide it again).
 */
export interface KvGuard {
  range(call: GrpcCallLike, req: RangeRequest, caughtUp?: boolean): void;
  put(call: GrpcCallLike, req: PutRequest): void;
  deleteRange(call: GrpcCallLike, req: DeleteRangeRequest): void;
  txn(call: GrpcCallLike, req: TxnRequest, caughtUp?: boolean): void;
  compact(call: GrpcCallLike, req: CompactionRequest): void;
}

/** No authentication yet: every caller may do everything (etcd with auth disabled). */
export const ALLOW_ALL: KvGuard = {
  range: () => {},
  put: () => {},
  deleteRange: () => {},
  txn: () => {},
  compact: () => {},
};

// A watch create the caller may not make is answered on its own, with the stream and its other
// watchers kept (etcd's isWatchPermitted in v3rpc/watch.go). The interceptor (src/auth/guard.ts)
// judges each create and marks a refused one here with etcd's auth message; the Watch service
// answers it created + canceled with that reason.
const refusedWatches = new WeakMap<object, string>();

/** Marks a decoded WatchRequest whose create the caller may not make (`message`: etcd's auth error). */
export function refuseWatchCreate(req: object, message: string): void {
  refusedWatches.set(req, message);
}

/** The auth message a watch create was refused with, if it was. */
export function watchCreateRefusal(req: object): string | undefined {
  return refusedWatches.get(req);
}
