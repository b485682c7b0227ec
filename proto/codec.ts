// Encoding and decoding generated messages cheaply.
//
// 1. One reused BinaryWriter.
//
// The generated `Msg.encode(m).finish()` starts a fresh writer each time: its buffer grows by
// doubling from 128 bytes (a zero-filled allocation and a copy at every step), and the grpc-js
// serializers then copy the result once more into a Buffer. For a batch of 64 Raft entries that
// is a dozen allocations per message per peer. A writer that is reused keeps its grown buffer;
// each encode then costs one copy, into the Buffer that is returned.
//
// Safe because encoding is synchronous and never re-entrant (a nested message is written on the
// same writer with fork/join, which is how the generated code works anyway).
//
// 2. 64-bit integers without BigInt. protobuf-es converts every (u)int64 through a BigInt and a
// DataView, and ts-proto (forceLong=number) then turns the BigInt into a string and the string
// into a number: a few hundred nanoseconds per field. Revisions, terms, indexes and xids are
// (u)int64 and almost always small, so the writer and reader below take the short way for values
// whose varint is the same as a uint32's, and the library's path for everything else. The wire
// bytes are identical (test/proto/codec.test.ts).
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';

/** Writes small non-negative (u)int64 numbers as the uint32 varint they encode to anyway. */
export class FastInt64Writer extends BinaryWriter {
  override uint64(value: string | number | bigint): this {
    if (typeof value === 'number' && value >= 0 && value <= 0xffffffff && Number.isInteger(value)) return this.uint32(value);
    return super.uint64(value);
  }

  override int64(value: string | number | bigint): this {
    if (typeof value === 'number' && value >= 0 && value <= 0xffffffff && Number.isInteger(value)) return this.uint32(value);
    return super.int64(value);
  }
}

/**
 * Reads a (u)int64 varint of at most 4 bytes (a value below 2^28, never negative) as a plain
 * number; longer ones go through the library. The generated code passes whatever uint64()
 * returns to Number(x.toString()), so a number is as good as the declared bigint | string.
 */
export class FastInt64Reader extends BinaryReader {
  override uint64(): bigint | string {
    return this.short() ?? super.uint64();
  }

  override int64(): bigint | string {
    return this.short() ?? super.int64();
  }

  /** The varint at pos if it is at most 4 bytes (consumed), else undefined (pos unchanged). */
  private short(): string | undefined {
    const start = this.pos;
    const v = this.uint32();
    if (this.pos - start <= 4) return v as unknown as string;
    this.pos = start;
    return undefined;
  }
}

/**
 * A FastInt64Reader for etcd's requests, where every (u)int64 is a value compared with ours: a
 * revision, a version, a lease id, a limit. A value beyond the safe integers (which the generated
 * code refuses to turn into a number) is read as the nearest safe one, ±(2^53-1). No revision,
 * version or count of this cluster gets that far and no lease has that id (LeaseGrant refuses
 * it), so every comparison comes out as it would with the exact value: a revision of 2^60 is a
 * future revision and a lease id of 2^60 does not exist, which is what etcd answers, instead of a
 * malformed request.
 */
export class ClampingInt64Reader extends FastInt64Reader {
  override uint64(): bigint | string {
    return clamp(super.uint64());
  }

  override int64(): bigint | string {
    return clamp(super.int64());
  }
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function clamp(v: bigint | string): bigint | string {
  // The short path hands back a plain number (see FastInt64Reader): always within range.
  if (typeof v !== 'bigint') return v;
  return v > MAX_SAFE ? MAX_SAFE : v < MIN_SAFE ? MIN_SAFE : v;
}

/**
 * A FastInt64Reader that refuses a `string` field whose bytes are not valid UTF-8 (protobuf's own
 * rule for `string`) instead of replacing them with U+FFFD: the native API's keys are strings, and
 * two different byte keys must never decode to the same key.
 */
export class StrictUtf8Reader extends FastInt64Reader {
  override string(): string {
    try {
      return super.string(true);
    } catch (err) {
      if (err instanceof TypeError) throw new Error(INVALID_UTF8);
      throw err;
    }
  }
}

export const INVALID_UTF8 = 'a string field is not valid UTF-8 (keys of placement.v1 are UTF-8 text; the etcd API takes keys of any bytes)';

/** Past this size the writer is replaced after use, so a rare huge message is not kept alive. */
const KEEP_BYTES = 1 << 20;

let shared: BinaryWriter = new FastInt64Writer();

/** The encode half of a ts-proto message type. */
export interface Encodes<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** `fns.encode(message).finish()` as a Buffer that owns its bytes, through the shared writer. */
export function encodeMessage<T>(fns: Encodes<T>, message: T): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = fns.encode(message, shared).finish();
  } catch (err) {
    // A half-written message (a bad field value) must not leak into the next encode.
    shared = new FastInt64Writer();
    throw err;
  }
  if (bytes.byteLength > KEEP_BYTES) shared = new FastInt64Writer();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The decode half of a ts-proto message type. */
export interface Decodes<T> {
  decode(input: BinaryReader | Uint8Array, length?: number): T;
}

/** `fns.decode(bytes)`, reading (u)int64 fields through FastInt64Reader (and strings strictly, with `strictUtf8`). */
export function decodeMessage<T>(fns: Decodes<T>, bytes: Uint8Array, strictUtf8 = false): T {
  return fns.decode(strictUtf8 ? new StrictUtf8Reader(bytes) : new FastInt64Reader(bytes));
}

/** `fns.decode(bytes)` with (u)int64 fields beyond the safe integers clamped (ClampingInt64Reader). */
export function decodeClamped<T>(fns: Decodes<T>, bytes: Uint8Array): T {
  return fns.decode(new ClampingInt64Reader(bytes));
}

/** A grpc-js serializer for `fns`, equivalent to the generated one. */
export function serializer<T>(fns: Encodes<T>): (message: T) => Buffer {
  return (message) => encodeMessage(fns, message);
}

interface MethodDefinition {
  requestSerialize: (value: never) => Buffer;
  responseSerialize: (value: never) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseDeserialize: (bytes: Buffer) => unknown;
}

type Codec = Encodes<never> & Decodes<unknown>;

/**
 * A copy of a generated grpc-js service definition whose serializers go through the shared
 * writer and whose deserializers read (u)int64 fields without BigInt (and, with `strictUtf8`,
 * refuse strings that are not UTF-8). `types` names each method's request and response message
 * types.
 */
export function withFastCodec<D extends Record<string, MethodDefinition>>(def: D, types: { [K in keyof D]: [Codec, Codec] }, opts: { strictUtf8?: boolean } = {}): D {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const [req, res] = types[name as keyof D];
    out[name] = {
      ...m,
      requestSerialize: serializer(req),
      responseSerialize: serializer(res),
      requestDeserialize: (b: Buffer) => decodeMessage(req, b, opts.strictUtf8),
      responseDeserialize: (b: Buffer) => decodeMessage(res, b, opts.strictUtf8),
    };
  }
  return out as D;
}
