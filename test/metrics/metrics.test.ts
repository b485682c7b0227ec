// The metrics of a busy node follow the Prometheus naming rules: checked by `promtool check
// metrics` when it is installed (Debian package `prometheus`; .ci/run installs it) and, always,
// by the same rules re-implemented here. The workload is fed through the real paths: the admin
// HTTP app, a real grpc-js server whose handlers are wrapped by instrumentGrpcService, and the
// Metrics event methods the node calls.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { Metrics } from '../../src/metrics/metrics.js';
import { instrumentGrpcService, grpcCodeName } from '../../src/metrics/grpc.js';
import { createAdminApp } from '../../src/http/app.js';
import {
  KvServiceClient,
  KvServiceService,
  type GetReply,
  type KvServiceServer,
  type SetReply,
} from '../../proto/gen/placement/v1/kv.js';
import { MemoryBackend } from '../http/memory-backend.js';
import { lintNames, parseExposition, promtoolAvailable } from './exposition.js';
import { localPrometheusConfig } from './prometheus-config.js';


const ALL_PLACEMENT_METRICS = [
  'placement_raft_term',
  'placement_raft_is_leader',
  'placement_raft_has_leader',
  'placement_raft_leader_id',
  'placement_raft_leader_changes_total',
  'placement_raft_commit_index',
  'placement_raft_applied_index',
  'placement_raft_last_index',
  'placement_raft_snapshot_index',
  'placement_raft_proposals_committed_total',
  'placement_raft_proposals_failed_total',
  'placement_raft_proposals_pending',
  'placement_raft_read_index_requests_total',
  'placement_raft_read_index_failures_total',
  'placement_raft_snapshots_taken_total',
  'placement_raft_snapshots_installed_total',
  'placement_raft_late_ticks_total',
  'placement_raft_log_memory_bytes',
  'placement_raft_log_entries_read_back_total',
  'placement_raft_snapshot_duration_seconds',
  'placement_raft_snapshot_size_bytes',
  'placement_raft_peer_replication_lag_entries',
  'placement_raft_peer_match_index',
  'placement_raft_peer_round_trip_seconds',
  'placement_raft_peer_send_failures_total',
  'placement_raft_messages_sent_total',
  'placement_raft_messages_received_total',
  'placement_storage_wal_sync_duration_seconds',
  'placement_storage_wal_written_bytes_total',
  'placement_storage_wal_segments',
  'placement_storage_db_size_bytes',
  'placement_storage_revision_index_entries',
  'placement_storage_current_keys',
  'placement_storage_past_list_keys',
  'placement_state_machine_apply_duration_seconds',
  'placement_state_machine_applied_entries_total',
  'placement_grpc_requests_total',
  'placement_grpc_request_duration_seconds',
  'placement_grpc_started_total',
  'placement_grpc_sessions_open',
  'placement_http_requests_total',
  'placement_http_request_duration_seconds',
  'placement_event_loop_busy_seconds_total',
];

