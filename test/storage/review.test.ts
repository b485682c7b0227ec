// Regression tests from the storage correctness review: each one failed before its fix.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotStore, StateMachine, snapshotFileName, Wal, type ApplyEntry } from '../../storage/index.js';
import { Command } from '../../proto/gen/placement/v1/command.js';
import { entries, entry, tempDir } from './helpers.js';

const conf = { voters: [1, 2, 3], learners: [] };

/** Make the WAL's active segment fail its next fdatasync (as an EIO would). */
function failNextSync(wal: Wal): void {
  const fh = (wal as unknown as { fh: FileHandle }).fh;
  const orig = fh.datasync.bind(fh);
  let armed = true;
  fh.datasync = async () => {
    if (armed) {
      armed = false;
      throw Object.assign(new Error('EIO: injected fdatasync failure'), { code: 'EIO' });
    }
    return orig();
  };
}

describe('review: WAL failure semantics', () => {
  it('a failed sync fails its whole group; later save() and sync() reject; reopen sees a consistent log', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 5, 1), hardState: { term: 1, vote: 1, commit: 5 } });
    failNextSync(wal);
    const group = [wal.save({ entries: entries(6, 6, 1) }), wal.save({ entries: entries(7, 7, 1) }), wal.save({ hardState: { term: 2, vote: 2, commit: 7 } })];
    const settled = await Promise.allSettled(group);
    assert.deepEqual(settled.map((s) => s.status), ['rejected', 'rejected', 'rejected']);
    await assert.rejects(wal.save({ entries: entries(8, 8, 1) }), /WAL failed/);
    await assert.rejects(wal.save({}), /WAL failed/);
    // sync() promises "everything saved before this call is durable": false after a failed write.
    await assert.rejects(wal.sync(), /WAL failed/);
    await wal.close();
    const r = await Wal.open(dir);
    // The failed group's bytes may or may not have reached the disk (never acknowledged), but the
    // acknowledged prefix is intact and the log is well-formed.
    assert.ok(r.wal.lastIndex >= 5 && r.wal.lastIndex <= 7);
    assert.deepEqual(r.recovered.entries.slice(0, 5), entries(1, 5, 1));
    await r.wal.close();
  });

  it('a save() racing with close() is refused, not written to a closing file', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 3, 1) });
    const closing = wal.close();
    await assert.rejects(wal.save({ entries: [entry(4, 1)] }), /closed/);
    await closing;
    const r = await Wal.open(dir);
    assert.equal(r.wal.lastIndex, 3);
    await r.wal.close();
  });
});

describe('review: snapshot retention vs. readers', () => {
  it('a snapshot whose stream was handed out is not deleted by pruning before the stream is read', async () => {
    const dir = tempDir(after);
    const store = await SnapshotStore.open(dir, { retain: 1 });
    const content = Buffer.alloc(300_000, 7);
    await store.create({ index: 10, term: 1, confState: conf }, [content]);
    const reader = store.openReader({ index: 10, term: 1 }, { chunkSize: 4096 });
    const stream = reader.chunks(); // handed to the transport; the first read happens later
    // Meanwhile newer snapshots are taken and older ones pruned.
    await store.create({ index: 20, term: 1, confState: conf }, [Buffer.alloc(10)]);
    await store.create({ index: 30, term: 1, confState: conf }, [Buffer.alloc(10)]);
    const parts: Buffer[] = [];
    for await (const c of stream) parts.push(c);
    assert.equal(Buffer.concat(parts).length, reader.size);
    // Once the stream is finished it is pruned like any other old snapshot.
    await store.prune();
    assert.deepEqual(store.list().map((s) => s.meta.index), [30]);
    assert.ok(!existsSync(join(dir, snapshotFileName({ index: 10, term: 1 }))));
    // A stream abandoned before its first read (return() without next()) releases its pin.
    const abandoned = store.openReader({ index: 30, term: 1 }).chunks() as AsyncIterableIterator<Buffer>;
    await store.create({ index: 40, term: 1, confState: conf }, [Buffer.alloc(10)]);
    assert.deepEqual(store.list().map((s) => s.meta.index), [30, 40], 'kept while handed out');
    await abandoned.return!();
    await store.prune();
    assert.deepEqual(store.list().map((s) => s.meta.index), [40]);
  });
});

