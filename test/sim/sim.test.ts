// The simulator over a few hundred seeds, 3 and 5 nodes: no safety or liveness violation.
// The long form of this (the soak) is `npm run sim -- --seeds 10000 --steps 2000`.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSimulation } from './cluster.js';
import type { SimResult } from './cluster.js';
import { replayCommand } from './replay.js';

const SEEDS_PER_SIZE = 200;
const STEPS = 2000;

function sweep(nodes: number, start: number): { failures: SimResult[]; ticks: number; acked: number; snapshots: number; crashes: number } {
  const failures: SimResult[] = [];
  let ticks = 0;
  let acked = 0;
  let snapshots = 0;
  let crashes = 0;
  for (let seed = start; seed < start + SEEDS_PER_SIZE; seed++) {
    const r = runSimulation({ seed, steps: STEPS, nodes, traceTail: 20 });
    ticks += r.stats.ticks + r.stats.finalTicks;
    acked += r.stats.acked;
    snapshots += r.stats.snapshotsInstalled;
    crashes += r.stats.crashes;
    if (r.violation) failures.push(r);
  }
  return { failures, ticks, acked, snapshots, crashes };
}

function explain(failures: SimResult[]): string {
  return failures
    .map((f) => `seed ${f.seed}: ${f.violation!.property}: ${f.violation!.detail}\n  ${f.trace.slice(-10).join('\n  ')}\n  replay: ${replayCommand(f)}`)
    .join('\n');
}

for (const [nodes, start] of [
  [3, 1],
  [5, 100001],
] as const) {
  test(`${SEEDS_PER_SIZE} seeds x ${STEPS} steps on ${nodes} nodes: no property violated`, () => {
    const t0 = Date.now();
    const res = sweep(nodes, start);
    const secs = (Date.now() - t0) / 1000;
    console.log(
      `  ${nodes} nodes: seeds ${start}..${start + SEEDS_PER_SIZE - 1}, ${res.ticks} steps in ${secs.toFixed(1)}s, ` +
        `${res.acked} writes acknowledged, ${res.crashes} crashes, ${res.snapshots} snapshot installs`,
    );
    assert.equal(res.failures.length, 0, explain(res.failures));
    // The runs must actually exercise the system, not idle.
    assert.ok(res.acked > SEEDS_PER_SIZE * 10, `too few acknowledged writes: ${res.acked}`);
    assert.ok(res.crashes > SEEDS_PER_SIZE / 2, `too few crashes: ${res.crashes}`);
  });
}
