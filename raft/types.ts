// The vocabulary of the Raft core: what goes in (ticks, messages, proposals) and what comes
// out (Ready). Everything here is plain data so that the transport can map it one-to-one onto
// protobuf and the simulator can copy it freely. The core itself never performs I/O.

/** Member id. Non-zero; 0 means "none" (no vote, no leader). */
export type NodeId = number;
export const NONE: NodeId = 0;

export enum EntryType {
  /** Application command (or an empty no-op when `data` is empty). */
  Normal = 0,
  /** Membership change; `data` is an encoded ConfChange (see encodeConfChange in raft/). */
  ConfChange = 1,
}

export interface Entry {
  term: number;
  index: number;
  type: EntryType;
  data: Uint8Array;
}

/** What must survive a crash before any message that depends on it is sent. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

/** Cluster membership as of some log index. */
export interface ConfState {
  voters: NodeId[];
  learners: NodeId[];
}

export interface SnapshotMeta {
  /** Last log index covered by the snapshot. */
  index: number;
  /** Term of that entry. */
  term: number;
  confState: ConfState;
}

/**
 * A snapshot as the core sees it. `data` is opaque to the core: the simulator puts the
 * serialized state in it; the real server leaves it empty and streams the snapshot file
 * (named by meta.index/term) out of storage when it sends a Snapshot message.
 */
export interface Snapshot {
  meta: SnapshotMeta;
  data: Uint8Array;
}

export enum MessageType {
  // Between peers.
  Append = 1,
  AppendResponse = 2,
  Vote = 3,
  VoteResponse = 4,
  PreVote = 5,
  PreVoteResponse = 6,
  Snapshot = 7,
  Heartbeat = 8,
  HeartbeatResponse = 9,
  TimeoutNow = 10,
  /** Follower asks the leader for a read index; `context` carries the request id. */
  ReadIndex = 11,
  ReadIndexResponse = 12,
  /** Follower to leader: nothing but `readSeq`, when no other message would carry it soon. */
  ReadAck = 13,
}

/**
 * One Raft message. Flat on purpose: every field maps to a protobuf field.
 * Fields a message type does not use are 0 / false / empty.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** Append: term of the entry at `index`. Vote/PreVote: candidate's last log term.
   *  AppendResponse (reject): term of the follower's entry at `rejectHint` (conflict term hint).
   *  Heartbeat: term of the leader's entry at `commit` (the follower commits only if it holds it). */
  logTerm: number;
  /** Append: index preceding `entries`. Vote/PreVote: candidate's last log index.
   *  AppendResponse: last index now matching (accept) or the rejected index (reject). */
  index: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** AppendResponse (reject): follower's hint for where the leader should probe next. */
  rejectHint: number;
  /** Heartbeat / ReadIndex: opaque request context echoed in the response. */
  context: Uint8Array;
  /**
   * Read rounds riding on ordinary traffic. Leader to follower: every read registered so far
   * (ReadOnly seq) was registered before this message left. Follower to leader: the highest
   * such value received from this term's leader, i.e. "I was still in your term after you
   * registered those reads" (the same proof a heartbeat acknowledgement gives). 0: none.
   */
  readSeq: number;
  snapshot?: Snapshot;
}

/** A linearizable read point that became safe: apply up to `index`, then serve the read. */
export interface ReadState {
  index: number;
  requestCtx: Uint8Array;
}

export enum Role {
  Follower = 'follower',
  PreCandidate = 'pre-candidate',
  Candidate = 'candidate',
  Leader = 'leader',
}

export interface SoftState {
  leader: NodeId;
  role: Role;
}

/**
 * One batch of work for the application. Process in this order, then call advance(ready):
 * 1. persist `snapshot` (if any), `entries` and `hardState` durably (one sync for all);
 * 2. send `messages` (they may depend on step 1: never send them before it completes);
 * 3. apply `committedEntries` (and install `snapshot` into the state machine first if set);
 * 4. answer `readStates` once applied index >= their index.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  /** Entries to append to durable storage. May overwrite a conflicting suffix: an entry
   *  at index i replaces the stored entry at i and everything after it. */
  entries: Entry[];
  snapshot?: Snapshot;
  committedEntries: Entry[];
  messages: Message[];
  readStates: ReadState[];
  /** True when `entries` or a changed term/vote must be fsynced before `messages` go out. */
  mustSync: boolean;
}

export enum ConfChangeType {
  /** Add a voter, or promote an existing learner to voter. */
  AddVoter = 0,
  AddLearner = 1,
  RemoveNode = 2,
}

