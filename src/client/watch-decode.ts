// WatchResponse decoding that accepts real etcd's ids: etcd's cluster_id and member_id are random
// 64-bit values, which the generated decoder refuses (it keeps uint64 fields as JavaScript
// numbers). The header is read here (ids as the nearest double: only compared, never used),
// everything else by the generated decoder.
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { WatchResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';

function readHeader(b: Uint8Array): NonNullable<WatchResponse['header']> {
  const r = new BinaryReader(b);
  const h = { clusterId: 0, memberId: 0, revision: 0, raftTerm: 0 };
  while (r.pos < r.len) {
    const tag = r.uint32();
    const v = (tag & 7) === 0 ? Number(BigInt.asUintN(64, BigInt(r.uint64().toString()))) : (r.skip(tag & 7), NaN);
    if (Number.isNaN(v)) continue;
    if (tag >>> 3 === 1) h.clusterId = v;
    else if (tag >>> 3 === 2) h.memberId = v;
    else if (tag >>> 3 === 3) h.revision = v;
    else if (tag >>> 3 === 4) h.raftTerm = v;
  }
  return h;
}

export function decodeWatchResponse(b: Uint8Array): WatchResponse {
  const r = new BinaryReader(b);
  const rest: Uint8Array[] = [];
  let header: WatchResponse['header'];
  let from = 0;
  while (r.pos < r.len) {
    const start = r.pos;
    const tag = r.uint32();
    if (tag === 10) {
      header = readHeader(r.bytes());
      rest.push(b.subarray(from, start));
      from = r.pos;
    } else {
      r.skip(tag & 7);
    }
  }
  rest.push(b.subarray(from));
  const m = WatchResponse.decode(rest.length === 1 ? rest[0]! : Buffer.concat(rest));
  m.header = header;
  return m;
}
