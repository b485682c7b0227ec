// Record framing for WAL segments.
//
//   +---------------+---------------+------+-----------------+
//   | len: u32 LE   | crc: u32 LE   | type | payload ...     |
//   +---------------+---------------+------+-----------------+
//   len = 1 + payload length (covers type + payload); crc = CRC-32 (zlib) of type + payload.
//
// Integers inside payloads are little-endian; u64 values are written as two u32 halves and must
// be < 2^53 (JavaScript safe integers), which every Raft index/term/node id is.

import { crc32 } from 'node:zlib';
import { EntryType, type ConfState, type Entry, type HardState, type SnapshotMeta } from '../../raft/types.js';

export const FRAME_HEADER = 8;
/** Upper bound on one record body; a larger length field is treated as damage. */
export const MAX_RECORD_BODY = 512 * 1024 * 1024;

export enum RecordType {
  /** First record of every segment: magic + segment sequence number. */
  SegmentHeader = 1,
  /** A batch of contiguous entries; the first index may be <= lastIndex (overwrites the suffix). */
  Entries = 2,
  HardState = 3,
  /** Snapshot marker / compaction point. */
  Snapshot = 4,
}

export const SEGMENT_MAGIC = 0x4c415750; // "PWAL" little-endian
export const SEGMENT_VERSION = 1;

export function writeU64(buf: Buffer, v: number, off: number): number {
  if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`value ${v} is not a non-negative safe integer`);
  buf.writeUInt32LE(v % 0x100000000, off);
  buf.writeUInt32LE(Math.floor(v / 0x100000000), off + 4);
  return off + 8;
}

export function readU64(buf: Buffer, off: number): number {
  return buf.readUInt32LE(off) + buf.readUInt32LE(off + 4) * 0x100000000;
}

function frame(type: RecordType, body: Buffer): Buffer {
  // body has FRAME_HEADER bytes reserved at the front, then the type byte at offset 8.
  body[FRAME_HEADER] = type;
  body.writeUInt32LE(body.length - FRAME_HEADER, 0);
  body.writeUInt32LE(crc32(body.subarray(FRAME_HEADER)), 4);
  return body;
}

export function encodeSegmentHeader(seq: number): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + 1 + 4 + 4 + 8);
  let o = FRAME_HEADER + 1;
  b.writeUInt32LE(SEGMENT_MAGIC, o);
  b.writeUInt32LE(SEGMENT_VERSION, o + 4);
  o = writeU64(b, seq, o + 8);
  return frame(RecordType.SegmentHeader, b);
}

export function encodeEntries(entries: readonly Entry[]): Buffer {
  let size = FRAME_HEADER + 1 + 4;
  for (const e of entries) size += 8 + 8 + 1 + 4 + e.data.length;
  const b = Buffer.allocUnsafe(size);
  let o = FRAME_HEADER + 1;
  b.writeUInt32LE(entries.length, o);
  o += 4;
  for (const e of entries) {
    o = writeU64(b, e.index, o);
    o = writeU64(b, e.term, o);
    b[o++] = e.type;
    b.writeUInt32LE(e.data.length, o);
    o += 4;
    b.set(e.data, o);
    o += e.data.length;
  }
  return frame(RecordType.Entries, b);
}

export function encodeHardState(hs: HardState): Buffer {
  const b = Buffer.allocUnsafe(FRAME_HEADER + 1 + 24);
  let o = FRAME_HEADER + 1;
  o = writeU64(b, hs.term, o);
  o = writeU64(b, hs.vote, o);
  writeU64(b, hs.commit, o);
  return frame(RecordType.HardState, b);
}

