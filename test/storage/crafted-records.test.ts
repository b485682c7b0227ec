// Records whose length or count fields are implausible (a crafted file carries a valid CRC over
// nonsense) are refused as corruption, with a message that says what is wrong, before anything
// is allocated from the bogus field: etcd's audit found such records crashing the WAL decoder
// (CVE-2020-15106, CVE-2020-15112).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, closeSync, openSync, readdirSync, statSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { SnapshotStore, StateMachine, StorageError, Wal, WalCorruptionError, SnapshotCorruptionError } from '../../storage/index.js';
import { decodeBody, FRAME_HEADER, MAX_RECORD_BODY, RecordType } from '../../storage/wal/record.js';
import { MAX_SNAPSHOT_HEADER } from '../../storage/snapshot/store.js';
import { entries, tempDir } from './helpers.js';

/** One framed record with a correct CRC around `body` (type byte + payload). */
function frame(body: Buffer): Buffer {
  const h = Buffer.alloc(FRAME_HEADER);
  h.writeUInt32LE(body.length, 0);
  h.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([h, body]);
}

function entriesBody(count: number, fill: (b: Buffer) => void = () => {}, payloadBytes = 0): Buffer {
  const b = Buffer.alloc(1 + 4 + payloadBytes);
  b[0] = RecordType.Entries;
  b.writeUInt32LE(count, 1);
  fill(b);
  return b;
}

/** An Entries body holding one entry header (index, term, type, len) and `data`. */
function oneEntry(index: [number, number], term: [number, number], type: number, len: number, data = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(1 + 4 + 21 + data.length);
  b[0] = RecordType.Entries;
  b.writeUInt32LE(1, 1);
  b.writeUInt32LE(index[0], 5);
  b.writeUInt32LE(index[1], 9);
  b.writeUInt32LE(term[0], 13);
  b.writeUInt32LE(term[1], 17);
  b[21] = type;
  b.writeUInt32LE(len, 22);
  data.copy(b, 26);
  return b;
}

async function walWith(dir: string, crafted: Buffer): Promise<string> {
  const { wal } = await Wal.open(dir);
  await wal.save({ entries: entries(1, 5, 1), hardState: { term: 1, vote: 1, commit: 3 } });
  await wal.close();
  const seg = readdirSync(dir).find((n) => n.endsWith('.wal'))!;
  appendFileSync(join(dir, seg), crafted);
  return join(dir, seg);
}

describe('WAL records with implausible fields', () => {
  const cases: Array<{ name: string; body: Buffer; error: RegExp }> = [
    { name: 'an entry count of 2^32-1 in a 5-byte record', body: entriesBody(0xffffffff), error: /implausible entry count 4294967295/ },
    { name: 'an entry count a little too large for the record', body: entriesBody(3, () => {}, 2 * 21), error: /implausible entry count 3/ },
    { name: 'an entry data length of 2^32-1', body: oneEntry([6, 0], [1, 0], 0, 0xffffffff), error: /implausible entry data length 4294967295/ },
    { name: 'an entry index beyond 2^53', body: oneEntry([6, 0xffffffff], [1, 0], 0, 0), error: /entry index .* beyond 2\^53/ },
    { name: 'an entry term beyond 2^53', body: oneEntry([6, 0], [0, 0x00200000], 0, 0), error: /entry term .* beyond 2\^53/ },
    { name: 'an unknown entry type', body: oneEntry([6, 0], [1, 0], 9, 0), error: /unknown entry type 9/ },
    { name: 'a snapshot record shorter than its header', body: Buffer.from([RecordType.Snapshot, 1, 2, 3]), error: /snapshot record header needs 21 bytes, the record has 4/ },
    { name: 'a hard state term beyond 2^53', body: Buffer.concat([Buffer.from([RecordType.HardState]), Buffer.from([0, 0, 0, 0, 0, 0, 0x40, 0]), Buffer.alloc(16)]), error: /hard state term .* beyond 2\^53/ },
  ];

  for (const c of cases) {
    it(`refuses ${c.name} as corruption, naming the field`, async () => {
      assert.throws(() => decodeBody(c.body), c.error);
      const dir = tempDir(after, 'crafted-wal');
      const file = await walWith(dir, frame(c.body));
      await assert.rejects(Wal.open(dir), (err: unknown) => {
        assert.ok(err instanceof WalCorruptionError, `a WalCorruptionError, got ${String(err)}`);
        assert.equal(err.file, file);
        assert.match(err.message, c.error);
        assert.match(err.message, /refusing to start/);
        return true;
      });
    });
  }

  it('refuses a segment file larger than any real segment without reading it into memory', async () => {
    const dir = tempDir(after, 'crafted-wal');
    const file = await walWith(dir, Buffer.alloc(0));
    // Sparse: no disk space and, with the check, no memory is used.
    const size = 64 * 1024 * 1024 + FRAME_HEADER + MAX_RECORD_BODY + 1;
    const fd = openSync(file, 'r+');
    ftruncateSync(fd, size);
    writeSync(fd, Buffer.from('x'), 0, 1, size - 1);
    closeSync(fd);
    assert.equal(statSync(file).size, size);
    const rssBefore = process.memoryUsage().rss;
    await assert.rejects(Wal.open(dir), (err: unknown) => {
      assert.ok(err instanceof WalCorruptionError);
      assert.match(err.message, /implausible segment size/);
      return true;
    });
    assert.ok(process.memoryUsage().rss - rssBefore < 256 * 1024 * 1024, 'the segment was not read into memory');
  });
});

