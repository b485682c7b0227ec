// etcdserverpb.WatchResponse written straight into one Buffer. An event's key-value is the record
// the keyspace stored (an encoded mvccpb.KeyValue), so it is copied in as it is: no decode, no
// object per event, no re-encode — the fan-out of one write to a thousand watchers costs a
// thousand copies of its bytes and little else. The bytes are what the generated encoder would
// write (test/api/watch-wire.test.ts decodes them with it).

export interface WireHeader {
  clusterId: number;
  memberId: number;
  revision: number;
  raftTerm: number;
}

export interface WireEvent {
  isDelete: boolean;
  /** Encoded mvccpb.KeyValue. */
  kv: Buffer;
  /** Encoded previous mvccpb.KeyValue, when sent. */
  prevKv?: Buffer | null;
}

export interface WireResponse {
  header: WireHeader;
  watchId: number;
  created?: boolean;
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
  fragment?: boolean;
  events?: readonly WireEvent[];
}

const TWO64 = 1n << 64n;

/** Bytes of a varint: int64 values below zero take ten. */
function varintSize(n: number): number {
  if (n < 0) return 10;
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(b: Buffer, o: number, n: number): number {
  if (n < 0) {
    let v = BigInt(n) + TWO64;
    while (v >= 128n) {
      b[o++] = Number(v & 127n) | 128;
      v >>= 7n;
    }
    b[o++] = Number(v);
    return o;
  }
  while (n >= 128) {
    b[o++] = (n % 128) | 128;
    n = Math.floor(n / 128);
  }
  b[o++] = n;
  return o;
}

const field = (n: number, v: number): number => (v === 0 ? 0 : 1 + varintSize(v));
const bytesField = (len: number): number => 1 + varintSize(len) + len;

function headerSize(h: WireHeader): number {
  return field(1, h.clusterId) + field(2, h.memberId) + field(3, h.revision) + field(4, h.raftTerm);
}

function eventSize(e: WireEvent): number {
  return (e.isDelete ? 2 : 0) + bytesField(e.kv.length) + (e.prevKv ? bytesField(e.prevKv.length) : 0);
}

/** The encoded size of one event inside a response (field tag and length included). */
export function wireEventSize(e: WireEvent): number {
  return bytesField(eventSize(e));
}

/** The encoded size of `r` without its events. */
export function wireBaseSize(r: WireResponse): number {
  const hs = headerSize(r.header);
  let n = bytesField(hs);
  n += field(2, r.watchId);
  if (r.created) n += 2;
  if (r.canceled) n += 2;
  if (r.compactRevision) n += field(5, r.compactRevision);
  if (r.cancelReason) n += bytesField(Buffer.byteLength(r.cancelReason, 'utf8'));
  if (r.fragment) n += 2;
  return n;
}

export function encodeWatchResponse(r: WireResponse): Buffer {
  const events = r.events ?? [];
  let size = wireBaseSize(r);
  for (const e of events) size += wireEventSize(e);
  const b = Buffer.allocUnsafe(size);
  let o = 0;
  const h = r.header;
  b[o++] = 0x0a;
  o = writeVarint(b, o, headerSize(h));
  if (h.clusterId) (b[o++] = 0x08), (o = writeVarint(b, o, h.clusterId));
  if (h.memberId) (b[o++] = 0x10), (o = writeVarint(b, o, h.memberId));
  if (h.revision) (b[o++] = 0x18), (o = writeVarint(b, o, h.revision));
  if (h.raftTerm) (b[o++] = 0x20), (o = writeVarint(b, o, h.raftTerm));
  if (r.watchId) (b[o++] = 0x10), (o = writeVarint(b, o, r.watchId));
  if (r.created) (b[o++] = 0x18), (b[o++] = 1);
  if (r.canceled) (b[o++] = 0x20), (b[o++] = 1);
  if (r.compactRevision) (b[o++] = 0x28), (o = writeVarint(b, o, r.compactRevision));
  if (r.cancelReason) {
    const len = Buffer.byteLength(r.cancelReason, 'utf8');
    b[o++] = 0x32;
    o = writeVarint(b, o, len);
    o += b.write(r.cancelReason, o, 'utf8');
  }
  if (r.fragment) (b[o++] = 0x38), (b[o++] = 1);
  for (const e of events) o = writeEvent(b, o, e);
  if (o !== size) throw new Error(`watch response: wrote ${o} bytes, expected ${size}`);
  return b;
}

/** One event as field 11 of a WatchResponse, at `o`; returns the offset after it. */
function writeEvent(b: Buffer, o: number, e: WireEvent): number {
  b[o++] = 0x5a; // field 11, length-delimited
  o = writeVarint(b, o, eventSize(e));
  if (e.isDelete) (b[o++] = 0x08), (b[o++] = 1);
  b[o++] = 0x12;
  o = writeVarint(b, o, e.kv.length);
  o += e.kv.copy(b, o);
  if (e.prevKv) {
    b[o++] = 0x1a;
    o = writeVarint(b, o, e.prevKv.length);
    o += e.prevKv.copy(b, o);
  }
  return o;
}

/**
 * The events of a response on their own: the bytes `encodeWatchResponse` writes after the other
 * fields. A batch handed to many watchers is encoded once and spliced into each watcher's
 * response (`encodeSplicedEvents`), which then costs one copy per watcher, not an encoding.
 */
export function encodeEvents(events: readonly WireEvent[]): Buffer {
  let size = 0;
  for (const e of events) size += wireEventSize(e);
  const b = Buffer.allocUnsafe(size);
  let o = 0;
  for (const e of events) o = writeEvent(b, o, e);
  if (o !== size) throw new Error(`watch events: wrote ${o} bytes, expected ${size}`);
  return b;
}

/**
 * A response of `watchId` whose events are `sections` (each from `encodeEvents`, in order): the
 * same bytes as `encodeWatchResponse({ header, watchId, events })` with those events.
 */
export function encodeSplicedEvents(header: WireHeader, watchId: number, sections: readonly Buffer[]): Buffer {
  const hs = headerSize(header);
  let size = bytesField(hs) + field(2, watchId);
  for (const s of sections) size += s.length;
  const b = Buffer.allocUnsafe(size);
  let o = 0;
  b[o++] = 0x0a;
  o = writeVarint(b, o, hs);
  if (header.clusterId) (b[o++] = 0x08), (o = writeVarint(b, o, header.clusterId));
  if (header.memberId) (b[o++] = 0x10), (o = writeVarint(b, o, header.memberId));
  if (header.revision) (b[o++] = 0x18), (o = writeVarint(b, o, header.revision));
  if (header.raftTerm) (b[o++] = 0x20), (o = writeVarint(b, o, header.raftTerm));
  if (watchId) (b[o++] = 0x10), (o = writeVarint(b, o, watchId));
  for (const s of sections) o += s.copy(b, o);
  if (o !== size) throw new Error(`watch response: wrote ${o} bytes, expected ${size}`);
  return b;
}
