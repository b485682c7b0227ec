// Errors on the etcd API: etcd's gRPC codes and message strings, which etcd clients match on
// (clientv3's rpctypes turns "etcdserver: no leader" into ErrNoLeader and retries Unavailable).
//
// - A request etcd would refuse (storage's KeyspaceError, AuthError): its code and message as they are.
// - An applied command's non-OK result: answered through the one result table (src/results.ts),
//   whose codes for the etcd commands are etcd's own (INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE)
//   and whose message is etcd's; never reported as success.
// - The cluster's own conditions (no leader, leadership lost, shutting down, a timeout, the
//   leader unreachable): etcd's Unavailable errors for the same conditions.
import * as grpc from '@grpc/grpc-js';
import { AuthError, KeyspaceError, codeOfAuthMessage } from '../../../storage/index.js';
import type { CommandResult } from '../../../proto/gen/placement/v1/command.js';
import { LEADER_UNREACHABLE, PlacementError, toGrpcStatus } from '../../errors.js';
import { answerResult } from '../../results.js';
import { LEADER_ADDRESS_KEY, LEADER_ID_KEY } from '../../grpc/services.js';

export const ETCD_NO_LEADER = 'etcdserver: no leader';
export const ETCD_LEADER_CHANGED = 'etcdserver: leader changed';
export const ETCD_STOPPED = 'etcdserver: server stopped';
export const ETCD_TIMEOUT = 'etcdserver: request timed out';
/** etcd's answer when a member lost its connection to the leader while a request waited. */
export const ETCD_TIMEOUT_CONNECTION_LOST = 'etcdserver: request timed out, possibly due to connection lost';
/** The same string a KV Put or Txn with a missing lease answers (storage's KeyspaceError). */
export const ETCD_LEASE_NOT_FOUND = new KeyspaceError('LEASE_NOT_FOUND').message;
export const ETCD_LEASE_EXISTS = 'etcdserver: lease already exists';
export const ETCD_LEASE_TTL_TOO_LARGE = 'etcdserver: too large lease TTL';

/** A gRPC error with etcd's code and message (the streaming services end their calls with it too). */
export function serviceError(code: grpc.status, message: string, md = new grpc.Metadata()): grpc.ServiceError {
  const e = new Error(message) as grpc.ServiceError;
  e.code = code;
  e.details = message;
  e.metadata = md;
  return e;
}

/** The cluster conditions etcd names itself; undefined when `pe` is not one of them. */
function etcdMessage(pe: PlacementError): { code: grpc.status; message: string } | undefined {
  if (pe.code === 'DEADLINE_EXCEEDED') return { code: grpc.status.UNAVAILABLE, message: ETCD_TIMEOUT };
  if (pe.code !== 'UNAVAILABLE') return undefined;
  if (pe.message.startsWith('no leader')) return { code: grpc.status.UNAVAILABLE, message: ETCD_NO_LEADER };
  if (pe.message.startsWith('leadership lost')) return { code: grpc.status.UNAVAILABLE, message: ETCD_LEADER_CHANGED };
  if (pe.message.includes('shutting down')) return { code: grpc.status.UNAVAILABLE, message: ETCD_STOPPED };
  // A follower that could not reach the leader for as long as the request could wait (nothing was
  // sent), or lost it with the request on its way (outcome unknown): etcd says the same of a
  // request that timed out while its member was not connected to the leader.
  if (pe.message.startsWith(LEADER_UNREACHABLE)) return { code: grpc.status.UNAVAILABLE, message: ETCD_TIMEOUT_CONNECTION_LOST };
  return undefined;
}

/** Any failure of an etcd call as the gRPC error an etcd client expects. */
export function toEtcdError(err: unknown): grpc.ServiceError {
  if (err instanceof KeyspaceError) return serviceError(err.grpcCode, err.message);
  if (err instanceof AuthError) return serviceError(err.grpcCode, err.message);
  if (err instanceof PlacementError) {
    // A refusal the applier made (storage/auth/recheck.ts) carries etcd's auth message: its code.
    const authCode = codeOfAuthMessage(err.message);
    if (authCode !== undefined) return serviceError(authCode, err.message);
    const md = new grpc.Metadata();
    if (err.leaderId) md.set(LEADER_ID_KEY, String(err.leaderId));
    if (err.leaderAddress) md.set(LEADER_ADDRESS_KEY, err.leaderAddress);
    const e = etcdMessage(err);
    return e ? serviceError(e.code, e.message, md) : serviceError(toGrpcStatus(err.code), err.message, md);
  }
  if (err && typeof err === 'object' && typeof (err as grpc.ServiceError).code === 'number') return err as grpc.ServiceError;
  return serviceError(grpc.status.INTERNAL, (err as Error)?.message ?? String(err));
}

/**
 * A failure of a Lease call: as toEtcdError, except that the lease operations' own "not found"
 * and "exists" (the keeper's and storage's messages name the id) answer etcd's strings, which
 * clients match on.
 */
export function toEtcdLeaseError(err: unknown): grpc.ServiceError {
  if (err instanceof PlacementError && (err.code === 'NOT_FOUND' || err.code === 'ALREADY_EXISTS')) {
    const md = new grpc.Metadata();
    if (err.leaderId) md.set(LEADER_ID_KEY, String(err.leaderId));
    if (err.leaderAddress) md.set(LEADER_ADDRESS_KEY, err.leaderAddress);
    return err.code === 'NOT_FOUND' ? serviceError(grpc.status.NOT_FOUND, ETCD_LEASE_NOT_FOUND, md) : serviceError(grpc.status.FAILED_PRECONDITION, ETCD_LEASE_EXISTS, md);
  }
  return toEtcdError(err);
}

/** An error etcd answers with a fixed code and message (a request it refuses outright). */
export function etcdError(code: grpc.status, message: string): grpc.ServiceError {
  return serviceError(code, message);
}

type Responses = NonNullable<CommandResult['response']>;
type CaseOf<C extends Responses['$case']> = Extract<Responses, { $case: C }>['value'];

/**
 * The etcd response of an applied command: the result table decides (a non-OK result throws with
 * etcd's code and message); an OK result without the expected response is an internal error,
 * never a success.
 */
export function etcdResponse<C extends Responses['$case']>(r: CommandResult, kind: C): CaseOf<C> {
  answerResult(r);
  const resp = r.response;
  if (!resp || resp.$case !== kind) {
    throw new PlacementError('INTERNAL', `the ${kind} command was applied without its response (result ${r.code}${r.message ? `: ${r.message}` : ''})`);
  }
  return resp.value as CaseOf<C>;
}
