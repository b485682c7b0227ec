import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryType, type Entry } from '../../raft/index.js';
import { splitCommitted } from '../../src/node/durable-commits.js';

const run = (from: number, to: number): Entry[] => Array.from({ length: to - from + 1 }, (_, k) => ({ term: 2, index: from + k, type: EntryType.Normal, data: new Uint8Array() }));
const indexes = (es: Entry[]): number[] => es.map((e) => e.index);

test('committed entries below the Ready\'s new entries are applied before its fsync', () => {
  const s = splitCommitted(run(5, 8), run(9, 12));
  assert.deepEqual(indexes(s.durable), [5, 6, 7, 8]);
  assert.deepEqual(s.afterSync, []);
});

test('committed entries in the Ready\'s own write wait for its fsync, those below it do not', () => {
  const s = splitCommitted(run(5, 10), run(9, 12));
  assert.deepEqual(indexes(s.durable), [5, 6, 7, 8]);
  assert.deepEqual(indexes(s.afterSync), [9, 10]);
});

test('a new entry overwriting a suffix at the first committed index keeps every committed entry behind the fsync', () => {
  // (A committed entry is never overwritten; the rule is by index alone, so it holds regardless.)
  const s = splitCommitted(run(9, 10), run(9, 9));
  assert.deepEqual(s.durable, []);
  assert.deepEqual(indexes(s.afterSync), [9, 10]);
});

test('without new entries nothing is synced, and the committed entries go the usual way', () => {
  const s = splitCommitted(run(5, 6), []);
  assert.deepEqual(s.durable, []);
  assert.deepEqual(indexes(s.afterSync), [5, 6]);
  const none = splitCommitted([], run(3, 4));
  assert.deepEqual(none.durable, []);
  assert.deepEqual(none.afterSync, []);
});
