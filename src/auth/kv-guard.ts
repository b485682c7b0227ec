// The etcd KV service's permission checks (src/api/etcd/permissions.ts KvGuard), against the auth
// store: Range needs read, Put and DeleteRange need write (and read with prev_kv), a Txn needs read
// for every compare and what each operation of both branches needs, Compact needs root.
//
// Called by the service after a request passed etcd's own checks, so a bad request is refused as
// etcd refuses it (etcd validates in its gRPC layer and checks permissions when it serves or
// applies the request). The interceptor (guard.ts) leaves these methods to this guard: it only
// resolves the caller's identity, a token that is not valid included, and runs the handler as it.
import * as grpc from '@grpc/grpc-js';
import type { CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { AUTH_ERR } from '../../storage/index.js';
import type { KvGuard } from '../api/etcd/permissions.js';
import { ANONYMOUS_IDENTITY, type Authenticator } from './authenticator.js';
import { identityOf } from './context.js';
import { methodNeed, RECIPE_METHODS } from './decisions.js';

/** The etcd KV methods whose permission the service checks through this guard. */
export const KV_GUARDED = new Set(['/etcdserverpb.KV/Range', '/etcdserverpb.KV/Put', '/etcdserverpb.KV/DeleteRange', '/etcdserverpb.KV/Txn', '/etcdserverpb.KV/Compact']);

/** Methods whose permissions the service checks itself, per KV operation. */
export function checkedInService(path: string): boolean {
  return KV_GUARDED.has(path) || RECIPE_METHODS.has(path);
}

/** Marks the refusals of this guard: made before anything was proposed, so the call may be decided again. */
const REFUSED_BEFORE_PROPOSAL = Symbol('refusedBeforeProposal');

/** True for an error this guard threw: nothing of the call happened. */
export function refusedBeforeProposal(err: unknown): boolean {
  return typeof err === 'object' && err !== null && REFUSED_BEFORE_PROPOSAL in err;
}

export function authKvGuard(a: Authenticator): KvGuard {
  const check = (call: object, path: string, req: unknown, caughtUp = false): void => {
    const id = identityOf(call) ?? ANONYMOUS_IDENTITY;
    const refusal = a.refusal(id, methodNeed(path, req));
    if (!refusal) return;
    // etcd answers a caller without a user INVALID_ARGUMENT (rpctypes.ErrGRPCUserEmpty).
    const code = refusal.message === AUTH_ERR.userEmpty ? grpc.status.INVALID_ARGUMENT : (refusal.grpcCode as grpc.status);
    const e = new Error(refusal.message) as grpc.ServiceError;
    e.code = code;
    e.details = refusal.message;
    e.metadata = new grpc.Metadata();
    // Decided again once the member caught up (grpc-unary.ts), unless it already had; a token
    // was verified on arrival, before that, so one that did not verify is always tried again.
    if (!caughtUp || id.error) (e as unknown as Record<symbol, boolean>)[REFUSED_BEFORE_PROPOSAL] = true;
    throw e;
  };
  return {
    range: (call, req: RangeRequest, caughtUp?: boolean) => check(call, '/etcdserverpb.KV/Range', req, caughtUp),
    put: (call, req: PutRequest) => check(call, '/etcdserverpb.KV/Put', req),
    deleteRange: (call, req: DeleteRangeRequest) => check(call, '/etcdserverpb.KV/DeleteRange', req),
    txn: (call, req: TxnRequest, caughtUp?: boolean) => check(call, '/etcdserverpb.KV/Txn', req, caughtUp),
    compact: (call, req: CompactionRequest) => check(call, '/etcdserverpb.KV/Compact', req),
  };
}
