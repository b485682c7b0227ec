// The bounds and matching of the lists of keys kept for pages at a past revision
// (storage/keyspace/past-lists.ts); that their answers are right is indexed-range.test.ts's.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_KEYS, MAX_LIST, MAX_LISTS, PastLists, countFrom, type PastList } from '../../storage/keyspace/past-lists.js';

const list = (from: string, to: string | undefined, rev: number, generation: number, n: number): PastList => {
  const keys = Array.from({ length: n }, (_, i) => `${from}${String(i).padStart(7, '0')}`);
  return { from, to, rev, generation, keys, refs: keys.map((_, i) => i + 1) };
};

describe('past lists', () => {
  it('answer a range at their revision and generation from their start on, and nothing else', () => {
    const p = new PastLists();
    const l = list('a/', 'a0', 50, 3, 10);
    p.keep(l);
    const r = { from: 'a/', to: 'a0', single: false };
    assert.equal(p.find(r, 'a/', 50, 3), l);
    assert.equal(p.find(r, 'a/0000005', 50, 3), l, 'a later page of the range');
    assert.equal(p.find(r, 'a', 50, 3), undefined, 'a start before the list');
    assert.equal(p.find(r, 'a/', 51, 3), undefined, 'another revision');
    assert.equal(p.find(r, 'a/', 50, 4), undefined, 'another generation of the index (a database installed since)');
    assert.equal(p.find({ ...r, to: 'a1' }, 'a/', 50, 3), undefined, 'another end');
    assert.equal(p.find({ ...r, to: undefined }, 'a/', 50, 3), undefined, 'to the end of the keyspace');
    assert.equal(countFrom(l, 'a/'), 10);
    assert.equal(countFrom(l, 'a/0000007'), 3);
    assert.equal(countFrom(l, 'a/0000007\u0000'), 2);
    assert.equal(p.stats.hits, 2);
  });

  it('keep at most MAX_KEYS keys, dropping the least recently used, and no list longer than MAX_LIST', () => {
    const p = new PastLists();
    p.keep(list('big/', 'big0', 9, 1, MAX_LIST + 1));
    assert.deepEqual(p.stats, { lists: 0, keys: 0, hits: 0 }, 'a list past MAX_LIST is not kept');
    const n = Math.floor(MAX_KEYS / 4);
    const ls = [0, 1, 2, 3].map((i) => list(`p${i}/`, `p${i}0`, 10, 1, n));
    for (const l of ls) p.keep(l);
    assert.equal(p.stats.keys, 4 * n);
    // The first is used again; the next one kept pushes out the least recently used: the second.
    assert.ok(p.find({ from: 'p0/', to: 'p00', single: false }, 'p0/', 10, 1));
    p.keep(list('p4/', 'p40', 10, 1, n));
    assert.ok(p.stats.keys <= MAX_KEYS);
    assert.ok(p.find({ from: 'p0/', to: 'p00', single: false }, 'p0/', 10, 1), 'the one used again stays');
    assert.equal(p.find({ from: 'p1/', to: 'p10', single: false }, 'p1/', 10, 1), undefined, 'the least recently used went');
  });

  it('keep at most MAX_LISTS lists however small, dropping the least recently used', () => {
    const p = new PastLists();
    for (let i = 0; i < MAX_LISTS + 5; i++) p.keep(list(`s${i}/`, `s${i}0`, 10, 1, 2));
    assert.equal(p.stats.lists, MAX_LISTS);
    assert.equal(p.stats.keys, 2 * MAX_LISTS);
    assert.equal(p.find({ from: 's0/', to: 's00', single: false }, 's0/', 10, 1), undefined, 'the oldest went');
    assert.ok(p.find({ from: `s${MAX_LISTS + 4}/`, to: `s${MAX_LISTS + 4}0`, single: false }, `s${MAX_LISTS + 4}/`, 10, 1), 'the newest stays');
  });

  it('replace a list its wider successor covers, and drop lists below a compaction', () => {
    const p = new PastLists();
    p.keep(list('k/5', 'k0', 20, 1, 5));
    p.keep(list('k/', 'k0', 20, 1, 8));
    assert.equal(p.stats.lists, 1, 'the list from the range start covers the one from a later page');
    p.keep(list('k/', 'k0', 30, 1, 8));
    p.dropBelow(25);
    assert.equal(p.stats.lists, 1);
    assert.equal(p.stats.keys, 8);
    assert.equal(p.find({ from: 'k/', to: 'k0', single: false }, 'k/', 20, 1), undefined);
    p.clear();
    assert.deepEqual(p.stats, { lists: 0, keys: 0, hits: 0 });
  });
});
