// Typed errors of the Placement Center SDK. Every error the SDK throws is a PlacementClientError
// carrying the gRPC status code, its name and the server's own message, so callers can branch
// with `instanceof` (NotFoundError, InvalidArgumentError, …) or on `code` / `codeName`.
import { status as GrpcStatus, type Metadata, type ServiceError } from '@grpc/grpc-js';

/** gRPC status code names, as in the gRPC specification. */
export type GrpcCodeName =
  | 'OK'
  | 'CANCELLED'
  | 'UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'OUT_OF_RANGE'
  | 'UNIMPLEMENTED'
  | 'INTERNAL'
  | 'UNAVAILABLE'
  | 'DATA_LOSS'
  | 'UNAUTHENTICATED';

const codeNames: Record<number, GrpcCodeName> = {
  0: 'OK',
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  6: 'ALREADY_EXISTS',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  10: 'ABORTED',
  11: 'OUT_OF_RANGE',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  15: 'DATA_LOSS',
  16: 'UNAUTHENTICATED',
};

/** Name of a numeric gRPC status code ("UNKNOWN" for codes outside the specification). */
export function grpcCodeName(code: number): GrpcCodeName {
  return codeNames[code] ?? 'UNKNOWN';
}

/** Trailing-metadata keys the server uses to tell a client who leads. */
export const LEADER_ID_METADATA = 'x-placement-leader-id';
export const LEADER_ADDRESS_METADATA = 'x-placement-leader-address';

/** The leader a server last pointed at (id 0 / address '' when unknown). */
export interface LeaderHint {
  readonly id: number;
  readonly address: string;
}

/** One failed attempt of a call: where it went and what came back. */
export interface AttemptFailure {
  readonly endpoint: string;
  readonly code: number;
  readonly codeName: GrpcCodeName;
  /** The server's (or the transport's) message. */
  readonly message: string;
}

export interface PlacementClientErrorOptions {
  /** The server's message, without any client-side decoration. */
  serverMessage?: string;
  /** Endpoint that produced the error, when one did. */
  endpoint?: string;
  /** Every failed attempt of the call, oldest first. */
  attempts?: readonly AttemptFailure[];
  cause?: unknown;
}

/** Base class of every error thrown by the SDK. */
export class PlacementClientError extends Error {
  override name = 'PlacementClientError';
  /** gRPC status code (see `@grpc/grpc-js` `status`). */
  readonly code: number;
  readonly codeName: GrpcCodeName;
  /** The server's message as received (empty for purely client-side errors). */
  readonly serverMessage: string;
  readonly endpoint: string | undefined;
  readonly attempts: readonly AttemptFailure[];

  constructor(code: number, message: string, options: PlacementClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.codeName = grpcCodeName(code);
    this.serverMessage = options.serverMessage ?? '';
    this.endpoint = options.endpoint;
    this.attempts = options.attempts ?? [];
  }
}

export class NotFoundError extends PlacementClientError {
  override name = 'NotFoundError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.NOT_FOUND, message, options);
  }
}

export class InvalidArgumentError extends PlacementClientError {
  override name = 'InvalidArgumentError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.INVALID_ARGUMENT, message, options);
  }
}

export class AlreadyExistsError extends PlacementClientError {
  override name = 'AlreadyExistsError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.ALREADY_EXISTS, message, options);
  }
}

export class FailedPreconditionError extends PlacementClientError {
  override name = 'FailedPreconditionError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.FAILED_PRECONDITION, message, options);
  }
}

export class PermissionDeniedError extends PlacementClientError {
  override name = 'PermissionDeniedError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.PERMISSION_DENIED, message, options);
  }
}

export class UnauthenticatedError extends PlacementClientError {
  override name = 'UnauthenticatedError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.UNAUTHENTICATED, message, options);
  }
}

export class ResourceExhaustedError extends PlacementClientError {
  override name = 'ResourceExhaustedError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.RESOURCE_EXHAUSTED, message, options);
  }
}

/**
 * A retried write arrived after the server had forgotten its sequence number (more than the
 * de-duplication window of newer writes from this client were applied meanwhile): an earlier
 * attempt may or may not have been applied, and this one was not. Read the key to find out.
 */
export class OutcomeUnknownError extends PlacementClientError {
  override name = 'OutcomeUnknownError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.ABORTED, message, options);
  }
}

export class InternalError extends PlacementClientError {
  override name = 'InternalError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.INTERNAL, message, options);
  }
}

export class UnimplementedError extends PlacementClientError {
  override name = 'UnimplementedError';
  constructor(message: string, options: PlacementClientErrorOptions = {}) {
    super(GrpcStatus.UNIMPLEMENTED, message, options);
  }
}

/**
 * No member could serve the call before its deadline: every endpoint refused the connection or
 * answered UNAVAILABLE (no leader, shutting down). Carries the last leader hint seen.
 */
export class UnavailableError extends PlacementClientError {
  override name = 'UnavailableError';
  readonly leaderHint: LeaderHint | undefined;
  /** Endpoints tried, in the order first tried. */
  readonly triedEndpoints: readonly string[];
  constructor(
    message: string,
    options: PlacementClientErrorOptions & { leaderHint?: LeaderHint; triedEndpoints?: readonly string[] } = {},
  ) {
    super(GrpcStatus.UNAVAILABLE, message, options);
    this.leaderHint = options.leaderHint;
    this.triedEndpoints = options.triedEndpoints ?? [];
  }
}

