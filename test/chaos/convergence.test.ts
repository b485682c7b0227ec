// The convergence check of a chaos run (convergence.ts): members that keep applying converge once
// each reported one applied index with one hash, whichever poll it came in; one applied index
// with two hashes is a divergence, even if the members later agree elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConvergenceTracker } from './convergence.js';

test('members polled at different moments agree at the highest applied index all of them reported', () => {
  const t = new ConvergenceTracker();
  t.add(1, { appliedIndex: 10, hash: 'a' });
  t.add(2, { appliedIndex: 11, hash: 'b' });
  t.add(3, { appliedIndex: 10, hash: 'a' });
  assert.equal(t.agreed([1, 2, 3]), null, 'member 2 never reported index 10');
  t.add(1, { appliedIndex: 11, hash: 'b' });
  t.add(3, { appliedIndex: 12, hash: 'c' });
  assert.equal(t.agreed([1, 2, 3]), null);
  t.add(3, { appliedIndex: 11, hash: 'b' });
  assert.deepEqual(t.agreed([1, 2, 3]), { appliedIndex: 11, hash: 'b' });
  assert.deepEqual(t.agreed([1, 3]), { appliedIndex: 11, hash: 'b' });
  assert.equal(t.divergence, null);
});

test('two hashes at one applied index are a divergence, and nothing agrees after it', () => {
  const t = new ConvergenceTracker();
  t.add(1, { appliedIndex: 7, hash: 'x' });
  t.add(2, { appliedIndex: 7, hash: 'y' });
  assert.match(t.divergence ?? '', /members 1 and 2 differ at applied index 7/);
  t.add(1, { appliedIndex: 8, hash: 'z' });
  t.add(2, { appliedIndex: 8, hash: 'z' });
  assert.equal(t.agreed([1, 2]), null);
});

test('one member reporting the same index twice with one hash is no divergence', () => {
  const t = new ConvergenceTracker();
  t.add(1, { appliedIndex: 3, hash: 'h' });
  t.add(1, { appliedIndex: 3, hash: 'h' });
  assert.equal(t.divergence, null);
  assert.deepEqual(t.agreed([1]), { appliedIndex: 3, hash: 'h' });
});
