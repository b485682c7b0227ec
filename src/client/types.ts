// Public types of the Placement Center SDK: plain objects, numbers for revisions and ids,
// Buffers for values. Nothing here depends on the generated protobuf code.
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import type { BackoffOptions } from './backoff.js';
import type { AttemptFailure, LeaderHint } from './errors.js';

/** Values may be given as strings (UTF-8 encoded) or bytes. */
export type ValueInput = string | Uint8Array;

/** A key with its metadata. */
export interface KeyValue {
  readonly key: string;
  readonly value: Buffer;
  /** Cluster revision at which the key was created. */
  readonly createRevision: number;
  /** Cluster revision of the last write to the key. */
  readonly modRevision: number;
  /** Writes since the key was created (1 on creation). */
  readonly version: number;
  /** Lease the key is attached to (0 for none). */
  readonly lease: number;
}

/** Who answered, and at which state. */
export interface ResponseHeader {
  readonly clusterId: string;
  readonly memberId: number;
  readonly raftTerm: number;
  readonly revision: number;
}

export interface CallOptions {
  /** Total time for the call, retries included (default: the client's `deadlineMs`). */
  deadlineMs?: number;
  /** Abort the call (rejects with the signal's reason wrapped in a PlacementClientError). */
  signal?: AbortSignal;
}

export interface ReadOptions extends CallOptions {
  /** Serve from the answering node's local state without a ReadIndex round (may be stale). */
  serializable?: boolean;
  /** Ask this endpoint only (one attempt, no fail-over): how `placement-ctl endpoint health` probes each member. */
  endpoint?: string;
  /**
   * `get` only: the key as it was at this revision (a compacted one fails with OUT_OF_RANGE,
   * a future one too). Served by the etcd KV service, which reads old revisions.
   */
  revision?: number;
}

export interface SetOptions extends CallOptions {
  /** Attach the key to a lease (0 / absent: none). A lease that does not exist fails the write with NotFoundError; nothing is written. */
  lease?: number;
  /** Return the previous key-value in the result. */
  prevKv?: boolean;
}

export interface DeleteOptions extends CallOptions {
  prevKv?: boolean;
}

export interface ListOptions extends ReadOptions {
  /** Maximum keys in this page (0 / absent: the server's default). */
  limit?: number;
  /** Continuation: keys strictly greater than this one (a previous result's `nextKey`). */
  startAfter?: string;
  /** Omit values. */
  keysOnly?: boolean;
}

export interface ListAllOptions extends ReadOptions {
  /** Stop after this many keys in total (default: all). */
  limit?: number;
  /** Keys fetched per request (default: the server's default). */
  pageSize?: number;
  keysOnly?: boolean;
}

export interface SetResult {
  readonly header: ResponseHeader;
  /** Cluster revision after the write. */
  readonly revision: number;
  readonly prevKv: KeyValue | undefined;
}

export interface DeleteResult {
  readonly header: ResponseHeader;
  /** False when the key did not exist (nothing changed). */
  readonly deleted: boolean;
  readonly revision: number;
  readonly prevKv: KeyValue | undefined;
}

export interface ListResult {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  /** True when more keys match: pass `nextKey` as `startAfter` to continue. */
  readonly more: boolean;
  readonly nextKey: string;
}

/** Exactly one expectation of a compare-and-swap. */
export type CasExpectation =
  /** The key's mod revision must equal this (0: the key must not exist). */
  | { readonly modRevision: number }
  /** The key's current value must equal this. */
  | { readonly value: ValueInput }
  /** The key must not exist. */
  | { readonly absent: true };

export interface CasOptions extends CallOptions {
  lease?: number;
}

export interface CasResult {
  readonly header: ResponseHeader;
  /** Whether the expectation held (and the value was written). */
  readonly succeeded: boolean;
  readonly revision: number;
  /** The key as it was before the operation, when it existed. */
  readonly prevKv: KeyValue | undefined;
}

export type MemberRole = 'voter' | 'learner' | (string & {});
export type NodeRole = 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner' | (string & {});

export interface Member {
  readonly id: number;
  /** gRPC address (host:port). */
  readonly address: string;
  readonly role: MemberRole;
  readonly isLeader: boolean;
  /** As seen by the leader; 0 when the answering node is not the leader. */
  readonly matchIndex: number;
  /** Leader's last index minus match index; 0 when unknown. */
  readonly lag: number;
  /** Admin HTTP address, '' when unknown. */
  readonly httpAddress: string;
}

