// One error type for the whole server, so every surface (gRPC, HTTP admin, forwarding)
// maps the same failure to the same status. The SDK has its own client-side classes.
import { status as GrpcStatus } from '@grpc/grpc-js';

export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED'
  /** A revision outside the retained history (etcd's compacted / future revision). */
  | 'OUT_OF_RANGE'
  /** A retried write whose first attempt may or may not have been applied (see ResultCode). */
  | 'ABORTED'
  | 'INTERNAL';

export class PlacementError extends Error {
  override readonly name = 'PlacementError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Known leader when the error is about leadership (0 = unknown). */
    readonly leaderId = 0,
    readonly leaderAddress = '',
  ) {
    super(message);
  }
}

/** How a "the leader could not be reached" error starts (the etcd API maps it by this). */
export const LEADER_UNREACHABLE = 'cannot reach leader';

/**
 * What is known of a write this member could not forward to the leader: 'not-sent' (nothing of it
 * reached the leader), 'not-committed' (it reached a leader that lost its term before the write
 * committed: this member's log proves it never will), 'unknown' (it left; no answer).
 */
export type ForwardFate = 'not-sent' | 'not-committed' | 'unknown';

const fateWords: Record<ForwardFate, string> = {
  'not-sent': 'nothing was sent to it',
  'not-committed': 'it lost its term before the write committed; nothing was applied',
  unknown: 'outcome unknown, retry with the same client_id/seq',
};

/**
 * Whether `message` (as a client receives it) is a leader-unreachable error that says the write
 * was not applied (its fate was 'not-sent' or 'not-committed'). The chaos workload counts those
 * as definite failures, so its checker tests the claim.
 */
export function saysNothingApplied(message: string): boolean {
  return message.startsWith(LEADER_UNREACHABLE) && (message.endsWith(`; ${fateWords['not-sent']}`) || message.endsWith(`; ${fateWords['not-committed']}`));
}

/** A write this member could not forward to the leader; `fate` says what is known of it. */
export class LeaderUnreachableError extends PlacementError {
  constructor(
    leaderId: number,
    address: string,
    detail: string,
    readonly fate: ForwardFate,
  ) {
    super('UNAVAILABLE', `${LEADER_UNREACHABLE} ${leaderId}: ${detail}; ${fateWords[fate]}`, leaderId, address);
  }
}

/** A write this member could not forward to `leaderId`, with what is known of its fate. */
export function leaderUnreachable(leaderId: number, address: string, detail: string, fate: ForwardFate): LeaderUnreachableError {
  return new LeaderUnreachableError(leaderId, address, detail, fate);
}

const grpcCodes: Record<ErrorCode, GrpcStatus> = {
  INVALID_ARGUMENT: GrpcStatus.INVALID_ARGUMENT,
  NOT_FOUND: GrpcStatus.NOT_FOUND,
  ALREADY_EXISTS: GrpcStatus.ALREADY_EXISTS,
  FAILED_PRECONDITION: GrpcStatus.FAILED_PRECONDITION,
  UNAVAILABLE: GrpcStatus.UNAVAILABLE,
  DEADLINE_EXCEEDED: GrpcStatus.DEADLINE_EXCEEDED,
  PERMISSION_DENIED: GrpcStatus.PERMISSION_DENIED,
  UNAUTHENTICATED: GrpcStatus.UNAUTHENTICATED,
  RESOURCE_EXHAUSTED: GrpcStatus.RESOURCE_EXHAUSTED,
  OUT_OF_RANGE: GrpcStatus.OUT_OF_RANGE,
  ABORTED: GrpcStatus.ABORTED,
  INTERNAL: GrpcStatus.INTERNAL,
};

const httpStatuses: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  FAILED_PRECONDITION: 409,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  PERMISSION_DENIED: 403,
  UNAUTHENTICATED: 401,
  RESOURCE_EXHAUSTED: 413,
  OUT_OF_RANGE: 400,
  ABORTED: 409,
  INTERNAL: 500,
};

/** Non-zero numeric code used in the admin API's `{"code": …}` envelope (the gRPC code number). */
export function envelopeCode(code: ErrorCode): number {
  return grpcCodes[code];
}

export function toGrpcStatus(code: ErrorCode): GrpcStatus {
  return grpcCodes[code];
}

export function toHttpStatus(code: ErrorCode): number {
  return httpStatuses[code];
}

export function invalidArgument(message: string): PlacementError {
  return new PlacementError('INVALID_ARGUMENT', message);
}
