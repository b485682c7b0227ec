// Ranges read from the in-memory indexes (storage/keyspace/sources.ts: the current keys from
// the current-key index, and at a past revision the revision index beside them) against the same
// ranges read by scanning `kv` and seeking `hist` on a snapshot (rangeRead without the indexes,
// the path the keyspace model test checks against its model): random histories over many keys,
// most written once (not in the revision index), some rewritten, deleted and re-created, several
// keys per revision (Txn, ranged deletes), and compactions; every kind of range request (limits,
// counts, keys only, sorting, filters), at past revisions and at the current one. And the
// revision index given up halfway through a read — trimmed past the read's revision, or replaced
// — hands the rest of the range to the `hist` sublevel with nothing lost or repeated.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RangeRequest, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { rangeRead, readTxn, type TxnReadResult } from '../../storage/keyspace/read.js';
import { range, rangeSpec } from '../../storage/keyspace/range.js';
import { RevisionIndex } from '../../storage/keyspace/revision-index.js';
import { CurrentIndex, type CurrentKeys } from '../../storage/keyspace/current-index.js';
import { View } from '../../storage/keyspace/view.js';
import { PastLists } from '../../storage/keyspace/past-lists.js';
import { EtcdHarness } from './etcd-harness.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
/** A range's answer, every field that goes on the wire. */
const show = (r: { kvs: KeyValue[]; more: boolean; count: number; revision: number }): string =>
  JSON.stringify({
    revision: r.revision,
    more: r.more,
    count: r.count,
    kvs: r.kvs.map((kv) => [Buffer.from(kv.key).toString('latin1'), Buffer.from(kv.value).toString('latin1'), kv.createRevision, kv.modRevision, kv.version, kv.lease]),
  });
/** Equal answers; else a failure naming the first difference (a diff of two long strings takes minutes). */
function sameAnswer(got: string, want: string, what: string): void {
  if (got === want) return;
  let i = 0;
  while (i < got.length && got[i] === want[i]) i++;
  assert.fail(`${what}: answers differ at character ${i}\n got …${got.slice(Math.max(0, i - 80), i + 120)}\nwant …${want.slice(Math.max(0, i - 80), i + 120)}`);
}
const showReq = (q: RangeRequest): string => JSON.stringify({ ...q, key: Buffer.from(q.key).toString('latin1'), rangeEnd: Buffer.from(q.rangeEnd).toString('latin1') });

/** Keys with shared prefixes and the bytes the layout escapes (NUL) or sorts last (0xff). */
const keyName = (i: number): string => (i % 7 === 0 ? `k\u0000${i}` : i % 11 === 0 ? `k\u00ff${i}` : `k/${String(i).padStart(5, '0')}`);

/** A history: `nkeys` keys, `steps` revisions; returns the harness. */
async function history(dir: string, nkeys: number, steps: number, r: () => number): Promise<EtcdHarness> {
  const h = await EtcdHarness.open(dir);
  // Every key once (most stay that way: a key written once is not indexed).
  for (let i = 0; i < nkeys; i++) await h.put(keyName(i), `v${i}`);
  const hot = Math.max(2, Math.floor(nkeys / 10));
  const someKey = (): string => keyName(r() < 0.7 ? Math.floor(r() * hot) : Math.floor(r() * nkeys));
  for (let s = 0; s < steps; s++) {
    const x = r();
    if (x < 0.55) await h.put(someKey(), `s${s}`);
    else if (x < 0.7) await h.del(someKey());
    else if (x < 0.8) {
      // A ranged delete: several keys in one revision, sub revisions 0, 1, ...
      const a = Math.floor(r() * nkeys);
      await h.del(keyName(a), keyName(a) + '\u0000\u0000\u0000');
      await h.del(`k/${String(a).padStart(5, '0')}`, `k/${String(a + 3).padStart(5, '0')}`);
    } else if (x < 0.95) {
      const ops = [...new Set(Array.from({ length: 1 + Math.floor(r() * 4) }, someKey))];
      await h.txn({ success: ops.map((k) => ({ request: { $case: 'requestPut', value: { key: B(k), value: B(`t${s}`) } } })) as never });
    } else {
      const c = h.sm.revision - 5 - Math.floor(r() * steps * 0.3);
      if (c > h.sm.compactRevision) await h.compact(c);
    }
  }
  return h;
}

