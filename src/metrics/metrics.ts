// Prometheus instruments of a Placement Center node, in one registry per node.
//
// Two ways values get in:
//  - pull: gauges whose value lives in the node (term, commit index, peer lag, WAL segments, DB
//    size…) are read at scrape time from getters the node binds once (`bindRaftStatus`,
//    `bindStorageStatus`). The node keeps no metric state of its own for them.
//  - push: counters and histograms of events (proposals, messages, WAL syncs, applies, snapshots,
//    requests) are updated by the node through the small methods below, each O(1).
//
// Naming follows the Prometheus conventions that `promtool check metrics` enforces: base units
// (seconds, bytes), `_total` on counters only, `_seconds` / `_bytes` histograms, no unit
// abbreviations. prom-client's default `nodejs_active_{handles,requests,resources}_total` gauges
// are re-exposed as `nodejs_active_{handles,requests,resources}_all` (a gauge must not end in
// `_total`).
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FastCounter, FastHistogram, type CounterChild, type HistogramChild } from './fast.js';

/** Raft state read at scrape time. All indexes are Raft log indexes. */
export interface RaftStatusSnapshot {
  /** Current term. */
  term: number;
  /** Id of the known leader, 0 when none is known. */
  leaderId: number;
  /** True when this node is the leader. */
  isLeader: boolean;
  commitIndex: number;
  appliedIndex: number;
  /** Last index in this node's log (optional). */
  lastIndex?: number;
  /** Index covered by the latest snapshot (optional). */
  snapshotIndex?: number;
  /** Proposals accepted by this node and not yet committed/failed (optional, default 0). */
  proposalsPending?: number;
  /** Bytes of entry data the Raft log holds in memory (optional). */
  logMemoryBytes?: number;
  /**
   * Per-peer replication progress as this node sees it. Only meaningful on the leader; a
   * follower returns [] (series of departed peers disappear at the next scrape).
   */
  peers?: PeerProgress[];
}

export interface PeerProgress {
  /** Peer node id. */
  id: number;
  /** Highest index known replicated on the peer. */
  matchIndex: number;
  /** Entries the peer is behind the leader's last index (leader lastIndex − matchIndex). */
  lag: number;
}

/** Storage state read at scrape time. */
export interface StorageStatusSnapshot {
  /** Number of WAL segment files on disk. */
  walSegments: number;
  /** Size of the state-machine database on disk, in bytes. */
  dbSizeBytes: number;
  /** History entries the keyspace's revision index holds in memory (optional). */
  revisionIndexEntries?: number;
  /** Keys that exist at the current revision (optional). */
  currentKeys?: number;
  /** Keys held by the lists kept for pages of ranges at past revisions (optional). */
  pastListKeys?: number;
}

export interface MetricsOptions {
  /** Prefix of this project's metric names. Default `placement_`. */
  prefix?: string;
  /** Register prom-client's process/Node.js default metrics (CPU, memory, event-loop lag…). Default true. */
  defaultMetrics?: boolean;
  /** Labels added to every series, e.g. `{ node: '1' }`. Default none (Prometheus adds `instance`). */
  defaultLabels?: Record<string, string>;
}

/** Latency buckets in seconds: 100 µs … 10 s. */
export const LATENCY_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Disk sync buckets in seconds: 50 µs … 5 s. */
export const SYNC_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
  0.512, 1, 2, 5,
];
/** Size buckets in bytes: 1 KiB … 4 GiB. */
export const SIZE_BUCKETS = [
  1024, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864, 268435456, 1073741824,
  4294967296,
];

type Getter<T> = () => T;

/** The kinds of gRPC call, named as grpc-prometheus (and so etcd's metrics) name them. */
export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

/**
 * Every Prometheus instrument of one node. Create one per node process (or per in-process node
 * in tests: each instance owns its own `registry`, nothing is global).
 *
 * What the node wires:
 *  - once at start: `bindRaftStatus(getter)`, `bindStorageStatus(getter)`;
 *  - on events: `recordLeader`, `proposalCommitted`, `proposalFailed`, `readIndex`,
 *    `messageSent` / `messageReceived`, `observePeerRtt`, `observeWalSync`, `walBytesWritten`,
 *    `observeApply`, `snapshotTaken`, `snapshotInstalled`;
 *  - its gRPC handlers through `instrumentGrpcService` (src/metrics/grpc.ts);
 *  - the HTTP admin app (`createAdminApp`) instruments itself with `observeHttp`.
 */
