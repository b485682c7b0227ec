// What the etcd services need from a node. PlacementNode provides it; the services never reach
// further into the node than this.
import type { Command, CommandResult, CommandCaller } from '../../../proto/gen/placement/v1/command.js';
import type { StateMachine } from '../../../storage/index.js';

export interface EtcdNode {
  readonly cfg: {
    readonly clusterId: string;
    readonly id: number;
    readonly requestTimeoutMs: number;
    /** etcd's --max-txn-ops and --max-request-bytes. */
    readonly maxTxnOps: number;
    readonly maxRequestBytes: number;
  };
  /** The replicated keyspace: reads at a revision, read-only txns, compaction state. */
  readonly keyspace: StateMachine;
  /** The Raft term this member last saw (etcd's raft_term). */
  readonly raftTerm: number;
  /** The leader this member knows of; 0 when it knows none. */
  readonly knownLeader: number;
  /** This member is a learner (etcd's API then answers Status and serializable Ranges only). */
  readonly isLearner: boolean;
  /** Replicates a command (forwarding to the leader when needed); resolves with its applied result. */
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
  /** ReadIndex barrier (linearizable) or the wait for this node's answered writes (serializable). */
  readBarrier(serializable: boolean, deadline: number): Promise<void>;
  /** True when a serializable read needs no barrier. */
  readsCurrent(): boolean;
  accepting(): boolean;
  track<T>(p: Promise<T>): Promise<T>;
}
