import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Wal, WalCorruptionError, segmentName } from '../../storage/index.js';
import { decodeBody, encodeEntries, encodeHardState, readFrame, FRAME_HEADER } from '../../storage/wal/record.js';
import { entries, entry, payload, rng, seedFromEnv, tempDir } from './helpers.js';

const conf = { voters: [1, 2, 3], learners: [] };
const segs = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.wal')).sort();

/** Offsets where the records of a segment start, and where the scan stopped. */
function frames(buf: Buffer): { starts: number[]; end: number } {
  const starts: number[] = [];
  let off = 0;
  for (;;) {
    const r = readFrame(buf, off);
    if (r.kind !== 'ok') return { starts, end: off };
    starts.push(off);
    off = r.next;
  }
}

describe('WAL framing', () => {
  it('round-trips entries and hard state records and rejects a flipped bit', () => {
    const es = [entry(5, 2), { index: 6, term: 2, type: 1, data: new Uint8Array(0) }, entry(7, 3, 1000)];
    const buf = encodeEntries(es);
    const r = readFrame(buf, 0);
    assert.equal(r.kind, 'ok');
    if (r.kind !== 'ok') return;
    assert.equal(r.next, buf.length);
    const rec = decodeBody(r.body);
    assert.deepEqual(rec, { type: 2, entries: es.map((e) => ({ ...e, data: new Uint8Array(e.data) })), maxIndex: 7 });
    const hs = decodeBody((readFrame(encodeHardState({ term: 2 ** 40, vote: 3, commit: 77 }), 0) as { body: Buffer }).body);
    assert.deepEqual(hs, { type: 3, hardState: { term: 2 ** 40, vote: 3, commit: 77 } });
    for (let bit = 0; bit < buf.length * 8; bit += 7) {
      const bad = Buffer.from(buf);
      bad[bit >> 3] ^= 1 << (bit & 7);
      assert.equal(readFrame(bad, 0).kind, 'bad', `bit ${bit}`);
    }
    assert.equal(readFrame(buf.subarray(0, buf.length - 1), 0).kind, 'bad');
    assert.equal(readFrame(buf.subarray(0, FRAME_HEADER - 1), 0).kind, 'bad');
  });
});