describe('review: snapshot receive', () => {
  it('chunks written without awaiting each write() land in order and commit() waits for them', async () => {
    const src = await SnapshotStore.open(tempDir(after));
    const content = Buffer.alloc(2_000_000);
    for (let i = 0; i < content.length; i++) content[i] = (i * 7919) & 0xff;
    await src.create({ index: 50, term: 2, confState: conf }, [content]);
    const dst = await SnapshotStore.open(tempDir(after));
    const rx = await dst.beginReceive({ index: 50, term: 2, confState: conf });
    const pending: Promise<void>[] = [];
    for await (const c of src.openReader({ index: 50, term: 2 }, { chunkSize: 64 * 1024 }).chunks()) pending.push(rx.write(c));
    const info = await rx.commit(); // before the writes are awaited
    await Promise.all(pending);
    assert.equal(info.size, src.latest()!.size);
    await dst.verify({ index: 50, term: 2 });
  });
});

const enc = (key: string, value: Buffer, extra: { clientId?: string; seq?: number } = {}): Uint8Array =>
  Command.encode(Command.fromPartial({ op: { $case: 'put', value: { key, value, lease: 0 } }, clientId: extra.clientId ?? '', seq: extra.seq ?? 0 })).finish();

describe('review: state machine', () => {
  it('1 MiB values survive apply, snapshot and install; installs flush by bytes, not only by count', async () => {
    const a = await StateMachine.open(tempDir(after));
    after(() => a.close());
    const big = (i: number): Buffer => Buffer.alloc(1 << 20, i);
    const es: ApplyEntry[] = [];
    for (let i = 1; i <= 24; i++) es.push({ index: i, term: 1, data: enc(`big/${i}`, big(i)) });
    await a.apply(es.slice(0, 12));
    await a.apply(es.slice(12));
    assert.equal((await a.get('big/24'))?.value.length, 1 << 20);
    const store = await SnapshotStore.open(tempDir(after));
    const info = await a.createSnapshot(store, { confState: conf });
    const b = await StateMachine.open(tempDir(after));
    after(() => b.close());
    // Count native batch writes during install: 24 MiB must not be one giant batch.
    const proto = Object.getPrototypeOf((b as unknown as { db: { batch(): object } }).db.batch());
    const origWrite = proto.write;
    let writes = 0;
    let unsynced = 0;
    proto.write = function (this: unknown, ...args: unknown[]) {
      writes++;
      if (!(args[0] as { sync?: boolean } | undefined)?.sync) unsynced++;
      return origWrite.apply(this, args);
    };
    try {
      await b.installSnapshot(store.openReader(info.meta));
    } finally {
      proto.write = origWrite;
    }
    assert.ok(writes >= 2, `install wrote ${writes} batch(es) for 24 MiB`);
    // Every batch of the new database is synced before the pointer flips (LevelDB syncs only the
    // current log file on a sync write; earlier batches may sit in an older, unsynced log).
    assert.equal(unsynced, 0, `${unsynced} of ${writes} install batches were not synced`);
    assert.equal(b.appliedIndex, 24);
    assert.equal(await b.hash(), await a.hash());
    assert.ok((await b.get('big/7'))?.value.equals(big(7)));
  });

  it('installSnapshot refuses content whose applied term differs from the metadata, keeping the old state', async () => {
    const a = await StateMachine.open(tempDir(after));
    after(() => a.close());
    await a.apply([{ index: 1, term: 3, data: enc('x', Buffer.from('1')) }]);
    const store = await SnapshotStore.open(tempDir(after));
    const info = await a.createSnapshot(store, { confState: conf });
    assert.deepEqual([info.meta.index, info.meta.term], [1, 3]);
    const b = await StateMachine.open(tempDir(after));
    after(() => b.close());
    await b.apply([{ index: 1, term: 1, data: enc('old', Buffer.from('state')) }]);
    const reader = store.openReader(info.meta);
    await assert.rejects(b.installSnapshot({ meta: { ...info.meta, term: 4 }, content: () => reader.content() }), /applied/);
    assert.equal(b.appliedTerm, 1);
    assert.equal((await b.get('old'))?.value.toString(), 'state');
  });

  it('a missing CURRENT_DB pointer is refused instead of deleting the live database', async () => {
    const dir = tempDir(after);
    const a = await StateMachine.open(dir);
    await a.apply([{ index: 1, term: 1, data: enc('x', Buffer.from('1')) }]);
    const store = await SnapshotStore.open(tempDir(after));
    const info = await a.createSnapshot(store, { confState: conf });
    await a.installSnapshot(store.openReader(info.meta)); // live state now in db-000002
    await a.close();
    rmSync(join(dir, 'CURRENT_DB'));
    await assert.rejects(StateMachine.open(dir), /CURRENT_DB is missing/);
    assert.ok(existsSync(join(dir, 'db-000002')), 'the live database is still there');
    // A first open that crashed before writing the pointer is still fine.
    const fresh = tempDir(after);
    await (await StateMachine.open(fresh)).close();
    rmSync(join(fresh, 'CURRENT_DB'));
    await (await StateMachine.open(fresh)).close();
  });

  it('hash is independent of batching when de-dup floors move (small window, seq jumps)', async () => {
    const mk = async (): Promise<StateMachine> => {
      const sm = await StateMachine.open(tempDir(after), { dedupWindow: 3 });
      after(() => sm.close());
      return sm;
    };
    const a = await mk();
    const b = await mk();
    const seqs = [1, 2, 3, 4, 10, 5, 11, 200, 199, 150, 201, 202, 100, 203, 204, 205, 300, 301];
    const es: ApplyEntry[] = seqs.map((seq, i) => ({ index: i + 1, term: 1, data: enc(`k${i % 4}`, Buffer.from(`v${i}`), { clientId: 'c', seq }) }));
    for (const e of es) await a.apply([e]);
    await b.apply(es.slice(0, 7));
    await b.apply(es.slice(7));
    assert.equal(a.revision, b.revision);
    assert.equal(await a.hash(), await b.hash());
  });
});