function randomRange(r: () => number, h: EtcdHarness, nkeys: number): RangeRequest {
  const lo = h.sm.compactRevision > 0 ? h.sm.compactRevision : 1;
  // Mostly below the current revision; a quarter at it (0 or the revision itself).
  const x0 = r();
  const rev = x0 < 0.15 ? 0 : x0 < 0.25 ? h.sm.revision : lo + Math.floor(r() * (h.sm.revision - lo));
  const a = Math.floor(r() * nkeys);
  const b = a + 1 + Math.floor(r() * nkeys * 0.3);
  const x = r();
  // All keys, a prefix, an empty range, from a key on (past every key at times), a span.
  const [key, end] = x < 0.2 ? ['\u0000', '\u0000'] : x < 0.35 ? ['k/', 'k0'] : x < 0.45 ? ['k\u0000', 'k\u0001'] : x < 0.55 ? [keyName(a), '\u0000'] : [keyName(a), keyName(b)];
  const int = (n: number): number => Math.floor(r() * n);
  return RangeRequest.fromPartial({
    key: B(key),
    rangeEnd: B(end),
    revision: rev,
    limit: r() < 0.5 ? 1 + int(20) : 0,
    sortOrder: r() < 0.2 ? int(3) : 0,
    sortTarget: r() < 0.2 ? int(5) : 0,
    keysOnly: r() < 0.2,
    countOnly: r() < 0.15,
    minModRevision: r() < 0.1 ? int(h.sm.revision) : 0,
    maxCreateRevision: r() < 0.1 ? int(h.sm.revision) : 0,
  });
}

/** Counts scans of the `hist` and `kv` sublevels for the duration of `fn`. */
async function counting<T>(fn: () => Promise<T>): Promise<{ value: T; histScans: number; kvScans: number }> {
  const hist = View.prototype.scanHistory;
  const kv = View.prototype.scanCurrent;
  let histScans = 0;
  let kvScans = 0;
  View.prototype.scanHistory = function (...a) {
    histScans++;
    return hist.apply(this, a);
  };
  View.prototype.scanCurrent = function (...a) {
    kvScans++;
    return kv.apply(this, a);
  };
  try {
    return { value: await fn(), histScans, kvScans };
  } finally {
    View.prototype.scanHistory = hist;
    View.prototype.scanCurrent = kv;
  }
}

