// Node configuration: one schema, three sources. Precedence is flag > environment > config file
// > default. Every option has all three forms; the table below is the single source of truth
// for names, env vars, help text and defaults (the CLI's --help is generated from it).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_MAX_REQUEST_BYTES, DEFAULT_MAX_TXN_OPS, MAX_TXN_OPS_CEILING } from '../../storage/index.js';
import { compactionPolicy } from '../compaction/policy.js';

export type PeerMap = Map<number, string>;

export interface NodeConfig {
  id: number;
  clusterId: string;
  dataDir: string;
  /** gRPC listen address (clients and peers). */
  listen: string;
  /** Admin HTTP listen address ('' disables the admin server). */
  http: string;
  /** Advertised gRPC address of every voter, this node included. */
  peers: PeerMap;
  /** Advertised admin HTTP address of peers (optional, for status output). */
  peerHttp: PeerMap;
  /** Address actually dialed to reach a peer (defaults to its `peers` address). */
  dial: PeerMap;
  tickMs: number;
  electionTicks: number;
  heartbeatTicks: number;
  snapshotEvery: number;
  snapshotBytes: number;
  /** Entries kept in the log behind each new snapshot (members that far behind catch up without one). */
  snapshotCatchupEntries: number;
  raftLogMemoryBytes: number;
  /** Keep the WAL's active segment zero-filled this far ahead of its data (0: off). */
  walPreallocateBytes: number;
  /** Unary gRPC calls on the client port answered from their HTTP/2 stream (src/grpc/h2/direct-unary.ts), not through grpc-js. */
  grpcDirectUnary: boolean;
  /** LeaseKeepAlive and peer Raft streams served from their HTTP/2 stream (src/grpc/h2/direct-stream.ts), not through grpc-js. */
  grpcDirectStreams: boolean;
  /** etcd's JSON gateway, /health and /version over plain HTTP on the client port (src/api/etcd/gateway). */
  enableGrpcGateway: boolean;
  maxKeyBytes: number;
  maxValueBytes: number;
  requestTimeoutMs: number;
  /** Bounded wait for a leader before a request fails with UNAVAILABLE. */
  leaderWaitMs: number;
  maxListLimit: number;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Test-only planted bug (env PLACEMENT_PLANTED_BUG); '' when none. */
  plantedBug: '' | 'local-reads';
  /** Upper bound of a lease's TTL (a grant over it is refused like an oversized value). */
  maxLeaseTtlMs: number;
  /** Most leases the cluster holds (replicated by the leader: src/lease/keeper.ts). */
  maxLeases: number;
  /** Most keys attached to one lease. */
  maxKeysPerLease: number;
  /** Keep-alives arriving within this window share one renewal command. */
  leaseRenewBatchMs: number;
  /** Client-port TLS (gRPC and, unless httpTls says otherwise, admin HTTP); '' = plaintext. */
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  clientCertAuth: boolean;
  /** Admin HTTP TLS: like the client port, HTTPS without client certificates, or plain HTTP. */
  httpTls: 'client' | 'no-client-cert' | 'off';
  /** Separate gRPC address of the peer service ('' = peers share `listen`). */
  peerListen: string;
  /** Peer-port address of every member (with peerListen). */
  peerAddresses: PeerMap;
  peerCertFile: string;
  peerKeyFile: string;
  peerTrustedCaFile: string;
  peerClientCertAuth: boolean;
  /** File holding the cluster's peer secret ('' = none given). */
  peerSecretFile: string;
  /** The secret itself from env PLACEMENT_PEER_SECRET (never a flag: flags show in `ps`). */
  peerSecret: RedactedSecret | null;
  /** How often certificate and key files are checked for changes. */
  tlsReloadMs: number;
  /** Rejoin after losing state: catch up from the leader before voting again (persisted until done). */
  rejoin: boolean;
  /** A new member added with `member add`: it starts with no membership of its own, learns it from the leader, and refuses to start unless the cluster lists it. */
  join: boolean;
  /** How often the state machine's table files are checked against their checksums. */
  smCheckIntervalMs: number;
  /** Key auth tokens are signed with ('' = derived from the peer secret, see src/auth/token-key.ts). */
  authTokenKeyFile?: string;
  /** Lifetime of an auth token (etcd's --auth-token-ttl, 300 s). */
  authTokenTtlMs?: number;
  /** Put GET /metrics behind auth (root) when auth is enabled; off: probes and scrapers stay open. */
  metricsAuth?: boolean;
  /** Also expose our metrics under etcd's names (etcd_server_has_leader, grpc_server_handled_total...). */
  etcdMetricNames: boolean;
  /** etcd's --max-txn-ops: operations per list of a Txn on the etcd API. */
  maxTxnOps: number;
  /** etcd's --max-request-bytes: largest replicated etcd request. */
  maxRequestBytes: number;
  /** etcd's --quota-backend-bytes: past it this member raises the NOSPACE alarm (0: no quota). */
  quotaBackendBytes: number;
  /** Largest reply a read builds: a native page stops before it (partial page + continuation). */
  maxResponseBytes: number;
  /** Auto-compaction (src/compaction/): '' = the default policy (keep 10,000 revisions and 1 hour). */
  autoCompactionMode: '' | 'periodic' | 'revision';
  /** Revisions (revision mode) or a duration (periodic: "1h", "30m", a bare number = hours); "0" disables. */
  autoCompactionRetention: string;
  /** How often the leader considers compacting (at most; periodic retention/10 when shorter). */
  autoCompactionIntervalMs: number;
  /** Shard moves per second the leader's placement controller may make (src/placement/controller.ts). */
  placementMovesPerSecond: number;
  /** Watches: period of progress notifications for watchers that ask (etcd: 10 minutes). */
  watchProgressNotifyMs: number;
  /** Watches: events and bytes one watcher may have handed to its stream and not yet sent, before it catches up from history instead. */
  watchMaxPendingEvents: number;
  watchMaxPendingBytes: number;
  /** Watches: the same bound for one stream and for the whole node. */
  watchStreamMaxPendingBytes: number;
  watchTotalMaxPendingBytes: number;
}

