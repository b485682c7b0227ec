// Verifies a LevelDB directory's files against their own checksums, without LevelDB.
//
// classic-level opens LevelDB without paranoid checks and reads without verify_checksums, so a
// flipped byte in a table file is found only if it happens to break a block's structure or its
// compression (the read then fails), and otherwise returns wrong data; a damaged record in a
// log file is dropped on recovery without a word. So the state machine checks every block's
// CRC-32C itself: before LevelDB opens the database (tables, logs, MANIFEST, CURRENT) and, in
// the background, the table files of a running one.
//
// Formats (LevelDB 1.20, table/format.h, db/log_format.h): a table ends with a 48-byte footer
// (metaindex and index block handles as varints, padding, magic 0xdb4775248b80fb57); every
// block is followed by a type byte (0 raw, 1 snappy) and the masked CRC-32C of block + type.
// Log files (*.log, MANIFEST-*) are 32 KiB blocks of records: masked CRC-32C of type + payload
// (4 bytes), length (2), type (1: full, 2: first, 3: middle, 4: last; 0: preallocated zeros).

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { crc32c, unmaskCrc } from '../util/crc32c.js';
import { snappyUncompress } from '../util/snappy.js';
import { isLiveFile, readLiveFiles } from './leveldb-manifest.js';

export interface LevelDbProblem {
  /** The damaged file (absolute path). */
  file: string;
  /** Byte offset of the damaged block or record, when known. */
  offset?: number;
  reason: string;
}

export interface VerifyOptions {
  /** Also the log files (*.log, MANIFEST-*) and CURRENT: only while LevelDB does not run. Default true. */
  logs?: boolean;
  /** Skip table files modified less than this long ago (a running LevelDB may be writing them). */
  settledMs?: number;
  /** Called between files and blocks, so that a long scan never holds the event loop. */
  pause?: () => Promise<void>;
  /** Stop after this many problems (default 10). */
  maxProblems?: number;
}

const TABLE_MAGIC_LO = 0x8b80fb57;
const TABLE_MAGIC_HI = 0xdb477524;
const FOOTER = 48;
const LOG_BLOCK = 32768;
const LOG_HEADER = 7;
/** Bytes of CRC work between two pauses. */
const SLICE = 1 << 20;

const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

class Corrupt extends Error {
  constructor(
    readonly offset: number | undefined,
    reason: string,
  ) {
    super(reason);
  }
}

function varint(b: Uint8Array, pos: { p: number }, end: number): number {
  let v = 0;
  for (let shift = 0; shift <= 63; shift += 7) {
    if (pos.p >= end) throw new Corrupt(undefined, 'truncated varint');
    const x = b[pos.p++]!;
    v += (x & 0x7f) * 2 ** shift;
    if (x < 0x80) return v;
  }
  throw new Corrupt(undefined, 'varint too long');
}

interface Handle {
  offset: number;
  size: number;
}

/** Checks one block's trailer CRC; returns its (decompressed when asked) contents. */
function readBlock(file: Buffer, h: Handle, what: string, decode: boolean): Uint8Array {
  const end = h.offset + h.size;
  if (h.offset < 0 || end + 5 > file.length - FOOTER) throw new Corrupt(h.offset, `${what} block handle points outside the file`);
  const type = file[end]!;
  const stored = file.readUInt32LE(end + 1);
  if (crc32c(file, h.offset, end + 1) !== unmaskCrc(stored)) throw new Corrupt(h.offset, `${what} block checksum mismatch`);
  if (!decode) return file.subarray(h.offset, end);
  if (type === 0) return file.subarray(h.offset, end);
  if (type === 1) {
    try {
      return snappyUncompress(file.subarray(h.offset, end));
    } catch (e) {
      throw new Corrupt(h.offset, `${what} block: ${(e as Error).message}`);
    }
  }
  throw new Corrupt(h.offset, `${what} block has unknown compression type ${type}`);
}

