// A run is a pure function of (seed, options): the same seed twice gives the same trace hash.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from './cluster.js';
import { Rng } from './rng.js';

test('the PRNG is deterministic per seed and differs across seeds', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const xs = Array.from({ length: 100 }, () => a.u32());
  assert.deepEqual(Array.from({ length: 100 }, () => b.u32()), xs);
  assert.notDeepEqual(Array.from({ length: 100 }, () => c.u32()), xs);
  for (let i = 0; i < 1000; i++) {
    const v = a.next();
    assert.ok(v >= 0 && v < 1);
  }
});

for (const nodes of [3, 5]) {
  test(`same seed twice gives an identical trace hash (${nodes} nodes)`, () => {
    const opts = { seed: 4711 + nodes, steps: 1500, nodes };
    const r1 = runSimulation(opts);
    const r2 = runSimulation(opts);
    assert.equal(r1.violation, undefined);
    assert.equal(r1.traceHash, r2.traceHash);
    assert.deepEqual(r1.stats, r2.stats);
    assert.deepEqual(r1.trace, r2.trace);
    console.log(`  seed ${opts.seed}: trace hash ${r1.traceHash}, ${r1.stats.delivered} messages delivered`);
    const other = runSimulation({ ...opts, seed: opts.seed + 1000 });
    assert.notEqual(other.traceHash, r1.traceHash);
  });
}

test('a failing run replays to the same violation at the same tick', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const opts = { seed, steps: 2000, nodes: 5, bug: 'noConflictTruncate' as const };
    const r1 = runSimulation(opts);
    if (r1.violation === undefined) continue;
    const r2 = runSimulation(opts);
    assert.deepEqual(r2.violation, r1.violation);
    assert.equal(r2.traceHash, r1.traceHash);
    assert.deepEqual(r2.trace, r1.trace);
    return;
  }
  assert.fail('expected the planted bug to be caught within 20 seeds');
});
