// The cluster page's charts come from the node's own /metrics, parsed and differenced in the
// browser (ui/src/api/prom.ts, rates.ts). These are pure modules, tested here in Node against
// hand-made text and against what a node's Metrics registry really renders.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Metrics } from '../../src/metrics/metrics.js';
import { parsePrometheus } from '../../ui/src/api/prom.js';
import { buckets, pointBetween, quantileBetween, rate, total, type Scrape } from '../../ui/src/api/rates.js';

describe('Prometheus text parser', () => {
  it('reads names, labels (with escapes), values and skips comments', () => {
    const s = parsePrometheus(
      [
        '# HELP x_total Things.',
        '# TYPE x_total counter',
        'x_total{a="1",b="q\\"uote\\\\d\\nl"} 3',
        'x_total{a="2",} 4.5 1700000000000',
        'g -1e3',
        'h_bucket{le="+Inf"} +Inf',
        'nan NaN',
        'broken{a=1} 2',
        '',
      ].join('\n'),
    );
    assert.deepEqual(s.map((x) => [x.name, x.labels, x.value]), [
      ['x_total', { a: '1', b: 'q"uote\\d\nl' }, 3],
      ['x_total', { a: '2' }, 4.5],
      ['g', {}, -1000],
      ['h_bucket', { le: '+Inf' }, Infinity],
      ['nan', {}, NaN],
    ]);
  });
});

describe('rates and quantiles between two scrapes', () => {
  const scrape = (at: number, text: string): Scrape => ({ at, samples: parsePrometheus(text) });

  it('a rate is the counter difference over the seconds between scrapes; a reset gives null; a series not there yet counts 0', () => {
    const a = scrape(1000, 'c{k="x"} 10\nc{k="y"} 5');
    const b = scrape(3000, 'c{k="x"} 30\nc{k="y"} 5\nd 4');
    assert.equal(rate(a, b, 'c'), 10);
    assert.equal(rate(a, b, 'c', (l) => l.k === 'y'), 0);
    assert.equal(rate(a, b, 'd'), 2);
    assert.equal(rate(b, scrape(4000, 'c{k="x"} 1'), 'c'), null);
    assert.equal(total(b.samples, 'nothing'), null);
  });

  it('quantiles interpolate within the bucket, as histogram_quantile does', () => {
    const before = new Map([[0.1, 0], [0.2, 0], [Infinity, 0]]);
    // 100 observations: 50 in (0, 0.1], 50 in (0.1, 0.2].
    const after = new Map([[0.1, 50], [0.2, 100], [Infinity, 100]]);
    assert.equal(quantileBetween(0.5, before, after), 0.1);
    assert.ok(Math.abs(quantileBetween(0.99, before, after)! - 0.198) < 1e-12);
    assert.equal(quantileBetween(0.25, before, after), 0.05);
    // Above the largest finite bound: that bound.
    assert.equal(quantileBetween(0.99, before, new Map([[0.1, 1], [0.2, 1], [Infinity, 10]])), 0.2);
    assert.equal(quantileBetween(0.99, after, after), null, 'nothing observed');
    assert.equal(quantileBetween(0.99, after, before), null, 'counters went backwards');
  });

  it("computes every chart's point from what a node's registry renders", async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.bindRaftStatus(() => ({ term: 2, leaderId: 1, isLeader: true, commitIndex: 5, appliedIndex: 5 }));
    const first = scrape(0, await m.render());
    for (let i = 0; i < 100; i++) m.observeGrpc('placement.v1.KvService', 'Get', 'OK', i < 98 ? 0.0004 : 0.02);
    for (let i = 0; i < 30; i++) m.observeGrpc('placement.v1.KvService', 'Set', 'OK', 0.002);
    m.observeHttp('PUT', '/v1/kv', 200, 0.01);
    m.observeHttp('GET', '/v1/kv', 200, 0.01);
    m.observeHttp('GET', '/v1/cluster/overview', 200, 0.5);
    m.observeApply(0.001, 40);
    for (let i = 0; i < 20; i++) m.messageSent('append');
    for (let i = 0; i < 10; i++) m.messageReceived('append_response');
    m.observeWalSync(0.003);
    m.observeWalSync(0.005);
    const second = scrape(2000, await m.render());
    const p = pointBetween(first, second);
    assert.equal(p.writesApplied, 20);
    assert.equal(p.writesReceived, 15.5);
    assert.equal(p.reads, 50.5);
    assert.equal(p.raftSent, 10);
    assert.equal(p.raftReceived, 5);
    assert.equal(p.walSyncMeanMs, 4);
    // 130 gRPC requests, 2 of them in (10 ms, 25 ms]: the 99th percentile falls in that bucket.
    assert.ok(p.p99Ms! > 10 && p.p99Ms! <= 25, `p99 ${p.p99Ms}`);
    assert.ok(p.walSyncP99Ms! > 4 && p.walSyncP99Ms! <= 8, `wal p99 ${p.walSyncP99Ms}`);
    assert.equal(buckets(second.samples, 'placement_grpc_request_duration_seconds').get(Infinity), 130);
  });
});
