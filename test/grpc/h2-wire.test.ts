// The gRPC wire pieces of src/grpc/h2/: message framing (split and merged chunks; a bad flag, an
// oversized or a truncated frame refused with a clear status and no message handed on),
// grpc-timeout parsing, grpc-message percent-encoding, metadata with binary values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { encodeFrame, FrameDecoder } from '../../src/grpc/h2/framing.js';
import { parseGrpcTimeout } from '../../src/grpc/h2/deadline.js';
import { decodeGrpcMessage, encodeGrpcMessage, statusTrailers } from '../../src/grpc/h2/status.js';
import { headersFromMetadata, metadataFromHeaders } from '../../src/grpc/h2/metadata.js';
import { GrpcWireError } from '../../src/grpc/h2/errors.js';
import { mulberry32 as rng } from '../chaos/checker/gen.js';

const wireError = (code: number, re: RegExp) => (e: unknown): boolean => e instanceof GrpcWireError && e.code === code && re.test(e.message);

test('frames come back whole however the stream splits or merges them', () => {
  const seed = Number(process.env.TEST_SEED ?? Date.now() % 1_000_000);
  console.log(`seed ${seed} (TEST_SEED to replay)`);
  const rand = rng(seed);
  for (let round = 0; round < 50; round++) {
    const messages = Array.from({ length: 1 + Math.floor(rand() * 6) }, (_, i) => Buffer.alloc(Math.floor(rand() * 300), i + round));
    const wire = Buffer.concat(messages.map(encodeFrame));
    const d = new FrameDecoder(1024);
    const got: Buffer[] = [];
    for (let at = 0; at < wire.length; ) {
      const n = 1 + Math.floor(rand() * 40);
      got.push(...d.push(wire.subarray(at, at + n)));
      at += n;
    }
    d.end();
    assert.deepEqual(got.map((b) => b.toString('hex')), messages.map((b) => b.toString('hex')), `round ${round}`);
  }
});

test('an empty message is a frame of its own', () => {
  const d = new FrameDecoder(10);
  assert.deepEqual(d.push(Buffer.concat([encodeFrame(Buffer.alloc(0)), encodeFrame(Buffer.from('ab'))])).map(String), ['', 'ab']);
  d.end();
});

test('a frame over the limit is refused from its prefix, RESOURCE_EXHAUSTED, and the decoder stays failed', () => {
  const d = new FrameDecoder(100);
  const prefix = Buffer.from([0, 0, 0, 0, 101]);
  assert.throws(() => d.push(prefix), wireError(grpc.status.RESOURCE_EXHAUSTED, /^Received message larger than max \(101 vs\. 100\)$/));
  // Nothing after it is handed on, even a valid frame.
  assert.throws(() => d.push(encodeFrame(Buffer.from('x'))), wireError(grpc.status.RESOURCE_EXHAUSTED, /larger than max/));
  // A 4 GiB length is refused the same way (no allocation).
  assert.throws(() => new FrameDecoder(100).push(Buffer.from([0, 0xff, 0xff, 0xff, 0xff])), wireError(grpc.status.RESOURCE_EXHAUSTED, /4294967295 vs\. 100/));
});

test('a compressed or unknown flag is INTERNAL, nothing handed on', () => {
  const compressed = encodeFrame(Buffer.from('abc'));
  compressed[0] = 1;
  assert.throws(() => new FrameDecoder(100).push(Buffer.concat([encodeFrame(Buffer.from('ok')), compressed])), wireError(grpc.status.INTERNAL, /compressed message without a negotiated grpc-encoding/));
  const bad = encodeFrame(Buffer.from('abc'));
  bad[0] = 7;
  assert.throws(() => new FrameDecoder(100).push(bad), wireError(grpc.status.INTERNAL, /invalid message flag 7/));
});

test('a stream ending inside a frame is INTERNAL at end()', () => {
  const full = encodeFrame(Buffer.from('hello'));
  const cutBody = new FrameDecoder(100);
  assert.deepEqual(cutBody.push(full.subarray(0, full.length - 1)), []);
  assert.throws(() => cutBody.end(), wireError(grpc.status.INTERNAL, /stream ended inside a message \(4 of 5 message bytes\)/));
  const cutPrefix = new FrameDecoder(100);
  assert.deepEqual(cutPrefix.push(full.subarray(0, 3)), []);
  assert.throws(() => cutPrefix.end(), wireError(grpc.status.INTERNAL, /stream ended inside a message \(3 of 5 prefix bytes\)/));
});

test('grpc-timeout: every unit, no header, and malformed values refused', () => {
  assert.equal(parseGrpcTimeout(undefined), undefined);
  assert.equal(parseGrpcTimeout('2H'), 7_200_000);
  assert.equal(parseGrpcTimeout('3M'), 180_000);
  assert.equal(parseGrpcTimeout('5S'), 5000);
  assert.equal(parseGrpcTimeout('250m'), 250);
  assert.equal(parseGrpcTimeout('1500u'), 1.5);
  assert.equal(parseGrpcTimeout('2000000n'), 2);
  assert.equal(parseGrpcTimeout(['99999999m']), 99_999_999);
  for (const bad of ['', 'S', '5', '5s', '5 S', 'x5S', '5Sx', '123456789S', '-5S', '1.5S']) {
    assert.throws(() => parseGrpcTimeout(bad), wireError(grpc.status.INTERNAL, /malformed grpc-timeout header/), bad);
  }
});

test('grpc-message is percent-encoded (non-ASCII, controls and % itself) and decodes back', () => {
  assert.equal(encodeGrpcMessage('etcdserver: key is not provided'), 'etcdserver: key is not provided');
  assert.equal(encodeGrpcMessage('100% sure'), '100%25 sure');
  assert.equal(encodeGrpcMessage('line\nbreak'), 'line%0Abreak');
  assert.equal(encodeGrpcMessage('clé ✓'), 'cl%C3%A9 %E2%9C%93');
  for (const s of ['', 'plain', '100% sure', 'clé ✓ 日本', 'a\r\nb\u0000c', '%%%']) assert.equal(decodeGrpcMessage(encodeGrpcMessage(s)), s);
  // A '%' not followed by two hex digits stays as it is.
  assert.equal(decodeGrpcMessage('50%x and 7%'), '50%x and 7%');
  assert.deepEqual(statusTrailers(0, ''), { 'grpc-status': '0' });
  assert.deepEqual(statusTrailers(8, 'too big: 5%'), { 'grpc-status': '8', 'grpc-message': 'too big: 5%25' });
});

test('metadata: text and -bin values both ways, transport headers left out', () => {
  const md = metadataFromHeaders({
    ':path': '/x.Y/Z',
    ':method': 'POST',
    'content-type': 'application/grpc',
    te: 'trailers',
    'grpc-timeout': '5S',
    token: 'abc',
    'trace-bin': `${Buffer.from([0, 1, 255]).toString('base64')},${Buffer.from('two').toString('base64')}`,
    'x-many': ['a', 'b'] as unknown as string,
  });
  assert.deepEqual(md.get('token'), ['abc']);
  assert.deepEqual(md.get('trace-bin'), [Buffer.from([0, 1, 255]), Buffer.from('two')]);
  assert.deepEqual(md.get('x-many'), ['a', 'b']);
  assert.deepEqual(Object.keys(md.getMap()).sort(), ['token', 'trace-bin', 'x-many']);
  const back = headersFromMetadata(md);
  assert.deepEqual(metadataFromHeaders(back as Record<string, string>).get('trace-bin'), [Buffer.from([0, 1, 255]), Buffer.from('two')]);
  assert.deepEqual(headersFromMetadata(null), {});
});