describe('WAL replay', () => {
  it('recovers entries, hard state and snapshot across reopen', async () => {
    const dir = tempDir(after);
    const { wal, recovered } = await Wal.open(dir);
    assert.deepEqual(recovered, { hardState: { term: 0, vote: 0, commit: 0 }, entries: [] });
    await wal.save({ entries: entries(1, 10, 1), hardState: { term: 1, vote: 1, commit: 5 } });
    await wal.save({ entries: entries(11, 12, 2), hardState: { term: 2, vote: 0, commit: 10 } });
    await wal.close();
    const r = await Wal.open(dir);
    assert.deepEqual(r.recovered.hardState, { term: 2, vote: 0, commit: 10 });
    assert.deepEqual(r.recovered.entries, [...entries(1, 10, 1), ...entries(11, 12, 2)]);
    assert.equal(r.wal.lastIndex, 12);
    assert.equal(r.wal.term(11), 2);
    await r.wal.close();
  });

  it('a conflicting append supersedes the suffix without rewriting it', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 10, 1) });
    const sizeBefore = statSync(join(dir, segmentName(1))).size;
    await wal.save({ entries: entries(6, 7, 3) });
    assert.equal(wal.lastIndex, 7);
    assert.ok(statSync(join(dir, segmentName(1))).size > sizeBefore, 'appended, not rewritten');
    await wal.save({ entries: entries(8, 8, 3) });
    await wal.close();
    const r = await Wal.open(dir);
    assert.deepEqual(r.recovered.entries, [...entries(1, 5, 1), ...entries(6, 8, 3)]);
    await r.wal.close();
  });

  it('rejects gaps and overwrites below the snapshot', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 3, 1) });
    await assert.rejects(wal.save({ entries: entries(5, 6, 1) }), /gap/);
    await assert.rejects(wal.save({ entries: [entry(5, 1), entry(7, 1)] }), /contiguous/);
    await wal.save({ snapshot: { index: 2, term: 1, confState: conf } });
    await assert.rejects(wal.save({ entries: entries(2, 3, 2) }), /snapshot/);
    assert.equal(wal.lastIndex, 3);
    await wal.close();
  });

  it('a local snapshot marker keeps the suffix; a received one with an unknown term resets the log', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir);
    await wal.save({ entries: entries(1, 10, 1) });
    await wal.save({ snapshot: { index: 6, term: 1, confState: conf } });
    assert.equal(wal.firstIndex, 7);
    assert.equal(wal.lastIndex, 10);
    await wal.close();
    let r = await Wal.open(dir);
    assert.deepEqual(r.recovered.snapshot, { index: 6, term: 1, confState: conf });
    assert.deepEqual(r.recovered.entries, entries(7, 10, 1));
    // Received snapshot at 8 with a term the log does not have there: discard everything.
    await r.wal.save({ snapshot: { index: 8, term: 4, confState: conf }, entries: entries(9, 9, 4), hardState: { term: 4, vote: 0, commit: 8 } });
    await r.wal.close();
    r = await Wal.open(dir);
    assert.deepEqual(r.recovered.snapshot, { index: 8, term: 4, confState: conf });
    assert.deepEqual(r.recovered.entries, entries(9, 9, 4));
    // Snapshot beyond the log end.
    await r.wal.save({ snapshot: { index: 100, term: 5, confState: conf } });
    await r.wal.close();
    r = await Wal.open(dir);
    assert.deepEqual(r.recovered.entries, []);
    assert.equal(r.wal.lastIndex, 100);
    assert.equal(r.wal.term(100), 5);
    await r.wal.close();
  });

  it('group-commits concurrent saves into few syncs, in call order', async () => {
    const dir = tempDir(after);
    const syncs: number[] = [];
    const { wal } = await Wal.open(dir, { observer: { onSync: (_s, _b, n) => syncs.push(n) } });
    const ps: Promise<void>[] = [];
    for (let i = 1; i <= 500; i++) ps.push(wal.save({ entries: [entry(i, 1)], hardState: { term: 1, vote: 1, commit: i - 1 } }));
    await Promise.all(ps);
    assert.equal(syncs.reduce((a, b) => a + b, 0), 500);
    assert.ok(syncs.length < 50, `expected batching, got ${syncs.length} syncs`);
    assert.equal(wal.stats().entriesWritten, 500);
    await wal.close();
    const r = await Wal.open(dir);
    assert.equal(r.recovered.entries.length, 500);
    assert.deepEqual(r.recovered.hardState, { term: 1, vote: 1, commit: 499 });
    await r.wal.close();
  });

  it('rotates segments and compacts whole segments covered by a snapshot', async () => {
    const dir = tempDir(after);
    const rotations: number[] = [];
    const { wal } = await Wal.open(dir, { segmentBytes: 2048, observer: { onRotate: (s) => rotations.push(s) } });
    for (let i = 1; i <= 200; i += 10) await wal.save({ entries: entries(i, i + 9, 1, 50), hardState: { term: 1, vote: 2, commit: i } });
    assert.ok(wal.segmentCount > 4, `segments: ${wal.segmentCount}`);
    assert.equal(rotations.length, wal.segmentCount - 1);
    await wal.save({ snapshot: { index: 150, term: 1, confState: conf } });
    await wal.compact(0); // waits for any rotation still in progress
    const before = wal.segmentCount;
    const dropped = await wal.compact(150);
    assert.ok(dropped > 0 && wal.segmentCount === before - dropped, `dropped ${dropped} of ${before}`);
    assert.equal(await wal.compact(150), 0, 'idempotent');
    for (let i = 201; i <= 300; i += 10) await wal.save({ entries: entries(i, i + 9, 1, 50) });
    assert.equal(segs(dir).length, wal.segmentCount);
    await wal.close();
    const r = await Wal.open(dir, { segmentBytes: 2048 });
    assert.deepEqual(r.recovered.snapshot?.index, 150);
    assert.deepEqual(r.recovered.entries, entries(151, 300, 1, 50));
    assert.deepEqual(r.recovered.hardState, { term: 1, vote: 2, commit: 191 });
    await r.wal.close();
  });

  it('finishes an interrupted compaction (head advanced, files left behind)', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir, { segmentBytes: 1024 });
    for (let i = 1; i <= 100; i += 10) await wal.save({ entries: entries(i, i + 9, 1, 50) });
    await wal.save({ snapshot: { index: 60, term: 1, confState: conf } });
    for (let i = 101; i <= 160; i += 10) await wal.save({ entries: entries(i, i + 9, 1, 50) });
    await wal.compact(0); // waits for any rotation still in progress
    const files = segs(dir);
    const saved = new Map(files.map((f) => [f, readFileSync(join(dir, f))]));
    const dropped = await wal.compact(60);
    assert.ok(dropped > 0);
    await wal.close();
    const kept = segs(dir);
    // Simulate a crash after the head file moved on but before the old segments were unlinked.
    for (const f of files.slice(0, dropped)) writeFileSync(join(dir, f), saved.get(f)!);
    const r = await Wal.open(dir);
    assert.deepEqual(segs(dir), kept);
    assert.deepEqual(r.recovered.snapshot?.index, 60);
    assert.deepEqual(r.recovered.entries.at(-1), entry(160, 1, 50));
    assert.ok(r.recovered.entries[0].index <= 61 + 30);
    await r.wal.close();
  });

  it('refuses a log whose oldest entries are gone without a covering snapshot', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir, { segmentBytes: 1024 });
    for (let i = 1; i <= 100; i += 10) await wal.save({ entries: entries(i, i + 9, 1, 50) });
    await wal.close();
    const files = segs(dir);
    rmSync(join(dir, files[0]));
    writeFileSync(join(dir, 'wal.head'), JSON.stringify({ first: 2, last: files.length }));
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && /no snapshot covers/.test(e.message) && e.file === join(dir, files[1]));
  });
});