/** A secret value that never prints: logs, JSON and util.inspect show `[redacted]`. */
export class RedactedSecret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return '[redacted]';
  }
  toString(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[redacted]';
  }
}

export interface OptionSpec {
  key: keyof NodeConfig;
  flag: string;
  env: string;
  /** `<x>` takes a value; `[bool]` is a switch (given alone it means true; env/file: true/false). */
  arg: string;
  help: string;
  default?: string;
}

/** Every option: CLI flag, env var, config-file key (= `key`), help text, default. */
export const OPTIONS: OptionSpec[] = [
  { key: 'id', flag: '--id', env: 'PLACEMENT_ID', arg: '<n>', help: 'this member\'s id (positive integer, must appear in --peers)' },
  { key: 'dataDir', flag: '--data-dir', env: 'PLACEMENT_DATA_DIR', arg: '<dir>', help: 'directory for the WAL, snapshots and state machine', default: './data' },
  { key: 'listen', flag: '--listen', env: 'PLACEMENT_LISTEN', arg: '<host:port>', help: 'gRPC address for clients and peers', default: '127.0.0.1:1228' },
  { key: 'http', flag: '--http', env: 'PLACEMENT_HTTP', arg: '<host:port>', help: 'admin HTTP/metrics address ("" or "off" disables it)', default: '127.0.0.1:1227' },
  { key: 'peers', flag: '--peers', env: 'PLACEMENT_PEERS', arg: '<list>', help: 'voters as id=host:port,... (advertised gRPC addresses; default: this node alone on --listen)' },
  { key: 'peerHttp', flag: '--peer-http', env: 'PLACEMENT_PEER_HTTP', arg: '<list>', help: 'admin HTTP address of members as id=host:port,... (reported in status)' },
  { key: 'dial', flag: '--dial', env: 'PLACEMENT_DIAL', arg: '<list>', help: 'override the address dialed to reach a peer, id=host:port,... (e.g. through a fault proxy)' },
  { key: 'clusterId', flag: '--cluster-id', env: 'PLACEMENT_CLUSTER_ID', arg: '<name>', help: 'cluster name; peer traffic from another cluster is rejected', default: 'placement' },
  { key: 'tickMs', flag: '--tick-ms', env: 'PLACEMENT_TICK_MS', arg: '<ms>', help: 'Raft tick interval in milliseconds', default: '50' },
  { key: 'electionTicks', flag: '--election-ticks', env: 'PLACEMENT_ELECTION_TICKS', arg: '<n>', help: 'election timeout in ticks (randomized in [n, 2n))', default: '10' },
  { key: 'heartbeatTicks', flag: '--heartbeat-ticks', env: 'PLACEMENT_HEARTBEAT_TICKS', arg: '<n>', help: 'leader heartbeat interval in ticks (< election ticks)', default: '2' },
  { key: 'snapshotEvery', flag: '--snapshot-every', env: 'PLACEMENT_SNAPSHOT_EVERY', arg: '<n>', help: 'take a snapshot and compact the log about every this many applied entries (etcd 3.4\'s default; each snapshot briefly competes with writes for the CPU, so members take turns: each is offset by its rank, every/members entries apart; once the newest snapshot is 64 MiB or more, the next also waits until as many bytes of entries were applied, at most 128 MiB, so copying a large state costs about a byte per byte applied)', default: '100000' },
  { key: 'snapshotBytes', flag: '--snapshot-bytes', env: 'PLACEMENT_SNAPSHOT_BYTES', arg: '<n>', help: 'also take one once the entries applied since the last snapshot hold this many bytes (bounds the memory of the in-memory log; members after the first in id order take theirs a little earlier, so they do not all take one at once)', default: String(64 * 1024 * 1024) },
  { key: 'snapshotCatchupEntries', flag: '--snapshot-catchup-entries', env: 'PLACEMENT_SNAPSHOT_CATCHUP_ENTRIES', arg: '<n>', help: 'after a snapshot the log keeps at most this many entries behind it (fewer when the previous snapshot is closer): a member further behind is sent the newest snapshot (etcd keeps 5,000)', default: '10000' },
  { key: 'raftLogMemoryBytes', flag: '--raft-log-memory-bytes', env: 'PLACEMENT_RAFT_LOG_MEMORY_BYTES', arg: '<bytes>', help: 'entry data the Raft log keeps in memory; older entries (durable and applied) are read back from the WAL when a member behind needs them', default: String(8 * 1024 * 1024) },
  { key: 'walPreallocateBytes', flag: '--wal-preallocate-bytes', env: 'PLACEMENT_WAL_PREALLOCATE_BYTES', arg: '<bytes>', help: 'keep the WAL\'s active segment zero-filled this far ahead of its data, so that a commit\'s fdatasync does not also grow the file (0: off)', default: String(4 * 1024 * 1024) },
  { key: 'grpcDirectUnary', flag: '--grpc-direct-unary', env: 'PLACEMENT_GRPC_DIRECT_UNARY', arg: '[bool]', help: 'answer unary gRPC calls on the client port straight from their HTTP/2 stream instead of through grpc-js (streams use grpc-js, except those --grpc-direct-streams takes)', default: 'true' },
  { key: 'grpcDirectStreams', flag: '--grpc-direct-streams', env: 'PLACEMENT_GRPC_DIRECT_STREAMS', arg: '[bool]', help: 'serve LeaseKeepAlive streams and the Raft streams between members straight from their HTTP/2 stream instead of through grpc-js', default: 'true' },
  { key: 'enableGrpcGateway', flag: '--enable-grpc-gateway', env: 'PLACEMENT_ENABLE_GRPC_GATEWAY', arg: '[bool]', help: 'serve etcd\'s JSON gateway (POST /v3/kv/range, /v3/watch, ...), /health and /version over HTTP on the client port, as etcd does (etcd\'s flag)', default: 'true' },
  { key: 'maxKeyBytes', flag: '--max-key-bytes', env: 'PLACEMENT_MAX_KEY_BYTES', arg: '<n>', help: 'largest accepted key, in UTF-8 bytes', default: '4096' },
  { key: 'maxValueBytes', flag: '--max-value-bytes', env: 'PLACEMENT_MAX_VALUE_BYTES', arg: '<n>', help: 'largest accepted value, in bytes', default: String(1024 * 1024) },
  { key: 'requestTimeoutMs', flag: '--request-timeout-ms', env: 'PLACEMENT_REQUEST_TIMEOUT_MS', arg: '<ms>', help: 'server-side deadline for one request', default: '5000' },
  { key: 'leaderWaitMs', flag: '--leader-wait-ms', env: 'PLACEMENT_LEADER_WAIT_MS', arg: '<ms>', help: 'how long a request waits for a leader before failing UNAVAILABLE', default: '2000' },
  { key: 'maxListLimit', flag: '--max-list-limit', env: 'PLACEMENT_MAX_LIST_LIMIT', arg: '<n>', help: 'largest page a List returns (also the default page)', default: '1000' },
  {
    key: 'rejoin',
    flag: '--rejoin',
    env: 'PLACEMENT_REJOIN',
    arg: '[bool]',
    help: 'this member lost state it had acknowledged (its data directory was restored from an old copy, refused at start, or replaced by an empty one): it catches up from the leader and neither votes nor counts towards any quorum until it has (remembered in the data directory until done; the other voters must form a quorum meanwhile)',
    default: 'false',
  },
  {
    key: 'join',
    flag: '--join',
    env: 'PLACEMENT_JOIN',
    arg: '[bool]',
    help: 'this is a new member of a running cluster, added first with `placement-ctl member add` (whose id it must be started with): it learns the membership from the leader, starts as a learner when added as one, and refuses to start if the cluster does not list it. --peers names every member, itself included',
    default: 'false',
  },
  {
    key: 'smCheckIntervalMs',
    flag: '--sm-check-interval-ms',
    env: 'PLACEMENT_SM_CHECK_INTERVAL_MS',
    arg: '<ms>',
    help: 'check the state machine\'s table files against their checksums this often, in the background (damage makes the member rebuild it from its snapshot and log)',
    default: String(10 * 60_000),
  },
  { key: 'logLevel', flag: '--log-level', env: 'PLACEMENT_LOG_LEVEL', arg: '<level>', help: 'trace|debug|info|warn|error|fatal|silent', default: 'info' },
  { key: 'maxLeaseTtlMs', flag: '--max-lease-ttl-ms', env: 'PLACEMENT_MAX_LEASE_TTL_MS', arg: '<ms>', help: 'longest accepted lease TTL in milliseconds (one year by default)', default: String(365 * 24 * 3600 * 1000) },
  { key: 'maxLeases', flag: '--max-leases', env: 'PLACEMENT_MAX_LEASES', arg: '<n>', help: 'most leases the cluster holds; a grant past it is refused (RESOURCE_EXHAUSTED). The leader replicates its value', default: '100000' },
  { key: 'maxKeysPerLease', flag: '--max-keys-per-lease', env: 'PLACEMENT_MAX_KEYS_PER_LEASE', arg: '<n>', help: 'most keys attached to one lease; a write attaching one more is refused (RESOURCE_EXHAUSTED). The leader replicates its value', default: '10000' },
  { key: 'leaseRenewBatchMs', flag: '--lease-renew-batch-ms', env: 'PLACEMENT_LEASE_RENEW_BATCH_MS', arg: '<ms>', help: 'the longest a keep-alive waits for others to share its replicated renewal (each waits at most 1% of its lease TTL, and is answered once its renewal is committed; the wait only delays the answer)', default: '200' },
  { key: 'certFile', flag: '--cert-file', env: 'PLACEMENT_CERT_FILE', arg: '<file>', help: 'TLS certificate (PEM) of the client gRPC port and the admin HTTP port: turns TLS on there; reloaded when the file changes' },
  { key: 'keyFile', flag: '--key-file', env: 'PLACEMENT_KEY_FILE', arg: '<file>', help: 'private key (PEM) of --cert-file' },
  { key: 'trustedCaFile', flag: '--trusted-ca-file', env: 'PLACEMENT_TRUSTED_CA_FILE', arg: '<file>', help: 'CA bundle (PEM) client certificates must chain to (with --client-cert-auth)' },
  { key: 'clientCertAuth', flag: '--client-cert-auth', env: 'PLACEMENT_CLIENT_CERT_AUTH', arg: '[bool]', help: 'clients must present a certificate from --trusted-ca-file; its CN names the caller', default: 'false' },
  { key: 'httpTls', flag: '--http-tls', env: 'PLACEMENT_HTTP_TLS', arg: '<mode>', help: 'admin HTTP: "client" (the client port\'s TLS settings), "no-client-cert" (HTTPS, no client certificate asked: for probes and scrapers), "off" (plain HTTP)', default: 'client' },
  { key: 'peerListen', flag: '--peer-listen', env: 'PLACEMENT_PEER_LISTEN', arg: '<host:port>', help: 'separate gRPC address for peer traffic, with its own TLS settings (default: peers share --listen and its TLS)' },
  { key: 'peerAddresses', flag: '--peer-addresses', env: 'PLACEMENT_PEER_ADDRESSES', arg: '<list>', help: 'peer-port address of every member as id=host:port,... (required with --peer-listen; --peers stays the client address)' },
  { key: 'peerCertFile', flag: '--peer-cert-file', env: 'PLACEMENT_PEER_CERT_FILE', arg: '<file>', help: 'TLS certificate (PEM) of the peer port, also presented when dialing peers (needs --peer-listen); name the member in its CN or a SAN: member-<id>' },
  { key: 'peerKeyFile', flag: '--peer-key-file', env: 'PLACEMENT_PEER_KEY_FILE', arg: '<file>', help: 'private key (PEM) of --peer-cert-file' },
  { key: 'peerTrustedCaFile', flag: '--peer-trusted-ca-file', env: 'PLACEMENT_PEER_TRUSTED_CA_FILE', arg: '<file>', help: 'CA bundle (PEM) peer certificates must chain to' },
  { key: 'peerClientCertAuth', flag: '--peer-client-cert-auth', env: 'PLACEMENT_PEER_CLIENT_CERT_AUTH', arg: '[bool]', help: 'peers must present a certificate from --peer-trusted-ca-file naming the member id they claim (CN or SAN member-<id>)', default: 'false' },
  { key: 'peerSecretFile', flag: '--peer-secret-file', env: 'PLACEMENT_PEER_SECRET_FILE', arg: '<file>', help: 'file holding the cluster\'s shared peer secret (at least 32 characters, e.g. `openssl rand -hex 32`); peers prove they hold it without sending it. Env PLACEMENT_PEER_SECRET may give the secret itself' },
  { key: 'authTokenKeyFile', flag: '--auth-token-key-file', env: 'PLACEMENT_AUTH_TOKEN_KEY_FILE', arg: '<file>', help: 'key (at least 32 characters) auth tokens are signed with, the same file on every member; default: derived from the peer secret' },
  { key: 'authTokenTtlMs', flag: '--auth-token-ttl-ms', env: 'PLACEMENT_AUTH_TOKEN_TTL_MS', arg: '<ms>', help: 'lifetime of a token from Authenticate (clients re-authenticate when it ends)', default: String(300_000) },
  { key: 'metricsAuth', flag: '--metrics-auth', env: 'PLACEMENT_METRICS_AUTH', arg: '[bool]', help: 'with auth enabled, GET /metrics needs the root role (default: open to scrapers)', default: 'false' },
  { key: 'etcdMetricNames', flag: '--etcd-metric-names', env: 'PLACEMENT_ETCD_METRIC_NAMES', arg: '[bool]', help: 'also expose the metrics etcd\'s alerts and dashboards read under etcd\'s names (etcd_server_has_leader, etcd_disk_wal_fsync_duration_seconds, grpc_server_handled_total, ...) on /metrics', default: 'true' },
  { key: 'maxTxnOps', flag: '--max-txn-ops', env: 'PLACEMENT_MAX_TXN_OPS', arg: '<n>', help: `most operations in each list of an etcd Txn (etcd's flag; at most ${MAX_TXN_OPS_CEILING})`, default: String(DEFAULT_MAX_TXN_OPS) },
  { key: 'maxRequestBytes', flag: '--max-request-bytes', env: 'PLACEMENT_MAX_REQUEST_BYTES', arg: '<n>', help: 'largest etcd write request (Put, DeleteRange, Txn) in bytes (etcd\'s flag)', default: String(DEFAULT_MAX_REQUEST_BYTES) },
  { key: 'quotaBackendBytes', flag: '--quota-backend-bytes', env: 'PLACEMENT_QUOTA_BACKEND_BYTES', arg: '<n>', help: 'space quota of this member\'s state machine on disk: past it the NOSPACE alarm is raised and writes that grow the store are refused until compaction, defragmentation and `alarm disarm` (etcd\'s flag; 0: no quota)', default: String(2 * 1024 * 1024 * 1024) },
  { key: 'maxResponseBytes', flag: '--max-response-bytes', env: 'PLACEMENT_MAX_RESPONSE_BYTES', arg: '<n>', help: 'byte budget of one list page (gRPC List, Session list, HTTP list): a page stops before it and says how to continue', default: String(4 * 1024 * 1024) },
  { key: 'autoCompactionMode', flag: '--auto-compaction-mode', env: 'PLACEMENT_AUTO_COMPACTION_MODE', arg: '<mode>', help: 'revision (keep the last N revisions) or periodic (keep a duration of history); unset: keep at least 10,000 revisions and 1 hour, whichever is more' },
  { key: 'autoCompactionRetention', flag: '--auto-compaction-retention', env: 'PLACEMENT_AUTO_COMPACTION_RETENTION', arg: '<n|duration>', help: 'revisions (revision mode) or a duration such as 1h, 30m, 90s (periodic; a bare number is hours, as etcd); 0 turns auto-compaction off' },
  { key: 'autoCompactionIntervalMs', flag: '--auto-compaction-interval-ms', env: 'PLACEMENT_AUTO_COMPACTION_INTERVAL_MS', arg: '<ms>', help: 'how often the leader considers compacting (periodic mode: at least every tenth of the retention)', default: String(5 * 60 * 1000) },
  { key: 'placementMovesPerSecond', flag: '--placement-moves-per-second', env: 'PLACEMENT_MOVES_PER_SECOND', arg: '<n>', help: 'shard moves per second the leader makes when brokers die or drain (a flapping broker cannot churn the cluster faster)', default: '100' },
  { key: 'tlsReloadMs', flag: '--tls-reload-ms', env: 'PLACEMENT_TLS_RELOAD_MS', arg: '<ms>', help: 'how often certificate, key and CA files are checked for changes', default: '5000' },
  { key: 'watchProgressNotifyMs', flag: '--watch-progress-notify-ms', env: 'PLACEMENT_WATCH_PROGRESS_NOTIFY_MS', arg: '<ms>', help: 'period of the progress notifications sent to watchers that asked for them (etcd\'s is 10 minutes; at least 100)', default: String(10 * 60 * 1000) },
  { key: 'watchMaxPendingEvents', flag: '--watch-max-pending-events', env: 'PLACEMENT_WATCH_MAX_PENDING_EVENTS', arg: '<n>', help: 'events one watcher may have waiting to be sent; past it the watcher catches up from history once its client reads again', default: '1024' },
  { key: 'watchMaxPendingBytes', flag: '--watch-max-pending-bytes', env: 'PLACEMENT_WATCH_MAX_PENDING_BYTES', arg: '<n>', help: 'bytes one watcher may have waiting to be sent (the same rule)', default: String(1 << 20) },
  { key: 'watchStreamMaxPendingBytes', flag: '--watch-stream-max-pending-bytes', env: 'PLACEMENT_WATCH_STREAM_MAX_PENDING_BYTES', arg: '<n>', help: 'bytes one watch stream may have waiting to be sent, all its watchers together', default: String(8 << 20) },
  { key: 'watchTotalMaxPendingBytes', flag: '--watch-total-max-pending-bytes', env: 'PLACEMENT_WATCH_TOTAL_MAX_PENDING_BYTES', arg: '<n>', help: 'bytes all watch streams of the node together may have waiting to be sent', default: String(128 << 20) },
];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+):\d{1,5}$/, 'must be host:port')
  .refine((s) => {
    const p = Number(s.slice(s.lastIndexOf(':') + 1));
    return p >= 0 && p <= 65535;
  }, 'port must be 0..65535');