describe('ranges from the in-memory indexes', () => {
  for (const { nkeys, steps, reads } of [
    { nkeys: 300, steps: 1500, reads: 400 },
    // More keys than one step of the walk (1,000): deleted keys merged in across steps.
    { nkeys: 2600, steps: 1200, reads: 60 },
  ]) {
    it(`answer every range as the history sublevel does (${nkeys} keys, ${steps} revisions)`, { timeout: 120_000 }, async () => {
      const seed = seedFromEnv('indexed range');
      const r = rng(seed);
      const h = await history(tempDir(after), nkeys, steps, r);
      after(() => h.sm.close());
      assert.ok(h.sm.revisionIndexSize.keys > 10, 'some keys are indexed');
      assert.ok(h.sm.revisionIndexSize.keys < nkeys, 'most keys written once are not');
      let indexed = 0;
      for (let i = 0; i < reads; i++) {
        const req = randomRange(r, h, nkeys);
        const want = show(await rangeRead(h.sm.rawDb, req));
        const got = await counting(() => h.sm.range(req));
        indexed += got.kvScans === 0 && got.histScans === 0 ? 1 : 0;
        sameAnswer(show(got.value), want, `range ${showReq(req)} at revision ${h.sm.revision}, compacted ${h.sm.compactRevision} (seed ${seed})`);
      }
      assert.equal(indexed, reads, 'every range was read from the indexes, none by a scan of kv or hist');
      // Read-only txns: their ranges (single keys included) at past revisions, on one snapshot.
      for (let i = 0; i < reads / 4; i++) {
        const ranges = Array.from({ length: 1 + Math.floor(r() * 3) }, () => {
          const q = randomRange(r, h, nkeys);
          if (r() < 0.4) q.rangeEnd = Buffer.alloc(0);
          return { request: { $case: 'requestRange' as const, value: q } };
        });
        const req = TxnRequest.fromPartial({ success: ranges });
        const showTxn = (t: TxnReadResult): string => JSON.stringify(t.response.responses.map((op) => (op.response?.$case === 'responseRange' ? show({ ...op.response.value, revision: op.response.value.header!.revision }) : '?')));
        const want = showTxn(await readTxn(h.sm.rawDb, req));
        const got = await counting(() => h.sm.readTxn(req));
        assert.equal(got.histScans + got.kvScans, 0, 'no range of the txn scanned kv or hist');
        sameAnswer(showTxn(got.value), want, `txn of ${ranges.map((x) => showReq(x.request.value)).join(', ')} (seed ${seed})`);
      }
    });
  }

  for (const disturbance of ['a compaction above the read revision', 'the index replaced'] as const) {
    it(`hands the rest of a range to the history sublevel once ${disturbance} midway`, { timeout: 120_000 }, async () => {
      const seed = seedFromEnv('indexed range disturbed');
      const r = rng(seed);
      const nkeys = 3000;
      const h = await history(tempDir(after), nkeys, 1500, r);
      after(() => h.sm.close());
      const db = h.sm.rawDb;
      const rev = h.sm.compactRevision + 1 + Math.floor((h.sm.revision - h.sm.compactRevision - 1) / 3);
      // A whole range, a count, and (with the lists a page keeps) a page whose count walks the
      // range from its start and a count: the walk that keeps a list falls back the same way and
      // keeps nothing.
      for (const { countOnly, limit, listed } of [
        { countOnly: false, limit: 0, listed: false },
        { countOnly: true, limit: 0, listed: false },
        { countOnly: false, limit: 10, listed: true },
        { countOnly: true, limit: 0, listed: true },
      ]) {
        const req = RangeRequest.fromPartial({ key: B('\u0000'), rangeEnd: B('\u0000'), revision: rev, countOnly, limit });
        const pastLists = listed ? new PastLists() : undefined;
        const want = show(await rangeRead(db, req));
        // The indexes of the database as it is, and a snapshot of it, taken together.
        const ix = new RevisionIndex();
        await ix.load(db);
        ix.compact(h.sm.compactRevision);
        const current = new CurrentIndex();
        await current.load(db);
        const view = new View(db, db.snapshot());
        const generation = ix.generation;
        // Halfway through the first thousand keys the index can no longer answer for `rev`.
        const clone = current.clone();
        let seen = 0;
        let loading: Promise<void> | undefined;
        // Every key the range visits, whichever way it walks the tree (an iterator for a page, the
        // callback of forRange for a count).
        const visited = (): void => {
          if (++seen !== 500) return;
          if (disturbance === 'the index replaced') loading = ix.load(db);
          else ix.compact(h.sm.revision);
        };
        const keys: CurrentKeys = {
          size: clone.size,
          entries: function* (from?: string) {
            for (const e of clone.entries(from)) {
              yield e;
              visited();
            }
          } as CurrentKeys['entries'],
          maxKey: () => clone.maxKey(),
          forRange: ((low, high, includeHigh, onFound, initial) =>
            clone.forRange(low, high, includeHigh, onFound && ((k, v, n) => {
              const r = onFound(k, v, n);
              visited();
              return r;
            }), initial)) as CurrentKeys['forRange'],
        };
        const got = await counting(() => range(view, rangeSpec(req), h.sm.revision, h.sm.compactRevision, {}, { keys, index: ix, generation, pastLists }));
        await view.snapshot!.close();
        await loading;
        await ix.trimmed();
        assert.ok(seen >= 500, 'the disturbance came midway');
        assert.equal(got.histScans, 1, 'the rest of the range was read from the history sublevel');
        sameAnswer(show(got.value), want, `range at ${rev} (countOnly ${countOnly}, limit ${limit}, lists ${listed}, seed ${seed})`);
        if (pastLists) assert.equal(pastLists.stats.lists, 0, 'a walk the index gave up on keeps no list');
      }
    });
  }
});