export interface ConfChange {
  type: ConfChangeType;
  nodeId: NodeId;
  /** Opaque to the core; the server puts the member's address here. */
  context: Uint8Array;
}

/** Bugs that tests plant in the core to prove the simulator's checks bite. Never set in production. */
export interface PlantedBugs {
  /** Grant votes without checking that the candidate's log is at least as up-to-date. */
  voteWithoutLogCheck?: boolean;
  /** Let a leader commit an entry of an earlier term by counting replicas. */
  commitPriorTermByCount?: boolean;
  /** On a conflicting append, overwrite entries in place but keep the conflicting suffix. */
  noConflictTruncate?: boolean;
  /** Answer ReadIndex immediately, without confirming leadership with a quorum. */
  readWithoutQuorum?: boolean;
  /** Start from a log that lost entries the hard state says were committed (clamp the commit
   *  index to the log, as this core once did) instead of refusing. */
  acceptLostLog?: boolean;
  /** A rejoining member grants votes before it has caught up with a leader. */
  rejoinVotes?: boolean;
  /** Leader: ignore a follower's rejection of an index it had acknowledged (keep probing at
   *  match + 1 forever, as this core once did). */
  noProbeReset?: boolean;
}

export interface RaftConfig {
  id: NodeId;
  /** Ticks without hearing from a leader before campaigning; randomized in [e, 2e). */
  electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  heartbeatTick: number;
  /** Seeded source of randomness in [0, 1): the only randomness the core uses. */
  random: () => number;
  preVote?: boolean; // default true
  checkQuorum?: boolean; // default true
  /** Upper bound on the byte size of entries in one Append message. */
  maxSizePerMsg?: number;
  /** Max Append messages in flight to one follower in replicate state. */
  maxInflightMsgs?: number;
  /** Max bytes of entries in flight to one follower (0 = unlimited). */
  maxInflightBytes?: number;
  /** 'safe' = ReadIndex with a heartbeat quorum (default); 'lease' = leader lease (needs checkQuorum). */
  readOnlyOption?: 'safe' | 'lease';
  /**
   * Reads durable entries lo..hi back (at least one, stopping before maxBytes would be exceeded)
   * once evictLog() has let go of their data; undefined when they are no longer stored (the
   * member that needed them is then sent a snapshot). Without it nothing is ever evicted.
   */
  loadEntries?: (lo: number, hi: number, maxBytes: number) => Entry[] | undefined;
  logger?: (level: 'debug' | 'info' | 'warn', msg: string) => void;
  bugs?: PlantedBugs;
}

/** What the application recovered from durable storage when (re)starting a node. */
export interface RaftInitialState {
  hardState: HardState;
  /** Latest snapshot; the log starts right after it. */
  snapshot?: SnapshotMeta;
  /** Durable entries after the snapshot, contiguous. */
  entries: Entry[];
  /** Membership when there is neither snapshot nor ConfChange entry (a brand-new cluster). */
  confState: ConfState;
  /** Last index the state machine has applied (committed entries after it will be re-delivered). */
  applied: number;
  /**
   * This member may have lost state it acknowledged (restored from an old copy, a disk that
   * dropped writes, an empty data directory replacing a lost one). It then neither votes nor
   * campaigns until it has caught up with a leader: until its commit index reaches the commit
   * index of the first Append it accepted from its term's leader and an entry of that term
   * (status().rejoining turns false; the app should persist that). A hard state whose commit
   * index lies beyond the log is accepted (clamped) only in this mode.
   */
  rejoin?: boolean;
}

export type ProposeResult =
  | { ok: true; index: number; term: number }
  | {
      ok: false;
      /** 'invalid': a ConfChange that names node 0 or would leave no voter. */
      reason: 'not-leader' | 'transferring' | 'conf-change-pending' | 'too-large' | 'invalid';
      leader: NodeId;
    };

export enum ProgressState {
  Probe = 'probe',
  Replicate = 'replicate',
  Snapshot = 'snapshot',
}

export interface PeerProgress {
  id: NodeId;
  isLearner: boolean;
  match: number;
  next: number;
  state: ProgressState;
  recentActive: boolean;
  inflight: number;
}

export interface RaftStatus {
  id: NodeId;
  hardState: HardState;
  softState: SoftState;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  confState: ConfState;
  leadTransferee: NodeId;
  /** Started with `rejoin` and not yet caught up with a leader: grants no votes, never campaigns. */
  rejoining: boolean;
  /** Only on the leader. */
  progress: PeerProgress[];
}