const int = (min: number) => z.coerce.number().int('must be an integer').min(min, `must be >= ${min}`);

/** A switch: true/false from a flag, the environment or a file ("true", "1", "false", "0"). */
const bool = z.preprocess((v) => {
  if (v === true || v === 'true' || v === '1') return true;
  if (v === false || v === 'false' || v === '0' || v === undefined) return false;
  return v;
}, z.boolean({ message: 'must be true or false' }));

const schema = z
  .object({
    id: int(1),
    clusterId: z.string().min(1, 'must not be empty').max(128),
    dataDir: z.string().min(1, 'must not be empty'),
    listen: hostPort,
    http: z.union([z.literal(''), hostPort]),
    peers: z.map(z.number(), hostPort),
    peerHttp: z.map(z.number(), hostPort),
    dial: z.map(z.number(), hostPort),
    tickMs: int(1),
    electionTicks: int(2),
    heartbeatTicks: int(1),
    snapshotEvery: int(1),
    snapshotBytes: int(1),
    snapshotCatchupEntries: int(0),
    raftLogMemoryBytes: int(0),
    walPreallocateBytes: int(0).max(64 * 1024 * 1024, 'must be <= 67108864 (a WAL segment)'),
    grpcDirectUnary: bool,
    grpcDirectStreams: bool,
    enableGrpcGateway: bool,
    maxKeyBytes: int(1),
    maxValueBytes: int(0),
    requestTimeoutMs: int(1),
    leaderWaitMs: int(0),
    maxListLimit: int(1),
    logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    plantedBug: z.enum(['', 'local-reads']),
    maxLeaseTtlMs: int(1),
    maxLeases: int(1),
    maxKeysPerLease: int(1),
    leaseRenewBatchMs: int(0).max(1000, 'must be <= 1000'),
    certFile: z.string(),
    keyFile: z.string(),
    trustedCaFile: z.string(),
    clientCertAuth: bool,
    httpTls: z.enum(['client', 'no-client-cert', 'off']),
    peerListen: z.union([z.literal(''), hostPort]),
    peerAddresses: z.map(z.number(), hostPort),
    peerCertFile: z.string(),
    peerKeyFile: z.string(),
    peerTrustedCaFile: z.string(),
    peerClientCertAuth: bool,
    peerSecretFile: z.string(),
    peerSecret: z.instanceof(RedactedSecret).nullable(),
    tlsReloadMs: int(10),
    authTokenKeyFile: z.string(),
    authTokenTtlMs: int(1000),
    metricsAuth: bool,
    etcdMetricNames: bool,
    smCheckIntervalMs: int(1000),
    rejoin: bool,
    join: bool,
    maxTxnOps: int(1).max(MAX_TXN_OPS_CEILING, `must be <= ${MAX_TXN_OPS_CEILING}`),
    maxRequestBytes: int(1),
    quotaBackendBytes: int(0),
    maxResponseBytes: int(1024),
    autoCompactionMode: z.enum(['', 'periodic', 'revision'], { message: 'must be periodic or revision' }),
    autoCompactionRetention: z.string(),
    autoCompactionIntervalMs: int(10),
    placementMovesPerSecond: int(1),
    watchProgressNotifyMs: int(100),
    watchMaxPendingEvents: int(1),
    watchMaxPendingBytes: int(1024),
    watchStreamMaxPendingBytes: int(1024),
    watchTotalMaxPendingBytes: int(1024),
  })
  .superRefine((c, ctx) => {
    // The shortest lease a member grants is 1.5 × its longest election timeout (src/lease/timing.ts).
    const minTtlMs = Math.ceil(1.5 * 2 * c.electionTicks * c.tickMs);
    if (c.maxLeaseTtlMs < minTtlMs) {
      ctx.addIssue({ code: 'custom', path: ['maxLeaseTtlMs'], message: `must be at least the minimum lease TTL, ${minTtlMs} ms (1.5 × 2 × election ticks × tick ms)` });
    }
    if (c.heartbeatTicks >= c.electionTicks) {
      ctx.addIssue({ code: 'custom', path: ['heartbeatTicks'], message: 'must be smaller than electionTicks' });
    }
    if (!c.peers.has(c.id)) {
      ctx.addIssue({ code: 'custom', path: ['peers'], message: `must include this node's id ${c.id}` });
    }
    for (const [k, m] of [['dial', c.dial], ['peerHttp', c.peerHttp], ['peerAddresses', c.peerAddresses]] as const) {
      for (const id of m.keys()) {
        if (!c.peers.has(id)) ctx.addIssue({ code: 'custom', path: [k], message: `names id ${id}, which is not in peers` });
      }
    }
    checkSecurity(c, (path, message) => ctx.addIssue({ code: 'custom', path: [path], message }));
    try {
      compactionPolicy(c.autoCompactionMode, c.autoCompactionRetention);
    } catch (err) {
      ctx.addIssue({ code: 'custom', path: ['autoCompactionRetention'], message: (err as Error).message });
    }
  });