describe('review: WAL replay after compaction', () => {
  it('an overwrite reaching back into a compacted segment range replays (was: refused to start)', async () => {
    const dir = tempDir(after);
    const segmentBytes = 1024;
    const { wal } = await Wal.open(dir, { segmentBytes });
    await wal.save({ entries: entries(1, 9, 1, 100) }); // segment 1 (≥ 1024 bytes: rotates)
    await wal.compact(0); // wait for the rotation
    assert.equal(wal.segmentCount, 2);
    await wal.save({ snapshot: { index: 5, term: 1, confState: conf } }); // segment 2
    await wal.save({ entries: entries(10, 11, 1, 10) });
    // A new leader overwrites 8.. (above the snapshot, below the start of this segment's entries).
    await wal.save({ entries: entries(8, 12, 2, 10), hardState: { term: 2, vote: 2, commit: 5 } });
    await wal.save({ entries: entries(13, 22, 2, 100) }); // rotates to segment 3
    await wal.compact(0);
    assert.equal(wal.segmentCount, 3);
    await wal.save({ snapshot: { index: 12, term: 2, confState: conf }, hardState: { term: 2, vote: 2, commit: 12 } });
    assert.equal(await wal.compact(12), 1, 'segment 1 (entries <= 9) is covered by the snapshot at 12');
    await wal.close();
    const r = await Wal.open(dir, { segmentBytes });
    assert.deepEqual(r.recovered.snapshot, { index: 12, term: 2, confState: conf });
    assert.deepEqual(r.recovered.entries, entries(13, 22, 2, 100));
    assert.deepEqual(r.recovered.hardState, { term: 2, vote: 2, commit: 12 });
    await r.wal.close();
  });
});

describe('review: directory creation', () => {
  it('opens storage in nested directories that do not exist yet (parents fsynced)', async () => {
    const root = tempDir(after);
    const { wal } = await Wal.open(join(root, 'a', 'b', 'wal'));
    await wal.save({ entries: entries(1, 1, 1) });
    await wal.close();
    const store = await SnapshotStore.open(join(root, 'a', 'c', 'snap'));
    assert.equal(store.latest(), undefined);
    const sm = await StateMachine.open(join(root, 'd', 'sm'));
    await sm.close();
  });
});
