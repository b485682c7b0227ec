// etcd's metric names beside ours on /metrics, so that the Prometheus alerts and Grafana
// dashboards operators already run for etcd (leader present, leader changes, proposals, fsync and
// commit latency, peer round trips, database size against the quota, gRPC rates and open watch
// streams) work against Placement Center unchanged.
//
// Nothing here is measured twice: each etcd series is read, at scrape time only, from the
// instrument of ours that measures the same thing, renamed and relabelled (etcd's `To` holds the
// peer's member id in hex as etcd's own member list prints it; gRPC codes are spelled as Go's
// grpc-prometheus spells them). Types are etcd 3.4's, even where etcd's choice breaks Prometheus'
// naming rules (a few gauges end in `_total`): queries written for etcd rely on them.
//
// What etcd has and this does not (no instrument of ours measures it): snapshot and
// defragmentation timings, the v2 store's debugging series,
// and leases granted and revoked (etcd counts them on every member as it applies them, ours count
// them on the member that was asked).
import type { Metric, Registry } from 'prom-client';
import type { Exposition, ExpositionSample as Sample } from './fast.js';
import type { Metrics } from './metrics.js';

type Labels = Sample['labels'];

/** What the etcd series read besides our instruments. */
export interface EtcdNamesSource {
  /** The member id etcd's API reports for node `id`, in hex as etcd prints it. */
  memberIdHex(id: number): string;
  /** This member's node id. */
  selfId: number;
  /** Our version (etcd_server_version). */
  serverVersion: string;
  /** The etcd API level we implement (etcd_cluster_version), e.g. `3.4`. */
  clusterVersion: string;
  /** --quota-backend-bytes (0: none). */
  quotaBackendBytes: number;
  isLearner(): boolean;
  /** The keyspace's current and compacted revisions. */
  revision(): number;
  compactRevision(): number;
}

/** Go's names of the gRPC codes, as grpc-prometheus labels them (`grpc_code`). */
const GO_CODE: Record<string, string> = {
  OK: 'OK',
  CANCELLED: 'Canceled',
  UNKNOWN: 'Unknown',
  INVALID_ARGUMENT: 'InvalidArgument',
  DEADLINE_EXCEEDED: 'DeadlineExceeded',
  NOT_FOUND: 'NotFound',
  ALREADY_EXISTS: 'AlreadyExists',
  PERMISSION_DENIED: 'PermissionDenied',
  RESOURCE_EXHAUSTED: 'ResourceExhausted',
  FAILED_PRECONDITION: 'FailedPrecondition',
  ABORTED: 'Aborted',
  OUT_OF_RANGE: 'OutOfRange',
  UNIMPLEMENTED: 'Unimplemented',
  INTERNAL: 'Internal',
  UNAVAILABLE: 'Unavailable',
  DATA_LOSS: 'DataLoss',
  UNAUTHENTICATED: 'Unauthenticated',
};

/** A family whose samples are read, at scrape time, from another. */
class Derived {
  readonly aggregator = 'sum' as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: Exposition['type'],
    private readonly read: () => Promise<Sample[]>,
  ) {}

  async get(): Promise<Exposition> {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: await this.read() };
  }
}

/** The samples of our metric `source`, renamed to `name` (histograms: each suffix kept). */
async function samplesOf(registry: Registry, source: string, name: string, relabel?: (l: Labels) => Labels): Promise<Sample[]> {
  const m = registry.getSingleMetric(source);
  if (!m) return [];
  const got = (await m.get()) as unknown as Exposition;
  const out: Sample[] = [];
  for (const v of got.values) {
    const metricName = v.metricName ? name + v.metricName.slice(source.length) : undefined;
    if (!relabel) {
      out.push({ ...v, metricName });
      continue;
    }
    // prom-client keeps a histogram child's labels apart from `le` (sharedLabels); both go through.
    const { le, ...own } = { ...v.labels, ...v.sharedLabels };
    const mapped = relabel(own);
    out.push(le === undefined ? { metricName, labels: mapped, value: v.value } : { metricName, labels: { le }, sharedLabels: mapped, value: v.value });
  }
  return out;
}

const one = (value: number): Sample[] => [{ labels: {}, value }];