/** The TLS and peer-authentication settings must make sense together (see README "Security"). */
function checkSecurity(c: Omit<NodeConfig, 'plantedBug'> & { plantedBug: string }, issue: (path: keyof NodeConfig, message: string) => void): void {
  const pair = (cert: 'certFile' | 'peerCertFile', key: 'keyFile' | 'peerKeyFile'): void => {
    if (c[cert] && !c[key]) issue(key, `required with --${cert === 'certFile' ? '' : 'peer-'}cert-file`);
    if (c[key] && !c[cert]) issue(cert, `required with --${key === 'keyFile' ? '' : 'peer-'}key-file`);
  };
  pair('certFile', 'keyFile');
  pair('peerCertFile', 'peerKeyFile');
  if (c.trustedCaFile && !c.certFile) issue('trustedCaFile', 'client certificates can only be checked with TLS on: set --cert-file and --key-file');
  if (c.clientCertAuth && !(c.certFile && c.trustedCaFile)) issue('clientCertAuth', 'needs --cert-file, --key-file and --trusted-ca-file');
  if (c.httpTls === 'no-client-cert' && !c.certFile) issue('httpTls', '"no-client-cert" serves HTTPS with --cert-file, which is not set');
  if (c.peerListen) {
    for (const id of c.peers.keys()) if (!c.peerAddresses.has(id)) issue('peerAddresses', `must name the peer port of every member (id ${id} is missing)`);
  } else {
    if (c.peerAddresses.size > 0) issue('peerAddresses', 'only used with --peer-listen');
    for (const k of ['peerCertFile', 'peerKeyFile', 'peerTrustedCaFile'] as const) {
      if (c[k]) issue(k, 'peer TLS needs its own port: set --peer-listen (without it, peers share --listen and its TLS settings)');
    }
    if (c.peerClientCertAuth) issue('peerClientCertAuth', 'peer TLS needs its own port: set --peer-listen');
  }
  if (c.peerTrustedCaFile && !c.peerCertFile) issue('peerTrustedCaFile', 'needs --peer-cert-file and --peer-key-file (TLS on the peer port)');
  if (c.peerClientCertAuth && !(c.peerCertFile && c.peerTrustedCaFile)) issue('peerClientCertAuth', 'needs --peer-cert-file, --peer-key-file and --peer-trusted-ca-file');
  if (c.peerSecretFile && c.peerSecret) issue('peerSecretFile', 'give the peer secret once: either --peer-secret-file or PLACEMENT_PEER_SECRET');
  if (c.peerSecret && c.peerSecret.reveal().trim().length < MIN_PEER_SECRET_CHARS) {
    issue('peerSecret', `PLACEMENT_PEER_SECRET must be at least ${MIN_PEER_SECRET_CHARS} characters`);
  }
  // Safe by default: members accept peer traffic only from a process that proves it belongs.
  // A single member generates its own secret (nothing to share yet); several must be given one.
  if (c.peers.size > 1 && !c.peerSecretFile && !c.peerSecret && !c.peerClientCertAuth) {
    issue(
      'peerSecretFile',
      'peer traffic must be authenticated: give every member the same secret (--peer-secret-file, or PLACEMENT_PEER_SECRET), ' +
        'or peer certificates with --peer-client-cert-auth (`npm start` and docker-compose.yml generate a secret)',
    );
  }
}