describe('WAL damage', () => {
  async function build(dir: string, segmentBytes = 1 << 20): Promise<void> {
    const { wal } = await Wal.open(dir, { segmentBytes });
    for (let i = 1; i <= 100; i += 5) await wal.save({ entries: entries(i, i + 4, 1, 40), hardState: { term: 1, vote: 1, commit: i } });
    await wal.close();
  }

  it('truncates a torn tail at every byte of the last record', async () => {
    const dir = tempDir(after);
    await build(dir);
    const file = join(dir, segmentName(1));
    const full = readFileSync(file);
    // The start of the last record.
    const last = frames(full).starts.at(-1)!;
    for (let cut = last + 1; cut < full.length; cut += 13) {
      writeFileSync(file, full.subarray(0, cut));
      const r = await Wal.open(dir);
      assert.equal(r.recovered.truncatedTail?.offset, last, `cut ${cut}`);
      // The last save (entries 96..100 + hard state) may be partially lost: only whole records survive.
      assert.equal(r.wal.lastIndex, 100); // entries record precedes the hard state record of that save
      assert.equal(statSync(file).size, last);
      // Appending after recovery works and is replayable.
      await r.wal.save({ entries: [entry(101, 2)] });
      await r.wal.close();
      const r2 = await Wal.open(dir);
      assert.equal(r2.recovered.truncatedTail, undefined);
      assert.equal(r2.wal.lastIndex, 101);
      await r2.wal.close();
    }
  });

  it('flipped bits in the tail record are truncated; in the middle they are refused with file and offset', async () => {
    const seed = seedFromEnv('wal bitflip');
    const rand = rng(seed);
    const dir = tempDir(after);
    await build(dir);
    const file = join(dir, segmentName(1));
    const full = readFileSync(file);
    const offsets = frames(full).starts;
    const last = offsets[offsets.length - 1];
    for (let i = 0; i < 20; i++) {
      const bad = Buffer.from(full);
      const pos = last + Math.floor(rand() * (full.length - last));
      bad[pos] ^= 1 << Math.floor(rand() * 8);
      writeFileSync(file, bad);
      const r = await Wal.open(dir);
      assert.equal(r.recovered.truncatedTail?.offset, last, `flip at ${pos}`);
      await r.wal.close();
    }
    for (let i = 0; i < 20; i++) {
      const bad = Buffer.from(full);
      const k = 1 + Math.floor(rand() * (offsets.length - 2)); // not the header, not the last record
      const pos = offsets[k] + Math.floor(rand() * (offsets[k + 1] - offsets[k]));
      bad[pos] ^= 1 << Math.floor(rand() * 8);
      writeFileSync(file, bad);
      await assert.rejects(Wal.open(dir), (e: unknown) => {
        assert.ok(e instanceof WalCorruptionError, String(e));
        assert.equal(e.file, file);
        assert.equal(e.offset, offsets[k]);
        assert.match(e.message, /refusing to start/);
        return true;
      });
    }
    writeFileSync(file, full);
    const ok = await Wal.open(dir);
    assert.equal(ok.wal.lastIndex, 100);
    await ok.wal.close();
  });

  it('damage in a sealed segment, a missing middle segment or a missing newest segment is refused', async () => {
    const dir = tempDir(after);
    await build(dir, 1024);
    const files = segs(dir);
    assert.ok(files.length >= 4);
    // Truncated sealed segment.
    const sealed = join(dir, files[1]);
    const orig = readFileSync(sealed);
    truncateSync(sealed, orig.length - 3);
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && e.file === sealed && /sealed/.test(e.message));
    writeFileSync(sealed, orig);
    // Missing middle segment.
    rmSync(join(dir, files[2]));
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && e.file === join(dir, files[2]) && /missing/.test(e.message));
    // Restore by rebuilding from scratch, then delete the newest segment.
    rmSync(dir, { recursive: true, force: true });
    await build(dir, 1024);
    const files2 = segs(dir);
    rmSync(join(dir, files2[files2.length - 1]));
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && /segment missing/.test(e.message));
    // Missing oldest segment.
    rmSync(dir, { recursive: true, force: true });
    await build(dir, 1024);
    rmSync(join(dir, segs(dir)[0]));
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && /oldest segment is missing/.test(e.message));
  });

  it('an emptied newest segment is refused; leftover temp files are ignored', async () => {
    const dir = tempDir(after);
    await build(dir, 1024);
    const files = segs(dir);
    writeFileSync(join(dir, '.0000000000000099.wal.tmp'), 'partial segment creation');
    const ok = await Wal.open(dir, { segmentBytes: 1024 });
    assert.equal(ok.wal.lastIndex, 100);
    await ok.wal.close();
    assert.ok(!readdirSync(dir).some((n) => n.endsWith('.tmp')));
    truncateSync(join(dir, files[files.length - 1]), 0);
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && /no valid header/.test(e.message));
  });

  it('payload helper is deterministic', () => {
    assert.deepEqual(payload(3, 4), payload(3, 4));
    assert.notDeepEqual(payload(3, 4), payload(4, 3));
  });
});