export function encodeSnapshot(meta: SnapshotMeta): Buffer {
  const conf = Buffer.from(JSON.stringify({ voters: meta.confState.voters, learners: meta.confState.learners }));
  const b = Buffer.allocUnsafe(FRAME_HEADER + 1 + 16 + 4 + conf.length);
  let o = FRAME_HEADER + 1;
  o = writeU64(b, meta.index, o);
  o = writeU64(b, meta.term, o);
  b.writeUInt32LE(conf.length, o);
  conf.copy(b, o + 4);
  return frame(RecordType.Snapshot, b);
}

export type DecodedRecord =
  | { type: RecordType.SegmentHeader; seq: number }
  | { type: RecordType.Entries; entries: Entry[]; maxIndex: number }
  | { type: RecordType.HardState; hardState: HardState }
  | { type: RecordType.Snapshot; meta: SnapshotMeta };

/** Bytes of one entry's fixed part in an Entries record: index, term, type, data length. */
const ENTRY_HEADER = 8 + 8 + 1 + 4;

/** Reads a u64 that must be a safe integer (every index, term and node id is); throws naming `what`. */
function readSafeU64(body: Buffer, off: number, what: string): number {
  const v = readU64(body, off);
  if (!Number.isSafeInteger(v)) throw new Error(`${what} ${v} is beyond 2^53 (not a valid index/term/id)`);
  return v;
}

function needBytes(body: Buffer, end: number, what: string): void {
  if (end > body.length) throw new Error(`${what} needs ${end} bytes, the record has ${body.length}`);
}

/**
 * Decode a record body (type byte + payload) whose CRC already matched. Throws on malformed
 * content. Every count and length read from the body is checked against the bytes actually
 * present before anything is allocated from it: a CRC is no proof of sanity (a crafted or buggy
 * file carries a valid CRC over nonsense), and a huge count must fail as corruption, not as an
 * out-of-memory or a bare RangeError (etcd CVE-2020-15106 / CVE-2020-15112).
 */
export function decodeBody(body: Buffer): DecodedRecord {
  if (body.length < 1) throw new Error('empty record');
  const type = body[0];
  let o = 1;
  switch (type) {
    case RecordType.SegmentHeader: {
      if (body.length !== 1 + 4 + 4 + 8) throw new Error(`bad segment header length ${body.length}`);
      if (body.readUInt32LE(o) !== SEGMENT_MAGIC) throw new Error('bad segment magic');
      const version = body.readUInt32LE(o + 4);
      if (version !== SEGMENT_VERSION) throw new Error(`unsupported segment version ${version}`);
      return { type, seq: readSafeU64(body, o + 8, 'segment sequence') };
    }
    case RecordType.Entries: {
      needBytes(body, o + 4, 'entry count');
      const n = body.readUInt32LE(o);
      o += 4;
      // Each entry takes at least its fixed header: a count the record cannot hold is damage.
      if (n > (body.length - o) / ENTRY_HEADER) {
        throw new Error(`implausible entry count ${n} for a record of ${body.length} bytes`);
      }
      const entries: Entry[] = new Array(n);
      let maxIndex = 0;
      for (let i = 0; i < n; i++) {
        needBytes(body, o + ENTRY_HEADER, `entry ${i} header`);
        const index = readSafeU64(body, o, 'entry index');
        const term = readSafeU64(body, o + 8, 'entry term');
        const etype = body[o + 16];
        if (etype !== EntryType.Normal && etype !== EntryType.ConfChange) throw new Error(`unknown entry type ${etype}`);
        const len = body.readUInt32LE(o + 17);
        o += ENTRY_HEADER;
        if (len > body.length - o) throw new Error(`implausible entry data length ${len} (${body.length - o} bytes left in the record)`);
        // Copy: the segment buffer is large and must not be retained by every entry.
        const data = new Uint8Array(len);
        data.set(body.subarray(o, o + len));
        o += len;
        if (i > 0 && index !== entries[i - 1].index + 1) throw new Error('non-contiguous entries in one record');
        entries[i] = { index, term, type: etype, data };
        if (index > maxIndex) maxIndex = index;
      }
      if (o !== body.length) throw new Error('trailing bytes in entries record');
      return { type, entries, maxIndex };
    }
    case RecordType.HardState:
      if (body.length !== 25) throw new Error('bad hard state length');
      return {
        type,
        hardState: { term: readSafeU64(body, 1, 'hard state term'), vote: readSafeU64(body, 9, 'hard state vote'), commit: readSafeU64(body, 17, 'hard state commit') },
      };
    case RecordType.Snapshot: {
      needBytes(body, 21, 'snapshot record header');
      const index = readSafeU64(body, 1, 'snapshot index');
      const term = readSafeU64(body, 9, 'snapshot term');
      const len = body.readUInt32LE(17);
      if (21 + len !== body.length) throw new Error(`bad snapshot record length: conf state of ${len} bytes in a record of ${body.length}`);
      let cs: unknown;
      try {
        cs = JSON.parse(body.subarray(21, 21 + len).toString('utf8'));
      } catch {
        throw new Error('unparseable conf state in snapshot record');
      }
      return { type, meta: { index, term, confState: checkConfState(cs) } };
    }
    default:
      throw new Error(`unknown record type ${type}`);
  }
}

