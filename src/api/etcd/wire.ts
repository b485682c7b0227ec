// grpc-js service definitions of the etcd services, as the server uses them:
// - the cheaper codec (proto/codec.ts: one reused writer, int64 without BigInt), with request
//   (u)int64 values beyond 2^53 read as ±(2^53-1), which compares as the exact value would
//   (a revision of 2^60 is in the future, a lease id of 2^60 does not exist: etcd's answers);
// - a request that does not decode reaches the handler as a marker (INVALID_ARGUMENT), not
//   grpc-js's INTERNAL (src/grpc/malformed.ts);
// - a request larger than etcd's gRPC receive limit (--max-request-bytes plus 512 KiB of
//   overhead, as etcd sizes its server) is refused before it is decoded, with etcd's
//   RESOURCE_EXHAUSTED; the size of every other request is remembered for the
//   --max-request-bytes check of the writes (`requestBytes`).
import * as grpc from '@grpc/grpc-js';
import { decodeClamped, decodeMessage, serializer, type Decodes, type Encodes } from '../../../proto/codec.js';
import { tolerant } from '../../grpc/malformed.js';

/** etcd's server accepts messages up to --max-request-bytes plus this much (grpcOverheadBytes). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;

const sizes = new WeakMap<object, number>();
const OVERSIZED = Symbol('oversized');

/** Encoded size of a request received through an etcd definition (0 if unknown). */
export function requestBytes(req: object): number {
  return sizes.get(req) ?? 0;
}

/** Records the encoded size of a request made in the process (recipe-kv.ts), for the same checks. */
export function noteRequestBytes(req: object, bytes: number): void {
  sizes.set(req, bytes);
}

/** The gRPC error for a request refused as too large before decoding, or undefined. */
export function oversized(req: unknown): grpc.ServiceError | undefined {
  if (!req || typeof req !== 'object' || !(OVERSIZED in req)) return undefined;
  const { got, max } = (req as { [OVERSIZED]: { got: number; max: number } })[OVERSIZED];
  const message = `grpc: received message larger than max (${got} vs. ${max})`;
  const e = new Error(message) as grpc.ServiceError;
  e.code = grpc.status.RESOURCE_EXHAUSTED;
  e.details = message;
  e.metadata = new grpc.Metadata();
  return e;
}

interface MethodDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  responseSerialize: (value: never) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseDeserialize: (bytes: Buffer) => unknown;
}

type Codec = Encodes<never> & Decodes<unknown>;

/**
 * A server-side copy of a generated etcd service definition (see the header comment);
 * `maxReceiveBytes` is the etcd receive limit.
 */
export function etcdDefinition<D extends Record<string, MethodDefinition>>(def: D, types: { [K in keyof D]: [Codec, Codec] }, maxReceiveBytes: number): D {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const [req, res] = types[name as keyof D];
    out[name] = {
      ...m,
      requestSerialize: serializer(req),
      responseSerialize: serializer(res),
      requestDeserialize: (b: Buffer) => {
        if (b.length > maxReceiveBytes) return { [OVERSIZED]: { got: b.length, max: maxReceiveBytes } };
        const msg = decodeClamped(req, b) as object;
        sizes.set(msg, b.length);
        return msg;
      },
      responseDeserialize: (b: Buffer) => decodeMessage(res, b),
    };
  }
  return tolerant(out as D);
}

/**
 * A generated definition whose request decoders read (u)int64 values beyond 2^53 clamped, as
 * etcdDefinition's do (for services without its size check: Cluster, Maintenance). `types` names
 * each method's request message type.
 */
export function clampedRequests<D extends Record<string, MethodDefinition>>(def: D, types: { [K in keyof D]: Decodes<unknown> }): D {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const req = types[name as keyof D];
    out[name] = { ...m, requestDeserialize: (b: Buffer) => decodeClamped(req, b) };
  }
  return out as D;
}
