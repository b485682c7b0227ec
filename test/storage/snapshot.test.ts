import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotCorruptionError, SnapshotStore, snapshotFileName } from '../../storage/index.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';

const conf = { voters: [1, 2, 3], learners: [4] };
const meta = (index: number, term = 2) => ({ index, term, confState: conf });

function* chunks(rand: () => number, total: number): Generator<Uint8Array> {
  let left = total;
  while (left > 0) {
    const n = Math.min(left, 1 + Math.floor(rand() * 100_000));
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256);
    left -= n;
    yield b;
  }
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

describe('SnapshotStore', () => {
  it('creates, lists, reads back content and keeps only the newest N', async () => {
    const seed = seedFromEnv('snapshot round trip');
    const dir = tempDir(after);
    const store = await SnapshotStore.open(dir, { retain: 2 });
    assert.equal(store.latest(), undefined);
    const contents: Buffer[] = [];
    for (const idx of [10, 20, 30]) {
      const content = Buffer.concat([...chunks(rng(seed + idx), 300_000)]);
      contents.push(content);
      const info = await store.create(meta(idx), chunks(rng(seed + idx), 300_000));
      assert.equal(info.path, join(dir, snapshotFileName(meta(idx))));
    }
    assert.deepEqual(store.list().map((s) => s.meta.index), [20, 30]);
    assert.deepEqual(readdirSync(dir).sort(), [snapshotFileName(meta(20)), snapshotFileName(meta(30))]);
    assert.deepEqual(store.latest()!.meta, meta(30));
    const got = await collect(store.openReader(meta(30), { chunkSize: 4096 }).content());
    assert.ok(got.equals(contents[2]));
    await store.verify(meta(20));
    // Reopen indexes existing files.
    const again = await SnapshotStore.open(dir, { retain: 2 });
    assert.deepEqual(again.latest()!.meta, meta(30));
    // Empty content is fine.
    await store.create(meta(40), []);
    assert.equal((await collect(store.openReader(meta(40)).content())).length, 0);
  });

  it('streams to a peer in chunks; the receiver verifies before committing', async () => {
    const seed = seedFromEnv('snapshot transfer');
    const src = await SnapshotStore.open(tempDir(after));
    const dstDir = tempDir(after);
    const dst = await SnapshotStore.open(dstDir);
    await src.create(meta(100, 7), chunks(rng(seed), 500_000));
    const reader = src.openReader({ index: 100, term: 7 }, { chunkSize: 65536 });
    const rx = await dst.beginReceive(meta(100, 7));
    for await (const c of reader.chunks()) await rx.write(c);
    assert.equal(rx.bytesReceived, reader.size);
    const info = await rx.commit();
    assert.deepEqual(info.meta, meta(100, 7));
    assert.ok(readFileSync(info.path).equals(readFileSync(src.latest()!.path)));

    // A flipped byte in transit: commit refuses, nothing is left behind.
    const file = readFileSync(src.latest()!.path);
    const bad = Buffer.from(file);
    bad[Math.floor(bad.length / 2)] ^= 0x40;
    const rx2 = await dst.beginReceive(meta(200, 8));
    await rx2.write(bad);
    await assert.rejects(rx2.commit(), SnapshotCorruptionError);
    // Header/meta mismatch is refused too.
    const rx3 = await dst.beginReceive(meta(101, 7));
    await rx3.write(file);
    await assert.rejects(rx3.commit(), /does not match/);
    // Truncated transfer.
    const rx4 = await dst.beginReceive(meta(100, 7));
    await rx4.write(file.subarray(0, file.length - 10));
    await assert.rejects(rx4.commit(), SnapshotCorruptionError);
    // Abort leaves nothing.
    const rx5 = await dst.beginReceive(meta(300, 9));
    await rx5.write(file.subarray(0, 100));
    await rx5.abort();
    assert.deepEqual(readdirSync(dstDir), [snapshotFileName(meta(100, 7))]);
    assert.deepEqual(dst.list().map((s) => s.meta.index), [100]);
  });

  it('detects corruption of a stored file while streaming content, and removes temp files on open', async () => {
    const dir = tempDir(after);
    const store = await SnapshotStore.open(dir);
    const info = await store.create(meta(5), [Buffer.alloc(100_000, 1)]);
    const buf = readFileSync(info.path);
    buf[50_000] ^= 1;
    writeFileSync(info.path, buf);
    await assert.rejects(collect(store.openReader(meta(5)).content()), /checksum mismatch/);
    await assert.rejects(store.verify(meta(5)), SnapshotCorruptionError);
    writeFileSync(join(dir, '.partial-abc'), 'junk');
    await SnapshotStore.open(dir);
    assert.ok(!readdirSync(dir).includes('.partial-abc'));
  });

  it('a failing content source leaves no file behind', async () => {
    const dir = tempDir(after);
    const store = await SnapshotStore.open(dir);
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.alloc(10);
      throw new Error('source broke');
    }
    await assert.rejects(store.create(meta(1), failing()), /source broke/);
    assert.deepEqual(readdirSync(dir), []);
    assert.equal(store.latest(), undefined);
  });
});
