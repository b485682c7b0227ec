// Regression for the chaos incident of 06:30 (seed 7, 5 nodes, mixed): replicas at the SAME applied
// index 3894 with different state (revisions 2946 / 1758 / 2749), INVALID_ARGUMENT "seq N ... older
// than the de-duplication window; not applied" for writes that other replicas applied.
//
// Cause: the de-dup layout changed (one window blob per client → one record per (client, seq) plus an
// 8-byte floor under the same `!dedup!<client>` key) in the source tree while the run was going; the
// harness starts nodes from the live tree, so the nodes restarted after the edit (2 at ~241 s, 5 at
// ~313 s) read the old blobs as floors (u64 of "count=64, first seq" ≈ seq·2^32) and turned every
// later command into a no-op while their applied index kept advancing. Replaying the incident's log
// (identical on all five nodes) with the old code up to 2323 / 3625 and the new code afterwards gives
// exactly the state hashes of nodes 2 and 5.
//
// The state machine now carries an on-disk format marker and refuses a database or a snapshot in
// another format instead of applying the log differently from its peers.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClassicLevel } from 'classic-level';
import { SnapshotStore, StateMachine, StorageError, type ApplyEntry } from '../../storage/index.js';
import { Command, CommandResult, ResultCode } from '../../proto/gen/placement/v1/command.js';
import { writeU64 } from '../../storage/wal/record.js';
import { tempDir } from './helpers.js';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';

const u64 = (a: number, b?: number): Buffer => {
  const buf = Buffer.alloc(b === undefined ? 8 : 16);
  writeU64(buf, a, 0);
  if (b !== undefined) writeU64(buf, b, 8);
  return buf;
};

/** The format-1 per-client de-dup blob (encodeDedup of commit 5644e33): u32 count, then (u64 seq, u32 len, result). */
function format1Blob(seqs: number[]): Buffer {
  const res = Buffer.from(CommandResult.encode(CommandResult.fromPartial({ code: ResultCode.RESULT_OK, revision: 1, succeeded: true })).finish());
  const parts: Buffer[] = [Buffer.alloc(4)];
  parts[0]!.writeUInt32LE(seqs.length, 0);
  for (const s of seqs) {
    const h = Buffer.alloc(12);
    writeU64(h, s, 0);
    h.writeUInt32LE(res.length, 8);
    parts.push(h, res);
  }
  return Buffer.concat(parts);
}

/** Raw records of a state written by the format-1 code: applied 100/1, revision 64, one key, client c's window 1..64. */
function format1Records(): [Buffer, Buffer][] {
  return [
    [Buffer.from('!meta!applied'), u64(100, 1)],
    [Buffer.from('!meta!revision'), u64(64)],
    [Buffer.from('!kv!k'), Buffer.from('opaque')],
    [Buffer.from('!dedup!c'), format1Blob(Array.from({ length: 64 }, (_, i) => i + 1))],
  ];
}

async function writeDb(smDir: string, records: [Buffer, Buffer][]): Promise<void> {
  mkdirSync(smDir, { recursive: true });
  const db = new ClassicLevel<Buffer, Buffer>(join(smDir, 'db-000001'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  for (const [k, v] of records) await db.put(k, v);
  await db.close();
  writeFileSync(join(smDir, 'CURRENT_DB'), 'db-000001');
}

const putCmd = (seq: number): ApplyEntry['data'] =>
  Command.encode(Command.fromPartial({ clientId: 'c', seq, op: { $case: 'put', value: { key: 'k', value: Buffer.from(`v${seq}`), lease: 0 } } })).finish();

describe('StateMachine on-disk format', () => {
  it('refuses a format-1 database instead of turning every later command into a silent no-op', async () => {
    const dir = tempDir(after, 'smfmt');
    await writeDb(dir, format1Records());
    await assert.rejects(StateMachine.open(dir), (e: unknown) => e instanceof StorageError && e.code === 'SM_INVALID' && /format 1/.test(e.message));
  });

  it('refuses a marker of another format', async () => {
    for (const v of [2, 4]) {
      const dir = tempDir(after, 'smfmt');
      await writeDb(dir, [[Buffer.from('!meta!format'), u64(v)]]);
      await assert.rejects(StateMachine.open(dir), (e: unknown) => e instanceof StorageError && e.code === 'SM_INVALID' && new RegExp(`format ${v}; this build reads format 3`).test(e.message));
    }
  });

  // Format 2 databases were written before the marker existed; format 3 (the multi-version
  // keyspace) reads them differently (keys, records, revisions), so data without a marker is refused.
  it('stamps new databases; refuses a database without a marker that holds data', async () => {
    const dir = tempDir(after, 'smfmt');
    let sm = await StateMachine.open(dir);
    const rs = await sm.apply([1, 2, 3].map((seq) => ({ index: seq, term: 1, data: putCmd(seq) })));
    assert.ok(rs.every((r) => r.code === ResultCode.RESULT_OK));
    await sm.close();
    sm = await StateMachine.open(dir);
    assert.equal((await sm.get('k'))?.version, 3, 'a stamped database reopens');
    await sm.close();
    const db = new ClassicLevel<Buffer, Buffer>(join(dir, 'db-000001'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    await db.del(Buffer.from('!meta!format'));
    await db.close();
    await assert.rejects(StateMachine.open(dir), (e: unknown) => e instanceof StorageError && e.code === 'SM_INVALID' && /no format marker but holds data .*format 2 or older/.test(e.message));
  });

  it('refuses to install a format-1 snapshot and keeps its own state', async () => {
    const dir = tempDir(after, 'smfmt');
    const store = await SnapshotStore.open(join(dir, 'snap'));
    const sm = await StateMachine.open(join(dir, 'sm'));
    after(() => sm.close());
    await sm.apply([{ index: 1, term: 1, data: putCmd(1) }]);
    const content = Buffer.concat(
      format1Records().flatMap(([k, v]) => {
        const kl = Buffer.alloc(4);
        kl.writeUInt32LE(k.length, 0);
        const vl = Buffer.alloc(4);
        vl.writeUInt32LE(v.length, 0);
        return [kl, k, vl, v];
      }),
    );
    const meta = { index: 100, term: 1, confState: { voters: [1], learners: [] } };
    await store.create(meta, [content]);
    await assert.rejects(sm.installSnapshot(store.openReader(meta)), (e: unknown) => e instanceof StorageError && e.code === 'SNAPSHOT_CORRUPT' && /format 1/.test(e.message));
    assert.equal(sm.appliedIndex, 1);
    const [r] = await sm.apply([{ index: 2, term: 1, data: putCmd(2) }]);
    assert.equal(r!.code, ResultCode.RESULT_OK, r!.message);
    assert.equal((await sm.get('k'))?.version, 2);
  });

  it('a snapshot carries the marker: a current-format snapshot installs and reproduces the hash', async () => {
    const dir = tempDir(after, 'smfmt');
    const store = await SnapshotStore.open(join(dir, 'snap'));
    const a = await StateMachine.open(join(dir, 'a'));
    const b = await StateMachine.open(join(dir, 'b'));
    after(async () => {
      await a.close();
      await b.close();
    });
    await a.apply([1, 2, 3].map((seq) => ({ index: seq, term: 1, data: putCmd(seq) })));
    const info = await a.createSnapshot(store, { confState: { voters: [1], learners: [] } });
    await b.installSnapshot(store.openReader(info.meta));
    assert.equal(b.appliedIndex, 3);
    assert.equal(await b.hash(), await a.hash());
  });
});