/** The (key, value) entries of a block (prefix-compressed keys, restart array at the end). */
function* blockEntries(b: Uint8Array, what: string): Generator<[Uint8Array, Uint8Array]> {
  if (b.length < 4) throw new Corrupt(undefined, `${what} block too short`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const restarts = dv.getUint32(b.length - 4, true);
  const limit = b.length - 4 - 4 * restarts;
  if (limit < 0) throw new Corrupt(undefined, `${what} block restart array overruns it`);
  const pos = { p: 0 };
  let key = new Uint8Array(0);
  while (pos.p < limit) {
    const shared = varint(b, pos, limit);
    const nonShared = varint(b, pos, limit);
    const valueLen = varint(b, pos, limit);
    if (shared > key.length || pos.p + nonShared + valueLen > limit) throw new Corrupt(undefined, `${what} block entry overruns it`);
    const k = new Uint8Array(shared + nonShared);
    k.set(key.subarray(0, shared), 0);
    k.set(b.subarray(pos.p, pos.p + nonShared), shared);
    pos.p += nonShared;
    key = k;
    yield [key, b.subarray(pos.p, pos.p + valueLen)];
    pos.p += valueLen;
  }
}

function decodeHandle(v: Uint8Array): Handle {
  const pos = { p: 0 };
  return { offset: varint(v, pos, v.length), size: varint(v, pos, v.length) };
}

async function verifyTable(path: string, pause: () => Promise<void>): Promise<void> {
  const file = await fsp.readFile(path);
  if (file.length < FOOTER) throw new Corrupt(0, `file too short for a table (${file.length} bytes)`);
  const f = file.length - FOOTER;
  if (file.readUInt32LE(f + 40) !== TABLE_MAGIC_LO || file.readUInt32LE(f + 44) !== TABLE_MAGIC_HI) {
    throw new Corrupt(f, 'bad table magic number (truncated or not a table)');
  }
  const pos = { p: f };
  const meta: Handle = { offset: varint(file, pos, f + 40), size: varint(file, pos, f + 40) };
  const index: Handle = { offset: varint(file, pos, f + 40), size: varint(file, pos, f + 40) };
  for (const [name, v] of blockEntries(readBlock(file, meta, 'metaindex', true), 'metaindex')) {
    readBlock(file, decodeHandle(v), `meta (${Buffer.from(name).toString('latin1')})`, false);
  }
  let sinceYield = 0;
  for (const [, v] of blockEntries(readBlock(file, index, 'index', true), 'index')) {
    const h = decodeHandle(v);
    readBlock(file, h, 'data', false);
    sinceYield += h.size;
    if (sinceYield >= SLICE) {
      sinceYield = 0;
      await pause();
    }
  }
}

/**
 * Log-format file (write-ahead log or MANIFEST). A record cut short by the end of the file is a
 * write that never completed (LevelDB ignores it too); a bad checksum or length anywhere else is
 * damage.
 */
async function verifyLog(path: string, pause: () => Promise<void>): Promise<void> {
  const file = await fsp.readFile(path);
  let sinceYield = 0;
  for (let block = 0; block < file.length; block += LOG_BLOCK) {
    const end = Math.min(block + LOG_BLOCK, file.length);
    let p = block;
    while (end - p >= LOG_HEADER) {
      const len = file.readUInt16LE(p + 4);
      const type = file[p + 6]!;
      if (type === 0 && len === 0) break; // preallocated zeros: the rest of the block is unused
      if (p + LOG_HEADER + len > end) {
        if (end === file.length) return; // cut short by the end of the file
        throw new Corrupt(p, `log record length ${len} overruns its 32 KiB block`);
      }
      if (type < 1 || type > 4) throw new Corrupt(p, `log record of unknown type ${type}`);
      if (crc32c(file, p + 6, p + LOG_HEADER + len) !== unmaskCrc(file.readUInt32LE(p))) {
        // A torn final write can leave a record whose bytes never all reached the disk.
        if (p + LOG_HEADER + len === file.length) return;
        throw new Corrupt(p, 'log record checksum mismatch');
      }
      p += LOG_HEADER + len;
    }
    sinceYield += LOG_BLOCK;
    if (sinceYield >= SLICE) {
      sinceYield = 0;
      await pause();
    }
  }
}

/**
 * Checks the LevelDB files in `dir` that its MANIFEST lists (LevelDB deletes the others when it
 * opens the database: a compaction output a crash left empty is not damage). Returns the
 * problems found (empty: every checksum holds). Files that disappear while being checked
 * (compacted away) are skipped.
 */
export async function verifyLevelDb(dir: string, opts: VerifyOptions = {}): Promise<LevelDbProblem[]> {
  const pause = opts.pause ?? yieldToLoop;
  const max = opts.maxProblems ?? 10;
  const logs = opts.logs ?? true;
  const problems: LevelDbProblem[] = [];
  let names: string[];
  try {
    names = (await fsp.readdir(dir)).sort();
  } catch (e) {
    return [{ file: dir, reason: `cannot list the database directory: ${(e as Error).message}` }];
  }
  if (logs) {
    const cur = join(dir, 'CURRENT');
    let text: string | undefined;
    try {
      text = await fsp.readFile(cur, 'latin1');
    } catch (e) {
      problems.push({ file: cur, reason: `cannot read: ${(e as Error).message}` });
    }
    if (text !== undefined) {
      const m = /^(MANIFEST-\d+)\n$/.exec(text);
      if (!m) problems.push({ file: cur, reason: `does not name a MANIFEST file (${JSON.stringify(text.slice(0, 40))})` });
      else if (!names.includes(m[1]!)) problems.push({ file: cur, reason: `names ${m[1]}, which does not exist` });
    }
  }
  const live = await readLiveFiles(dir);
  if (live && logs) {
    for (const t of live.tables) {
      if (!names.some((n) => n === `${String(t).padStart(6, '0')}.ldb` || n === `${String(t).padStart(6, '0')}.sst`)) {
        problems.push({ file: join(dir, `${String(t).padStart(6, '0')}.ldb`), reason: `listed in ${live.manifest} but missing` });
      }
    }
  }
  const now = Date.now();
  for (const name of names) {
    if (live && !isLiveFile(name, live)) continue;
    if (problems.length >= max) break;
    const isTable = /^\d+\.(ldb|sst)$/.test(name);
    const isLog = /^\d+\.log$/.test(name) || /^MANIFEST-\d+$/.test(name);
    if (!isTable && !(isLog && logs)) continue;
    const path = join(dir, name);
    try {
      if (isTable && opts.settledMs !== undefined && now - (await fsp.stat(path)).mtimeMs < opts.settledMs) continue;
      await (isTable ? verifyTable(path, pause) : verifyLog(path, pause));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      if (e instanceof Corrupt) problems.push({ file: path, offset: e.offset, reason: e.message });
      else problems.push({ file: path, reason: `cannot read: ${(e as Error).message}` });
    }
    await pause();
  }
  return problems;
}

export function describeProblem(p: LevelDbProblem): string {
  return `${p.file}${p.offset !== undefined ? ` at offset ${p.offset}` : ''}: ${p.reason}`;
}
