// The state machine's directory damaged or inconsistent (issue 16, items 3 and 6): open()
// refuses what it cannot trust and deletes nothing live; LevelDB damage is found by checksum,
// named by file, and quarantine() replaces the database without deleting the damaged one.

import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotStore, StateMachine, StateMachineCorruptionError, verifyLevelDb } from '../../storage/index.js';
import { Command } from '../../proto/gen/placement/v1/command.js';
import { encodeMessage } from '../../proto/codec.js';
import { tempDir } from './helpers.js';

function put(index: number, key: string, value: Buffer | string, clientId = '') {
  const cmd = Command.fromPartial({ clientId, seq: clientId ? index : 0, leaderTimeMs: 1000, op: { $case: 'put', value: { key, value: Buffer.from(value), lease: 0, prevKv: false } } });
  return { index, term: 1, data: encodeMessage(Command, cmd) };
}

/** A state machine with `n` keys of `size`-byte pseudo-random values, its tables written out. */
async function filled(dir: string, n = 3000, size = 300): Promise<StateMachine> {
  const sm = await StateMachine.open(dir);
  let x = 12345;
  const batch = [];
  for (let i = 1; i <= n; i++) {
    const v = Buffer.alloc(size);
    for (let k = 0; k < size; k++) v[k] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    batch.push(put(i, `/k/${String(i).padStart(6, '0')}`, v));
    if (batch.length === 500) await sm.apply(batch.splice(0));
  }
  if (batch.length) await sm.apply(batch);
  await sm.rawDb.compactRange(Buffer.from([0]), Buffer.from([0xff]));
  return sm;
}

function liveDb(dir: string): string {
  return join(dir, readFileSync(join(dir, 'CURRENT_DB'), 'utf8').trim());
}

describe('state machine: an inconsistent directory is refused, nothing live deleted', () => {
  it('CURRENT_DB naming a directory that does not exist: refused with what and how, the real database untouched', async () => {
    const dir = tempDir(after, 'sm-cur');
    const sm = await filled(dir, 200);
    const applied = sm.appliedIndex;
    await sm.close();
    writeFileSync(join(dir, 'CURRENT_DB'), 'db-000007');
    await assert.rejects(StateMachine.open(dir), (e: Error) => {
      assert.match(e.message, /CURRENT_DB names db-000007, which does not exist \(.* holds db-000001\)/);
      assert.match(e.message, /--rejoin/);
      return true;
    });
    assert.ok(existsSync(join(dir, 'db-000001')), 'the live database was not deleted');
    assert.ok(!existsSync(join(dir, 'db-000007')), 'and no empty one was created in its place');
    writeFileSync(join(dir, 'CURRENT_DB'), 'db-000001');
    const again = await StateMachine.open(dir);
    assert.equal(again.appliedIndex, applied);
    await again.close();
  });

  it('a complete database newer than the one CURRENT_DB names is refused, not deleted', async () => {
    const dir = tempDir(after, 'sm-newer');
    const snapDir = tempDir(after, 'sm-newer-snap');
    const sm = await filled(dir, 100);
    const store = await SnapshotStore.open(snapDir);
    const info = await sm.createSnapshot(store);
    await sm.installSnapshot(store.openReader(info.meta)); // live state now in db-000002
    await sm.close();
    writeFileSync(join(dir, 'CURRENT_DB'), 'db-000000'); // as if CURRENT_DB came from an older copy
    mkdirSync(join(dir, 'db-000000'));
    await assert.rejects(StateMachine.open(dir), /holds db-000002, a complete database installed over db-000001, newer than the db-000000/);
    assert.ok(existsSync(join(dir, 'db-000002')));
  });

  it('a crash after an install finished but before the pointer moved: the install is dropped, the live database kept', async () => {
    const dir = tempDir(after, 'sm-flip');
    const snapDir = tempDir(after, 'sm-flip-snap');
    const sm = await filled(dir, 100);
    const store = await SnapshotStore.open(snapDir);
    const info = await sm.createSnapshot(store);
    await sm.installSnapshot(store.openReader(info.meta)); // db-000002, installed over db-000001
    await sm.close();
    writeFileSync(join(dir, 'CURRENT_DB'), 'db-000001'); // the flip "did not happen"
    mkdirSync(join(dir, 'db-000001'));
    const { ClassicLevel } = await import('classic-level');
    const l = new ClassicLevel(join(dir, 'db-000001'));
    await l.open();
    await l.close();
    const again = await StateMachine.open(dir);
    await again.close();
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('db-')), ['db-000001']);
  });

  it('an unfinished install above the live database is removed; superseded ones below it too', async () => {
    const dir = tempDir(after, 'sm-left');
    const sm = await filled(dir, 50);
    await sm.close();
    renameSync(join(dir, 'db-000001'), join(dir, 'db-000003'));
    writeFileSync(join(dir, 'CURRENT_DB'), 'db-000003');
    mkdirSync(join(dir, 'db-000002')); // superseded
    mkdirSync(join(dir, 'db-000004')); // an install that never finished (no marker)
    const cleaned: string[] = [];
    const again = await StateMachine.open(dir, { onCleanup: (w) => cleaned.push(w) });
    assert.equal(again.appliedIndex, 50);
    await again.close();
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('db-')), ['db-000003']);
    assert.equal(cleaned.length, 2);
  });

  it('installSnapshot never removes an existing directory in its way', async () => {
    const dir = tempDir(after, 'sm-way');
    const snapDir = tempDir(after, 'sm-way-snap');
    const sm = await filled(dir, 50);
    const store = await SnapshotStore.open(snapDir);
    const info = await sm.createSnapshot(store);
    mkdirSync(join(dir, 'db-000002'));
    writeFileSync(join(dir, 'db-000002', 'precious'), 'x');
    await sm.installSnapshot(store.openReader(info.meta));
    assert.ok(existsSync(join(dir, 'db-000002', 'precious')));
    assert.equal(liveDb(dir), join(dir, 'db-000003'));
    await sm.close();
  });
});

