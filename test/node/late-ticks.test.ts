import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LateTicks } from '../../src/node/late-ticks.js';

test('LateTicks reports a gap between ticks of at least the threshold, and nothing after a reset', () => {
  const gaps: number[] = [];
  const t = new LateTicks(50, 250, (g) => gaps.push(g));
  t.tick(1000); // the first tick has no predecessor
  t.tick(1050);
  t.tick(1299); // 249 ms: not late
  t.tick(1549); // 250 ms: late
  t.tick(3000); // blocked for 1.45 s
  assert.deepEqual(gaps, [250, 1451]);
  t.reset(); // paused on purpose (a state-machine rebuild)
  t.tick(10_000);
  t.tick(10_050);
  assert.deepEqual(gaps, [250, 1451]);
});
