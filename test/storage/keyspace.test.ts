// The keyspace's own guarantees beyond etcd's answers: physical compaction removes what it may and
// nothing else, the hash ignores it, byte budgets cut pages, events come in revision order with
// their previous values, the history index costs one seek per key.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Event_EventType } from '../../proto/gen/etcd/mvccpb/kv.js';
import { RangeRequest_SortOrder as Order, RangeRequest_SortTarget as Target, RangeRequest, TxnRequest, PutRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { rangeRead } from '../../storage/keyspace/read.js';
import { EtcdHarness } from './etcd-harness.js';
import { tempDir } from './helpers.js';
import { NS_PREFIX, rawKey } from '../../storage/state-machine/layout.js';
import { writeU64 } from '../../storage/wal/record.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Raw records of the history namespaces. */
async function historyRecords(h: EtcdHarness): Promise<{ log: number; hist: number }> {
  let log = 0;
  let hist = 0;
  for await (const k of h.sm.rawDb.keys()) {
    const s = k.toString('latin1');
    if (s.startsWith('!log!')) log++;
    else if (s.startsWith('!hist!')) hist++;
  }
  return { log, hist };
}

describe('keyspace: physical compaction', () => {
  it('keeps, per key, the newest put at or below the compact revision and every event at or above it; the hash ignores the difference', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    // rev 2..6: a ×3, b ×1, then b deleted; c put at 7, 8; d put at 9 (the compact revision), e deleted at 10.
    await h.put('a', '1');
    await h.put('a', '2');
    await h.put('a', '3');
    await h.put('b', '1');
    await h.del('b');
    await h.put('c', '1');
    await h.put('c', '2');
    await h.put('d', '1');
    await h.put('e', '1');
    await h.del('e');
    assert.equal(h.sm.revision, 11);
    assert.deepEqual(await historyRecords(h), { log: 10, hist: 10 });
    await h.compact(9);
    const before = await h.sm.hash();
    await h.sm.waitCompaction(9);
    // Kept: a@4 (newest put of a), c@8, d@9 (at the compact revision), e@10 and e's delete@11.
    // Gone: a@2, a@3, b@5, b's delete@6 (a tombstone newest at 9), c@7.
    assert.deepEqual(await historyRecords(h), { log: 5, hist: 5 });
    assert.equal(await h.sm.hash(), before, 'physical compaction does not change the hash');
    const all = await h.get('\0', { rangeEnd: B('\0'), revision: 9 });
    assert.deepEqual(all.kvs.map((k) => `${k.key}@${k.modRevision}`), ['a@4', 'c@8', 'd@9']);
    // A second compaction removes what the first kept once it is superseded.
    await h.put('a', '4');
    await h.compact(12);
    await h.sm.waitCompaction(12);
    assert.deepEqual((await h.get('a', { revision: 12 })).kvs.map((k) => k.modRevision), [12]);
    // Left: a@12, c@8, d@9 (c and d: newest puts at or below 12); e's put@10 and delete@11 are gone.
    assert.deepEqual(await historyRecords(h), { log: 3, hist: 3 });
    assert.equal(h.sm.compaction.lastError, undefined);
  });

  it('resumes after a reopen where it stopped, and a compaction never removes what a read at or above it needs', async () => {
    const dir = tempDir(after);
    let h = await EtcdHarness.open(dir);
    for (let i = 0; i < 2000; i++) await h.cmd({ $case: 'etcdPut', value: PutRequest.fromPartial({ key: B(`k${i % 50}`), value: B(`v${i}`) }) });
    await h.compact(1500);
    // Close right away: physical compaction has at most started.
    await h.sm.close();
    h = new EtcdHarness(await (await import('../../storage/index.js')).StateMachine.open(dir));
    h.index = h.sm.appliedIndex;
    after(() => h.sm.close());
    const resumedAt = h.sm.compaction.progress;
    assert.ok(resumedAt < 1500, `the close interrupted it (progress ${resumedAt})`);
    await h.sm.waitCompaction(1500);
    for (const rev of [1500, 1700, 2001]) {
      const r = await h.get('k', { rangeEnd: B('l'), revision: rev });
      assert.equal(r.count, 50);
      // Key k(j) was last written at the largest revision ≤ rev that is ≡ j+2 (mod 50).
      for (const kv of r.kvs) {
        const j = Number(kv.key.toString().slice(1));
        const last = rev - ((((rev - (j + 2)) % 50) + 50) % 50);
        assert.equal(kv.modRevision, last, `${kv.key} at ${rev}`);
      }
    }
    const { log } = await historyRecords(h);
    assert.equal(log, 50 + 501, 'one put per key at or below 1500, and every event above it');
  });
});

