// Decoding etcd Lease requests without losing their ids. Lease ids are int64 on the wire and
// plain numbers here (every id this cluster grants is below 2^53); the generated decoders throw
// on anything larger, which would turn a keep-alive for an etcd-issued id into a malformed-request
// error. These read the id as it is (a bigint when it does not fit a number), so the service can
// answer as etcd would: "not found" (or TTL 0 on a keep-alive, with the id echoed), and a grant
// asking for such an id is refused with a clear message.

//
// The keep-alive stream is the hot path (one message each way per keep-alive): its request and
// response also have a short way for the usual shapes — a request that is only a small positive
// id, a response whose every field is a non-negative number below 2^53 — which writes and reads
// the same bytes as the generated codec without BigInt (the header's cluster and member ids are
// 53-bit, past the shared codec's short way) and without a writer. Anything else goes the general
// way. test/api/lease-wire.test.ts checks the bytes against the generated codec.

import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { LeaseKeepAliveResponse } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { encodeMessage } from '../../../proto/codec.js';
import { plain, plainHeader, scratch, varintField, writeHeader } from './header-wire.js';

/** A lease id as received: a number when it fits one exactly, else the bigint. */
export type WireId = number | bigint;

export interface GrantRequest {
  ttl: WireId;
  id: WireId;
}
export interface IdRequest {
  id: WireId;
}
export interface TimeToLiveRequest {
  id: WireId;
  keys: boolean;
}

function int64(r: BinaryReader): WireId {
  const v = BigInt(r.int64());
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Reads every field; `read` consumes the varint fields it knows (returns false for the others). */
function fields(bytes: Uint8Array, read: (field: number, r: BinaryReader) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, type] = r.tag();
    if (type !== WireType.Varint || !read(field, r)) r.skip(type, field);
  }
}

export function decodeGrant(bytes: Uint8Array): GrantRequest {
  const out: GrantRequest = { ttl: 0, id: 0 };
  fields(bytes, (f, r) => {
    if (f === 1) out.ttl = int64(r);
    else if (f === 2) out.id = int64(r);
    else return false;
    return true;
  });
  return out;
}

/** A request that is exactly field 1 as a varint of at most 7 bytes (below 2^49): the id; else undefined. */
function shortId(b: Uint8Array): number | undefined {
  const n = b.length;
  if (n < 2 || n > 8 || b[0] !== 0x08) return undefined;
  let v = 0;
  let mul = 1;
  for (let i = 1; i < n; i++) {
    const c = b[i]!;
    v += (c & 0x7f) * mul;
    if (c < 0x80) return i === n - 1 ? v : undefined;
    mul *= 128;
  }
  return undefined;
}

/** LeaseRevokeRequest and LeaseKeepAliveRequest: ID is field 1. */
export function decodeId(bytes: Uint8Array): IdRequest {
  const short = shortId(bytes);
  if (short !== undefined) return { id: short };
  const out: IdRequest = { id: 0 };
  fields(bytes, (f, r) => {
    if (f !== 1) return false;
    out.id = int64(r);
    return true;
  });
  return out;
}

export function decodeTimeToLive(bytes: Uint8Array): TimeToLiveRequest {
  const out: TimeToLiveRequest = { id: 0, keys: false };
  fields(bytes, (f, r) => {
    if (f === 1) out.id = int64(r);
    else if (f === 2) out.keys = r.bool();
    else return false;
    return true;
  });
  return out;
}

// ---- the keep-alive response ---------------------------------------------------------------

/** LeaseKeepAliveResponse's bytes, the same as the generated encoder's. */
export function encodeKeepAliveResponse(m: LeaseKeepAliveResponse): Buffer {
  const h = m.header;
  if (!plain(m.ID) || !plain(m.TTL) || (h && !plainHeader(h))) return encodeMessage(LeaseKeepAliveResponse, m);
  const pos = varintField(varintField(h ? writeHeader(h) : 0, 16, m.ID), 24, m.TTL);
  return Buffer.from(scratch.subarray(0, pos));
}