export class Metrics {
  /** The registry holding every instrument; `GET /metrics` renders it. */
  readonly registry: Registry;
  /** Prefix of our metric names (`placement_`). */
  readonly prefix: string;
  // Labelled children of the per-request and per-message instruments, looked up by a plain string:
  // prom-client hashes the label object on every inc()/observe() otherwise, a visible cost at
  // tens of thousands of calls per second. (Counters and histograms are never reset.)
  private readonly grpcCounterChildren = new Map<string, CounterChild>();
  private readonly grpcDurationChildren = new Map<string, HistogramChild>();
  /** `service/method` → the kind of call, as grpc-prometheus labels it (etcd-names.ts). */
  private readonly grpcTypes = new Map<string, GrpcType>();
  private readonly grpcStartedChildren = new Map<string, CounterChild>();
  private leaders = 0;
  private readonly sentChildren = new ChildrenByKey<string>((type) => this.raftMessagesSent.child({ type }));
  private readonly receivedChildren = new ChildrenByKey<string>((type) => this.raftMessagesReceived.child({ type }));

  // ---- Raft (pull) ----
  /** `placement_raft_term` gauge: current term. */
  readonly raftTerm: Gauge;
  /** `placement_raft_is_leader` gauge: 1 when this node leads. */
  readonly raftIsLeader: Gauge;
  /** `placement_raft_has_leader` gauge: 1 when a leader is known. */
  readonly raftHasLeader: Gauge;
  /** `placement_raft_leader_id` gauge: id of the known leader, 0 when none. */
  readonly raftLeaderId: Gauge;
  /** `placement_raft_commit_index` gauge. */
  readonly raftCommitIndex: Gauge;
  /** `placement_raft_applied_index` gauge. */
  readonly raftAppliedIndex: Gauge;
  /** `placement_raft_last_index` gauge. */
  readonly raftLastIndex: Gauge;
  /** `placement_raft_snapshot_index` gauge. */
  readonly raftSnapshotIndex: Gauge;
  /** `placement_raft_proposals_pending` gauge. */
  readonly raftProposalsPending: Gauge;
  /** `placement_raft_peer_replication_lag_entries{peer}` gauge (leader only). */
  readonly raftPeerLag: Gauge<'peer'>;
  /** `placement_raft_peer_match_index{peer}` gauge (leader only). */
  readonly raftPeerMatchIndex: Gauge<'peer'>;

  // ---- Raft (push) ----
  /** `placement_raft_leader_changes_total` counter: leader changes seen by this node. */
  readonly raftLeaderChanges: Counter;
  /** `placement_raft_proposals_committed_total` counter. */
  readonly raftProposalsCommitted: Counter;
  /** `placement_raft_proposals_failed_total{reason}` counter. */
  readonly raftProposalsFailed: Counter<'reason'>;
  /** `placement_raft_read_index_requests_total` counter. */
  readonly raftReadIndexRequests: Counter;
  /** `placement_raft_read_index_failures_total{reason}` counter. */
  readonly raftReadIndexFailures: Counter<'reason'>;
  /** `placement_raft_snapshots_taken_total` counter. */
  readonly raftSnapshotsTaken: Counter;
  /** `placement_raft_snapshots_installed_total` counter. */
  readonly raftSnapshotsInstalled: Counter;
  /** `placement_raft_late_ticks_total` counter. */
  readonly raftLateTicks: Counter;
  /** `placement_raft_log_memory_bytes` gauge. */
  readonly raftLogMemory: Gauge;
  /** `placement_raft_log_entries_read_back_total` counter. */
  readonly raftEntriesReadBack: Counter;
  /** `placement_raft_snapshot_duration_seconds{operation="take"|"install"}` histogram. */
  readonly raftSnapshotDuration: Histogram<'operation'>;
  /** `placement_raft_snapshot_size_bytes{operation="take"|"install"}` histogram. */
  readonly raftSnapshotSize: Histogram<'operation'>;
  /** `placement_raft_peer_round_trip_seconds{peer}` histogram: heartbeat/append round trip. */
  readonly raftPeerRtt: Histogram<'peer'>;
  /** `placement_raft_peer_send_failures_total{peer}` counter. */
  readonly raftPeerSendFailures: Counter<'peer'>;
  /** `placement_raft_peer_{sent,received}_bytes_total{peer}`: Raft batches (encoded) and snapshot data to and from each peer. */
  readonly raftPeerSentBytes: FastCounter<'peer'>;
  readonly raftPeerReceivedBytes: FastCounter<'peer'>;
  private readonly peerSentChildren = new ChildrenByKey<number>((peer) => this.raftPeerSentBytes.child({ peer: String(peer) }));
  private readonly peerReceivedChildren = new ChildrenByKey<number>((peer) => this.raftPeerReceivedBytes.child({ peer: String(peer) }));
  /** `placement_raft_messages_sent_total{type}` counter. */
  readonly raftMessagesSent: FastCounter<'type'>;
  /** `placement_raft_messages_received_total{type}` counter. */
  readonly raftMessagesReceived: FastCounter<'type'>;

