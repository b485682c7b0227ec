// A response's etcd header written without a protobuf writer: the hot responses (a keep-alive's,
// a Put's) are a header and a few numbers, and the shared codec's writer costs more than the
// bytes (its chunks and the copy that joins them: 1.5% of a busy leader's time under Puts). Only
// for the usual shape, every number non-negative and below 2^53 (the cluster and member ids are
// 53-bit); the callers take the generated encoder for anything else. The bytes are the generated
// encoder's (test/api/lease-wire.test.ts, test/api/kv-wire.test.ts).
import type { ResponseHeader } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';

/** Where the fast encoders write: the largest message they write is far below this. */
export const scratch = new Uint8Array(128);

export const plain = (v: unknown): v is number => typeof v === 'number' && v >= 0 && v <= Number.MAX_SAFE_INTEGER && Number.isInteger(v);

/** Writes field `tag`'s varint `v` (a plain number) at `pos` when it is not 0, as proto3 does; returns the new position. */
export function varintField(pos: number, tag: number, v: number): number {
  if (v === 0) return pos;
  scratch[pos++] = tag;
  while (v >= 0x80) {
    scratch[pos++] = (v % 0x80) | 0x80;
    v = Math.floor(v / 0x80);
  }
  scratch[pos++] = v;
  return pos;
}

/** Whether every number of `h` is plain (the fast encoders' shape). */
export function plainHeader(h: ResponseHeader): boolean {
  return plain(h.clusterId) && plain(h.memberId) && plain(h.revision) && plain(h.raftTerm);
}

/** Writes `h` (plain) as field 1 at the start of `scratch`; returns the position after it. */
export function writeHeader(h: ResponseHeader): number {
  // Four fields of at most 1 + 8 bytes (53 bits): the header's length is one byte.
  const pos = varintField(varintField(varintField(varintField(2, 8, h.clusterId), 16, h.memberId), 24, h.revision), 32, h.raftTerm);
  scratch[0] = 10;
  scratch[1] = pos - 2;
  return pos;
}
