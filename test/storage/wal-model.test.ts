// Randomized model test of the WAL's log semantics, in-process: pipelined saves (appends,
// conflicting overwrites, local and received snapshot markers, hard states), compaction racing
// with saves and rotation, small segments, preallocation on or off, and reopen at random points. After every reopen and at
// the end the recovered log must equal an independent model. Found: an overwrite reaching back
// into a compacted-away range made the WAL refuse to start.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Wal } from '../../storage/index.js';
import { entry, payload, rng, seedFromEnv, tempDir } from './helpers.js';

const conf = { voters: [1], learners: [] };

async function run(seed: number): Promise<void> {
  const rand = rng(seed);
  const dir = tempDir(after, 'walmodel');
  const segmentBytes = 300 + Math.floor(rand() * 3000);
  // Half the runs keep the active segment zero-filled ahead (up to a segment's worth).
  const preallocateBytes = rand() < 0.5 ? 0 : 64 + Math.floor(rand() * segmentBytes);
  let { wal } = await Wal.open(dir, { segmentBytes, preallocateBytes });
  const terms = new Map<number, number>();
  let base = 0;
  let snap: { index: number; term: number } | undefined;
  let term = 1;
  let hs = { term: 0, vote: 0, commit: 0 };
  const last = (): number => {
    let m = base;
    while (terms.has(m + 1)) m++;
    return m;
  };
  const check = (r: Awaited<ReturnType<typeof Wal.open>>['recovered'], at: string): void => {
    assert.deepEqual(r.snapshot && { index: r.snapshot.index, term: r.snapshot.term }, snap, `seed ${seed} ${at}: snapshot`);
    assert.deepEqual(r.hardState, hs, `seed ${seed} ${at}: hard state`);
    assert.deepEqual(
      r.entries.map((e) => [e.index, e.term]),
      [...terms.entries()].sort((a, b) => a[0] - b[0]),
      `seed ${seed} ${at}: entries`,
    );
    for (const e of r.entries) assert.deepEqual(e.data, payload(e.index, e.term, e.data.length), `seed ${seed} ${at}: data of ${e.index}`);
  };
  // Every entry of the model reads back from the segments (entriesFromDisk: what the Raft core
  // gets once it has evicted them), alone and as one range; nothing past the end does.
  const readBack = (w: Wal, at: string): void => {
    const end = last();
    for (let i = base + 1; i <= end; i++) {
      const got = w.entriesFromDisk(i, i, 1);
      assert.deepEqual(got?.map((e) => [e.index, e.term]), [[i, terms.get(i)]], `seed ${seed} ${at}: read back ${i}`);
      assert.deepEqual(got![0]!.data, payload(i, terms.get(i)!, got![0]!.data.length), `seed ${seed} ${at}: data read back at ${i}`);
    }
    if (end > base) assert.deepEqual(w.entriesFromDisk(base + 1, end, Infinity)?.map((e) => e.index), [...terms.keys()].sort((a, b) => a - b), `seed ${seed} ${at}: range`);
    assert.equal(w.entriesFromDisk(end + 1, end + 5, Infinity), undefined, `seed ${seed} ${at}: past the end`);
    assert.equal(w.onDiskThrough(base + 1, end + 5), end, `seed ${seed} ${at}: on disk through`);
  };
  let ps: Promise<unknown>[] = [];
  for (let step = 0; step < 400; step++) {
    const r = rand();
    if (r < 0.03) {
      await Promise.all(ps);
      ps = [];
      await wal.close();
      const o = await Wal.open(dir, { segmentBytes, preallocateBytes });
      wal = o.wal;
      check(o.recovered, `step ${step} reopen`);
      readBack(wal, `step ${step} reopen`);
    } else if (r < 0.12 && last() > base) {
      // Local snapshot at a held index, then compaction (sometimes racing with the marker's save).
      const s = base + 1 + Math.floor(rand() * (last() - base));
      const t = terms.get(s)!;
      const p = wal.save({ snapshot: { index: s, term: t, confState: conf } });
      for (const k of [...terms.keys()]) if (k <= s) terms.delete(k);
      base = s;
      snap = { index: s, term: t };
      if (rand() < 0.5) {
        await p;
        ps.push(wal.compact(s));
      } else ps.push(p, wal.compact(Math.max(0, s - Math.floor(rand() * 20))));
    } else if (r < 0.14) {
      // Received snapshot in a new term near the end of the log: usually resets it.
      term++;
      const s = last() + Math.floor(rand() * 4) - 1;
      if (s > base) {
        const keep = terms.get(s) === term;
        ps.push(wal.save({ snapshot: { index: s, term, confState: conf } }));
        for (const k of [...terms.keys()]) if (!keep || k <= s) terms.delete(k);
        base = s;
        snap = { index: s, term };
      }
    } else if (r < 0.3 && last() > base + 1) {
      // New leader overwrites a conflicting suffix.
      term++;
      const first = Math.max(base + 1, last() - Math.floor(rand() * 15));
      const n = 1 + Math.floor(rand() * 5);
      const es = [];
      for (let i = first; i < first + n; i++) es.push(entry(i, term, 20));
      for (const k of [...terms.keys()]) if (k >= first) terms.delete(k);
      for (const e of es) terms.set(e.index, term);
      hs = { term, vote: 1 + (step % 3), commit: base };
      ps.push(wal.save({ entries: es, hardState: hs }));
    } else {
      const first = last() + 1;
      const n = 1 + Math.floor(rand() * 8);
      const es = [];
      for (let i = first; i < first + n; i++) es.push(entry(i, term, 20 + Math.floor(rand() * 80)));
      for (const e of es) terms.set(e.index, term);
      if (rand() < 0.3) {
        hs = { ...hs, commit: hs.commit + 1 };
        ps.push(wal.save({ entries: es, hardState: hs }));
      } else ps.push(wal.save({ entries: es }));
    }
    if (rand() < 0.2) {
      await Promise.all(ps);
      ps = [];
      readBack(wal, `step ${step}`);
    }
  }
  await Promise.all(ps);
  await wal.close();
  const o = await Wal.open(dir, { segmentBytes, preallocateBytes });
  check(o.recovered, 'end');
  await o.wal.close();
}

describe('WAL model (randomized, in-process)', () => {
  it('recovered log equals the model across overwrites, snapshots, compaction and reopen', { timeout: 120_000 }, async () => {
    const seed = seedFromEnv('wal model');
    for (let i = 0; i < 16; i++) await run(seed + i);
  });
});