  // ---- Storage ----
  /** `placement_storage_wal_sync_duration_seconds` histogram (fsync/fdatasync of the WAL). */
  readonly walSyncDuration: Histogram;
  /** `placement_storage_wal_written_bytes_total` counter. */
  readonly walBytesWrittenTotal: Counter;
  /** `placement_storage_wal_segments` gauge (pull). */
  readonly walSegments: Gauge;
  /** `placement_grpc_sessions_open` gauge: KvService.Session streams currently open. */
  readonly grpcSessionsOpen: Gauge;
  private sessionsSource: (() => number) | null = null;
  /** `placement_storage_revision_index_entries` gauge (pull). */
  readonly revisionIndexEntries: Gauge;
  readonly currentKeys: Gauge;
  readonly pastListKeys: Gauge;
  /** `placement_storage_db_size_bytes` gauge (pull). */
  readonly dbSize: Gauge;
  /** `placement_state_machine_apply_duration_seconds` histogram: applying one batch of committed entries. */
  readonly applyDuration: Histogram;
  /** `placement_state_machine_applied_entries_total` counter. */
  readonly appliedEntries: Counter;

  // ---- gRPC / HTTP ----
  /** `placement_grpc_requests_total{service,method,code}` counter (code = gRPC status name, e.g. OK). */
  readonly grpcRequests: FastCounter<'service' | 'method' | 'code'>;
  /** `placement_grpc_request_duration_seconds{service,method}` histogram. */
  readonly grpcDuration: FastHistogram<'service' | 'method'>;
  /** `placement_grpc_started_total{service,method}` counter. */
  readonly grpcStarted: FastCounter<'service' | 'method'>;
  /** `placement_grpc_received_bytes_total` / `_sent_bytes_total`: message bytes on the client port (grpc-bytes.ts). */
  readonly grpcReceivedBytes: CounterChild;
  readonly grpcSentBytes: CounterChild;
  /** `placement_http_requests_total{method,route,code}` counter (route = Express route template). */
  readonly httpRequests: Counter<'method' | 'route' | 'code'>;
  /** `placement_http_request_duration_seconds{method,route}` histogram. */
  readonly httpDuration: Histogram<'method' | 'route'>;

  private raftSource: Getter<RaftStatusSnapshot> | null = null;
  private storageSource: Getter<StorageStatusSnapshot> | null = null;
  private lastLeaderId = 0;
  private cachedRaft: { at: number; value: RaftStatusSnapshot } | null = null;
  private cachedStorage: { at: number; value: StorageStatusSnapshot } | null = null;

