// Where every etcd request's permission is checked, before it reaches Raft or the keyspace. The
// etcd Auth API (users, roles, tokens) replaces ALLOW_ALL with a guard that resolves the caller
// (src/auth/caller.ts: grpcCaller) and throws etcd's "etcdserver: permission denied"
// (PERMISSION_DENIED) or "etcdserver: invalid auth token" (UNAUTHENTICATED). One method per KV
// operation, so a Txn can be judged on everything it compares, reads and writes.
import type { CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { GrpcCallLike } from '../../auth/caller.js';

export interface KvGuard {
  range(call: GrpcCallLike, req: RangeRequest): void;
  put(call: GrpcCallLike, req: PutRequest): void;
  deleteRange(call: GrpcCallLike, req: DeleteRangeRequest): void;
  txn(call: GrpcCallLike, req: TxnRequest): void;
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
