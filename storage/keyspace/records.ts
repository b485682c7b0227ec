// The two records of the keyspace.
//
// - An event (`log`, by revision): the mvccpb.KeyValue a write produced, value included; a
//   deletion is a KeyValue with only key and mod_revision (version 0). Values live here only.
// - A key's current state (`kv`, by key): where its current event is (main, sub revision) and the
//   metadata that writes, compares, counts and keys-only reads need without the value:
//   36 bytes, `main u64 | sub u32 | create_revision u64 | version u64 | lease u64`, big-endian.
//
// A write therefore stores its value once; a read of a current value costs two point reads
// (`kv` then `log`), each synchronous (getSync) where the caller allows it.

import { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { decodeMessage } from '../../proto/codec.js';
import { logKey } from './keys.js';

export interface Current {
  /** Revision of the key's current value (its mod_revision) and its sub revision. */
  main: number;
  sub: number;
  createRevision: number;
  version: number;
  lease: number;
}

const TWO32 = 2 ** 32;

function put64(b: Buffer, o: number, n: number): void {
  b.writeUInt32BE(Math.floor(n / TWO32), o);
  b.writeUInt32BE(n >>> 0, o + 4);
}

const get64 = (b: Buffer, o: number): number => b.readUInt32BE(o) * TWO32 + b.readUInt32BE(o + 4);

export function encodeCurrent(c: Current): Buffer {
  const b = Buffer.allocUnsafe(36);
  put64(b, 0, c.main);
  b.writeUInt32BE(c.sub, 8);
  put64(b, 12, c.createRevision);
  put64(b, 20, c.version);
  put64(b, 28, c.lease);
  return b;
}

export function decodeCurrent(b: Buffer): Current {
  return { main: get64(b, 0), sub: b.readUInt32BE(8), createRevision: get64(b, 12), version: get64(b, 20), lease: get64(b, 28) };
}

export function decodeKv(record: Buffer): KeyValue {
  return decodeMessage(KeyValue, record);
}

/** The key as a KeyValue without its value (keys-only reads, sorting, filtering). */
export function withoutValue(key: Buffer, c: Current): KeyValue {
  return { key, createRevision: c.createRevision, modRevision: c.main, version: c.version, value: Buffer.alloc(0), lease: c.lease };
}

/** Where the event record of a key's current value is. */
export const currentLogKey = (c: Current): string => logKey(c.main, c.sub);

/** The full current KeyValue of a key, from a point reader of `log` (throws if the event is missing: a corrupt store). */
export function loadCurrent(get: (logKey: string) => Buffer | undefined, key: string, c: Current): KeyValue {
  const rec = get(currentLogKey(c));
  if (!rec) throw new Error(`keyspace: the current value of ${JSON.stringify(key)} (revision ${c.main}/${c.sub}) has no event record`);
  return decodeKv(rec);
}
