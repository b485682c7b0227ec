// The revision index (storage/keyspace/revision-index.ts) against a brute-force history: random
// puts and deletes over a few keys (several writes to different keys in one revision), random
// compactions; every lookup the read path makes — the newest entry at or below a revision, with
// the rule that an unindexed key has no history or only its current put — agrees with the full
// history, before and after each compaction's trimming, and after a rebuild from the database.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RevisionIndex, type RevisionWrite } from '../../storage/keyspace/revision-index.js';
import { EtcdHarness } from './etcd-harness.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';

interface Entry {
  main: number;
  sub: number;
  tombstone: boolean;
}

/** What a read of `key` at `rev` sees: the full history's newest entry at or below rev (a delete: nothing). */
function truth(history: Map<string, Entry[]>, key: string, rev: number): string {
  const es = (history.get(key) ?? []).filter((e) => e.main <= rev);
  const e = es[es.length - 1];
  return e === undefined || e.tombstone ? 'absent' : `${e.main}/${e.sub}`;
}

/** The same read through the index and the key's current put, as range.ts does it. */
function viaIndex(ix: RevisionIndex, current: Map<string, Entry>, key: string, rev: number): string {
  const cur = current.get(key);
  if (cur && cur.main <= rev) return `${cur.main}/${cur.sub}`;
  const e = ix.lookup(key, rev);
  return e == null || e.tombstone ? 'absent' : `${e.main}/${e.sub}`;
}

describe('revision index', () => {
  // Many keys and compactions close behind: keys come and go from the index. Few keys and
  // compactions far behind: long entry lists, trimmed from the front and cut.
  for (const { nkeys, steps, behind } of [
    { nkeys: 12, steps: 600, behind: 0 },
    { nkeys: 3, steps: 1500, behind: 60 },
  ]) {
    it(`answers every key at every revision at or above the compact revision as the full history does, through compactions (${nkeys} keys, compactions ${behind}+ revisions behind)`, async () => {
      const seed = seedFromEnv('revision index');
      const r = rng(seed);
      const keys = Array.from({ length: nkeys }, (_, i) => `k${i}`);
      const history = new Map<string, Entry[]>();
      const current = new Map<string, Entry>();
      const ix = new RevisionIndex();
      let rev = 1;
      let compacted = -1;
      const check = (label: string): void => {
        for (const key of keys) {
          for (let at = Math.max(1, compacted); at <= rev; at++) {
            assert.equal(viaIndex(ix, current, key, at), truth(history, key, at), `${label}: ${key} at ${at} (revision ${rev}, compacted ${compacted}, seed ${seed})`);
          }
        }
      };
      for (let step = 0; step < steps; step++) {
        // One revision: 1 to 3 distinct keys written.
        const n = 1 + Math.floor(r() * 3);
        const chosen = [...new Set(Array.from({ length: n }, () => keys[Math.floor(r() * keys.length)]!))];
        const writes: RevisionWrite[] = [];
        rev++;
        let sub = 0;
        for (const key of chosen) {
          const cur = current.get(key);
          const del = cur !== undefined && r() < 0.3;
          const e = { main: rev, sub: sub++, tombstone: del };
          writes.push({ key, ...e, prev: cur });
          history.set(key, [...(history.get(key) ?? []), e]);
          if (del) current.delete(key);
          else current.set(key, e);
        }
        ix.record(writes);
        const c = rev - behind - Math.floor(r() * 20);
        if (r() < 0.05 && c > compacted) {
          // Compactions only move forward (etcd refuses one at or below the compact revision).
          compacted = c;
          ix.compact(compacted);
          if (r() < 0.5) check(`step ${step}, trimming under way`);
          await ix.trimmed();
        }
        if (step % 50 === 0) check(`step ${step}`);
      }
      check('end');
      // Nothing is kept that a read cannot need: a key left with one entry or none is unindexed.
      compacted = rev;
      ix.compact(rev);
      await ix.trimmed();
      check('compacted at the current revision');
      const kept = [...history.keys()].filter((k) => ix.lookup(k, rev) !== undefined);
      assert.deepEqual(kept, [], 'after a compaction at the current revision every key has one entry at most: none stays indexed');
      assert.deepEqual(ix.size, { keys: 0, entries: 0 });
    });
  }

  it('lists its keys in order for ranges, and keeps that list bounded when keys join and leave without ranges being read', async () => {
    const ix = new RevisionIndex();
    const keys = Array.from({ length: 50 }, (_, i) => `k\u0000${(i * 37) % 50}`);
    const current = new Map<string, { main: number; sub: number }>();
    let rev = 1;
    const write = (key: string): void => {
      const e = { main: ++rev, sub: 0 };
      ix.record([{ key, ...e, tombstone: false, prev: current.get(key) }]);
      current.set(key, e);
    };
    // 200 rounds of every key joining (written twice) and leaving (compacted at the head): 10,000 joins.
    for (let round = 0; round < 200; round++) {
      for (const k of keys) write(k);
      for (const k of keys) write(k);
      assert.deepEqual(ix.size.keys, 50);
      if (round === 0) assert.deepEqual(ix.keysIn('', undefined), [...keys].sort(), `round ${round}: every key, in order`);
      ix.compact(rev);
      await ix.trimmed();
      assert.deepEqual(ix.size.keys, 0);
    }
    const lists = ix as unknown as { joined: string[]; ordered: string[] };
    assert.ok(lists.joined.length <= 4097 && lists.ordered.length <= 8192, `bounded without ranges: ${lists.joined.length} joined, ${lists.ordered.length} ordered`);
    // After the last compaction every key's history is its current put: written again, it joins.
    for (const k of keys.slice(0, 5)) write(k);
    assert.deepEqual(ix.keysIn('', undefined), [...keys.slice(0, 5)].sort(), 'the five keys written again since');
    assert.deepEqual(ix.keysIn('k\u00002', 'k\u00003'), [...keys.slice(0, 5)].filter((k) => k >= 'k\u00002' && k < 'k\u00003').sort(), 'a sub-range');
  });

  it('is rebuilt from the database on reopen and holds only keys with more than their current put', async () => {
    const dir = tempDir(after);
    let h = await EtcdHarness.open(dir);
    await h.put('once', '1');
    await h.put('twice', '1');
    await h.put('twice', '2');
    await h.put('gone', '1');
    await h.del('gone');
    const before = (await import('../../storage/index.js')).StateMachine;
    const reads = async (): Promise<string[]> => {
      const out: string[] = [];
      for (const key of ['once', 'twice', 'gone']) {
        for (let rev = 1; rev <= h.sm.revision; rev++) {
          const g = await h.get(key, { revision: rev });
          out.push(`${key}@${rev}=${g.kvs.map((kv) => `${kv.value}/${kv.modRevision}`).join(',')}`);
        }
      }
      return out;
    };
    const live = await reads();
    assert.deepEqual(
      live.filter((s) => !s.endsWith('=')),
      ['once@2=1/2', 'once@3=1/2', 'once@4=1/2', 'once@5=1/2', 'once@6=1/2', 'twice@3=1/3', 'twice@4=2/4', 'twice@5=2/4', 'twice@6=2/4', 'gone@5=1/5'],
    );
    await h.sm.close();
    h = new EtcdHarness(await before.open(dir));
    h.index = h.sm.appliedIndex;
    after(() => h.sm.close());
    assert.deepEqual(await reads(), live, 'the same answers from the index rebuilt on open');
    assert.deepEqual(h.sm.revisionIndexSize, { keys: 2, entries: 4 }, 'twice (2 puts) and gone (put, delete); once is its current put only');
  });
});