/** Registers etcd's names in `metrics`' registry. */
export function exposeEtcdNames(metrics: Metrics, src: EtcdNamesSource): void {
  const registry = metrics.registry;
  const p = metrics.prefix;
  const add = (name: string, help: string, type: Exposition['type'], read: () => Promise<Sample[]>): void =>
    registry.registerMetric(new Derived(name, help, type, read) as unknown as Metric);
  const alias = (name: string, source: string, type: Exposition['type'], help: string, relabel?: (l: Labels) => Labels): void =>
    add(name, help, type, () => samplesOf(registry, p + source, name, relabel));
  const total = async (source: string): Promise<number> => (await samplesOf(registry, p + source, source)).reduce((s, v) => s + v.value, 0);
  const grpc = (withCode: boolean) => (l: Labels): Labels => {
    const service = String(l.service);
    const method = String(l.method);
    const out: Labels = { grpc_method: method, grpc_service: service, grpc_type: metrics.grpcType(service, method) };
    if (withCode) out.grpc_code = GO_CODE[String(l.code)] ?? String(l.code);
    return out;
  };

  // The member, its leader and the cluster.
  alias('etcd_server_has_leader', 'raft_has_leader', 'gauge', '1 when this member knows a leader, else 0 (placement_raft_has_leader).');
  alias('etcd_server_is_leader', 'raft_is_leader', 'gauge', '1 when this member leads, else 0 (placement_raft_is_leader).');
  add('etcd_server_is_learner', '1 when this member is a learner, else 0.', 'gauge', async () => one(src.isLearner() ? 1 : 0));
  add('etcd_server_id', 'Always 1; server_id is the member id etcd clients see, in hex.', 'gauge', async () => [
    { labels: { server_id: src.memberIdHex(src.selfId) }, value: 1 },
  ]);
  add('etcd_server_version', 'Always 1; server_version is this member\'s Placement Center version.', 'gauge', async () => [
    { labels: { server_version: src.serverVersion }, value: 1 },
  ]);
  add('etcd_cluster_version', 'Always 1; cluster_version is the etcd API level this member implements.', 'gauge', async () => [
    { labels: { cluster_version: src.clusterVersion }, value: 1 },
  ]);
  // etcd counts a change only when a (new) leader is known; ours counts the loss too.
  add('etcd_server_leader_changes_seen_total', 'Times this member learned of a new leader (placement_raft_leader_changes_total also counts each loss of one).', 'counter', async () => one(metrics.leadersSeen));

  // Proposals: etcd's "committed" and "applied" are the Raft indexes, exposed as gauges.
  alias('etcd_server_proposals_committed_total', 'raft_commit_index', 'gauge', 'The Raft commit index (placement_raft_commit_index).');
  alias('etcd_server_proposals_applied_total', 'raft_applied_index', 'gauge', 'The Raft applied index (placement_raft_applied_index).');
  alias('etcd_server_proposals_pending', 'raft_proposals_pending', 'gauge', 'Proposals made through this member not committed or failed yet (placement_raft_proposals_pending).');
  add('etcd_server_proposals_failed_total', 'Proposals made through this member that failed, whatever the reason (placement_raft_proposals_failed_total).', 'counter', async () => one(await total('raft_proposals_failed_total')));
  add('etcd_server_read_indexes_failed_total', 'Linearizable reads whose ReadIndex failed (placement_raft_read_index_failures_total).', 'counter', async () => one(await total('raft_read_index_failures_total')));

  // Disk and database.
  alias('etcd_disk_wal_fsync_duration_seconds', 'storage_wal_sync_duration_seconds', 'histogram', 'WAL syncs to stable storage (placement_storage_wal_sync_duration_seconds).');
  // etcd's backend commit writes the applied changes to its database: our state machine's batch write.
  alias('etcd_disk_backend_commit_duration_seconds', 'state_machine_apply_duration_seconds', 'histogram', 'Writes of an applied batch to the state machine\'s database (placement_state_machine_apply_duration_seconds).');
  alias('etcd_disk_wal_write_bytes_total', 'storage_wal_written_bytes_total', 'gauge', 'Bytes appended to the WAL (placement_storage_wal_written_bytes_total).');
  alias('etcd_mvcc_db_total_size_in_bytes', 'storage_db_size_bytes', 'gauge', 'Size of the state machine\'s database on disk (placement_storage_db_size_bytes).');
  alias('etcd_mvcc_db_total_size_in_use_in_bytes', 'storage_db_size_bytes', 'gauge', 'Size of the state machine\'s database on disk; LevelDB reuses no free pages, so all of it is in use.');
  alias('etcd_debugging_mvcc_db_total_size_in_bytes', 'storage_db_size_bytes', 'gauge', 'Size of the state machine\'s database on disk (placement_storage_db_size_bytes).');
  add('etcd_server_quota_backend_bytes', '--quota-backend-bytes (0: no quota).', 'gauge', async () => one(src.quotaBackendBytes));
  alias('etcd_debugging_mvcc_keys_total', 'storage_current_keys', 'gauge', 'Keys at the current revision (placement_storage_current_keys).');
  add('etcd_debugging_mvcc_current_revision', 'The keyspace\'s current revision.', 'gauge', async () => one(src.revision()));
  add('etcd_debugging_mvcc_compact_revision', 'The revision the keyspace was last compacted at (0: never).', 'gauge', async () => one(Math.max(0, src.compactRevision())));

  // Peers: etcd labels them by member id in hex.
  alias('etcd_network_peer_round_trip_time_seconds', 'raft_peer_round_trip_seconds', 'histogram', 'Round trips of Raft messages to each peer, by its member id in hex (placement_raft_peer_round_trip_seconds).', (l) => ({
    To: src.memberIdHex(Number(l.peer)),
  }));

  alias('etcd_network_peer_sent_failures_total', 'raft_peer_send_failures_total', 'counter', 'Failures to send to each peer, by its member id in hex (placement_raft_peer_send_failures_total).', (l) => ({
    To: src.memberIdHex(Number(l.peer)),
  }));

  alias('etcd_network_peer_sent_bytes_total', 'raft_peer_sent_bytes_total', 'counter', 'Bytes sent to each peer, by its member id in hex (placement_raft_peer_sent_bytes_total).', (l) => ({
    To: src.memberIdHex(Number(l.peer)),
  }));
  alias('etcd_network_peer_received_bytes_total', 'raft_peer_received_bytes_total', 'counter', 'Bytes received from each peer, by its member id in hex (placement_raft_peer_received_bytes_total).', (l) => ({
    From: src.memberIdHex(Number(l.peer)),
  }));

  // Client traffic: the encoded messages, as etcd's gRPC codec counts them.
  alias('etcd_network_client_grpc_received_bytes_total', 'grpc_received_bytes_total', 'counter', 'Bytes of the gRPC messages clients sent (placement_grpc_received_bytes_total).');
  alias('etcd_network_client_grpc_sent_bytes_total', 'grpc_sent_bytes_total', 'counter', 'Bytes of the gRPC messages sent to clients (placement_grpc_sent_bytes_total).');

  // gRPC, as grpc-prometheus names it.
  alias('grpc_server_started_total', 'grpc_started_total', 'counter', 'gRPC calls started, by kind, service and method (placement_grpc_started_total).', grpc(false));
  alias('grpc_server_handled_total', 'grpc_requests_total', 'counter', 'gRPC calls ended, by kind, service, method and code (placement_grpc_requests_total).', grpc(true));
  alias('grpc_server_handling_seconds', 'grpc_request_duration_seconds', 'histogram', 'gRPC call durations, by kind, service and method (placement_grpc_request_duration_seconds).', grpc(false));

  // Watches and leases.
  alias('etcd_debugging_mvcc_watch_stream_total', 'watch_streams', 'gauge', 'Open watch streams (placement_watch_streams).');
  add('etcd_debugging_mvcc_watcher_total', 'Watchers, in sync or not (placement_watchers).', 'gauge', async () => one(await total('watchers')));
  alias('etcd_debugging_mvcc_slow_watcher_total', 'watch_slow_watchers', 'gauge', 'Watchers behind the current revision (placement_watch_slow_watchers).');
  alias('etcd_debugging_lease_renewed_total', 'lease_keepalives_total', 'counter', 'Keep-alives answered by this member (placement_lease_keepalives_total).');
  alias('etcd_debugging_server_lease_expired_total', 'lease_expired_total', 'counter', 'Leases this member ended as leader because they expired (placement_lease_expired_total).');
}

/** The names exposeEtcdNames registers (they follow etcd, not our naming rules). */
export function isEtcdName(name: string): boolean {
  return name.startsWith('etcd_') || name.startsWith('grpc_server_');
}
