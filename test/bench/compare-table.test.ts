// bench:compare's ratio table: ratios are taken within one round, then min / median / max.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, median, ratioTable, type Sample } from '../../bench/compare-table.js';

const s = (round: number, system: string, row: string, opsPerSec: number, p50 = 1): Sample => ({ round, system, row, opsPerSec, p50, p99: 2 * p50, errors: 0 });
const rss = (round: number, system: string, mib: number): Sample => ({ round, system, row: 'rss', rssMiB: mib });

describe('bench:compare ratio table', () => {
  it('pairs rows of the same round, not medians of each system', () => {
    // A slow round 2 for everyone: per-round ratios are all 2.0, while a ratio of medians would not be.
    const samples = [s(1, 'etcd', 'write@64', 1000), s(1, 'placement/etcd-api', 'write@64', 2000), s(2, 'etcd', 'write@64', 100), s(2, 'placement/etcd-api', 'write@64', 200), s(3, 'etcd', 'write@64', 900), s(3, 'placement/etcd-api', 'write@64', 1800)];
    const [r] = evaluate(samples, 3);
    assert.equal(r!.what, 'write@64 ops/s: ours (etcd-API client) ÷ etcd');
    assert.deepEqual(r!.ratios, [2, 2, 2]);
    assert.equal(r!.met, true);
  });

  it('judges a target on the median and compares one in flight with the faster of etcd and ZooKeeper', () => {
    const samples = [
      s(1, 'etcd', 'write@1', 400, 2.0), s(1, 'zookeeper', 'write@1', 450, 1.5), s(1, 'placement/etcd-api', 'write@1', 300, 3.0),
      s(2, 'etcd', 'write@1', 500, 1.8), s(2, 'zookeeper', 'write@1', 250, 3.0), s(2, 'placement/etcd-api', 'write@1', 600, 1.2),
      s(3, 'etcd', 'write@1', 400, 2.0), s(3, 'zookeeper', 'write@1', 300, 2.5), s(3, 'placement/etcd-api', 'write@1', 320, 2.5),
    ];
    const byWhat = new Map(evaluate(samples, 3).map((r) => [r.what, r]));
    const rate = byWhat.get('write@1 ops/s: ours (etcd-API client) ÷ faster of etcd, ZooKeeper')!;
    assert.deepEqual(rate.ratios.map((x) => x.toFixed(3)), [(300 / 450).toFixed(3), (600 / 500).toFixed(3), (320 / 400).toFixed(3)]);
    assert.equal(rate.median.toFixed(3), (0.8).toFixed(3));
    assert.equal(rate.met, false);
    const p50 = byWhat.get('write@1 p50: ours (etcd-API client) ÷ faster of etcd, ZooKeeper')!;
    assert.deepEqual(p50.ratios.map((x) => x.toFixed(3)), [(3 / 1.5).toFixed(3), (1.2 / 1.8).toFixed(3), (2.5 / 2).toFixed(3)]);
    assert.equal(p50.met, false, 'a p50 target is met when the ratio is at most 1');
  });

  it('treats RSS as lower-is-better and leaves out targets whose rows were not measured', () => {
    const results = evaluate([rss(1, 'placement', 60), rss(1, 'etcd', 70)], 1);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.what, 'RSS per member (largest): ours ÷ etcd');
    assert.equal(results[0]!.met, true);
    assert.equal(evaluate([rss(1, 'placement', 80), rss(1, 'etcd', 70)], 1)[0]!.met, false);
  });

  it('prints the medians of every system and one line per target', () => {
    const lines = ratioTable([s(1, 'etcd', 'read@64', 1000), s(1, 'placement/etcd-api', 'read@64', 1400), s(1, 'placement/sdk', 'read@64', 9000), s(1, 'placement/sdk', 'write@64', 4000)], 1);
    assert.ok(lines.some((l) => /^ {2}placement\/sdk\s+read@64\s+9000\b/.test(l)), lines.join('\n'));
    const target = lines.find((l) => l.includes('read@64 ops/s (linearizable): ours (etcd-API client) ÷ etcd'));
    assert.match(target ?? '', /≥ 1.5\s+1\.40\s+1\.40\s+1\.40\s+NO$/);
    assert.match(lines.find((l) => l.includes('read@64 ÷ write@64')) ?? '', /2\.25\s+2\.25\s+2\.25\s+NO$/);
  });

  it('median of an even count is the mean of the middle two', () => {
    assert.equal(median([4, 1, 3, 2]), 2.5);
    assert.equal(median([5]), 5);
  });
});