/** The call's deadline passed while a request was outstanding (the outcome of a write is unknown). */
export class DeadlineExceededError extends PlacementClientError {
  override name = 'DeadlineExceededError';
  readonly deadlineMs: number;
  readonly leaderHint: LeaderHint | undefined;
  readonly triedEndpoints: readonly string[];
  constructor(
    message: string,
    options: PlacementClientErrorOptions & {
      deadlineMs?: number;
      leaderHint?: LeaderHint;
      triedEndpoints?: readonly string[];
    } = {},
  ) {
    super(GrpcStatus.DEADLINE_EXCEEDED, message, options);
    this.deadlineMs = options.deadlineMs ?? 0;
    this.leaderHint = options.leaderHint;
    this.triedEndpoints = options.triedEndpoints ?? [];
  }
}

/** The call was made on, or interrupted by, a closed client. */
export class ClientClosedError extends PlacementClientError {
  override name = 'ClientClosedError';
  constructor(message = 'the Placement Center client is closed') {
    super(GrpcStatus.CANCELLED, message);
  }
}

/** Reads the leader hint from an error's trailing metadata, when the server sent one. */
export function leaderHintFrom(metadata: Metadata | undefined): LeaderHint | undefined {
  if (!metadata) return undefined;
  const idRaw = metadata.get(LEADER_ID_METADATA)[0];
  const addrRaw = metadata.get(LEADER_ADDRESS_METADATA)[0];
  const id = idRaw === undefined ? 0 : Number(idRaw.toString());
  const address = addrRaw === undefined ? '' : addrRaw.toString();
  if ((!Number.isFinite(id) || id <= 0) && address === '') return undefined;
  return { id: Number.isFinite(id) && id > 0 ? id : 0, address };
}

/**
 * True when a deadline passed before a connection was even established (grpc-js reports
 * "Waiting for LB pick"): the request never left the client.
 */
export function isNotConnectedTimeout(code: number, message: string): boolean {
  return code === GrpcStatus.DEADLINE_EXCEEDED && /Waiting for LB pick/i.test(message);
}

/** True when a gRPC error looks like the transport could not reach the endpoint at all. */
export function isConnectionFailure(err: ServiceError): boolean {
  if (isNotConnectedTimeout(err.code, err.details ?? err.message)) return true;
  if (err.code !== GrpcStatus.UNAVAILABLE) return false;
  return /No connection established|ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|Name resolution failed|ENOTFOUND|EAI_AGAIN|Connection dropped|connection closed|Connection closed|GOAWAY/i.test(
    err.details ?? err.message,
  );
}

/**
 * True when the member is a learner that does not answer this etcd call (etcd's rule, which the
 * members follow): it did nothing, so even a write goes on to another member.
 */
export function isLearnerRefusal(code: number, message: string): boolean {
  return code === GrpcStatus.UNAVAILABLE && message === 'etcdserver: rpc not supported for learner';
}

/** True when the endpoint refused the connection: nothing listens there (a definite, fast answer). */
export function isRefused(code: number, message: string): boolean {
  return code === GrpcStatus.UNAVAILABLE && /ECONNREFUSED/.test(message);
}

/** A short human reason for a transport failure ("connection refused", …). */
export function describeFailure(code: number, message: string): string {
  if (/ECONNREFUSED/.test(message)) return 'connection refused';
  if (/ETIMEDOUT|connect timeout/i.test(message)) return 'connection timed out';
  if (/EHOSTUNREACH|ENETUNREACH/.test(message)) return 'host unreachable';
  if (/Name resolution failed|ENOTFOUND|EAI_AGAIN/.test(message)) return 'name not resolved';
  if (/ECONNRESET|Connection dropped|connection closed/i.test(message)) return 'connection lost';
  if (isNotConnectedTimeout(code, message)) return 'connection not established in time';
  if (code === GrpcStatus.DEADLINE_EXCEEDED) return 'no answer in time';
  return message === '' ? grpcCodeName(code).toLowerCase() : message;
}

/** Maps a definite (non-retried) gRPC failure to its typed SDK error. */
export function errorFromStatus(
  code: number,
  serverMessage: string,
  options: PlacementClientErrorOptions & { leaderHint?: LeaderHint } = {},
): PlacementClientError {
  const opts: PlacementClientErrorOptions = { ...options, serverMessage };
  const message = serverMessage === '' ? grpcCodeName(code).toLowerCase().replace(/_/g, ' ') : serverMessage;
  switch (code) {
    case GrpcStatus.NOT_FOUND:
      return new NotFoundError(message, opts);
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return new InvalidArgumentError(message, opts);
    case GrpcStatus.ALREADY_EXISTS:
      return new AlreadyExistsError(message, opts);
    case GrpcStatus.FAILED_PRECONDITION:
      return new FailedPreconditionError(message, opts);
    case GrpcStatus.PERMISSION_DENIED:
      return new PermissionDeniedError(message, opts);
    case GrpcStatus.UNAUTHENTICATED:
      return new UnauthenticatedError(message, opts);
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return new ResourceExhaustedError(message, opts);
    case GrpcStatus.ABORTED:
      return new OutcomeUnknownError(message, opts);
    case GrpcStatus.INTERNAL:
      return new InternalError(message, opts);
    case GrpcStatus.UNIMPLEMENTED:
      return new UnimplementedError(message, opts);
    case GrpcStatus.UNAVAILABLE:
      return new UnavailableError(message, { ...opts, leaderHint: options.leaderHint });
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(message, { ...opts, leaderHint: options.leaderHint });
    default:
      return new PlacementClientError(code, message, opts);
  }
}
