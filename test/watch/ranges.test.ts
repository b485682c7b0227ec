// The interval index behind range and prefix watchers: random inserts, deletes and stabbing
// queries against a brute-force list, on keys full of the bytes that break naive ordering (NUL,
// 0xff, prefixes of each other); and the shared sets of a watcher group.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RangeIndex } from '../../src/watch/ranges.js';
import { WatcherGroup, type Ranged } from '../../src/watch/group.js';
import { rng, seedFromEnv } from '../storage/helpers.js';

const ALPHABET = ['', 'a', 'a\u0000', 'a\u0000\u0000', 'ab', 'b', 'b\u00ff', 'c', '\u00ff', '\u00ff\u00ff'];

describe('RangeIndex', () => {
  it('finds exactly the ranges containing a key, through random inserts and deletes', () => {
    const seed = seedFromEnv('ranges');
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const key = (): string => pick(ALPHABET) + pick(ALPHABET);
    const idx = new RangeIndex<string>();
    const brute = new Map<string, [string, string | undefined]>();
    const name = (f: string, t: string | undefined): string => JSON.stringify([f, t ?? null]);
    for (let step = 0; step < 20_000; step++) {
      const x = r();
      if (x < 0.45) {
        const a = key();
        const b = r() < 0.2 ? undefined : key();
        if (b !== undefined && a >= b) continue;
        idx.set(a, b, name(a, b));
        brute.set(name(a, b), [a, b]);
      } else if (x < 0.7) {
        const all = [...brute.values()];
        if (all.length === 0) continue;
        const [a, b] = pick(all);
        assert.equal(idx.delete(a, b), true);
        brute.delete(name(a, b));
        assert.equal(idx.delete(a, b), false, 'a second delete finds nothing');
      } else {
        const k = key();
        const got: string[] = [];
        idx.stab(k, (v) => got.push(v));
        const want = [...brute.entries()].filter(([, [a, b]]) => k >= a && (b === undefined || k < b)).map(([n]) => n);
        assert.deepEqual(got.sort(), want.sort(), `seed ${seed}, step ${step}: stab ${JSON.stringify(k)}`);
      }
      assert.equal(idx.size, brute.size);
    }
    assert.deepEqual(
      idx.entries().map(([a, b]) => name(a, b)).sort(),
      [...brute.keys()].sort(),
    );
  });

  it('stays shallow: 10,000 prefix ranges inserted in order make a tree of logarithmic height', () => {
    const idx = new RangeIndex<number>();
    for (let i = 0; i < 10_000; i++) {
      const p = `/brokers/${String(i).padStart(5, '0')}/`;
      idx.set(p, p.slice(0, -1) + '0', i);
    }
    // A treap's expected height is about 3 log2(n) (≈ 40 here); a list would be 10,000 deep.
    assert.ok(idx.height() < 60, `height ${idx.height()}`);
    const found: number[] = [];
    idx.stab('/brokers/04242/x', (v) => found.push(v));
    assert.deepEqual(found, [4242]);
    for (let i = 0; i < 10_000; i += 2) idx.delete(`/brokers/${String(i).padStart(5, '0')}/`, `/brokers/${String(i).padStart(5, '0')}0`);
    assert.equal(idx.size, 5000);
    assert.ok(idx.height() < 60, `height after deletes ${idx.height()}`);
  });
});

describe('WatcherGroup', () => {
  it('watchers on the same key or range share one set; deleting the last removes it', () => {
    const g = new WatcherGroup<Ranged & { n: number }>();
    const a = { from: 'k', to: undefined, single: true, n: 1 };
    const b = { from: 'k', to: undefined, single: true, n: 2 };
    const p = { from: 'a/', to: 'a0', single: false, n: 3 };
    const q = { from: 'a/', to: 'a0', single: false, n: 4 };
    const all = { from: '\u0000', to: undefined, single: false, n: 5 };
    for (const w of [a, b, p, q, all]) g.add(w);
    assert.equal(g.size, 5);
    const sets: number[][] = [];
    g.matching('k', (s) => sets.push([...s].map((w) => w.n).sort()));
    assert.deepEqual(sets.sort(), [[1, 2], [5]]);
    const sets2: number[][] = [];
    g.matching('a/x', (s) => sets2.push([...s].map((w) => w.n).sort()));
    assert.deepEqual(sets2.sort(), [[3, 4], [5]]);
    assert.equal(g.contains('zz'), true);
    g.delete(all);
    assert.equal(g.contains('zz'), false);
    assert.equal(g.delete(all), false);
    g.delete(p);
    g.delete(q);
    assert.equal(g.contains('a/x'), false);
    assert.deepEqual([...g].map((w) => w.n).sort(), [1, 2]);
  });
});