describe('keyspace: byte budgets (issue 16 item 8, storage side)', () => {
  it('a Range stops before maxBytes, says so, and always returns one key', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    for (let i = 0; i < 10; i++) await h.put(`big/${i}`, 'x'.repeat(1000));
    const r = await h.sm.range({ ...(await import('../../proto/gen/etcd/etcdserverpb/rpc.js')).RangeRequest.fromPartial({ key: B('big/'), rangeEnd: B('big0') }) }, { maxBytes: 3500 });
    assert.deepEqual([r.kvs.length, r.more, r.truncated, r.count], [3, true, true, 10]);
    const one = await h.sm.range((await import('../../proto/gen/etcd/etcdserverpb/rpc.js')).RangeRequest.fromPartial({ key: B('big/'), rangeEnd: B('big0') }), { maxBytes: 10 });
    assert.deepEqual([one.kvs.length, one.more, one.truncated], [1, true, true]);
    // Sorted: the cut applies after sorting and the limit.
    const sorted = await h.sm.range(
      (await import('../../proto/gen/etcd/etcdserverpb/rpc.js')).RangeRequest.fromPartial({ key: B('big/'), rangeEnd: B('big0'), sortOrder: Order.DESCEND, sortTarget: Target.KEY, limit: 5 }),
      { maxBytes: 2500 },
    );
    assert.deepEqual([sorted.kvs.map((k) => k.key.toString()), sorted.more, sorted.truncated], [['big/9', 'big/8'], true, true]);
    // keys_only pages count the keys only.
    const keys = await h.sm.range((await import('../../proto/gen/etcd/etcdserverpb/rpc.js')).RangeRequest.fromPartial({ key: B('big/'), rangeEnd: B('big0'), keysOnly: true }), { maxBytes: 3500 });
    assert.deepEqual([keys.kvs.length, keys.truncated], [10, false]);
  });

  it('the native List returns a partial page with a continuation that reaches every key once', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    for (let i = 0; i < 25; i++) await h.put(`list/${String(i).padStart(2, '0')}`, 'y'.repeat(100 + i * 50));
    const seen: string[] = [];
    let startAfter: string | undefined;
    let pages = 0;
    for (;;) {
      const p = await h.sm.list('list/', { startAfter, limit: 10, maxBytes: 2000 });
      pages++;
      const bytes = p.kvs.reduce((n, kv) => n + kv.key.length + kv.value.length, 0);
      assert.ok(p.kvs.length === 1 || bytes <= 2000, `page of ${bytes} bytes`);
      assert.ok(p.kvs.length <= 10);
      seen.push(...p.kvs.map((kv) => kv.key));
      if (!p.more) break;
      startAfter = p.nextKey;
    }
    assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `list/${String(i).padStart(2, '0')}`));
    assert.ok(pages > 3);
  });

  it('a page reads the values it returns and at most 1 MiB more, not the rest of the scan\'s chunk (current and past revisions)', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    const VALUE = 256 * 1024;
    for (let i = 0; i < 40; i++) await h.put(`big/${String(i).padStart(2, '0')}`, String.fromCharCode(97 + (i % 26)).repeat(VALUE));
    const past = h.index + 1; // the revision of the last put
    await h.put('big/zz', 'later');
    // Every value is read by a point read of its event record (`log`): count those.
    const db = h.sm.rawDb;
    const getSync = db.getSync.bind(db);
    let loads = 0;
    db.getSync = ((...args: Parameters<typeof getSync>) => {
      if ((args[0] as Buffer).toString('latin1').startsWith('!log!')) loads++;
      return getSync(...args);
    }) as typeof db.getSync;
    const { RangeRequest } = await import('../../proto/gen/etcd/etcdserverpb/rpc.js');
    // A page of two values; a 1 MiB slice past it is four more.
    const budget = 2 * VALUE + 1000;
    const reads = [
      ['native List', () => h.sm.list('big/', { maxBytes: budget })],
      ['Range', () => h.sm.range(RangeRequest.fromPartial({ key: B('big/'), rangeEnd: B('big0') }), { maxBytes: budget })],
      ['Range at a past revision', () => h.sm.range(RangeRequest.fromPartial({ key: B('big/'), rangeEnd: B('big0'), revision: past }), { maxBytes: budget })],
    ] as const;
    for (const [what, read] of reads) {
      loads = 0;
      const r = await read();
      assert.deepEqual([r.kvs.length, r.more, r.truncated], [2, true, true], what);
      assert.ok(loads <= 2 + 4 + 1, `${what}: a page of 2 values of 256 KiB loaded ${loads} values`);
    }
  });
});

