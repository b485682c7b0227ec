// Encoding generated messages through one reused BinaryWriter.
//
// The generated `Msg.encode(m).finish()` starts a fresh writer each time: its buffer grows by
// doubling from 128 bytes (a zero-filled allocation and a copy at every step), and the grpc-js
// serializers then copy the result once more into a Buffer. For a batch of 64 Raft entries that
// is a dozen allocations per message per peer. A writer that is reused keeps its grown buffer;
// each encode then costs one copy, into the Buffer that is returned.
//
// Safe because encoding is synchronous and never re-entrant (a nested message is written on the
// same writer with fork/join, which is how the generated code works anyway).
import { BinaryWriter } from '@bufbuild/protobuf/wire';

/** Past this size the writer is replaced after use, so a rare huge message is not kept alive. */
const KEEP_BYTES = 1 << 20;

let shared = new BinaryWriter();

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
    shared = new BinaryWriter();
    throw err;
  }
  if (bytes.byteLength > KEEP_BYTES) shared = new BinaryWriter();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A grpc-js serializer for `fns`, equivalent to the generated one. */
export function serializer<T>(fns: Encodes<T>): (message: T) => Buffer {
  return (message) => encodeMessage(fns, message);
}

interface MethodDefinition {
  requestSerialize: (value: never) => Buffer;
  responseSerialize: (value: never) => Buffer;
}

/**
 * A copy of a generated grpc-js service definition whose serializers go through the shared
 * writer. `types` names each method's request and response message types.
 */
export function withSharedWriter<D extends Record<string, MethodDefinition>>(
  def: D,
  types: { [K in keyof D]: [Encodes<never>, Encodes<never>] },
): D {
  const out: Record<string, unknown> = {};
  for (const [name, m] of Object.entries(def)) {
    const [req, res] = types[name as keyof D];
    out[name] = { ...m, requestSerialize: serializer(req), responseSerialize: serializer(res) };
  }
  return out as D;
}
