// src/grpc/h2/direct-stream.ts on a real grpc-js server, against the same service served by
// grpc-js alone: the hook takes the chosen stream methods (others go to grpc-js), and a grpc-js
// client sees the same messages, statuses, error messages, metadata, deadlines, cancellations and
// size limits either way; pause/resume keeps the order; a client stream answers through its
// callback. A raw HTTP/2 request checks what a grpc-js client cannot send: a message cut short.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { isDirectStreamCall, serveStreamsDirectly, type DirectStreamHook } from '../../src/grpc/h2/direct-stream.js';
import { encodeFrame } from '../../src/grpc/h2/framing.js';
import { servePair, appMetadata, type Served as PairServed, type ServedPair } from '../support/grpc-pair.js';

const raw = (b: Buffer): Buffer => b;
const method = (path: string, requestStream: boolean, responseStream: boolean) => ({ path, requestStream, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw });
const bidi = (path: string) => method(path, true, true);
const service = {
  chat: bidi('/test.Str/Chat'),
  fail: bidi('/test.Str/Fail'),
  failFirst: bidi('/test.Str/FailFirst'),
  meta: bidi('/test.Str/Meta'),
  hang: bidi('/test.Str/Hang'),
  big: bidi('/test.Str/Big'),
  slow: bidi('/test.Str/Slow'),
  sum: method('/test.Str/Sum', true, false),
  other: bidi('/test.Str/Other'),
  picky: {
    ...bidi('/test.Str/Picky'),
    requestDeserialize: (b: Buffer) => {
      if (b.toString() === 'bad') throw new Error('not a request');
      return b;
    },
  },
} as unknown as grpc.ServiceDefinition;
const DIRECT = new Set(['/test.Str/Picky', '/test.Str/Chat', '/test.Str/Fail', '/test.Str/FailFirst', '/test.Str/Meta', '/test.Str/Hang', '/test.Str/Big', '/test.Str/Slow', '/test.Str/Sum']);

const MAX_IN = 64 * 1024;
const MAX_OUT = 32 * 1024;
/** Which server's handlers were told their call was cancelled, and how each was served. */
const cancelSeen: string[] = [];
const servedDirectly: Record<string, boolean[]> = {};

type Duplex = grpc.ServerDuplexStream<Buffer, Buffer>;
const note = (path: string, call: unknown): void => void (servedDirectly[path] ??= []).push(isDirectStreamCall(call));

const handlers = {
  chat: (call: Duplex) => {
    note('chat', call);
    call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('chat:'), m])));
    call.on('end', () => call.end());
  },
  fail: (call: Duplex) => {
    call.on('data', (m: Buffer) => {
      if (m.toString() !== 'boom') {
        call.write(Buffer.from(`ok:${m.toString()}`));
        return;
      }
      const md = new grpc.Metadata();
      md.set('why', 'because');
      md.set('detail-bin', Buffer.from([0, 1, 2, 255]));
      call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'refused: 100% — ünïcode', metadata: md });
    });
  },
  failFirst: (call: Duplex) => {
    call.emit('error', Object.assign(new Error('no code here'), {}));
  },
  meta: (call: Duplex) => {
    const sent = new grpc.Metadata();
    sent.set('x-server', 'yes');
    call.sendMetadata(sent);
    call.on('data', () => {
      call.write(Buffer.from(JSON.stringify({ user: call.metadata.get('x-user'), bin: (call.metadata.get('x-blob-bin')[0] as Buffer | undefined)?.toString('hex'), peer: call.getPeer().startsWith('127.0.0.1:'), auth: call.getAuthContext() })));
      call.end();
    });
  },
  hang: (call: Duplex) => {
    call.on('data', (m: Buffer) => call.on('cancelled', () => cancelSeen.push(m.toString())));
  },
  big: (call: Duplex) => {
    call.on('data', (m: Buffer) => call.write(Buffer.alloc(m.readUInt32BE(0), 7)));
  },
  slow: (call: Duplex) => {
    // Paused for a moment after every message: what arrives meanwhile waits, in order.
    call.on('data', (m: Buffer) => {
      call.pause();
      setTimeout(() => {
        call.write(Buffer.concat([Buffer.from('slow:'), m]));
        call.resume();
      }, 3);
    });
    call.on('end', () => call.end());
  },
  sum: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    let total = 0;
    call.on('data', (m: Buffer) => (total += m.readUInt32BE(0)));
    call.on('end', () => (total > 1000 ? cb({ code: grpc.status.OUT_OF_RANGE, details: `total ${total} too large` }, null) : cb(null, Buffer.from(`sum:${total}`))));
  },
  picky: (call: Duplex) => {
    call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('picky:'), m])));
    call.on('end', () => call.end());
  },
  other: (call: Duplex) => {
    note('other', call);
    call.on('data', (m: Buffer) => call.write(m));
    call.on('end', () => call.end());
  },
};