export interface ClusterStatus {
  readonly clusterId: string;
  /** Id of the node that answered. */
  readonly id: number;
  /** 0 when no leader is known. */
  readonly leaderId: number;
  readonly leaderAddress: string;
  readonly term: number;
  readonly role: NodeRole;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly revision: number;
  readonly version: string;
  readonly members: readonly Member[];
}

export interface MembersResult {
  readonly clusterId: string;
  readonly leaderId: number;
  readonly members: readonly Member[];
}

/** The answer to a membership change (`client.cluster.memberAdd` etc.). */
export interface MembershipChangeResult extends MembersResult {
  /** The member the change concerned (memberAdd: its new id). */
  readonly memberId: number;
}

export interface StatusOptions extends CallOptions {
  /**
   * Ask this endpoint only (one attempt, no fail-over): how `placement-ctl cluster status`
   * collects every member's own view.
   */
  endpoint?: string;
}

/** Reported through `onRetry` before each retry. */
export interface RetryEvent {
  /** RPC method, e.g. "KvService/Set". */
  readonly method: string;
  /** 1 for the first retry. */
  readonly retry: number;
  readonly failure: AttemptFailure;
  /** Where the next attempt goes. */
  readonly nextEndpoint: string;
  /** Back-off slept before the next attempt (0 when moving on to a member not yet tried in this round). */
  readonly delayMs: number;
  readonly leaderHint: LeaderHint | undefined;
}

/** TLS settings of the SDK; PEM contents (not file names), as strings or bytes. */
export interface TlsOptions {
  /** CA bundle the members' certificates must chain to (default: the system's root CAs). */
  ca?: string | Uint8Array;
  /** This client's certificate, for members started with --client-cert-auth (its CN names the caller). */
  cert?: string | Uint8Array;
  /** The private key of `cert`. */
  key?: string | Uint8Array;
  /** Check the members' certificates for this name instead of the host of each endpoint. */
  serverName?: string;
}

export interface PlacementClientOptions {
  /** Auth (when the cluster has it on): a name and password (a token is obtained and renewed), or a token. */
  auth?: import('./auth.js').AuthOptions;
  /** One or more gRPC endpoints ("host:port"); any single live member is enough. */
  endpoints: readonly string[] | string;
  /** Default total deadline per call, retries included (default 5000 ms). */
  deadlineMs?: number;
  /**
   * Deadline of one attempt, so a hung node does not eat the whole call (default 2000 ms,
   * capped by what remains of the call's deadline).
   */
  attemptTimeoutMs?: number;
  /**
   * Identity used for write de-duplication (default: 128 random bits, fresh per client). Keep the
   * default unless you persist (clientId, seq) yourself: an id shared by two clients makes the
   * cluster refuse the second one's writes as "client id reused with a different request".
   */
  clientId?: string;
  /** First sequence number (default 1). Must increase across restarts when a clientId is reused. */
  initialSeq?: number;
  backoff?: BackoffOptions;
  /** Random source for jitter (default Math.random); pass `seededRandom(n)` for reproducible tests. */
  random?: () => number;
  /** Learn members from the cluster and keep the list fresh (default true). */
  discoverMembers?: boolean;
  /** Period of the background member refresh (default 30000 ms; 0 disables the timer). */
  refreshIntervalMs?: number;
  /** Default: insecure (plaintext), or TLS when `tls` is given. Exclusive with `tls`. */
  credentials?: ChannelCredentials;
  /** Talk TLS to the members (see TlsOptions). `{}` trusts the system's root CAs. */
  tls?: TlsOptions;
  channelOptions?: ChannelOptions;
  /**
   * How KV operations travel: `session` (default) multiplexes them on one long-lived stream per
   * member (KvService.Session), batching what is issued together; `unary` makes one gRPC call per
   * operation. A server without Session support is spoken to with unary calls automatically.
   */
  transport?: 'session' | 'unary';
  /**
   * When every endpoint has refused every connection for this long, a call fails with
   * UnavailableError ("cannot reach any of …") instead of waiting out its deadline (default
   * 1000 ms). Endpoints that accept connections but do not answer still get the whole deadline.
   */
  refusedGiveUpMs?: number;
  /** Called before every retry (observability). */
  onRetry?: (event: RetryEvent) => void;
}