describe('keyspace: events and past values (for watches)', () => {
  it('events of a revision interval in revision order, one txn\'s events together, prev_kv as of the revision before', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    await h.put('a', '1'); // 2
    await h.put('b', '1'); // 3
    await h.txn(TxnRequest.fromPartial({ success: [{ request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B('a'), value: B('2') }) } }, { request: { $case: 'requestDeleteRange', value: { key: B('b'), rangeEnd: B(''), prevKv: false } } }] })); // 4
    await h.put('c', '1'); // 5
    let p = await h.sm.events({ key: B('\0'), rangeEnd: B('\0'), fromRevision: 2, prevKv: true });
    assert.deepEqual(
      p.events.map((e) => [e.type, e.kv!.key.toString(), e.kv!.modRevision, e.kv!.value.toString(), e.prevKv?.value.toString()]),
      [
        [Event_EventType.PUT, 'a', 2, '1', undefined],
        [Event_EventType.PUT, 'b', 3, '1', undefined],
        [Event_EventType.PUT, 'a', 4, '2', '1'],
        [Event_EventType.DELETE, 'b', 4, '', '1'],
        [Event_EventType.PUT, 'c', 5, '1', undefined],
      ],
    );
    assert.deepEqual([p.nextRevision, p.more, p.revision], [6, false, 5]);
    // A limit never splits a revision.
    p = await h.sm.events({ key: B('\0'), rangeEnd: B('\0'), fromRevision: 3, limit: 2 });
    assert.deepEqual([p.events.map((e) => e.kv!.modRevision), p.nextRevision, p.more], [[3, 4, 4], 5, true]);
    p = await h.sm.events({ key: B('a'), fromRevision: 1, toRevision: 4 });
    assert.deepEqual(p.events.map((e) => e.kv!.modRevision), [2, 4]);
    assert.equal((await h.sm.valueAt(B('a'), 3))?.value.toString(), '1');
    assert.equal(await h.sm.valueAt(B('b'), 4), undefined);
    assert.equal(await h.sm.valueAt(B('c'), 4), undefined);
    // From the compact revision on, events are complete; below it: compacted.
    await h.compact(4);
    await h.sm.waitCompaction(4);
    p = await h.sm.events({ key: B('\0'), rangeEnd: B('\0'), fromRevision: 4, prevKv: true });
    assert.deepEqual(p.events.map((e) => [e.type, e.kv!.key.toString(), e.prevKv?.value.toString()]), [
      [Event_EventType.PUT, 'a', undefined],
      [Event_EventType.DELETE, 'b', undefined],
      [Event_EventType.PUT, 'c', undefined],
    ]);
    await assert.rejects(h.sm.events({ key: B('a'), fromRevision: 3 }), { message: 'etcdserver: mvcc: required revision has been compacted' });
    await assert.rejects(h.sm.valueAt(B('a'), 3), { message: 'etcdserver: mvcc: required revision has been compacted' });
  });

  it('a Range at an old revision costs a seek or two per key, never a read of each key\'s history', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    const { Command } = await import('../../proto/gen/placement/v1/command.js');
    const keys = 20;
    const es = [];
    // Revision 2..21: each key once; then 300 more revisions of every key.
    for (let i = 0; i < keys * 301; i++) {
      const op = { $case: 'etcdPut' as const, value: PutRequest.fromPartial({ key: B(`k/${String(i % keys).padStart(2, '0')}`), value: B(`v${i}`) }) };
      es.push({ index: ++h.index, term: 1, data: Command.encode({ clientId: '', seq: 0, leaderTimeMs: 0, op }).finish() });
    }
    for (let i = 0; i < es.length; i += 1000) await h.sm.apply(es.slice(i, i + 1000));
    const db = h.sm.rawDb;
    // Count the history entries the read pulls from LevelDB.
    let pulled = 0;
    const iterator = db.iterator.bind(db);
    (db as unknown as { iterator: typeof db.iterator }).iterator = ((opts: never) => {
      const it = iterator(opts);
      const nextv = it.nextv.bind(it);
      it.nextv = (async (n: number) => {
        const r = await nextv(n);
        pulled += r.length;
        return r;
      }) as never;
      return it;
    }) as never;
    try {
      const r = await h.get('k/', { rangeEnd: B('k0'), revision: 21 });
      assert.deepEqual(r.kvs.map((k) => `${k.key}@${k.modRevision}`), Array.from({ length: keys }, (_, i) => `k/${String(i).padStart(2, '0')}@${i + 2}`));
      assert.equal(r.count, keys);
    } finally {
      (db as unknown as { iterator: typeof db.iterator }).iterator = iterator;
    }
    assert.ok(pulled <= keys * 2 * 8, `a read at revision 21 pulled ${pulled} history entries for ${keys} keys (${keys * 301} exist)`);
  });

});