/** Shortest accepted peer secret (after trimming whitespace). */
export const MIN_PEER_SECRET_CHARS = 32;

/** Parses `1=h:p,2=h:p` (or a JSON object {"1": "h:p"}) into a map. */
export function parsePeerList(input: unknown, what: string): PeerMap {
  const out: PeerMap = new Map();
  if (input === undefined || input === null || input === '') return out;
  const entries: [string, unknown][] =
    typeof input === 'string'
      ? input.split(',').map((s) => s.trim()).filter(Boolean).map((part) => {
          const eq = part.indexOf('=');
          if (eq <= 0) throw new ConfigError(`${what}: "${part}" is not id=host:port`);
          return [part.slice(0, eq), part.slice(eq + 1)];
        })
      : typeof input === 'object' && !Array.isArray(input)
        ? Object.entries(input as Record<string, unknown>)
        : (() => {
            throw new ConfigError(`${what}: expected "id=host:port,..." or an object {"id": "host:port"}`);
          })();
  for (const [k, v] of entries) {
    const id = Number(k);
    if (!Number.isInteger(id) || id < 1) throw new ConfigError(`${what}: "${k}" is not a positive integer id`);
    if (typeof v !== 'string' || v === '') throw new ConfigError(`${what}: id ${id} has no address`);
    if (out.has(id)) throw new ConfigError(`${what}: id ${id} appears twice`);
    out.set(id, v);
  }
  return out;
}

