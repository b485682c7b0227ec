// Decoding etcd Lease requests without losing their ids. Lease ids are int64 on the wire and
// plain numbers here (every id this cluster grants is below 2^53); the generated decoders throw
// on anything larger, which would turn a keep-alive for an etcd-issued id into a malformed-request
// error. These read the id as it is (a bigint when it does not fit a number), so the service can
// answer as etcd would: "not found" (or TTL 0 on a keep-alive, with the id echoed), and a grant
// asking for such an id is refused with a clear message.

import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';

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

/** LeaseRevokeRequest and LeaseKeepAliveRequest: ID is field 1. */
export function decodeId(bytes: Uint8Array): IdRequest {
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
