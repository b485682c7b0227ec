// What the admin HTTP layer needs from a running node. The node implements it; route tests
// implement it in memory. Keeping the HTTP layer behind this seam lets it be tested without
// a cluster and keeps Express out of the node's core.
import type { Command, CommandCaller, CommandResult, ConfigEntry, Lease, User } from '../../proto/gen/placement/v1/command.js';
import type { KeyValue } from '../../proto/gen/placement/v1/kv.js';
import type { MembershipRequest } from '../../proto/gen/placement/v1/peer.js';
import type { AuthSnapshot } from '../../storage/index.js';

export type MemberRole = 'voter' | 'learner';

export interface MemberInfo {
  id: number;
  /** gRPC address (clients and peers). */
  address: string;
  httpAddress: string;
  role: MemberRole;
  isLeader: boolean;
  /** As the leader sees it; null when this node is not the leader and could not ask it. */
  matchIndex: number | null;
  lag: number | null;
  /** Leader's view: it heard from the member within the last election timeout (what the strict reconfiguration check counts as started); null elsewhere. */
  active?: boolean | null;
}

export interface ClusterStatus {
  clusterId: string;
  id: number;
  /** 0 when no leader is known. */
  leaderId: number;
  term: number;
  role: 'leader' | 'follower' | 'candidate' | 'pre-candidate' | 'learner';
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  revision: number;
  members: MemberInfo[];
}

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface ListOptions {
  prefix: string;
  startAfter: string;
  limit: number;
  keysOnly: boolean;
}

export interface ListPage {
  kvs: KeyValue[];
  more: boolean;
  nextKey: string;
}

export interface ReadOptions {
  /** Local read, possibly stale; default is linearizable (ReadIndex). */
  serializable?: boolean;
}

/** Every method throws PlacementError (src/errors.ts) on failure. */
export interface AdminBackend {
  status(): Promise<ClusterStatus>;
  /** Members with match index and lag as the leader sees them (asks the leader if needed). */
  members(): Promise<MemberInfo[]>;
  /**
   * Replicates a command through Raft (forwarding to the leader when needed) and returns its
   * result. `by`: the caller of the request (src/auth/context.ts: callerOf).
   */
  propose(command: Command, deadline: number | undefined, by: CommandCaller | undefined): Promise<CommandResult>;

  get(key: string, opts?: ReadOptions): Promise<KeyValue | null>;
  list(opts: ListOptions, read?: ReadOptions): Promise<ListPage>;
  /** The auth state reads are served on; a read past its barrier is judged on it again (src/auth/read-recheck.ts). */
  authState?(): AuthSnapshot;
  getUser(name: string, opts?: ReadOptions): Promise<User | null>;
  listUsers(opts?: ReadOptions): Promise<User[]>;
  getConfig(name: string, opts?: ReadOptions): Promise<ConfigEntry | null>;
  listConfig(opts?: ReadOptions): Promise<ConfigEntry[]>;
  listLeases(opts?: ReadOptions): Promise<Lease[]>;
  /** Revokes a lease (its keys are deleted in one revision); the applied result. */
  revokeLease(id: number, by: CommandCaller | undefined): Promise<CommandResult>;

  /** Compacts the keyspace's history below `revision` (with `physical`, waits until this member removed it). */
  compact(revision: number, physical: boolean, by: CommandCaller | undefined): Promise<{ revision: number; compactRevision: number }>;

  /** Digest of the replicated state at this node's applied index (served at GET /v1/debug/hash),
   *  so tests and operators can check that replicas converged. */
  stateHash(): Promise<{ appliedIndex: number; revision: number; hash: string }>;

  /**
   * An operator's membership change or leader move, run by the leader (src/membership/ops.ts);
   * resolves with the member concerned (add: its new id). Absent: the routes answer 501.
   */
  changeMembership?(req: MembershipRequest): Promise<number>;

  /** Liveness: the process is up and its event loop turns. */
  livez(): Promise<HealthCheck[]>;
  /** Readiness: has a leader, has applied its committed entries, storage writable. */
  readyz(): Promise<HealthCheck[]>;
}