describe('keyspace: single-key reads while batches are written', () => {
  it('every read is one state: the value written at the revision it reports, never a value newer than its header, whether or not a batch is being written', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    // Each put of key k writes the revision it will get, so a value names the revision it was written at.
    await h.put('k', '2');
    const reads: Promise<void>[] = [];
    const seen = new Set<string>();
    const check = (): void => {
      reads.push(
        h.get('k').then((r) => {
          const kv = r.kvs[0]!;
          assert.equal(kv.value.toString(), String(kv.modRevision), 'the value is the one written at its mod revision');
          assert.ok(kv.modRevision <= r.revision, `mod revision ${kv.modRevision} is not above the header's ${r.revision}`);
          assert.equal(kv.modRevision, r.revision, 'only k is written: its newest write is the header revision');
          seen.add(r.revision === h.sm.revision ? 'current' : 'older');
        }),
      );
    };
    for (let rev = 3; rev < 203; rev++) {
      const write = h.put('k', String(rev));
      // Before the batch starts, on the microtask queue while it runs, and once it finished.
      check();
      await Promise.resolve();
      check();
      await write;
      check();
    }
    await Promise.all(reads);
    assert.equal((await h.get('k')).revision, 202);
    assert.ok(seen.has('current'), 'reads were answered');
  });
});

describe('keyspace: which reads take a LevelDB snapshot', () => {
  it('a single key reads without one, at the current revision or a past one; ranges take one', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    await h.put('a', '1');
    await h.put('b', '2');
    const db = h.sm.rawDb;
    const take = db.snapshot.bind(db);
    let taken = 0;
    db.snapshot = ((...args: Parameters<typeof take>) => {
      taken++;
      return take(...args);
    }) as typeof db.snapshot;
    const snapshots = async (read: () => Promise<unknown>): Promise<number> => {
      const before = taken;
      await read();
      return taken - before;
    };
    assert.equal(await snapshots(() => h.get('a')), 0, 'one key, current revision');
    assert.equal(await snapshots(() => h.get('missing')), 0, 'a missing key');
    assert.equal(await snapshots(() => h.get('a', { rangeEnd: B('c') })), 1, 'a range');
    assert.equal(await snapshots(() => h.get('a', { revision: 2 })), 0, 'one key at a past revision');
    assert.equal(await snapshots(() => h.get('a', { revision: 2, rangeEnd: B('c') })), 1, 'a range at a past revision');
    // (Reads while a batch is being written: the interleaving test above.)
    await h.put('a', '3');
    assert.equal(await snapshots(() => h.get('a')), 0, 'after another write');
    assert.equal((await h.get('a')).kvs[0]!.value.toString(), '3');
  });
});

describe('keyspace: one key at a past revision, compacted while it is read', () => {
  it('answers as etcd does for a compacted revision, never with an internal error', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    await h.put('a', '1');
    await h.put('a', '2');
    await h.put('a', '3');
    assert.equal((await h.get('a', { revision: 2 })).kvs[0]!.value.toString(), '1');
    // A compaction to 3 lands between the history lookup and the read of the record it names:
    // the record is gone, and the compact revision has moved past the one asked for.
    const db = h.sm.rawDb;
    const getSync = db.getSync.bind(db);
    let gone = false;
    db.getSync = ((key: Buffer | string, ...rest: unknown[]) => {
      const k = Buffer.from(key as Buffer);
      if (k.subarray(0, NS_PREFIX.log.length).equals(NS_PREFIX.log)) {
        gone = true;
        return undefined;
      }
      if (gone && k.equals(rawKey('meta', 'compact'))) {
        const b = Buffer.alloc(8);
        writeU64(b, 3, 0);
        return b;
      }
      return (getSync as (...a: unknown[]) => unknown)(key, ...rest);
    }) as typeof db.getSync;
    // Through rangeRead, the path of a read that may interleave with apply and compaction: the
    // state machine answers a settled read on one thread from its revision index, where no
    // compaction can land in between.
    await assert.rejects(rangeRead(db, RangeRequest.fromPartial({ key: B('a'), revision: 2 })), /etcdserver: mvcc: required revision has been compacted/);
    assert.ok(gone);
  });
});
