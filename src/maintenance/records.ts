// The state-machine content of a snapshot file, record by record: `klen u32 LE | raw LevelDB key |
// vlen u32 LE | value` (storage/README.md, "Snapshot files"). A backup is read this way to learn
// its revision, and rewritten this way on restore (the membership record).

/** `!meta!revision`: the keyspace revision, u64 LE. */
export const REVISION_KEY = Buffer.from('!meta!revision', 'latin1');
/** `!meta!confState`: the membership (JSON) the state machine last recorded. */
export const CONF_STATE_KEY = Buffer.from('!meta!confState', 'latin1');

/** Bounds on one record, so a damaged length field is refused before anything is allocated. */
const MAX_FIELD = 64 * 1024 * 1024;

/** The records of `content` in order; throws on a truncated or implausible record. */
export async function* records(content: AsyncIterable<Uint8Array>): AsyncGenerator<[Buffer, Buffer]> {
  let buf: Buffer = Buffer.alloc(0);
  for await (const chunk of content) {
    buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
    let at = 0;
    for (;;) {
      if (buf.length - at < 4) break;
      const klen = buf.readUInt32LE(at);
      if (klen > MAX_FIELD) throw new Error(`snapshot content: a key length of ${klen} bytes (damaged)`);
      if (buf.length - at < 8 + klen) break;
      const vlen = buf.readUInt32LE(at + 4 + klen);
      if (vlen > MAX_FIELD) throw new Error(`snapshot content: a value length of ${vlen} bytes (damaged)`);
      if (buf.length - at < 8 + klen + vlen) break;
      yield [buf.subarray(at + 4, at + 4 + klen), buf.subarray(at + 8 + klen, at + 8 + klen + vlen)];
      at += 8 + klen + vlen;
    }
    buf = buf.subarray(at);
  }
  if (buf.length !== 0) throw new Error(`snapshot content ends inside a record (${buf.length} bytes left over)`);
}

/** Calls `fn` with each record of `content` in order. */
export async function forEachRecord(content: AsyncIterable<Uint8Array>, fn: (key: Buffer, value: Buffer) => void): Promise<void> {
  for await (const [k, v] of records(content)) fn(k, v);
}

/** One record in the content encoding. */
export function encodeRecord(key: Buffer, value: Buffer): Buffer {
  const out = Buffer.allocUnsafe(8 + key.length + value.length);
  out.writeUInt32LE(key.length, 0);
  key.copy(out, 4);
  out.writeUInt32LE(value.length, 4 + key.length);
  value.copy(out, 8 + key.length);
  return out;
}