type Served = PairServed<DirectStreamHook>;

interface Outcome {
  messages: string[];
  code?: number;
  details?: string;
  trailers?: Record<string, unknown>;
  headers?: Record<string, unknown>;
}


/** A bidi call: sends `messages` (then half-closes unless `keepOpen`), collects what comes back. */
function chatOn(s: Served, path: string, messages: Buffer[], opts: { deadlineMs?: number; md?: grpc.Metadata; cancelAfterMs?: number; keepOpen?: boolean } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { messages: [] };
    const call = s.client.makeBidiStreamRequest(path, raw, raw, opts.md ?? new grpc.Metadata(), opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {});
    call.on('metadata', (md) => (out.headers = appMetadata(md.getMap())));
    call.on('data', (m: Buffer) => out.messages.push(m.length > 64 ? `${m.length} bytes` : m.toString()));
    call.on('error', () => undefined);
    call.on('status', (st) => {
      out.code = st.code;
      // An OK status has no words on the wire from the direct path (etcd sends none either);
      // grpc-js's server sends 'OK'.
      out.details = st.code === grpc.status.OK && st.details === '' ? 'OK' : st.details;
      out.trailers = appMetadata(st.metadata.getMap());
      setImmediate(() => resolve(out));
    });
    for (const m of messages) call.write(m);
    if (!opts.keepOpen) call.end();
    if (opts.cancelAfterMs !== undefined) setTimeout(() => call.cancel(), opts.cancelAfterMs);
  });
}

const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

let pair: ServedPair<DirectStreamHook> | undefined;
let direct: Served;
let plain: Served;
before(async () => {
  pair = await servePair(service, handlers, { maxIn: MAX_IN, maxOut: MAX_OUT }, (server) => serveStreamsDirectly(server, { paths: DIRECT, limits: { maxReceiveMessageBytes: MAX_IN, maxSendMessageBytes: MAX_OUT } }), {
    'grpc.max_receive_message_length': 1024 * 1024,
    'grpc.max_send_message_length': 1024 * 1024,
  });
  ({ direct, plain } = pair);
});
after(() => pair?.close());