describe('metrics of a busy node', () => {
  const metrics = new Metrics();
  const backend = new MemoryBackend();
  let server: grpc.Server;
  let client: InstanceType<typeof KvServiceClient>;
  let text = '';

  // A tiny KvService: enough to drive real gRPC calls through the instrumentation.
  const store = new Map<string, Buffer>();
  const handlers: KvServiceServer = {
    set(call, cb) {
      if (call.request.key === '') return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'key: must not be empty' });
      store.set(call.request.key, Buffer.from(call.request.value));
      cb(null, { header: undefined, prevKv: undefined } as SetReply);
    },
    get(call, cb) {
      const v = store.get(call.request.key);
      cb(null, { header: undefined, found: v !== undefined, value: v ?? Buffer.alloc(0), kv: undefined } as GetReply);
    },
    delete(_call, cb) {
      cb({ code: grpc.status.UNAVAILABLE, details: 'no leader' });
    },
    exists(_call, cb) {
      cb(new Error('plain error without a code'));
    },
    list(_call, cb) {
      cb({ code: grpc.status.UNIMPLEMENTED });
    },
    compareAndSwap(_call, cb) {
      cb({ code: grpc.status.UNIMPLEMENTED });
    },
    session(call) {
      call.emit('error', { code: grpc.status.UNIMPLEMENTED });
    },
  };

  before(async () => {
    server = new grpc.Server();
    server.addService(KvServiceService, instrumentGrpcService('placement.v1.KvService', handlers, metrics, KvServiceService));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    client = new KvServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const call = <T>(fn: (cb: (err: grpc.ServiceError | null, r: T) => void) => void) =>
      new Promise<grpc.ServiceError | null>((resolve) => fn((err) => resolve(err)));

    // The node's side: what Raft and storage report during a busy period.
    let commit = 0;
    metrics.bindRaftStatus(() => ({
      term: 4,
      leaderId: 1,
      isLeader: true,
      commitIndex: commit,
      appliedIndex: commit,
      lastIndex: commit + 2,
      snapshotIndex: 1000,
      proposalsPending: 2,
      peers: [
        { id: 2, matchIndex: commit, lag: 2 },
        { id: 3, matchIndex: commit - 5, lag: 7 },
      ],
    }));
    metrics.bindStorageStatus(() => ({ walSegments: 3, dbSizeBytes: 7 * 1024 * 1024, revisionIndexEntries: 42, currentKeys: 17, pastListKeys: 9 }));
    metrics.recordLeader(0);
    metrics.recordLeader(2);
    metrics.recordLeader(0);
    metrics.recordLeader(1);
    for (let i = 0; i < 2000; i++) {
      commit++;
      metrics.proposalCommitted();
      metrics.messageSent('append', 2);
      metrics.messageReceived('append_response', 2);
      metrics.observePeerRtt(2 + (i % 2), 0.0003 + (i % 13) * 0.0001);
      if (i % 10 === 0) metrics.observeWalSync(0.0008 + (i % 7) * 0.0004);
      metrics.walBytesWritten(300);
      metrics.observeApply(0.00005 * (1 + (i % 5)), 1);
      metrics.readIndex(i % 100 === 0 ? 'timeout' : undefined);
      if (i % 250 === 0) metrics.proposalFailed(i % 500 === 0 ? 'not_leader' : 'timeout');
    }
    metrics.messageSent('heartbeat', 50);
    metrics.messageReceived('vote', 2);
    metrics.snapshotTaken(0.35, 3 * 1024 * 1024);
    metrics.snapshotInstalled(0.8, 3 * 1024 * 1024);

    // Real gRPC traffic: successes and errors with and without codes.
    for (let i = 0; i < 20; i++) {
      await call<SetReply>((cb) => client.set({ key: `k${i}`, value: Buffer.from('v'), clientId: '', seq: 0, lease: 0, prevKv: false }, cb));
      await call<GetReply>((cb) => client.get({ key: `k${i}`, serializable: false, kvMetadataOnly: false }, cb));
    }
    await call<SetReply>((cb) => client.set({ key: '', value: Buffer.alloc(0), clientId: '', seq: 0, lease: 0, prevKv: false }, cb));
    await call((cb) => client.delete({ key: 'x', clientId: '', seq: 0, prevKv: false }, cb));
    await call((cb) => client.exists({ key: 'x', serializable: false }, cb));

    // Real HTTP traffic through the admin app.
    const app = createAdminApp({ backend, metrics });
    await request(app).put('/v1/kv/a').send({ value: 'x' }).expect(200);
    await request(app).get('/v1/kv/a').expect(200);
    await request(app).get('/v1/kv/missing').expect(404);
    await request(app).put('/v1/kv/a').send({ value: 1 }).expect(400);
    await request(app).get('/v1/cluster/status').expect(200);
    await request(app).get('/nowhere').expect(404);
    const res = await request(app).get('/metrics').expect(200);
    text = res.text;
  });

  after(() => {
    client?.close();
    server?.forceShutdown();
  });

  it('exposes every instrument the issue names, with the workload visible', () => {
    const fams = parseExposition(text);
    for (const name of ALL_PLACEMENT_METRICS) assert.ok(fams.has(name), `missing ${name}`);
    const value = (name: string, labels: Record<string, string> = {}) =>
      fams
        .get(name.replace(/_(bucket|sum|count)$/, ''))!
        .samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
    assert.equal(value('placement_raft_term'), 4);
    assert.equal(value('placement_raft_is_leader'), 1);
    assert.equal(value('placement_raft_has_leader'), 1);
    assert.equal(value('placement_raft_commit_index'), 2000);
    assert.equal(value('placement_raft_leader_changes_total'), 3, '0→2→0→1: three changes after the initial 0');
    assert.equal(value('placement_raft_proposals_committed_total'), 2000);
    assert.equal(value('placement_raft_proposals_failed_total', { reason: 'timeout' }), 4);
    assert.equal(value('placement_raft_read_index_failures_total', { reason: 'timeout' }), 20);
    assert.equal(value('placement_raft_peer_replication_lag_entries', { peer: '3' }), 7);
    assert.equal(value('placement_raft_messages_sent_total', { type: 'append' }), 4000);
    assert.equal(value('placement_storage_wal_sync_duration_seconds_count'), 200);
    assert.equal(value('placement_storage_wal_written_bytes_total'), 600000);
    assert.equal(value('placement_storage_wal_segments'), 3);
    assert.equal(value('placement_storage_revision_index_entries'), 42);
    assert.equal(value('placement_storage_current_keys'), 17);
    assert.equal(value('placement_storage_past_list_keys'), 9);
    assert.equal(value('placement_raft_snapshot_size_bytes_count', { operation: 'install' }), 1);
    assert.equal(value('placement_grpc_requests_total', { service: 'placement.v1.KvService', method: 'Set', code: 'OK' }), 20);
    assert.equal(
      value('placement_grpc_requests_total', { service: 'placement.v1.KvService', method: 'Set', code: 'INVALID_ARGUMENT' }),
      1,
    );
    assert.equal(value('placement_grpc_requests_total', { method: 'Delete', code: 'UNAVAILABLE' }), 1);
    assert.equal(value('placement_grpc_requests_total', { method: 'Exists', code: 'UNKNOWN' }), 1);
    assert.equal(value('placement_grpc_request_duration_seconds_count', { method: 'Get' }), 20);
    assert.equal(value('placement_http_requests_total', { method: 'PUT', route: '/v1/kv/*key', code: '400' }), 1);
    assert.ok(fams.has('process_cpu_seconds_total'));
    assert.ok(fams.has('nodejs_eventloop_lag_seconds'));
    assert.ok(fams.has('process_resident_memory_bytes'));
  });

  it('counts the time the event loop spends running code, not waiting', async () => {
    const busy = async (): Promise<number> => parseExposition(await metrics.registry.metrics()).get('placement_event_loop_busy_seconds_total')!.samples[0]!.value;
    const before = await busy();
    const spinStart = performance.now();
    while (performance.now() - spinStart < 80) {
      // the loop is busy: nothing else can run
    }
    const afterSpin = await busy();
    assert.ok(afterSpin - before >= 0.075, `80 ms of busy loop counted as ${afterSpin - before} s`);
    // A wait must not count as busy. On a loaded machine a GC or a collector can land in one wait,
    // so the quietest of three waits is judged: a counter of wall time would fail all three.
    const tries: string[] = [];
    let mark = afterSpin;
    for (let i = 0; i < 3; i++) {
      const waitStart = performance.now();
      await new Promise((r) => setTimeout(r, 200));
      const waited = (performance.now() - waitStart) / 1000;
      const afterWait = await busy();
      const counted = afterWait - mark;
      mark = afterWait;
      if (counted < waited / 2) return;
      tries.push(`a ${waited} s wait counted as ${counted} s busy`);
    }
    assert.fail(tries.join('; '));
  });

  it('re-exposes prom-client\'s *_total gauges under conforming names', () => {
    const fams = parseExposition(text);
    for (const kind of ['handles', 'requests', 'resources']) {
      assert.equal(fams.has(`nodejs_active_${kind}_total`), false, `nodejs_active_${kind}_total still exposed`);
      assert.equal(fams.get(`nodejs_active_${kind}_all`)?.type, 'gauge');
    }
    assert.ok(fams.get('nodejs_active_handles_all')!.samples[0]!.value >= 1, 'the gRPC server holds handles');
  });

  it('follows the naming rules (checked in TypeScript)', () => {
    assert.deepEqual(lintNames(parseExposition(text)), []);
  });

  it('the TypeScript lint catches what promtool catches', () => {
    const bad = [
      '# HELP a_requests h', '# TYPE a_requests counter', 'a_requests 1',
      '# HELP b_total h', '# TYPE b_total gauge', 'b_total 1',
      '# HELP c_latency_ms h', '# TYPE c_latency_ms gauge', 'c_latency_ms 1',
      '# HELP d_count h', '# TYPE d_count gauge', 'd_count 1',
      '# HELP eCamel h', '# TYPE eCamel gauge', 'eCamel 1',
    ].join('\n');
    const problems = lintNames(parseExposition(bad));
    for (const name of ['a_requests', 'b_total', 'c_latency_ms', 'd_count', 'eCamel']) {
      assert.ok(problems.some((p) => p.startsWith(name + ':')), `${name} not flagged: ${problems.join('; ')}`);
    }
  });

  it('promtool check metrics reports nothing', (t) => {
    if (!promtoolAvailable()) {
      t.diagnostic('promtool not installed (apt-get install prometheus): checked by the TypeScript rules only');
      return;
    }
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'promtool output');
    assert.equal(r.status, 0);
    // and promtool does bite on prom-client's original names
    const orig = spawnSync('promtool', ['check', 'metrics'], {
      input: '# HELP nodejs_active_handles_total x\n# TYPE nodejs_active_handles_total gauge\nnodejs_active_handles_total 3\n',
      encoding: 'utf8',
    });
    assert.notEqual(orig.status, 0);
    assert.match(orig.stdout + orig.stderr, /non-counter metrics should not have "_total" suffix/);
  });

  it('grpcCodeName names gRPC status numbers', () => {
    assert.equal(grpcCodeName(0), 'OK');
    assert.equal(grpcCodeName(14), 'UNAVAILABLE');
    assert.equal(grpcCodeName(99), '99');
    assert.equal(grpcCodeName(undefined), 'UNKNOWN');
  });
});

describe('local Prometheus config from deploy/prometheus.yml', () => {
  const flow = [
    'global:',
    '  scrape_interval: 5s',
    'scrape_configs:',
    '  - job_name: placement-center',
    '    static_configs:',
    '      - targets: ["pc1:1227", "pc2:1227", "pc3:1227"]',
    '  - job_name: prometheus',
    '    static_configs:',
    '      - targets: ["localhost:9090"]',
  ].join('\n');
  const block = flow.replace(
    '      - targets: ["pc1:1227", "pc2:1227", "pc3:1227"]',
    '      - targets:\n          - pc1:1227\n          - "pc2:1227"\n          - pc3:1227',
  );

  for (const [name, text] of [['flow list', flow], ['block list', block]] as const) {
    it(`replaces the targets (${name}) and keeps every other setting`, () => {
      const out = localPrometheusConfig(text, ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'], '127.0.0.1:9');
      assert.match(out, /- targets: \["127\.0\.0\.1:1","127\.0\.0\.1:2","127\.0\.0\.1:3"\]/);
      assert.match(out, /- targets: \["127\.0\.0\.1:9"\]/);
      assert.doesNotMatch(out, /pc[123]|localhost/);
      assert.match(out, /scrape_interval: 5s/);
    });
  }
});
