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
import type { ConfState, Entry, HardState, SnapshotMeta } from '../../raft/types.js';

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

/** Decode a record body (type byte + payload) whose CRC already matched. Throws on malformed content. */
export function decodeBody(body: Buffer): DecodedRecord {
  const type = body[0];
  let o = 1;
  switch (type) {
    case RecordType.SegmentHeader: {
      if (body.readUInt32LE(o) !== SEGMENT_MAGIC) throw new Error('bad segment magic');
      const version = body.readUInt32LE(o + 4);
      if (version !== SEGMENT_VERSION) throw new Error(`unsupported segment version ${version}`);
      return { type, seq: readU64(body, o + 8) };
    }
    case RecordType.Entries: {
      const n = body.readUInt32LE(o);
      o += 4;
      const entries: Entry[] = new Array(n);
      let maxIndex = 0;
      for (let i = 0; i < n; i++) {
        const index = readU64(body, o);
        const term = readU64(body, o + 8);
        const etype = body[o + 16];
        const len = body.readUInt32LE(o + 17);
        o += 21;
        if (o + len > body.length) throw new Error('entry data overruns record');
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
      return { type, hardState: { term: readU64(body, 1), vote: readU64(body, 9), commit: readU64(body, 17) } };
    case RecordType.Snapshot: {
      const index = readU64(body, 1);
      const term = readU64(body, 9);
      const len = body.readUInt32LE(17);
      if (21 + len !== body.length) throw new Error('bad snapshot record length');
      const cs = JSON.parse(body.subarray(21, 21 + len).toString('utf8')) as ConfState;
      return { type, meta: { index, term, confState: { voters: cs.voters ?? [], learners: cs.learners ?? [] } } };
    }
    default:
      throw new Error(`unknown record type ${type}`);
  }
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