  constructor(opts: MetricsOptions = {}) {
    const p = opts.prefix ?? 'placement_';
    this.prefix = p;
    const registry = new Registry();
    if (opts.defaultLabels) registry.setDefaultLabels(opts.defaultLabels);
    this.registry = registry;
    const registers = [registry];
    const self = this;

    // Pull gauges: each collect() reads the bound getter (the getter is memoised for a few ms
    // so one scrape calls it once rather than once per gauge).
    const raftGauge = (name: string, help: string, pick: (s: RaftStatusSnapshot) => number | undefined) =>
      new Gauge({
        name: p + name,
        help,
        registers,
        collect() {
          const s = self.readRaft();
          if (!s) return;
          const v = pick(s);
          if (v !== undefined) this.set(v);
        },
      });
    this.raftTerm = raftGauge('raft_term', 'Current Raft term of this node.', (s) => s.term);
    this.raftIsLeader = raftGauge('raft_is_leader', '1 when this node is the Raft leader, else 0.', (s) =>
      s.isLeader ? 1 : 0,
    );
    this.raftHasLeader = raftGauge('raft_has_leader', '1 when this node knows a leader, else 0.', (s) =>
      s.leaderId !== 0 ? 1 : 0,
    );
    this.raftLeaderId = raftGauge('raft_leader_id', 'Id of the leader this node knows, 0 when none.', (s) => s.leaderId);
    this.raftCommitIndex = raftGauge('raft_commit_index', 'Highest log index known committed.', (s) => s.commitIndex);
    this.raftAppliedIndex = raftGauge(
      'raft_applied_index',
      'Highest log index applied to the state machine.',
      (s) => s.appliedIndex,
    );
    this.raftLastIndex = raftGauge('raft_last_index', 'Last index in the local Raft log.', (s) => s.lastIndex);
    this.raftSnapshotIndex = raftGauge(
      'raft_snapshot_index',
      'Log index covered by the latest local snapshot.',
      (s) => s.snapshotIndex,
    );
    this.raftProposalsPending = raftGauge(
      'raft_proposals_pending',
      'Proposals accepted by this node and not yet committed or failed.',
      (s) => s.proposalsPending ?? 0,
    );
    const peerGauge = (name: string, help: string, pick: (peer: PeerProgress) => number) =>
      new Gauge<'peer'>({
        name: p + name,
        help,
        labelNames: ['peer'],
        registers,
        collect() {
          const s = self.readRaft();
          this.reset();
          if (!s || !s.isLeader) return;
          for (const peer of s.peers ?? []) this.set({ peer: String(peer.id) }, pick(peer));
        },
      });
    this.raftPeerLag = peerGauge(
      'raft_peer_replication_lag_entries',
      'Log entries a peer is behind the leader (reported by the leader only).',
      (x) => x.lag,
    );
    this.raftPeerMatchIndex = peerGauge(
      'raft_peer_match_index',
      'Highest log index known replicated on a peer (reported by the leader only).',
      (x) => x.matchIndex,
    );

    this.raftLeaderChanges = new Counter({
      name: p + 'raft_leader_changes_total',
      help: 'Leader changes observed by this node (including to no leader and back).',
      registers,
    });
    this.raftProposalsCommitted = new Counter({
      name: p + 'raft_proposals_committed_total',
      help: 'Proposals made through this node that were committed.',
      registers,
    });
    this.raftProposalsFailed = new Counter<'reason'>({
      name: p + 'raft_proposals_failed_total',
      help: 'Proposals made through this node that failed, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.raftReadIndexRequests = new Counter({
      name: p + 'raft_read_index_requests_total',
      help: 'Linearizable (ReadIndex) reads requested on this node.',
      registers,
    });
    this.raftReadIndexFailures = new Counter<'reason'>({
      name: p + 'raft_read_index_failures_total',
      help: 'Linearizable (ReadIndex) reads that failed, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.raftLogMemory = raftGauge(
      'raft_log_memory_bytes',
      'Entry data the Raft log holds in memory (--raft-log-memory-bytes bounds it; older entries are read back from the WAL).',
      (s) => s.logMemoryBytes,
    );
    this.raftEntriesReadBack = new Counter({
      name: p + 'raft_log_entries_read_back_total',
      help: 'Log entries read back from the WAL for a member behind, after the in-memory log let go of them.',
      registers,
    });
    this.raftSnapshotsTaken = new Counter({
      name: p + 'raft_snapshots_taken_total',
      help: 'Snapshots taken by this node.',
      registers,
    });
    this.raftSnapshotsInstalled = new Counter({
      name: p + 'raft_snapshots_installed_total',
      help: 'Snapshots received from the leader and installed by this node.',
      registers,
    });
    this.raftLateTicks = new Counter({
      name: p + 'raft_late_ticks_total',
      help: 'Raft ticks that came a quarter of an election timeout late or more: the event loop was blocked (on a leader, heartbeats went out late).',
      registers,
    });
    this.raftSnapshotDuration = new Histogram<'operation'>({
      name: p + 'raft_snapshot_duration_seconds',
      help: 'Time to take or install a snapshot.',
      labelNames: ['operation'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.raftSnapshotSize = new Histogram<'operation'>({
      name: p + 'raft_snapshot_size_bytes',
      help: 'Size of snapshots taken or installed.',
      labelNames: ['operation'],
      buckets: SIZE_BUCKETS,
      registers,
    });
    this.raftPeerRtt = new Histogram<'peer'>({
      name: p + 'raft_peer_round_trip_seconds',
      help: 'Round-trip time of Raft messages to a peer (send to response).',
      labelNames: ['peer'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.raftPeerSentBytes = new FastCounter<'peer'>({
      name: p + 'raft_peer_sent_bytes_total',
      help: 'Bytes sent to each peer: Raft message batches as encoded, and snapshot data.',
      labelNames: ['peer'],
      registers,
    });
    this.raftPeerReceivedBytes = new FastCounter<'peer'>({
      name: p + 'raft_peer_received_bytes_total',
      help: 'Bytes received from each peer: Raft message batches as encoded, and snapshot data.',
      labelNames: ['peer'],
      registers,
    });
    this.raftPeerSendFailures = new Counter<'peer'>({
      name: p + 'raft_peer_send_failures_total',
      help: 'Times sending to a peer failed (its stream broke, it could not be reached or authenticated, or its queue was full); each tells Raft the peer is unreachable.',
      labelNames: ['peer'],
      registers,
    });
    this.raftMessagesSent = new FastCounter<'type'>({
      name: p + 'raft_messages_sent_total',
      help: 'Raft messages sent to peers, by message type.',
      labelNames: ['type'],
      registers,
    });
    this.raftMessagesReceived = new FastCounter<'type'>({
      name: p + 'raft_messages_received_total',
      help: 'Raft messages received from peers, by message type.',
      labelNames: ['type'],
      registers,
    });

    this.walSyncDuration = new Histogram({
      name: p + 'storage_wal_sync_duration_seconds',
      help: 'Duration of WAL syncs to stable storage.',
      buckets: SYNC_BUCKETS,
      registers,
    });
    this.walBytesWrittenTotal = new Counter({
      name: p + 'storage_wal_written_bytes_total',
      help: 'Bytes appended to the WAL.',
      registers,
    });
    this.grpcSessionsOpen = new Gauge({
      name: p + 'grpc_sessions_open',
      help: 'KvService.Session streams currently open (each SDK client keeps one per member it talks to).',
      registers,
      collect() {
        if (self.sessionsSource) this.set(self.sessionsSource());
      },
    });
    // Pull gauges of the storage status, read once per scrape like the Raft ones.
    const storageGauge = (name: string, help: string, pick: (s: StorageStatusSnapshot) => number | undefined) =>
      new Gauge({
        name: p + name,
        help,
        registers,
        collect() {
          const s = self.readStorage();
          const v = s ? pick(s) : undefined;
          if (v !== undefined) this.set(v);
        },
      });
    this.walSegments = storageGauge('storage_wal_segments', 'WAL segment files on disk.', (s) => s.walSegments);
    this.dbSize = storageGauge('storage_db_size_bytes', 'Size of the state-machine database on disk.', (s) => s.dbSizeBytes);
    this.revisionIndexEntries = storageGauge(
      'storage_revision_index_entries',
      'History entries held in memory (keys with more than their current put) so that reads at a past revision, of one key or a range, need no LevelDB iterator.',
      (s) => s.revisionIndexEntries,
    );
    this.currentKeys = storageGauge(
      'storage_current_keys',
      'Keys that exist at the current revision (the in-memory index of current keys that counts and pages ranges; etcd_debugging_mvcc_keys_total in etcd).',
      (s) => s.currentKeys,
    );
    this.pastListKeys = storageGauge(
      'storage_past_list_keys',
      'Keys held in memory by the lists of ranges at past revisions kept for their next pages (bounded; storage/keyspace/past-lists.ts).',
      (s) => s.pastListKeys,
    );
    this.applyDuration = new Histogram({
      name: p + 'state_machine_apply_duration_seconds',
      help: 'Time to apply one batch of committed entries to the state machine.',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.appliedEntries = new Counter({
      name: p + 'state_machine_applied_entries_total',
      help: 'Committed entries applied to the state machine.',
      registers,
    });

    this.grpcRequests = new FastCounter<'service' | 'method' | 'code'>({
      name: p + 'grpc_requests_total',
      help: 'gRPC requests handled, by service, method and status code.',
      labelNames: ['service', 'method', 'code'],
      registers,
    });
    this.grpcDuration = new FastHistogram<'service' | 'method'>({
      name: p + 'grpc_request_duration_seconds',
      help: 'gRPC request handling latency, by service and method.',
      labelNames: ['service', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.grpcStarted = new FastCounter<'service' | 'method'>({
      name: p + 'grpc_started_total',
      help: 'gRPC calls started, by service and method (those still open: started minus placement_grpc_requests_total).',
      labelNames: ['service', 'method'],
      registers,
    });
    this.grpcReceivedBytes = new FastCounter<never>({
      name: p + 'grpc_received_bytes_total',
      help: "Bytes of the gRPC messages clients sent to this member, encoded, as etcd counts them (the JSON gateway's requests included; Raft traffic between members not).",
      labelNames: [],
      registers,
    }).child({});
    this.grpcSentBytes = new FastCounter<never>({
      name: p + 'grpc_sent_bytes_total',
      help: "Bytes of the gRPC messages this member sent to clients, encoded, as etcd counts them (the JSON gateway's answers included; Raft traffic between members not).",
      labelNames: [],
      registers,
    }).child({});
    this.httpRequests = new Counter<'method' | 'route' | 'code'>({
      name: p + 'http_requests_total',
      help: 'HTTP requests handled by the admin server, by method, route template and status code.',
      labelNames: ['method', 'route', 'code'],
      registers,
    });
    this.httpDuration = new Histogram<'method' | 'route'>({
      name: p + 'http_request_duration_seconds',
      help: 'HTTP admin request latency, by method and route template.',
      labelNames: ['method', 'route'],
      buckets: LATENCY_BUCKETS,
      registers,
    });

    if (opts.defaultMetrics ?? true) {
      registerDefaultMetrics(registry);
      registerEventLoopBusy(registry, p + 'event_loop_busy_seconds_total');
    }
  }

  // ---------------------------------------------------------------- pull sources

  /**
   * Binds the getter the Raft gauges read at scrape time (term, leader, indexes, pending
   * proposals, per-peer progress). Call once at node start; a later call replaces the getter.
   * The getter must be synchronous and cheap; if it throws, the Raft gauges keep their last
   * values for that scrape.
   */
  bindRaftStatus(getter: () => RaftStatusSnapshot): void {
    this.raftSource = getter;
    this.cachedRaft = null;
  }

  /** Binds the getter the storage gauges (WAL segments, DB size) read at scrape time. */
  /** Binds the count of open KvService.Session streams, read at scrape time. */
  bindSessions(count: () => number): void {
    this.sessionsSource = count;
  }

  bindStorageStatus(getter: () => StorageStatusSnapshot): void {
    this.storageSource = getter;
    this.cachedStorage = null;
  }

  // ---------------------------------------------------------------- raft events

  /**
   * Tells the metrics which leader this node currently knows (0 = none). Increments
   * `raft_leader_changes_total` when it differs from the last value recorded. Cheap: call it
   * whenever the node's leader may have changed (e.g. on every Raft Ready / state change).
   */
  recordLeader(leaderId: number): void {
    if (leaderId !== this.lastLeaderId) {
      this.lastLeaderId = leaderId;
      this.raftLeaderChanges.inc();
      if (leaderId !== 0) this.leaders++;
    }
  }

  /** Times this node learned of a new leader (unlike raft_leader_changes_total, not its loss). */
  get leadersSeen(): number {
    return this.leaders;
  }

  /** Counts `n` proposals that committed (call when their result is delivered). */
  proposalCommitted(n = 1): void {
    this.raftProposalsCommitted.inc(n);
  }

  /**
   * Counts `n` proposals that failed. `reason` is a small fixed vocabulary, e.g. `not_leader`,
   * `no_leader`, `timeout`, `dropped`, `stepped_down`, `forward_failed`.
   */
  proposalFailed(reason: string, n = 1): void {
    this.raftProposalsFailed.inc({ reason }, n);
  }

  /** Counts `n` ReadIndex requests (default one); pass `failureReason` (e.g. `no_leader`, `timeout`) when they failed. */
  readIndex(failureReason?: string, n = 1): void {
    this.raftReadIndexRequests.inc(n);
    if (failureReason !== undefined) this.raftReadIndexFailures.inc({ reason: failureReason }, n);
  }

  /** Counts a Raft message sent to a peer; `type` e.g. `append`, `append_response`, `vote`, `heartbeat`, `snapshot`, `timeout_now`. */
  messageSent(type: string, n = 1): void {
    this.sentChildren.get(type).inc(n);
  }

  /** Counts a Raft message received from a peer; same `type` vocabulary as `messageSent`. */
  messageReceived(type: string, n = 1): void {
    this.receivedChildren.get(type).inc(n);
  }

  /** Counts one failure to send to peer `peerId` (the transport reported it unreachable). */
  peerSendFailed(peerId: number): void {
    this.raftPeerSendFailures.inc({ peer: String(peerId) });
  }

  /** Counts `bytes` sent to peer `peerId`. */
  peerBytesSent(peerId: number, bytes: number): void {
    this.peerSentChildren.get(peerId).inc(bytes);
  }

  /** Counts `bytes` received from peer `peerId`. */
  peerBytesReceived(peerId: number, bytes: number): void {
    this.peerReceivedChildren.get(peerId).inc(bytes);
  }

  /** Observes one round trip to peer `peerId`, in seconds. */
  observePeerRtt(peerId: number, seconds: number): void {
    this.raftPeerRtt.observe({ peer: String(peerId) }, seconds);
  }

  /** Records a snapshot this node took: how long it took (seconds) and its size (bytes). */
  snapshotTaken(seconds: number, sizeBytes: number): void {
    this.raftSnapshotsTaken.inc();
    this.raftSnapshotDuration.observe({ operation: 'take' }, seconds);
    this.raftSnapshotSize.observe({ operation: 'take' }, sizeBytes);
  }

  lateTick(): void {
    this.raftLateTicks.inc();
  }

  /** Records a snapshot this node installed from the leader: duration (seconds) and size (bytes). */
  snapshotInstalled(seconds: number, sizeBytes: number): void {
    this.raftSnapshotsInstalled.inc();
    this.raftSnapshotDuration.observe({ operation: 'install' }, seconds);
    this.raftSnapshotSize.observe({ operation: 'install' }, sizeBytes);
  }

  // ---------------------------------------------------------------- storage events

  /** Observes one WAL sync, in seconds. */
  observeWalSync(seconds: number): void {
    this.walSyncDuration.observe(seconds);
  }

  /** Counts bytes appended to the WAL. */
  walBytesWritten(bytes: number): void {
    this.walBytesWrittenTotal.inc(bytes);
  }

  /** Observes applying one batch of `entries` committed entries, in seconds. */
  observeApply(seconds: number, entries = 1): void {
    this.applyDuration.observe(seconds);
    this.appliedEntries.inc(entries);
  }

  // ---------------------------------------------------------------- requests

  /**
   * Declares a gRPC method and its kind once, where its handler is wrapped; the child counts the
   * calls it starts.
   */
  grpcMethod(service: string, method: string, type: GrpcType): CounterChild {
    this.grpcTypes.set(`${service}/${method}`, type);
    return this.grpcStarted.child({ service, method });
  }

  /**
   * Counts one call started of a method never declared with grpcMethod: an operation on a
   * KvService.Session stream, counted as the unary call it stands for.
   */
  grpcStartedOp(service: string, method: string): void {
    const k = `${service}/${method}`;
    let c = this.grpcStartedChildren.get(k);
    if (!c) this.grpcStartedChildren.set(k, (c = this.grpcStarted.child({ service, method })));
    c.inc();
  }

  /** The kind of a declared method (`unary` for one never declared, e.g. a Session operation). */
  grpcType(service: string, method: string): GrpcType {
    return this.grpcTypes.get(`${service}/${method}`) ?? 'unary';
  }

  observeGrpc(service: string, method: string, code: string, seconds: number): void {
    const k = `${service}/${method}/${code}`;
    let c = this.grpcCounterChildren.get(k);
    if (!c) this.grpcCounterChildren.set(k, (c = this.grpcRequests.child({ service, method, code })));
    c.inc();
    const hk = `${service}/${method}`;
    let h = this.grpcDurationChildren.get(hk);
    if (!h) this.grpcDurationChildren.set(hk, (h = this.grpcDuration.child({ service, method })));
    h.observe(seconds);
  }

  /** Records one finished HTTP request (used by createAdminApp). `route` must be a template, never a raw URL. */
  observeHttp(method: string, route: string, code: number, seconds: number): void {
    this.httpRequests.inc({ method, route, code: String(code) });
    this.httpDuration.observe({ method, route }, seconds);
  }

  // ---------------------------------------------------------------- exposition

  /** The Prometheus text exposition of every metric. */
  render(): Promise<string> {
    this.cachedRaft = null;
    this.cachedStorage = null;
    return this.registry.metrics();
  }

  /** Content-Type of `render()`'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }

  private readRaft(): RaftStatusSnapshot | null {
    if (!this.raftSource) return null;
    const now = Date.now();
    if (this.cachedRaft && now - this.cachedRaft.at < 5) return this.cachedRaft.value;
    try {
      const value = this.raftSource();
      this.cachedRaft = { at: now, value };
      return value;
    } catch {
      return null;
    }
  }

  private readStorage(): StorageStatusSnapshot | null {
    if (!this.storageSource) return null;
    const now = Date.now();
    if (this.cachedStorage && now - this.cachedStorage.at < 5) return this.cachedStorage.value;
    try {
      const value = this.storageSource();
      this.cachedStorage = { at: now, value };
      return value;
    } catch {
      return null;
    }
  }
}

/** prom-client's gauges that break the `_total`-is-for-counters rule, and their replacements. */
const NONCONFORMING_DEFAULTS: Array<{ old: string; name: string; help: string; count: () => number }> = [
  {
    old: 'nodejs_active_handles_total',
    name: 'nodejs_active_handles_all',
    help: 'Total number of active libuv handles (all types).',
    count: () => activeHandles(),
  },
  {
    old: 'nodejs_active_requests_total',
    name: 'nodejs_active_requests_all',
    help: 'Total number of active libuv requests (all types).',
    count: () => activeRequests(),
  },
  {
    old: 'nodejs_active_resources_total',
    name: 'nodejs_active_resources_all',
    help: 'Total number of active resources keeping the event loop alive (all types).',
    count: () => process.getActiveResourcesInfo().length,
  },
];

type ProcessInternals = { _getActiveHandles?: () => unknown[]; _getActiveRequests?: () => unknown[] };

function activeHandles(): number {
  const fn = (process as unknown as ProcessInternals)._getActiveHandles;
  return typeof fn === 'function' ? fn.call(process).length : 0;
}

function activeRequests(): number {
  const fn = (process as unknown as ProcessInternals)._getActiveRequests;
  return typeof fn === 'function' ? fn.call(process).length : 0;
}

/**
 * prom-client's default metrics, with the three `_total` gauges renamed to `_all`. The event-loop
 * lag is sampled every 100 ms, not prom-client's 10 ms: the 10 ms timer was two thirds of an idle
 * member's wake-ups (~140/s down to ~55/s, about 0.3% of a core per member), and a sample every
 * 100 ms still gives a scrape interval 150 samples for its percentiles.
 */
function registerDefaultMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 100 });
  for (const m of NONCONFORMING_DEFAULTS) {
    if (!registry.getSingleMetric(m.old)) continue;
    registry.removeSingleMetric(m.old);
    new Gauge({
      name: m.name,
      help: m.help,
      registers: [registry],
      collect() {
        this.set(m.count());
      },
    });
  }
}

/**
 * The time the event loop spent running code rather than waiting for I/O or timers, as a counter:
 * `rate()` of it is the event loop's utilization (0..1), the figure that says how close a member
 * is to falling behind. The lag histogram only shows that once it is too late; process CPU also
 * counts the thread pool and V8's helper threads.
 */
function registerEventLoopBusy(registry: Registry, name: string): void {
  let last = performance.eventLoopUtilization().active;
  new Counter({
    name,
    help: 'Time the event loop spent running callbacks (not waiting); rate() of it is the event loop utilization',
    registers: [registry],
    collect() {
      const active = performance.eventLoopUtilization().active;
      if (active > last) this.inc((active - last) / 1000);
      last = active;
    },
  });
}

/** A labelled counter's child per key, each made once: a labelled lookup hashes the labels on every call. */
class ChildrenByKey<K> {
  private readonly children = new Map<K, CounterChild>();
  constructor(private readonly make: (key: K) => CounterChild) {}

  get(key: K): CounterChild {
    let c = this.children.get(key);
    if (!c) this.children.set(key, (c = this.make(key)));
    return c;
  }
}
