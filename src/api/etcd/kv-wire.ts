// The Put response written without a protobuf writer in its usual shape, a header and nothing
// else (no prev_kv asked for): one per etcd write (header-wire.ts says why).
import { PutResponse } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { encodeMessage } from '../../../proto/codec.js';
import { plainHeader, scratch, writeHeader } from './header-wire.js';

/** PutResponse's bytes, the same as the generated encoder's. */
export function encodePutResponse(m: PutResponse): Buffer {
  const h = m.header;
  if (m.prevKv || (h && !plainHeader(h))) return encodeMessage(PutResponse, m);
  return Buffer.from(scratch.subarray(0, h ? writeHeader(h) : 0));
}