describe('direct stream calls (src/grpc/h2/direct-stream.ts)', () => {
  test('the hook takes the chosen stream methods; the others go to grpc-js', async () => {
    const hook = direct.hook!;
    assert.equal(hook.hooked, true, 'grpc-js still has Server.register and createHttp2Server with one stream listener');
    assert.deepEqual([...hook.paths].sort(), [...DIRECT].sort());
    const before = { ...hook.counts };
    servedDirectly.chat = [];
    servedDirectly.other = [];
    const msgs = ['a', 'b', 'c'].map((x) => Buffer.from(x));
    const [a, b] = await Promise.all([chatOn(direct, '/test.Str/Chat', msgs), chatOn(plain, '/test.Str/Chat', msgs)]);
    assert.deepEqual(a, b);
    assert.deepEqual(a.messages, ['chat:a', 'chat:b', 'chat:c']);
    assert.equal(a.code, grpc.status.OK);
    const [c, d] = await Promise.all([chatOn(direct, '/test.Str/Other', msgs), chatOn(plain, '/test.Str/Other', msgs)]);
    assert.deepEqual(c, d);
    assert.deepEqual(servedDirectly, { chat: [true, false], other: [false, false] });
    assert.equal(hook.counts.direct, before.direct + 1);
    assert.equal(hook.counts.handedOver, before.handedOver + 1, 'the path not chosen went to grpc-js');
  });

  test('errors mid-stream and before any message, with their message and trailing metadata, are what grpc-js gives', async () => {
    for (const [path, messages] of [
      ['/test.Str/Fail', ['one', 'two', 'boom', 'after']],
      ['/test.Str/Fail', ['boom']],
      ['/test.Str/FailFirst', ['x']],
      ['/test.Str/FailFirst', []],
    ] as const) {
      const bufs = messages.map((m) => Buffer.from(m));
      const [a, b] = await Promise.all([chatOn(direct, path, bufs, { keepOpen: true }), chatOn(plain, path, bufs, { keepOpen: true })]);
      assert.deepEqual(a, b, `${path} ${messages.join(',')}`);
      assert.notEqual(a.code, grpc.status.OK);
    }
  });

  test('metadata both ways, peer and auth context are what grpc-js gives', async () => {
    const md = new grpc.Metadata();
    md.set('x-user', 'alice');
    md.set('x-blob-bin', Buffer.from([9, 8, 7]));
    const [a, b] = await Promise.all([chatOn(direct, '/test.Str/Meta', [Buffer.from('m')], { md }), chatOn(plain, '/test.Str/Meta', [Buffer.from('m')], { md })]);
    assert.deepEqual(a, b);
    assert.deepEqual(JSON.parse(a.messages[0]!), { user: ['alice'], bin: '090807', peer: true, auth: {} });
    assert.equal(a.headers?.['x-server'], 'yes');
  });

  test('sendMetadata sends the response headers at once, before any message, as grpc-js does', async () => {
    // A client-streaming call may answer nothing before its end; a grpc-js client keeps every
    // message it sent until it sees the headers.
    const headersOf = (s: Served): Promise<Record<string, unknown> | 'none'> =>
      new Promise((resolve) => {
        const call = s.client.makeBidiStreamRequest('/test.Str/Meta', raw, raw, new grpc.Metadata());
        call.on('error', () => undefined);
        const timer = setTimeout(() => {
          resolve('none');
          call.cancel();
        }, 5_000);
        call.on('metadata', (md) => {
          clearTimeout(timer);
          resolve(appMetadata(md.getMap()));
          call.cancel();
        });
      });
    const [a, b] = await Promise.all([headersOf(direct), headersOf(plain)]);
    assert.deepEqual(a, b);
    assert.notEqual(a, 'none');
    assert.equal((a as Record<string, unknown>)['x-server'], 'yes');
  });

  test('a deadline that passes ends the call DEADLINE_EXCEEDED, a client cancel cancels it; the handler is told', async () => {
    cancelSeen.length = 0;
    const [a, b] = await Promise.all([chatOn(direct, '/test.Str/Hang', [Buffer.from('d1')], { deadlineMs: 150, keepOpen: true }), chatOn(plain, '/test.Str/Hang', [Buffer.from('d2')], { deadlineMs: 150, keepOpen: true })]);
    assert.equal(a.code, grpc.status.DEADLINE_EXCEEDED);
    assert.deepEqual({ ...a, details: '' }, { ...b, details: '' });
    const [c, d] = await Promise.all([chatOn(direct, '/test.Str/Hang', [Buffer.from('c1')], { cancelAfterMs: 50, keepOpen: true }), chatOn(plain, '/test.Str/Hang', [Buffer.from('c2')], { cancelAfterMs: 50, keepOpen: true })]);
    assert.equal(c.code, grpc.status.CANCELLED);
    assert.equal(c.code, d.code);
    // The server learns of a client's cancel from the stream's reset, a moment after the client.
    for (let i = 0; i < 100 && cancelSeen.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([...cancelSeen].sort(), ['c1', 'c2', 'd1', 'd2']);
  });

  test('messages beyond the size limits end the call RESOURCE_EXHAUSTED either way', async () => {
    for (const [messages, what] of [
      [[u32(100), u32(MAX_OUT + 1)], 'a reply over the send limit'],
      [[u32(100), Buffer.alloc(MAX_IN + 1)], 'a request over the receive limit'],
    ] as const) {
      const [a, b] = await Promise.all([chatOn(direct, '/test.Str/Big', [...messages], { keepOpen: true }), chatOn(plain, '/test.Str/Big', [...messages], { keepOpen: true })]);
      assert.equal(a.code, grpc.status.RESOURCE_EXHAUSTED, what);
      assert.deepEqual(a, b, what);
    }
  });

  test('a message its method cannot decode ends the call INTERNAL, after the answers before it, as grpc-js does', async () => {
    const msgs = ['one', 'bad', 'three'].map((m) => Buffer.from(m));
    const [a, b] = await Promise.all([chatOn(direct, '/test.Str/Picky', msgs, { keepOpen: true }), chatOn(plain, '/test.Str/Picky', msgs, { keepOpen: true })]);
    assert.deepEqual(a, b);
    assert.deepEqual([a.messages, a.code, a.details], [['picky:one'], grpc.status.INTERNAL, 'Error deserializing request']);
  });

  test('a handler that pauses gets every message, in order, and the half-close after them', async () => {
    const msgs = Array.from({ length: 40 }, (_, i) => Buffer.from(`m${i}`));
    const [a, b] = await Promise.all([chatOn(direct, '/test.Str/Slow', msgs), chatOn(plain, '/test.Str/Slow', msgs)]);
    assert.deepEqual(a.messages, msgs.map((m) => `slow:${m.toString()}`));
    assert.equal(a.code, grpc.status.OK);
    // grpc-js may hand the half-close over while the handler is paused on the last message (as a
    // Readable would not), so its reply can lack that message's answer; the rest is the same.
    assert.deepEqual({ ...a, messages: a.messages.slice(0, b.messages.length) }, b);
    assert.ok(b.messages.length >= msgs.length - 1, `grpc-js answered ${b.messages.length} of ${msgs.length}`);
  });

  test('a client stream answers through its callback: one reply and OK, or the error status', async () => {
    const sum = (s: Served, values: number[]): Promise<{ code: number; details?: string; reply?: string }> =>
      new Promise((resolve) => {
        const call = s.client.makeClientStreamRequest('/test.Str/Sum', raw, raw, (err, reply) => resolve(err ? { code: err.code, details: err.details } : { code: 0, reply: reply?.toString() }));
        for (const v of values) call.write(u32(v));
        call.end();
      });
    for (const values of [[1, 2, 3], [], [600, 600]]) {
      const [a, b] = await Promise.all([sum(direct, values), sum(plain, values)]);
      assert.deepEqual(a, b, values.join(','));
    }
    assert.deepEqual(await sum(direct, [1, 2, 3]), { code: 0, reply: 'sum:6' });
  });

  test('a message cut short by the end of the stream ends the call INTERNAL (grpc-js drops it and ends OK)', async () => {
    const rawCall = (port: number): Promise<{ status: string | undefined; data: number }> =>
      new Promise((resolve, reject) => {
        const session = http2.connect(`http://127.0.0.1:${port}`);
        session.on('error', reject);
        const req = session.request({ ':method': 'POST', ':path': '/test.Str/Chat', 'content-type': 'application/grpc', te: 'trailers' });
        let data = 0;
        let status: string | undefined;
        req.on('response', (h) => (status = (h['grpc-status'] as string | undefined) ?? status));
        req.on('trailers', (t) => (status = t['grpc-status'] as string | undefined));
        req.on('data', (d: Buffer) => (data += d.length));
        req.on('close', () => {
          session.close();
          resolve({ status, data });
        });
        const whole = encodeFrame(Buffer.from('whole'));
        req.end(Buffer.concat([whole, encodeFrame(Buffer.from('cut short')).subarray(0, 8)]));
      });
    const [a, b] = await Promise.all([rawCall(direct.port), rawCall(plain.port)]);
    assert.equal(a.status, String(grpc.status.INTERNAL));
    assert.equal(b.status, String(grpc.status.OK));
    assert.equal(a.data, b.data, 'the whole message before it was answered on both');
  });
});
