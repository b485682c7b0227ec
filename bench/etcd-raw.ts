// A raw etcd v3 KV client: one unary call per request, encoded with our generated etcdserverpb
// messages, replies kept as bytes (what any etcd client library does per call, minus decoding).
// Shared by `npm run bench:etcd-api`, `bench:compare`, `bench:ab` and `bench:memory`, so etcd and
// Placement Center are driven by exactly the same client code.
//
// Two transports, chosen by BENCH_RAW_CLIENT: `h2` (default), one node:http2 session per member
// and a gRPC POST per call, and `grpc-js`, a grpc-js Client. With grpc-js the load generator was
// what the 64-in-flight rows measured: it took a whole core at 266-302 µs of CPU per call, more
// than the three members together (180-231 µs per read, etcd's and ours), against 130-170 µs for
// the node:http2 one (scratch runs, 2026-12-07), which leaves the members the second core.
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { BinaryReader } from '@bufbuild/protobuf/wire';
import { PutRequest, RangeRequest } from '../proto/gen/etcd/etcdserverpb/rpc.js';
import { encodeFrame, FrameDecoder } from '../src/grpc/h2/framing.js';
import { decodeGrpcMessage } from '../src/grpc/h2/status.js';

export const VALUE = Buffer.alloc(256, 0x61);

export interface Encoder<T> {
  encode(m: T): { finish(): Uint8Array };
}

/** One member's connection for unary calls; `path` is the full method path. */
export interface RawClient {
  unary(path: string, body: Uint8Array): Promise<Buffer>;
  close(): void;
}

export const RAW_CLIENT = process.env.BENCH_RAW_CLIENT ?? 'h2';
if (RAW_CLIENT !== 'h2' && RAW_CLIENT !== 'grpc-js') throw new Error(`BENCH_RAW_CLIENT must be h2 or grpc-js, not ${RAW_CLIENT}`);

/** Channel options of every bench grpc-js channel: many streams on one connection, no channelz bookkeeping. */
export const CHANNEL_OPTIONS = { 'grpc.max_concurrent_streams': 1000, 'grpc.enable_channelz': 0 } as grpc.ChannelOptions;

/** One unary call through a grpc-js Client, the request already encoded. */
function grpcJsUnary(c: grpc.Client, path: string, body: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    c.makeUnaryRequest(
      path,
      (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength),
      (b: Buffer) => b,
      body,
      (err, reply) => (err || !reply ? reject(err ?? new Error('empty reply')) : resolve(reply)),
    );
  });
}

function grpcJsClient(address: string): RawClient {
  const c = new grpc.Client(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
  return { unary: (path, body) => grpcJsUnary(c, path, body), close: () => c.close() };
}

class H2Error extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${details}`);
  }
}

function h2Client(address: string): RawClient {
  let session: http2.ClientHttp2Session | null = null;
  const connected = (): http2.ClientHttp2Session => {
    if (session && !session.closed && !session.destroyed) return session;
    const s = http2.connect(`http://${address}`);
    s.on('error', () => {});
    s.on('close', () => {
      if (session === s) session = null;
    });
    session = s;
    return s;
  };
  return {
    unary: (path, body) =>
      new Promise((resolve, reject) => {
        const stream = connected().request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
        const decoder = new FrameDecoder(64 << 20);
        let reply: Buffer | undefined;
        let status: string | undefined;
        let message = '';
        const statusFrom = (h: http2.IncomingHttpHeaders): void => {
          if (h['grpc-status'] === undefined) return;
          status = String(h['grpc-status']);
          message = decodeGrpcMessage(String(h['grpc-message'] ?? ''));
        };
        stream.on('response', statusFrom);
        stream.on('trailers', statusFrom);
        stream.on('data', (chunk: Buffer) => {
          for (const m of decoder.push(chunk)) reply = m;
        });
        stream.on('error', (err: Error) => reject(err));
        stream.on('close', () => {
          if (status === '0' && reply) resolve(reply);
          else reject(new H2Error(Number(status ?? grpc.status.UNAVAILABLE), status === undefined ? `stream closed without a status (code ${stream.rstCode})` : message));
        });
        stream.end(encodeFrame(body));
      }),
    close: () => session?.close(),
  };
}

/** A raw client of the member at `address` (host:port, plaintext), on BENCH_RAW_CLIENT's transport. */
export function rawClient(address: string): RawClient {
  return RAW_CLIENT === 'h2' ? h2Client(address) : grpcJsClient(address);
}

/**
 * One unary KV call on `client`; the reply stays raw bytes. (Its header carries etcd's 64-bit
 * cluster and member ids, above what the generated number-typed decoders accept, and a client
 * that ignores the body is what bench/etcd.ts measures too.) A grpc-js Client is taken as is.
 */
export function call<Req>(client: RawClient | grpc.Client, method: string, req: Encoder<Req>, message: Req): Promise<Buffer> {
  const path = `/etcdserverpb.KV/${method}`;
  const body = req.encode(message).finish();
  return client instanceof grpc.Client ? grpcJsUnary(client, path, body) : client.unary(path, body);
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

export const put = (c: RawClient | grpc.Client, key: string): Promise<Buffer> => call(c, 'Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from(key), value: VALUE }));
export const range = (c: RawClient | grpc.Client, key: string, opts: { serializable?: boolean; revision?: number; rangeEnd?: Buffer; limit?: number } = {}): Promise<Buffer> =>
  call(c, 'Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from(key), ...opts }));