export type RawSource = Partial<Record<keyof NodeConfig, unknown>>;

/** Reads the environment form of every option (unset or empty variables are skipped). */
export function fromEnv(env: NodeJS.ProcessEnv): RawSource {
  const out: RawSource = {};
  for (const o of OPTIONS) {
    const v = env[o.env];
    if (v !== undefined && (v !== '' || o.key === 'http')) out[o.key] = v;
  }
  return out;
}

/** Reads a JSON config file whose keys are the option keys (camelCase, e.g. "dataDir"). */
export function fromFile(path: string): RawSource {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`config file ${path}: ${(err as Error).message}`);
  }
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) throw new ConfigError(`config file ${path}: expected a JSON object`);
  const known = new Set<string>(OPTIONS.map((o) => o.key));
  const out: RawSource = {};
  for (const [k, v] of Object.entries(obj)) {
    if (!known.has(k)) throw new ConfigError(`config file ${path}: unknown key "${k}" (known: ${[...known].join(', ')})`);
    out[k as keyof NodeConfig] = v;
  }
  return out;
}

/** Merges the sources (flag > env > file > default) and validates. Throws ConfigError. */
export function resolveConfig(flags: RawSource, env: NodeJS.ProcessEnv, file?: RawSource): NodeConfig {
  const envSrc = fromEnv(env);
  const merged: Record<string, unknown> = {};
  for (const o of OPTIONS) {
    const v = flags[o.key] ?? envSrc[o.key] ?? file?.[o.key] ?? o.default;
    merged[o.key] = v;
  }
  if (merged.http === 'off') merged.http = '';
  const peers = parsePeerList(merged.peers, 'peers');
  const idNum = Number(merged.id);
  if (peers.size === 0 && Number.isInteger(idNum) && idNum > 0 && typeof merged.listen === 'string') peers.set(idNum, merged.listen);
  for (const k of ['certFile', 'keyFile', 'trustedCaFile', 'peerListen', 'peerCertFile', 'peerKeyFile', 'peerTrustedCaFile', 'peerSecretFile', 'authTokenKeyFile', 'autoCompactionMode', 'autoCompactionRetention'] as const) merged[k] ??= '';
  const candidate = {
    ...merged,
    peers,
    peerHttp: parsePeerList(merged.peerHttp, 'peer-http'),
    dial: parsePeerList(merged.dial, 'dial'),
    peerAddresses: parsePeerList(merged.peerAddresses, 'peer-addresses'),
    plantedBug: env.PLACEMENT_PLANTED_BUG ?? '',
    peerSecret: env.PLACEMENT_PEER_SECRET ? new RedactedSecret(env.PLACEMENT_PEER_SECRET) : null,
  };
  if (merged.id === undefined) throw new ConfigError('id: required (--id, PLACEMENT_ID or "id" in the config file)');
  const r = schema.safeParse(candidate);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const key = String(i.path[0] ?? '');
      const spec = OPTIONS.find((o) => o.key === key);
      const where = spec ? `${key} (${spec.flag} / ${spec.env})` : key || 'config';
      return `${where}: ${i.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  return r.data as NodeConfig;
}

/** The address used to reach peer `id` (its peer port when peers have their own). */
export function dialAddress(cfg: NodeConfig, id: number): string {
  return cfg.dial.get(id) ?? cfg.peerAddresses.get(id) ?? cfg.peers.get(id) ?? '';
}