describe('state machine: LevelDB damage is found, named, and quarantined', () => {
  it('verifyLevelDb: a clean database passes; one flipped byte in a table is named by file and offset', async () => {
    const dir = tempDir(after, 'sm-flip');
    const sm = await filled(dir);
    const db = sm.dbPath;
    await sm.close();
    assert.deepEqual(await verifyLevelDb(db), []);
    const table = readdirSync(db).filter((n) => n.endsWith('.ldb')).sort()[0]!;
    const b = readFileSync(join(db, table));
    b[Math.floor(b.length / 3)] ^= 0x10;
    writeFileSync(join(db, table), b);
    const problems = await verifyLevelDb(db);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.file, join(db, table));
    assert.match(problems[0]!.reason, /checksum mismatch/);
  });

  it('files the MANIFEST does not list are not damage: an empty compaction output a crash left, an old log', async () => {
    // A SIGKILL during a compaction leaves its output table at 0 bytes; LevelDB deletes such a file
    // when it opens the database. Refusing to start on it turned a crash into an outage.
    const dir = tempDir(after, 'sm-orphan');
    const sm = await filled(dir, 500);
    const db = sm.dbPath;
    const applied = sm.appliedIndex;
    await sm.close();
    const tables = readdirSync(db).filter((n) => n.endsWith('.ldb')).sort();
    const next = Number(tables[tables.length - 1]!.slice(0, 6)) + 50;
    writeFileSync(join(db, `${String(next).padStart(6, '0')}.ldb`), '');
    writeFileSync(join(db, `${String(next + 1).padStart(6, '0')}.ldb`), Buffer.alloc(4096, 0x5a));
    writeFileSync(join(db, '000001.log'), Buffer.alloc(100, 0xee)); // below the MANIFEST's log number
    assert.deepEqual(await verifyLevelDb(db), []);
    const again = await StateMachine.open(dir);
    assert.equal(again.appliedIndex, applied);
    assert.equal((await again.get('/k/000500'))?.value.length, 300);
    await again.close();
    assert.ok(!existsSync(join(db, `${String(next).padStart(6, '0')}.ldb`)), 'LevelDB removed the orphan');
  });

  it('a table the MANIFEST lists that is empty or missing is damage, named', async () => {
    const dir = tempDir(after, 'sm-live-empty');
    const sm = await filled(dir, 500);
    const db = sm.dbPath;
    await sm.close();
    const table = readdirSync(db).filter((n) => n.endsWith('.ldb')).sort()[0]!;
    const manifest = readFileSync(join(db, 'CURRENT'), 'latin1').trim();
    const bytes = readFileSync(join(db, table));
    writeFileSync(join(db, table), '');
    assert.deepEqual(
      (await verifyLevelDb(db)).map((p) => [p.file, p.reason]),
      [[join(db, table), 'file too short for a table (0 bytes)']],
    );
    renameSync(join(db, table), join(dir, 'moved-away.ldb'));
    assert.deepEqual(
      (await verifyLevelDb(db)).map((p) => [p.file, p.reason]),
      [[join(db, table), `listed in ${manifest} but missing`]],
    );
    writeFileSync(join(db, table), bytes);
    assert.deepEqual(await verifyLevelDb(db), []);
  });

  it('open(): a flipped byte in a table is refused with the file (LevelDB itself may read it back as other bytes)', async () => {
    const dir = tempDir(after, 'sm-flip-open');
    const sm = await filled(dir);
    const db = sm.dbPath;
    await sm.close();
    const table = readdirSync(db).filter((n) => n.endsWith('.ldb')).sort()[0]!;
    const b = readFileSync(join(db, table));
    b[200] ^= 0x01;
    writeFileSync(join(db, table), b);
    await assert.rejects(StateMachine.open(dir), (e: Error) => {
      assert.ok(e instanceof StateMachineCorruptionError);
      assert.equal(e.problems[0]!.file, join(db, table));
      return true;
    });
    // Without the check the damage is found only where LevelDB reads the block (here, building
    // the revision index from the history on open), and the file is not named.
    await assert.rejects(StateMachine.open(dir, { verify: false }), (e: Error) => {
      assert.ok(e instanceof StateMachineCorruptionError);
      assert.equal(e.problems[0]!.file, db);
      assert.match(e.message, /LevelDB: .*[Cc]orrupt/);
      return true;
    });
  });

  it('open(): garbage in CURRENT or MANIFEST says which file and what LevelDB found, not just "failed to open"', async () => {
    const dir = tempDir(after, 'sm-cur-garbage');
    const sm = await filled(dir, 100);
    const db = sm.dbPath;
    await sm.close();
    writeFileSync(join(db, 'CURRENT'), 'garbage');
    await assert.rejects(StateMachine.open(dir), /CURRENT: does not name a MANIFEST file \("garbage"\)/);
    await assert.rejects(StateMachine.open(dir, { verify: false }), /LevelDB cannot open it: Corruption: CURRENT file does not end with newline/);
    const manifest = readdirSync(db).find((n) => n.startsWith('MANIFEST-'))!;
    writeFileSync(join(db, 'CURRENT'), `${manifest}\n`);
    const m = readFileSync(join(db, manifest));
    m[10] ^= 0xff;
    writeFileSync(join(db, manifest), m);
    await assert.rejects(StateMachine.open(dir), new RegExp(`${manifest} at offset 0: log record checksum mismatch`));
  });

  it('quarantine(): a fresh empty database becomes live; the damaged one is kept aside, even across a crash mid-way', async () => {
    const dir = tempDir(after, 'sm-quar');
    const sm = await filled(dir, 100);
    await sm.close();
    const r = await StateMachine.quarantine(dir, 'test: table checksum mismatch');
    assert.equal(r.fresh, 'db-000002');
    assert.ok(existsSync(join(dir, 'quarantine-db-000001', 'PLACEMENT_QUARANTINED')));
    const fresh = await StateMachine.open(dir);
    assert.equal(fresh.appliedIndex, 0);
    await fresh.close();
    // A crash after the pointer moved but before the rename: open() moves it aside, never deletes it.
    const dir2 = tempDir(after, 'sm-quar2');
    const sm2 = await filled(dir2, 100);
    await sm2.close();
    writeFileSync(join(dir2, 'db-000001', 'PLACEMENT_QUARANTINED'), 'x');
    const { ClassicLevel } = await import('classic-level');
    const ldb = new ClassicLevel(join(dir2, 'db-000002'));
    await ldb.open();
    await ldb.close();
    writeFileSync(join(dir2, 'CURRENT_DB'), 'db-000002');
    const cleaned: string[] = [];
    const after2 = await StateMachine.open(dir2, { onCleanup: (w) => cleaned.push(w) });
    await after2.close();
    assert.ok(existsSync(join(dir2, 'quarantine-db-000001')), `kept: ${cleaned.join('; ')}`);
  });
});