describe('pages of a range at a past revision', () => {
  it('are read from the list of keys the first count kept, with writes and compactions between pages', { timeout: 120_000 }, async () => {
    const seed = seedFromEnv('past pages');
    const r = rng(seed);
    const nkeys = 900;
    const h = await history(tempDir(after), nkeys, 1500, r);
    after(() => h.sm.close());
    const lo = Math.max(h.sm.compactRevision, 1);
    const rev = lo + 1 + Math.floor((h.sm.revision - lo - 1) / 2);
    const limit = 7 + Math.floor(r() * 20);
    const before = h.sm.pastListStats;
    let from = 'k/';
    let pages = 0;
    let seenKeys = 0;
    let total = -1;
    for (;;) {
      const req = RangeRequest.fromPartial({ key: B(from), rangeEnd: B('k0'), revision: rev, limit, keysOnly: r() < 0.3 });
      const want = show(await rangeRead(h.sm.rawDb, req));
      const got = await h.sm.range(req);
      sameAnswer(show(got), want, `page ${pages} ${showReq(req)} at revision ${h.sm.revision} (seed ${seed})`);
      if (total < 0) total = got.count;
      assert.equal(got.count, total - seenKeys, 'each page counts the keys from its start on');
      pages++;
      seenKeys += got.kvs.length;
      if (!got.more) break;
      from = Buffer.from(got.kvs[got.kvs.length - 1]!.key).toString('latin1') + '\u0000';
      // Writes between pages, to keys of the range: new revisions, none of which the pages see.
      for (let i = 0; i < 3; i++) {
        const k = keyName(Math.floor(r() * nkeys));
        if (r() < 0.6) await h.put(k, `late${pages}`);
        else await h.del(k);
      }
      if (pages === 3) await h.compact(Math.max(h.sm.compactRevision + 1, rev - 5));
    }
    assert.ok(pages > 5, `the range spans pages (${pages})`);
    assert.equal(seenKeys, total, 'the pages together hold every key the first page counted');
    const after1 = h.sm.pastListStats;
    assert.equal(after1.lists - before.lists, 1, 'one list was kept for the range at the revision');
    // Every other kind of read of the range at that revision (sorted, filtered, counts, keys only,
    // from a later start) is read from the list too, and answers as the hist sublevel does.
    for (let i = 0; i < 40; i++) {
      const q = randomRange(r, h, nkeys);
      const start = r() < 0.5 ? 'k/' : keyName(Math.floor(r() * nkeys)).replace(/^k[^/]/, 'k/');
      const req = RangeRequest.fromPartial({ ...q, key: B(start), rangeEnd: B('k0'), revision: rev });
      const hits = h.sm.pastListStats.hits;
      sameAnswer(show(await h.sm.range(req)), show(await rangeRead(h.sm.rawDb, req)), `${showReq(req)} (seed ${seed})`);
      assert.ok(h.sm.pastListStats.hits > hits, `${showReq(req)} was read from the list`);
    }
    const after2 = h.sm.pastListStats;
    // The first page walked the range; every later page and its count were answered from the list.
    assert.ok(after1.hits - before.hits >= 2 * (pages - 1) - 1, `later pages read from the list (${after1.hits - before.hits} hits over ${pages} pages)`);
    assert.equal(after2.lists, after1.lists, 'reads of the same range at the same revision keep no other list');
    // A compaction above the revision drops the list, and the read is refused as etcd refuses it.
    await h.compact(rev + 1);
    assert.equal(h.sm.pastListStats.lists, before.lists, 'the list of a compacted revision is dropped');
    await assert.rejects(h.sm.range(RangeRequest.fromPartial({ key: B('k/'), rangeEnd: B('k0'), revision: rev, limit })), /required revision has been compacted/);
  });
});
