// etcd's metric names read from our instruments (src/metrics/etcd-names.ts): the same numbers
// under etcd's names, labels and types, fed through the real paths (a grpc-js server whose
// handlers instrumentGrpcService wraps, and the Metrics event methods the node calls). The
// comparison with a real etcd's /metrics is test/etcd/metric-names-diff.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Metrics } from '../../src/metrics/metrics.js';
import { instrumentGrpcService } from '../../src/metrics/grpc.js';
import { exposeEtcdNames, isEtcdName } from '../../src/metrics/etcd-names.js';
import { lintNames, parseExposition, sampleValue, type Family } from './exposition.js';

/** etcd 3.4's own gauges whose names end in `_total` (promtool flags them on etcd too). */
const ETCD_TOTAL_GAUGES = [
  'etcd_debugging_mvcc_keys_total',
  'etcd_debugging_mvcc_slow_watcher_total',
  'etcd_debugging_mvcc_watch_stream_total',
  'etcd_debugging_mvcc_watcher_total',
  'etcd_disk_wal_write_bytes_total',
  'etcd_server_proposals_applied_total',
  'etcd_server_proposals_committed_total',
];

const ECHO: grpc.ServiceDefinition = {
  say: {
    path: '/test.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
  chat: {
    path: '/test.Echo/Chat',
    requestStream: true,
    responseStream: true,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

function labelNames(f: Family | undefined): string[] {
  return [...new Set((f?.samples ?? []).flatMap((s) => Object.keys(s.labels)))].sort();
}

describe('etcd metric names', () => {
  const metrics = new Metrics({ defaultMetrics: false });
  let learner = false;
  exposeEtcdNames(metrics, {
    memberIdHex: (id) => (0xabc000 + id).toString(16),
    selfId: 2,
    serverVersion: '9.9.9',
    clusterVersion: '3.4',
    quotaBackendBytes: 1234,
    isLearner: () => learner,
    revision: () => 42,
    compactRevision: () => -1,
  });
  let server: grpc.Server;
  let client: grpc.Client;
  let fams: Map<string, Family>;

  before(async () => {
    server = new grpc.Server();
    server.addService(
      ECHO,
      instrumentGrpcService(
        'test.Echo',
        {
          say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
            call.request.length > 0 ? cb(null, call.request) : cb({ code: grpc.status.OUT_OF_RANGE, details: 'empty' }),
          chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => call.on('data', (b: Buffer) => call.write(b)),
        },
        metrics,
        ECHO,
      ),
    );
    const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const say = (b: Buffer) =>
      new Promise<void>((res) => client.makeUnaryRequest('/test.Echo/Say', (x: Buffer) => x, (x: Buffer) => x, b, () => res()));
    await say(Buffer.from('a'));
    await say(Buffer.from('b'));
    await say(Buffer.alloc(0));
    // One stream that stays open while the metrics are read, one that ended.
    for (const keep of [true, false]) {
      const s = client.makeBidiStreamRequest('/test.Echo/Chat', (x: Buffer) => x, (x: Buffer) => x);
      await new Promise<void>((res) => {
        s.once('data', () => res());
        s.write(Buffer.from('hi'));
      });
      if (!keep) {
        const ended = new Promise<void>((res) => s.once('error', () => res()));
        s.cancel();
        await ended;
      }
    }
    // The server sees the cancellation after the client: wait until it counted it.
    for (let i = 0; i < 200 && sampleValue(parseExposition(await metrics.render()), 'placement_grpc_requests_total', { method: 'Chat' }) === undefined; i++) {
      await new Promise((r) => setImmediate(r));
    }

    metrics.bindRaftStatus(() => ({ term: 3, leaderId: 1, isLeader: false, commitIndex: 17, appliedIndex: 15, proposalsPending: 2, peers: [] }));
    metrics.bindStorageStatus(() => ({ walSegments: 1, dbSizeBytes: 65536, currentKeys: 7 }));
    metrics.recordLeader(1);
    metrics.recordLeader(0);
    metrics.recordLeader(3);
    metrics.proposalFailed('timeout', 2);
    metrics.proposalFailed('dropped');
    for (const s of [0.0004, 0.003, 0.2]) metrics.observeWalSync(s);
    metrics.observeApply(0.001, 4);
    metrics.observePeerRtt(3, 0.002);
    metrics.peerSendFailed(3);
    metrics.peerSendFailed(3);
    metrics.walBytesWritten(999);
    fams = parseExposition(await metrics.render());
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  it('the member, its leader and its proposals', () => {
    assert.equal(sampleValue(fams, 'etcd_server_has_leader'), 1);
    assert.equal(sampleValue(fams, 'etcd_server_is_leader'), 0);
    assert.equal(sampleValue(fams, 'etcd_server_is_learner'), 0);
    assert.equal(sampleValue(fams, 'etcd_server_id', { server_id: 'abc002' }), 1);
    assert.equal(sampleValue(fams, 'etcd_server_version', { server_version: '9.9.9' }), 1);
    assert.equal(sampleValue(fams, 'etcd_cluster_version', { cluster_version: '3.4' }), 1);
    // Two leaders learned of; our own counter also counts the loss between them.
    assert.equal(sampleValue(fams, 'etcd_server_leader_changes_seen_total'), 2);
    assert.equal(sampleValue(fams, 'placement_raft_leader_changes_total'), 3);
    assert.equal(sampleValue(fams, 'etcd_server_proposals_committed_total'), 17);
    assert.equal(sampleValue(fams, 'etcd_server_proposals_applied_total'), 15);
    assert.equal(sampleValue(fams, 'etcd_server_proposals_pending'), 2);
    assert.equal(sampleValue(fams, 'etcd_server_proposals_failed_total'), 3);
    assert.deepEqual(labelNames(fams.get('etcd_server_proposals_failed_total')), []);
  });

  it('a learner says so', async () => {
    learner = true;
    try {
      assert.equal(sampleValue(parseExposition(await metrics.render()), 'etcd_server_is_learner'), 1);
    } finally {
      learner = false;
    }
  });

  it('disk and database, the same numbers as ours', () => {
    const ours = fams.get('placement_storage_wal_sync_duration_seconds')!;
    const theirs = fams.get('etcd_disk_wal_fsync_duration_seconds')!;
    assert.equal(theirs.type, 'histogram');
    assert.deepEqual(
      theirs.samples.map((s) => ({ ...s, name: s.name.replace('etcd_disk_wal_fsync_duration_seconds', '') })),
      ours.samples.map((s) => ({ ...s, name: s.name.replace('placement_storage_wal_sync_duration_seconds', '') })),
    );
    assert.equal(sampleValue(fams, 'etcd_disk_wal_fsync_duration_seconds_count'), 3);
    assert.equal(sampleValue(fams, 'etcd_disk_backend_commit_duration_seconds_count'), 1);
    assert.equal(sampleValue(fams, 'etcd_disk_wal_write_bytes_total'), 999);
    assert.equal(fams.get('etcd_disk_wal_write_bytes_total')!.type, 'gauge');
    for (const n of ['etcd_mvcc_db_total_size_in_bytes', 'etcd_mvcc_db_total_size_in_use_in_bytes', 'etcd_debugging_mvcc_db_total_size_in_bytes']) {
      assert.equal(sampleValue(fams, n), 65536, n);
    }
    assert.equal(sampleValue(fams, 'etcd_server_quota_backend_bytes'), 1234);
    assert.equal(sampleValue(fams, 'etcd_debugging_mvcc_keys_total'), 7);
    assert.equal(sampleValue(fams, 'etcd_debugging_mvcc_current_revision'), 42);
    assert.equal(sampleValue(fams, 'etcd_debugging_mvcc_compact_revision'), 0);
  });

  it('peers are labelled To with their member id in hex', () => {
    assert.equal(sampleValue(fams, 'etcd_network_peer_round_trip_time_seconds_count', { To: 'abc003' }), 1);
    assert.deepEqual(labelNames(fams.get('etcd_network_peer_round_trip_time_seconds')), ['To', 'le']);
    assert.equal(sampleValue(fams, 'etcd_network_peer_sent_failures_total', { To: 'abc003' }), 2);
    assert.equal(fams.get('etcd_network_peer_sent_failures_total')!.type, 'counter');
  });

  it('gRPC calls as grpc-prometheus counts them: kind, Go code names, started minus handled = open', () => {
    const say = { grpc_service: 'test.Echo', grpc_method: 'Say', grpc_type: 'unary' };
    assert.equal(sampleValue(fams, 'grpc_server_started_total', say), 3);
    assert.equal(sampleValue(fams, 'grpc_server_handled_total', { ...say, grpc_code: 'OK' }), 2);
    assert.equal(sampleValue(fams, 'grpc_server_handled_total', { ...say, grpc_code: 'OutOfRange' }), 1);
    assert.equal(sampleValue(fams, 'grpc_server_handling_seconds_count', say), 3);
    const chat = { grpc_service: 'test.Echo', grpc_method: 'Chat', grpc_type: 'bidi_stream' };
    assert.equal(sampleValue(fams, 'grpc_server_started_total', chat), 2);
    assert.equal(sampleValue(fams, 'grpc_server_handled_total', { ...chat, grpc_code: 'Canceled' }), 1);
    assert.deepEqual(labelNames(fams.get('grpc_server_handled_total')), ['grpc_code', 'grpc_method', 'grpc_service', 'grpc_type']);
    assert.deepEqual(labelNames(fams.get('grpc_server_started_total')), ['grpc_method', 'grpc_service', 'grpc_type']);
  });

  it('follows etcd\'s types; the only naming-rule breaks are etcd\'s own gauges ending in _total', () => {
    const etcdOnly = new Map([...fams].filter(([n]) => isEtcdName(n)));
    assert.ok(etcdOnly.size >= 30, `${etcdOnly.size} etcd names`);
    assert.deepEqual(
      lintNames(etcdOnly).sort(),
      ETCD_TOTAL_GAUGES.filter((n) => etcdOnly.has(n)).map((n) => `${n}: non-counter metrics should not have "_total" suffix`),
    );
    assert.ok(!lintNames(new Map([...fams].filter(([n]) => !isEtcdName(n)))).length);
  });
});
