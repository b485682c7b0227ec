// How keys and revisions are laid out in LevelDB (storage/README.md, "Keyspace").
//
// Keys are bytes. Inside storage a key is a "binary string": Buffer.toString('latin1') of its
// bytes, one char per byte, so it is 1:1 with the bytes, sorts in byte order and works as a Map
// key. Every helper here takes and returns binary strings.

/** Binary string of some bytes. */
export function bin(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

/** The bytes of a binary string. */
export function bytesOf(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/** A native API key (a JS string, UTF-8 on the wire) as a binary string; ASCII needs no copy. */
export function utf8ToBin(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) return Buffer.from(s, 'utf8').toString('latin1');
  }
  return s;
}

/** The inverse of utf8ToBin (bytes that are not UTF-8 come back with U+FFFD). */
export function binToUtf8(b: string): string {
  for (let i = 0; i < b.length; i++) {
    if (b.charCodeAt(i) >= 0x80) return Buffer.from(b, 'latin1').toString('utf8');
  }
  return b;
}

/** Smallest binary string greater than every string starting with `prefix` ('' for none: the prefix is all 0xff). */
export function prefixEnd(prefix: string): string {
  let i = prefix.length - 1;
  while (i >= 0 && prefix.charCodeAt(i) === 0xff) i--;
  if (i < 0) return '';
  return prefix.slice(0, i) + String.fromCharCode(prefix.charCodeAt(i) + 1);
}

/**
 * An etcd key range: `[from, to)`, `to === undefined` meaning "to the end", or a single key when
 * `single`. etcd's encoding: an empty range_end is the key alone, "\0" is every key from `key` on.
 */
export interface KeyRange {
  from: string;
  to: string | undefined;
  single: boolean;
}

export function keyRange(key: Uint8Array, rangeEnd: Uint8Array | undefined): KeyRange {
  const from = bin(key);
  if (!rangeEnd || rangeEnd.length === 0) return { from, to: from + '\u0000', single: true };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { from, to: undefined, single: false };
  return { from, to: bin(rangeEnd), single: false };
}

/** The position of the first key of the sorted `keys` at or after `from`. */
export function lowerBound(keys: readonly string[], from: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid]! < from) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function inRange(k: string, r: KeyRange): boolean {
  return k >= r.from && (r.to === undefined || k < r.to);
}

// ---- revisions as sortable bytes -------------------------------------------------------------

const TWO32 = 2 ** 32;

/** Big-endian u64 as 8 chars. */
export function u64s(n: number): string {
  const hi = Math.floor(n / TWO32);
  const lo = n >>> 0;
  return String.fromCharCode(hi >>> 24, (hi >>> 16) & 0xff, (hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff);
}

/** Big-endian u32 as 4 chars. */
export function u32s(n: number): string {
  return String.fromCharCode(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function readU64BE(b: Buffer, o: number): number {
  return b.readUInt32BE(o) * TWO32 + b.readUInt32BE(o + 4);
}

// ---- the event log: `!log!` + main u64 BE + sub u32 BE → mvccpb.KeyValue ---------------------

/** Key (within the log sublevel) of the event at (main, sub): revision order is byte order. */
export function logKey(main: number, sub: number): string {
  return u64s(main) + u32s(sub);
}

export function parseLogKey(b: Buffer, offset: number): { main: number; sub: number } {
  return { main: readU64BE(b, offset), sub: b.readUInt32BE(offset + 8) };
}

// ---- the history index: `!hist!` + escaped key + ~main + ~sub → 0 (put) | 1 (delete) ---------
//
// The key is escaped (0x00 → 0x00 0xff) and terminated (0x00 0x01) so that one key's entries are
// contiguous and keys keep their byte order; the revision is stored inverted so that a key's
// entries run newest first and one seek to (key, ~R) lands on the newest entry at or below R.

const MAX_U32 = 0xffffffff;

/** The escaped key without its terminator: a lower bound of the key's entries and of greater keys. */
export function escapeKey(key: string): string {
  return key.indexOf('\u0000') < 0 ? key : key.replace(/\u0000/g, '\u0000\u00ff');
}

export const HIST_TERMINATOR = '\u0000\u0001';
/** Greater than every terminator + revision suffix of the same key, and below the next key. */
export const HIST_KEY_END = '\u0000\u0002';

/** Inverted revision: newest first. */
export function invRev(main: number, sub: number): string {
  return u64s(Number.MAX_SAFE_INTEGER - main) + u32s(MAX_U32 - sub);
}

export function histKey(key: string, main: number, sub: number): string {
  return escapeKey(key) + HIST_TERMINATOR + invRev(main, sub);
}

/** Where to seek for the newest entry of `key` at or below revision `rev`. */
export function histSeek(key: string, rev: number): string {
  return escapeKey(key) + HIST_TERMINATOR + invRev(rev, MAX_U32);
}

/** A history index entry, parsed. */
export interface HistEntry {
  /** The key (binary string). */
  key: string;
  main: number;
  sub: number;
  tombstone: boolean;
}

/**
 * Parses a raw history key (`offset` = where the escaped key starts) and its value. `escLen` is
 * the escaped key's length: entries of the same key share `raw.subarray(offset, offset + escLen)`.
 */
export function parseHist(raw: Buffer, offset: number, value: Buffer | undefined): HistEntry & { escLen: number } {
  const escLen = raw.length - offset - 2 - 12;
  let key = raw.toString('latin1', offset, offset + escLen);
  if (key.indexOf('\u0000') >= 0) key = key.replace(/\u0000\u00ff/g, '\u0000');
  const r = offset + escLen + 2;
  const main = Number.MAX_SAFE_INTEGER - readU64BE(raw, r);
  const sub = MAX_U32 - raw.readUInt32BE(r + 8);
  return { key, main, sub, tombstone: value !== undefined && value.length > 0 && value[0] === 1, escLen };
}

export const HIST_PUT = Buffer.from([0]);
export const HIST_DELETE = Buffer.from([1]);
