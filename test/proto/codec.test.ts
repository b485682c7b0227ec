// The cheaper codec (proto/codec.ts) must produce and accept exactly the library's bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BinaryReader, BinaryWriter } from '@bufbuild/protobuf/wire';
import { ClampingInt64Reader, FastInt64Reader, FastInt64Writer, decodeClamped, decodeMessage, encodeMessage } from '../../proto/codec.js';
import { KeyValue } from '../../proto/gen/placement/v1/kv.js';
import { Lease } from '../../proto/gen/placement/v1/command.js';

const UNSIGNED = [0, 1, 127, 128, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35 + 7, 2 ** 53 - 1];
const SIGNED = [...UNSIGNED, -1, -2, -(2 ** 28), -(2 ** 31), -(2 ** 32) - 1, -(2 ** 53 - 1)];

test('FastInt64Writer writes the same bytes as the library for (u)int64 numbers, bigints and strings', () => {
  const values: Array<number | bigint | string> = [...UNSIGNED, ...UNSIGNED.map(BigInt), ...UNSIGNED.map(String), 18446744073709551615n, '18446744073709551615'];
  for (const v of values) {
    assert.deepEqual(new FastInt64Writer().uint64(v).finish(), new BinaryWriter().uint64(v).finish(), `uint64 ${String(v)}`);
  }
  for (const v of [...SIGNED, ...SIGNED.map(BigInt), -9223372036854775808n, 9223372036854775807n]) {
    assert.deepEqual(new FastInt64Writer().int64(v).finish(), new BinaryWriter().int64(v).finish(), `int64 ${String(v)}`);
  }
});

test('FastInt64Writer rejects what the library rejects', () => {
  for (const bad of [-1, 1.5, NaN, 2 ** 64]) assert.throws(() => new FastInt64Writer().uint64(bad), `uint64 ${bad}`);
  for (const bad of [1.5, NaN]) assert.throws(() => new FastInt64Writer().int64(bad), `int64 ${bad}`);
});

test('FastInt64Reader reads every (u)int64 varint to the value the library reads, and leaves the position where it does', () => {
  for (const v of [...UNSIGNED, 18446744073709551615n]) {
    const bytes = new BinaryWriter().uint64(v).uint32(99).finish();
    const fast = new FastInt64Reader(bytes);
    const slow = new BinaryReader(bytes);
    assert.equal(String(fast.uint64()), String(slow.uint64()), `uint64 ${String(v)}`);
    assert.equal(fast.pos, slow.pos);
    assert.equal(fast.uint32(), 99, 'the next field reads intact');
  }
  for (const v of [...SIGNED, -9223372036854775808n]) {
    const bytes = new BinaryWriter().int64(v).uint32(99).finish();
    const fast = new FastInt64Reader(bytes);
    const slow = new BinaryReader(bytes);
    assert.equal(String(fast.int64()), String(slow.int64()), `int64 ${String(v)}`);
    assert.equal(fast.pos, slow.pos);
    assert.equal(fast.uint32(), 99);
  }
});

test('generated messages round-trip through encodeMessage/decodeMessage with the library bytes', () => {
  const kv: KeyValue = { key: 'a/b', value: Buffer.from('v'), createRevision: 2 ** 28, modRevision: 2 ** 40 + 3, version: 127, lease: 2 ** 53 - 1 };
  const bytes = encodeMessage(KeyValue, kv);
  assert.deepEqual(new Uint8Array(bytes), KeyValue.encode(kv).finish());
  const back = decodeMessage(KeyValue, bytes);
  assert.deepEqual({ ...back, value: Buffer.from(back.value) }, kv);
  assert.equal(typeof back.modRevision, 'number');
  const lease: Lease = { id: 7, ttlMs: 30_000, expiresAtMs: -5, keys: 3 };
  assert.deepEqual(decodeMessage(Lease, encodeMessage(Lease, lease)), lease);
  assert.deepEqual(new Uint8Array(encodeMessage(Lease, lease)), Lease.encode(lease).finish());
});

test('a truncated (u)int64 varint fails to decode as it does with the library', () => {
  for (const v of [5, 2 ** 40]) {
    const bytes = new BinaryWriter().uint32(24).uint64(v).finish(); // KeyValue.create_revision (field 3, varint)
    assert.equal(decodeMessage(KeyValue, bytes).createRevision, v);
    const cut = bytes.subarray(0, bytes.length - 1);
    assert.throws(() => KeyValue.decode(cut), /premature EOF|invalid varint/);
    assert.throws(() => decodeMessage(KeyValue, cut), /premature EOF|invalid varint/);
  }
});

test('ClampingInt64Reader reads values beyond the safe integers as ±(2^53-1), and every other one as the library does', () => {
  const MAX = BigInt(Number.MAX_SAFE_INTEGER);
  for (const [v, want] of [[2n ** 53n, MAX], [2n ** 60n + 5n, MAX], [9223372036854775807n, MAX], [-(2n ** 53n), -MAX], [-9223372036854775808n, -MAX], ...SIGNED.map((n) => [BigInt(n), BigInt(n)])] as [bigint, bigint][]) {
    const bytes = new BinaryWriter().int64(v).uint32(99).finish();
    const r = new ClampingInt64Reader(bytes);
    assert.equal(BigInt(String(r.int64())), want, `int64 ${v}`);
    assert.equal(r.uint32(), 99, 'the next field reads intact');
  }
  for (const [v, want] of [[18446744073709551615n, MAX], [2n ** 53n, MAX], ...UNSIGNED.map((n) => [BigInt(n), BigInt(n)])] as [bigint, bigint][]) {
    assert.equal(BigInt(String(new ClampingInt64Reader(new BinaryWriter().uint64(v).finish()).uint64())), want, `uint64 ${v}`);
  }
  // Through a generated decoder, which refuses such a value with the plain readers.
  const kv = new BinaryWriter().uint32(32).int64(2n ** 60n).finish(); // KeyValue.mod_revision (field 4)
  assert.throws(() => decodeMessage(KeyValue, kv), /larger than Number.MAX_SAFE_INTEGER/);
  assert.equal(decodeClamped(KeyValue, kv).modRevision, Number.MAX_SAFE_INTEGER);
});