describe('snapshot files with implausible fields', () => {
  async function storeWith(mutate: (path: string) => void): Promise<{ dir: string; path: string }> {
    const dir = tempDir(after, 'crafted-snap');
    const store = await SnapshotStore.open(dir);
    const meta = { index: 10, term: 2, confState: { voters: [1, 2, 3], learners: [] } };
    const info = await store.create(meta, (async function* () {
      yield Buffer.from('state');
    })());
    mutate(info.path);
    return { dir, path: info.path };
  }

  it('refuses a header length beyond the limit before allocating it, even when the file is that large', async () => {
    const { dir, path } = await storeWith((p) => {
      const fd = openSync(p, 'r+');
      const huge = Buffer.alloc(4);
      huge.writeUInt32LE(64 * 1024 * 1024, 0);
      writeSync(fd, huge, 0, 4, 8);
      // Make the file large enough that the bogus header "fits" (sparse).
      ftruncateSync(fd, 80 * 1024 * 1024);
      closeSync(fd);
    });
    assert.ok(64 * 1024 * 1024 > MAX_SNAPSHOT_HEADER);
    const store = await SnapshotStore.open(dir);
    assert.equal(store.latest(), undefined, 'the damaged snapshot is not listed');
    const { verifySnapshotFile } = await import('../../storage/snapshot/store.js');
    await assert.rejects(verifySnapshotFile(path), (err: unknown) => {
      assert.ok(err instanceof SnapshotCorruptionError);
      assert.match(err.message, /implausible header length 67108864/);
      return true;
    });
  });

  it('refuses a header whose member ids are not safe positive integers', async () => {
    const { path } = await storeWith(() => {});
    const { verifySnapshotFile } = await import('../../storage/snapshot/store.js');
    // Same length JSON, a different id: 0 is a number JSON accepts but no member id.
    const fd = openSync(path, 'r+');
    const len = Buffer.alloc(4);
    const { readSync } = await import('node:fs');
    readSync(fd, len, 0, 4, 8);
    const json = Buffer.alloc(len.readUInt32LE(0));
    readSync(fd, json, 0, json.length, 12);
    const bad = Buffer.from(json.toString('utf8').replace('"voters":[1,2,3]', '"voters":[1,2,0]'));
    assert.equal(bad.length, json.length);
    writeSync(fd, bad, 0, bad.length, 12);
    closeSync(fd);
    await assert.rejects(verifySnapshotFile(path), /invalid header fields: conf state voters is not a list of member ids/);
  });

  it('refuses state-machine content whose key or value length is implausible, before buffering the rest', async () => {
    const dir = tempDir(after, 'crafted-snap');
    const store = await SnapshotStore.open(dir);
    const meta = { index: 10, term: 2, confState: { voters: [1], learners: [] } };
    for (const [what, record] of [
      ['key', (() => {
        const b = Buffer.alloc(8);
        b.writeUInt32LE(0xfffffff0, 0);
        return b;
      })()],
      ['value', (() => {
        const b = Buffer.alloc(9);
        b.writeUInt32LE(1, 0);
        b[4] = 0x6b;
        b.writeUInt32LE(0xfffffff0, 5);
        return b;
      })()],
    ] as const) {
      // Checksummed like any snapshot: only the length field inside is wrong.
      const m = { ...meta, index: meta.index + (what === 'key' ? 0 : 1) };
      await store.create(m, (function* () {
        yield record;
        yield Buffer.alloc(4 * 1024 * 1024, 1);
      })());
      const sm = await StateMachine.open(join(dir, `sm-${what}`));
      try {
        await assert.rejects(sm.installSnapshot(store.openReader(m)), (err: unknown) => {
          assert.ok(err instanceof StorageError && err.code === 'SNAPSHOT_CORRUPT', String(err));
          assert.match((err as Error).message, new RegExp(`implausible ${what} length 4294967280`));
          return true;
        });
        assert.equal(sm.appliedIndex, 0, 'nothing installed');
      } finally {
        await sm.close();
      }
    }
  });

  it('refuses a file too short to hold a header', async () => {
    const { path } = await storeWith((p) => {
      const fd = openSync(p, 'r+');
      ftruncateSync(fd, 10);
      closeSync(fd);
    });
    const { verifySnapshotFile } = await import('../../storage/snapshot/store.js');
    await assert.rejects(verifySnapshotFile(path), /file too short \(10 bytes\)/);
  });
});