/** A ConfState read from disk: lists of safe positive integers, nothing else. */
export function checkConfState(v: unknown): ConfState {
  const o = (typeof v === 'object' && v !== null ? v : {}) as { voters?: unknown; learners?: unknown };
  const ids = (x: unknown, what: string): number[] => {
    if (x === undefined) return [];
    if (!Array.isArray(x) || x.some((id) => !Number.isSafeInteger(id) || (id as number) <= 0)) throw new Error(`conf state ${what} is not a list of member ids`);
    return x as number[];
  };
  if (typeof v !== 'object' || v === null) throw new Error('conf state is not an object');
  return { voters: ids(o.voters, 'voters'), learners: ids(o.learners, 'learners') };
}

export type ScanResult =
  | { kind: 'ok'; body: Buffer; next: number }
  /** Not a valid record at this offset (torn write, bad length or CRC mismatch). */
  | { kind: 'bad'; reason: string }
  | { kind: 'end' };

/** Try to read one framed record at `off`. */
export function readFrame(buf: Buffer, off: number): ScanResult {
  if (off === buf.length) return { kind: 'end' };
  if (off + FRAME_HEADER > buf.length) return { kind: 'bad', reason: `torn frame header (${buf.length - off} bytes)` };
  const len = buf.readUInt32LE(off);
  if (len < 1 || len > MAX_RECORD_BODY) return { kind: 'bad', reason: `implausible record length ${len}` };
  if (off + FRAME_HEADER + len > buf.length) return { kind: 'bad', reason: `torn record (length ${len}, ${buf.length - off - FRAME_HEADER} bytes present)` };
  const body = buf.subarray(off + FRAME_HEADER, off + FRAME_HEADER + len);
  if (crc32(body) !== buf.readUInt32LE(off + 4)) return { kind: 'bad', reason: 'CRC mismatch' };
  return { kind: 'ok', body, next: off + FRAME_HEADER + len };
}

/**
 * After a bad frame at `from`, is there any well-formed record later in the buffer? If so the
 * damage is in the middle of the log (refuse); if not it is a torn/corrupt tail (truncate).
 */
export function findLaterValidRecord(buf: Buffer, from: number): number {
  for (let p = from + 1; p + FRAME_HEADER + 1 <= buf.length; p++) {
    const len = buf.readUInt32LE(p);
    if (len < 1 || len > buf.length - p - FRAME_HEADER) continue;
    const t = buf[p + FRAME_HEADER];
    if (t < RecordType.SegmentHeader || t > RecordType.Snapshot) continue;
    const r = readFrame(buf, p);
    if (r.kind === 'ok') {
      try {
        decodeBody(r.body);
        return p;
      } catch {
        // CRC collided on garbage; keep looking.
      }
    }
  }
  return -1;
}