describe('WAL preallocation (the active segment zero-filled ahead of its data)', () => {
  it('keeps zeros ahead of the data; a reopen reads them as the clean end and appends over them', async () => {
    const dir = tempDir(after);
    const file = join(dir, segmentName(1));
    const { wal } = await Wal.open(dir, { segmentBytes: 1 << 20, preallocateBytes: 8192 });
    for (let i = 1; i <= 40; i += 4) await wal.save({ entries: entries(i, i + 3, 1, 100), hardState: { term: 1, vote: 1, commit: i } });
    const { end } = frames(readFileSync(file));
    const size = statSync(file).size;
    assert.ok(size >= end + 4096, `zeros ahead of the data (data ends at ${end}, file is ${size} bytes)`);
    assert.ok(readFileSync(file).subarray(end).every((b) => b === 0), 'all of it zeros');
    await wal.close();

    const r = await Wal.open(dir, { segmentBytes: 1 << 20, preallocateBytes: 8192 });
    assert.equal(r.recovered.truncatedTail, undefined, 'zeros are not a torn tail');
    assert.deepEqual(r.recovered.entries, entries(1, 40, 1, 100));
    assert.equal(statSync(file).size, size, 'recovery keeps the preallocated zeros');
    await r.wal.save({ entries: entries(41, 44, 2, 100), hardState: { term: 2, vote: 1, commit: 40 } });
    await r.wal.close();
    // Opened without preallocation, the log still reads the same and writes after the data.
    const r2 = await Wal.open(dir, { segmentBytes: 1 << 20 });
    assert.equal(r2.recovered.truncatedTail, undefined);
    assert.deepEqual(r2.recovered.entries, [...entries(1, 40, 1, 100), ...entries(41, 44, 2, 100)]);
    assert.deepEqual(r2.recovered.hardState, { term: 2, vote: 1, commit: 40 });
    await r2.wal.save({ entries: [entry(45, 2)] });
    await r2.wal.close();
    const r3 = await Wal.open(dir);
    assert.equal(r3.wal.lastIndex, 45);
    await r3.wal.close();
  });

  it('a record torn inside the zeros is cut off at the last whole record; the acknowledged ones stay', async () => {
    const dir = tempDir(after);
    const file = join(dir, segmentName(1));
    const { wal } = await Wal.open(dir, { segmentBytes: 1 << 20, preallocateBytes: 8192 });
    for (let i = 1; i <= 20; i += 4) await wal.save({ entries: entries(i, i + 3, 1, 60) });
    await wal.close();
    const full = readFileSync(file);
    const { end } = frames(full);
    const record = encodeEntries(entries(21, 24, 1, 60));
    for (const keep of [1, FRAME_HEADER, Math.floor(record.length / 2), record.length - 1]) {
      const torn = Buffer.from(full);
      record.copy(torn, end, 0, keep); // the rest of the record never reached the disk: zeros
      writeFileSync(file, torn);
      const r = await Wal.open(dir);
      assert.equal(r.recovered.truncatedTail?.offset, end, `${keep} bytes of the record written`);
      assert.deepEqual(r.recovered.entries, entries(1, 20, 1, 60));
      assert.equal(statSync(file).size, end, 'cut at the last whole record');
      await r.wal.close();
      writeFileSync(file, full);
    }
  });

  it('a group commit torn by a power loss (a page never written, later ones were) is cut at the record holding that page; elsewhere, or as a bit flip, it is refused', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir, { segmentBytes: 1 << 20, preallocateBytes: 65536 });
    for (let i = 1; i <= 120; i += 4) await wal.save({ entries: entries(i, i + 3, 1, 200), hardState: { term: 1, vote: 1, commit: i } });
    await wal.close();
    const file = join(dir, segmentName(1));
    const full = readFileSync(file);
    const { starts, end } = frames(full);
    // A 4 KiB page of the last writes with whole records after it.
    const page = Math.floor((end - 6000) / 4096) * 4096;
    assert.ok(starts.some((o) => o >= page + 4096), 'valid records follow the page');

    const torn = Buffer.from(full);
    torn.fill(0, page, page + 4096);
    writeFileSync(file, torn);
    // The first record the zeros changed (one ending in zero bytes may survive its last ones).
    const holder = frames(torn).end;
    assert.ok(holder <= page + 4096 && holder >= starts.filter((o) => o <= page).at(-1)!);
    const r = await Wal.open(dir);
    assert.equal(r.recovered.truncatedTail?.offset, holder);
    assert.ok(r.wal.lastIndex > 0 && r.wal.lastIndex < 120, `a prefix of the log (${r.wal.lastIndex})`);
    assert.deepEqual(r.recovered.entries, entries(1, r.wal.lastIndex, 1, 200));
    assert.equal(statSync(file).size, holder);
    await r.wal.close();

    // The same page damaged by a flipped bit, not unwritten: records follow it, so it is refused.
    const flipped = Buffer.from(full);
    flipped[page + 100] ^= 0x10;
    writeFileSync(file, flipped);
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && /valid records follow/.test(e.message));
    assert.equal(statSync(file).size, full.length, 'nothing truncated');
  });

  it('an unwritten page in a sealed segment is refused: only the newest segment can hold the last group commit', async () => {
    const dir = tempDir(after);
    const { wal } = await Wal.open(dir, { segmentBytes: 16384, preallocateBytes: 8192 });
    for (let i = 1; i <= 200; i += 4) await wal.save({ entries: entries(i, i + 3, 1, 200) });
    await wal.close();
    const names = segs(dir);
    assert.ok(names.length >= 3);
    const sealed = join(dir, names[0]!);
    const full = readFileSync(sealed);
    const damaged = Buffer.from(full);
    damaged.fill(0, 4096, 8192);
    writeFileSync(sealed, damaged);
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && e.message.includes(names[0]!));
    assert.equal(statSync(sealed).size, full.length, 'nothing truncated');
  });

  it('rotation seals each segment at the end of its data; zeros after a sealed segment\'s data are refused', async () => {
    const dir = tempDir(after);
    // Zeros reaching past the rotation size: written under a larger segment size, then reopened
    // with a smaller one (within one size the data overtakes the zeros before a rotation, whose
    // sealing then has nothing to cut).
    const first = await Wal.open(dir, { segmentBytes: 1 << 20, preallocateBytes: 16384 });
    await first.wal.save({ entries: entries(1, 5, 1, 80), hardState: { term: 1, vote: 1, commit: 1 } });
    await first.wal.close();
    assert.ok(statSync(join(dir, segmentName(1))).size >= 16384);
    const { wal } = await Wal.open(dir, { segmentBytes: 4096, preallocateBytes: 2048 });
    for (let i = 6; i <= 200; i += 5) await wal.save({ entries: entries(i, i + 4, 1, 80), hardState: { term: 1, vote: 1, commit: i } });
    await wal.close();
    const names = segs(dir);
    assert.ok(names.length >= 4, `rotated (${names.length} segments)`);
    for (const n of names.slice(0, -1)) {
      const buf = readFileSync(join(dir, n));
      assert.equal(frames(buf).end, buf.length, `${n} ends at its last record`);
    }
    const newest = readFileSync(join(dir, names.at(-1)!));
    assert.ok(frames(newest).end < newest.length, 'the newest segment is zero-filled ahead');
    const r = await Wal.open(dir, { segmentBytes: 4096, preallocateBytes: 2048 });
    assert.equal(r.recovered.truncatedTail, undefined);
    assert.deepEqual(r.recovered.entries, entries(1, 200, 1, 80));
    await r.wal.close();

    // A sealed segment never ends in zeros (they are cut off before the next segment exists):
    // zeros there are damage, refused with the file and offset, and nothing is cut.
    const sealed = join(dir, names[1]!);
    const before = readFileSync(sealed);
    writeFileSync(sealed, Buffer.concat([before, Buffer.alloc(512)]));
    await assert.rejects(Wal.open(dir), (e: unknown) => e instanceof WalCorruptionError && e.message.includes(names[1]!) && e.message.includes(String(before.length)));
    assert.equal(statSync(sealed).size, before.length + 512, 'nothing truncated');
  });
});
