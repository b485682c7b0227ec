// A raw etcd v3 KV client: one grpc-js unary call per request, encoded with our generated
// etcdserverpb messages, replies kept as bytes (what any etcd client library does per call, minus
// decoding). Shared by `npm run bench:etcd-api` and `npm run bench:compare`, so etcd and
// Placement Center are driven by exactly the same client code.
import * as grpc from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { PutRequest, RangeRequest } from '../proto/gen/etcd/etcdserverpb/rpc.js';

export const VALUE = Buffer.alloc(256, 0x61);

export interface Encoder<T> {
  encode(m: T): { finish(): Uint8Array };
}

/**
 * One unary call on `client`; the reply stays raw bytes. (Its header carries etcd's 64-bit
 * cluster and member ids, above what the generated number-typed decoders accept, and a client
 * that ignores the body is what bench/etcd.ts measures too.)
 */
export function call<Req>(client: grpc.Client, method: string, req: Encoder<Req>, message: Req): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/etcdserverpb.KV/${method}`,
      (m: Req) => Buffer.from(req.encode(m).finish()),
      (b: Buffer) => b,
      message,
      (err, reply) => (err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply)),
    );
  });
}

/** The first varint at a path of field numbers through nested messages (0 when absent). */
export function varintAt(b: Uint8Array, path: number[]): number {
  const r = new BinaryReader(b);
  while (r.pos < r.len) {
    const tag = r.uint32();
    const no = tag >>> 3;
    const wire = tag & 7;
    if (no !== path[0]) {
      r.skip(wire);
      continue;
    }
    if (path.length === 1) return Number(r.uint64());
    return varintAt(r.bytes(), path.slice(1));
  }
  return 0;
}
/** ResponseHeader.revision of a Put, Range or Txn reply. */
export const revisionOf = (b: Uint8Array): number => varintAt(b, [1, 3]);

export const put = (c: grpc.Client, key: string): Promise<Buffer> => call(c, 'Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from(key), value: VALUE }));
export const range = (c: grpc.Client, key: string, opts: { serializable?: boolean; revision?: number; rangeEnd?: Buffer; limit?: number } = {}): Promise<Buffer> =>
  call(c, 'Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from(key), ...opts }));


/** Channel options of every bench channel: many streams on one connection, no channelz bookkeeping. */
export const CHANNEL_OPTIONS = { 'grpc.max_concurrent_streams': 1000, 'grpc.enable_channelz': 0 } as grpc.ChannelOptions;
