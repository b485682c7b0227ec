// Which files of a LevelDB directory are part of the database, read from its MANIFEST.
//
// A directory can hold files LevelDB no longer (or never) uses: the output of a compaction cut
// short by a crash (often 0 bytes), tables a finished compaction replaced but had not deleted
// yet, old write-ahead logs. LevelDB deletes them when it next opens the database, so damage in
// them is no damage to the data; only the files the current MANIFEST lists count.
//
// Format (LevelDB 1.20, db/version_edit.cc): the MANIFEST is a log-format file (see
// leveldb-verify.ts) whose records are version edits, each a sequence of (varint tag, fields):
// 1 comparator name, 2 log number, 3 next file number, 4 last sequence, 5 compact pointer
// (level, key), 6 deleted file (level, number), 7 new file (level, number, size, smallest key,
// largest key), 9 previous log number. Strings are varint-length-prefixed.

import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

export interface LiveFiles {
  /** The MANIFEST file CURRENT names. */
  manifest: string;
  /** Numbers of the table files in the current version. */
  tables: Set<number>;
  /** Logs numbered below this (other than prevLogNumber) were already flushed to tables. */
  logNumber: number;
  prevLogNumber: number;
}

const LOG_BLOCK = 32768;
const LOG_HEADER = 7;
const FULL = 1;
const FIRST = 2;
const MIDDLE = 3;
const LAST = 4;

/** The complete records of a log-format file, up to the first torn or damaged one. */
function* logRecords(file: Buffer): Generator<Buffer> {
  let parts: Buffer[] | undefined;
  for (let block = 0; block < file.length; block += LOG_BLOCK) {
    const end = Math.min(block + LOG_BLOCK, file.length);
    let p = block;
    while (end - p >= LOG_HEADER) {
      const len = file.readUInt16LE(p + 4);
      const type = file[p + 6]!;
      if (type === 0 && len === 0) break;
      if (p + LOG_HEADER + len > end) return;
      const payload = file.subarray(p + LOG_HEADER, p + LOG_HEADER + len);
      p += LOG_HEADER + len;
      if (type === FULL) yield payload;
      else if (type === FIRST) parts = [payload];
      else if (type === MIDDLE && parts) parts.push(payload);
      else if (type === LAST && parts) {
        parts.push(payload);
        yield Buffer.concat(parts);
        parts = undefined;
      } else return;
    }
  }
}

class Reader {
  p = 0;
  constructor(private readonly b: Buffer) {}
  get done(): boolean {
    return this.p >= this.b.length;
  }
  varint(): number {
    let v = 0;
    for (let shift = 0; shift <= 63; shift += 7) {
      if (this.p >= this.b.length) throw new Error('truncated varint');
      const x = this.b[this.p++]!;
      v += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) return v;
    }
    throw new Error('varint too long');
  }
  skipString(): void {
    const n = this.varint();
    if (this.p + n > this.b.length) throw new Error('string overruns the record');
    this.p += n;
  }
}

/** Applies one version edit to `live`: deletions first, then additions (a move is both). */
function applyEdit(record: Buffer, live: LiveFiles): void {
  const r = new Reader(record);
  const deleted: number[] = [];
  const added: number[] = [];
  while (!r.done) {
    const tag = r.varint();
    switch (tag) {
      case 1:
        r.skipString();
        break;
      case 2:
        live.logNumber = r.varint();
        break;
      case 3:
      case 4:
        r.varint();
        break;
      case 5:
        r.varint();
        r.skipString();
        break;
      case 6:
        r.varint();
        deleted.push(r.varint());
        break;
      case 7:
        r.varint();
        added.push(r.varint());
        r.varint();
        r.skipString();
        r.skipString();
        break;
      case 9:
        live.prevLogNumber = r.varint();
        break;
      default:
        throw new Error(`unknown version edit tag ${tag}`);
    }
  }
  for (const n of deleted) live.tables.delete(n);
  for (const n of added) live.tables.add(n);
}

/**
 * The files the database in `dir` uses, or undefined when CURRENT or the MANIFEST cannot be read
 * or parsed (the caller then treats every file as live; the verifier reports the damage).
 */
export async function readLiveFiles(dir: string): Promise<LiveFiles | undefined> {
  try {
    const m = /^(MANIFEST-\d+)\n$/.exec(await fsp.readFile(join(dir, 'CURRENT'), 'latin1'));
    if (!m) return undefined;
    const live: LiveFiles = { manifest: m[1]!, tables: new Set(), logNumber: 0, prevLogNumber: 0 };
    for (const record of logRecords(await fsp.readFile(join(dir, live.manifest)))) applyEdit(record, live);
    return live;
  } catch {
    return undefined;
  }
}

/** Whether LevelDB uses the file `name` of a directory whose live files are `live`. */
export function isLiveFile(name: string, live: LiveFiles): boolean {
  const table = /^(\d+)\.(ldb|sst)$/.exec(name);
  if (table) return live.tables.has(Number(table[1]));
  const log = /^(\d+)\.log$/.exec(name);
  if (log) {
    const n = Number(log[1]);
    return n >= live.logNumber || n === live.prevLogNumber;
  }
  if (name.startsWith('MANIFEST-')) return name === live.manifest;
  return true;
}
