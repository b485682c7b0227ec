import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactionPoint, SnapshotBytes } from '../../src/node/compaction-hold.js';

test('compactionPoint: to the previous snapshot unless a snapshot on its way holds it back, within the bound', () => {
  assert.deepEqual(compactionPoint(500, Infinity, 0, 100), { to: 500, heldBack: false, released: false });
  assert.deepEqual(compactionPoint(500, 700, 0, 100), { to: 500, heldBack: false, released: false });
  assert.deepEqual(compactionPoint(500, 300, 100, 100), { to: 300, heldBack: true, released: false });
  assert.deepEqual(compactionPoint(500, 300, 101, 100), { to: 500, heldBack: false, released: true });
});

test('SnapshotBytes: bytes applied since a snapshot this node took; everything counted for one it does not know', () => {
  const b = new SnapshotBytes();
  b.add(10);
  b.mark(5);
  b.add(7);
  b.mark(9);
  b.add(3);
  assert.equal(b.since(5), 10);
  assert.equal(b.since(9), 3);
  assert.equal(b.since(42), 20);
  for (let i = 0; i < 20; i++) b.mark(100 + i); // only recent snapshots are remembered
  assert.equal(b.since(5), 20);
});
