// src/grpc/h2/direct-unary.ts on a real grpc-js server, against the same service served by grpc-js
// alone: the hook takes (unary calls are answered directly, streams and what it does not take go to
// grpc-js), and a grpc-js client sees the same replies, statuses, messages, metadata, deadlines,
// cancellations and size limits either way. Raw HTTP/2 requests check what a grpc-js client
// cannot send: no message, two messages, a message cut short.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { serveUnaryDirectly, type DirectUnaryHook } from '../../src/grpc/h2/direct-unary.js';
import { encodeFrame } from '../../src/grpc/h2/framing.js';
import { servePair, appMetadata, type Served as PairServed, type ServedPair } from '../support/grpc-pair.js';

const raw = (b: Buffer): Buffer => b;
const unary = (path: string) => ({ path, requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw });
const service = {
  echo: unary('/test.Svc/Echo'),
  fail: unary('/test.Svc/Fail'),
  hang: unary('/test.Svc/Hang'),
  big: unary('/test.Svc/Big'),
  meta: unary('/test.Svc/Meta'),
  chat: { ...unary('/test.Svc/Chat'), requestStream: true, responseStream: true },
} as unknown as grpc.ServiceDefinition;

const MAX_IN = 64 * 1024;
const MAX_OUT = 32 * 1024;
/** What the hang handler saw when its call ended: 'cancelled' events by path. */
const cancelSeen: string[] = [];

const handlers = {
  echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.concat([Buffer.from('echo:'), call.request])),
  fail: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    const md = new grpc.Metadata();
    md.set('why', 'because');
    md.set('detail-bin', Buffer.from([0, 1, 2, 255]));
    cb({ code: grpc.status.FAILED_PRECONDITION, details: `refused ${call.request.toString()}: 100% — ünïcode`, metadata: md } as grpc.ServiceError, null);
  },
  hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
    call.on('cancelled', () => cancelSeen.push(call.request.toString()));
  },
  big: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.alloc(call.request.readUInt32BE(0), 7)),
  meta: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    const sent = new grpc.Metadata();
    sent.set('x-server', 'yes');
    call.sendMetadata(sent);
    const dl = call.getDeadline();
    const info = {
      user: call.metadata.get('x-user'),
      bin: (call.metadata.get('x-blob-bin')[0] as Buffer | undefined)?.toString('hex'),
      hasTimeout: call.metadata.get('grpc-timeout').length > 0,
      deadlineInMs: Number.isFinite(Number(dl instanceof Date ? dl.getTime() : dl)) ? Number(dl instanceof Date ? dl.getTime() : dl) - Date.now() : null,
      peer: call.getPeer().startsWith('127.0.0.1:'),
      auth: call.getAuthContext(),
    };
    cb(null, Buffer.from(JSON.stringify(info)));
  },
  chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
    call.on('data', (m: Buffer) => call.write(Buffer.concat([Buffer.from('chat:'), m])));
    call.on('end', () => call.end());
  },
};

type Served = PairServed<DirectUnaryHook>;

interface Outcome {
  reply?: string;
  code?: number;
  details?: string;
  trailers?: Record<string, unknown>;
  headers?: Record<string, unknown>;
}


function callOn(s: Served, path: string, req: Buffer, opts: { deadlineMs?: number; md?: grpc.Metadata; cancelAfterMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = {};
    const options: grpc.CallOptions = opts.deadlineMs ? { deadline: Date.now() + opts.deadlineMs } : {};
    const call = s.client.makeUnaryRequest(path, raw, raw, req, opts.md ?? new grpc.Metadata(), options, (err, value) => {
      if (err) {
        out.code = err.code;
        out.details = err.details;
        out.trailers = appMetadata(err.metadata.getMap());
      } else {
        out.reply = value?.toString('utf8');
        out.code = 0;
      }
      // The status (and its trailers) can come after the callback; give it the turn.
      setImmediate(() => resolve(out));
    });
    call.on('metadata', (md) => (out.headers = appMetadata(md.getMap())));
    call.on('status', (st) => {
      if (st.code === 0) out.trailers = appMetadata(st.metadata.getMap());
    });
    if (opts.cancelAfterMs !== undefined) setTimeout(() => call.cancel(), opts.cancelAfterMs);
  });
}

let pair: ServedPair<DirectUnaryHook> | undefined;
let direct: Served;
let plain: Served;
before(async () => {
  pair = await servePair(service, handlers, { maxIn: MAX_IN, maxOut: MAX_OUT }, (server) => serveUnaryDirectly(server, { maxReceiveMessageBytes: MAX_IN, maxSendMessageBytes: MAX_OUT }));
  ({ direct, plain } = pair);
});
after(() => pair?.close());

describe('direct unary calls (src/grpc/h2/direct-unary.ts)', () => {
  test('the hook takes: unary calls are served directly, the stream and an unknown method go to grpc-js', async () => {
    const hook = direct.hook!;
    assert.equal(hook.hooked, true, 'grpc-js still has Server.register and createHttp2Server with one stream listener');
    assert.deepEqual([...hook.paths].sort(), ['/test.Svc/Big', '/test.Svc/Echo', '/test.Svc/Fail', '/test.Svc/Hang', '/test.Svc/Meta']);
    const before = { ...hook.counts };
    const [a, b] = await Promise.all([callOn(direct, '/test.Svc/Echo', Buffer.from('hi')), callOn(plain, '/test.Svc/Echo', Buffer.from('hi'))]);
    assert.deepEqual(a, b);
    assert.equal(a.reply, 'echo:hi');
    assert.equal(hook.counts.direct, before.direct + 1);
    assert.equal(hook.counts.handedOver, before.handedOver);

    const chat = direct.client.makeBidiStreamRequest('/test.Svc/Chat', raw, raw);
    const got: string[] = [];
    chat.on('data', (m: Buffer) => got.push(m.toString()));
    const ended = new Promise<void>((res) => chat.on('status', () => res()));
    chat.write(Buffer.from('a'));
    chat.write(Buffer.from('b'));
    chat.end();
    await ended;
    assert.deepEqual(got, ['chat:a', 'chat:b']);
    const unknown = await callOn(direct, '/test.Svc/Nope', Buffer.from('x'));
    assert.equal(unknown.code, grpc.status.UNIMPLEMENTED);
    assert.equal(hook.counts.handedOver, before.handedOver + 2);
  });

  test('replies, errors with their message and trailing metadata, and metadata both ways are what grpc-js gives', async () => {
    const md = new grpc.Metadata();
    md.set('x-user', 'alice');
    md.set('x-blob-bin', Buffer.from([9, 8, 7]));
    for (const [path, req, opts] of [
      ['/test.Svc/Echo', Buffer.from('hello'), {}],
      ['/test.Svc/Echo', Buffer.alloc(0), {}],
      ['/test.Svc/Fail', Buffer.from('it'), {}],
      ['/test.Svc/Meta', Buffer.from('m'), { md }],
      ['/test.Svc/Meta', Buffer.from('m'), { md, deadlineMs: 5000 }],
    ] as const) {
      const [a, b] = await Promise.all([callOn(direct, path, req, opts), callOn(plain, path, req, opts)]);
      if (path === '/test.Svc/Meta') {
        // The remaining time differs by the moments each call was made: compare it as a range.
        const [ia, ib] = [JSON.parse(a.reply!), JSON.parse(b.reply!)];
        for (const i of [ia, ib]) {
          if (opts.deadlineMs) assert.ok(i.deadlineInMs > 4000 && i.deadlineInMs <= 5000, `deadline seen ${i.deadlineInMs} ms ahead`);
          else assert.equal(i.deadlineInMs, null);
          i.deadlineInMs = typeof i.deadlineInMs;
        }
        assert.deepEqual(ia, ib);
        assert.deepEqual(ia, { user: ['alice'], bin: '090807', hasTimeout: false, deadlineInMs: opts.deadlineMs ? 'number' : 'object', peer: true, auth: {} });
        assert.deepEqual(a.headers, b.headers);
        assert.equal(a.headers?.['x-server'], 'yes');
        continue;
      }
      assert.deepEqual(a, b, `${path} ${req.toString()}`);
    }
  });

  test('a deadline that passes first ends the call DEADLINE_EXCEEDED, and a client cancel cancels it; the handler is told', async () => {
    cancelSeen.length = 0;
    const [a, b] = await Promise.all([callOn(direct, '/test.Svc/Hang', Buffer.from('d1'), { deadlineMs: 150 }), callOn(plain, '/test.Svc/Hang', Buffer.from('d2'), { deadlineMs: 150 })]);
    assert.equal(a.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(a.code, b.code);
    const [c, d] = await Promise.all([callOn(direct, '/test.Svc/Hang', Buffer.from('c1'), { cancelAfterMs: 50 }), callOn(plain, '/test.Svc/Hang', Buffer.from('c2'), { cancelAfterMs: 50 })]);
    assert.equal(c.code, grpc.status.CANCELLED);
    assert.equal(c.code, d.code);
    // The server learns of a client's cancel from the stream's reset, a moment after the client.
    for (let i = 0; i < 100 && cancelSeen.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([...cancelSeen].sort(), ['c1', 'c2', 'd1', 'd2']);
  });

  test('a request over the receive limit and a reply over the send limit are RESOURCE_EXHAUSTED, as with grpc-js', async () => {
    const big = Buffer.alloc(MAX_IN + 1, 1);
    const [a, b] = await Promise.all([callOn(direct, '/test.Svc/Echo', big), callOn(plain, '/test.Svc/Echo', big)]);
    assert.equal(a.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(a.code, b.code);
    assert.match(a.details!, /larger than max \(65537 vs\. 65536\)/);
    const size = Buffer.alloc(4);
    size.writeUInt32BE(MAX_OUT + 1);
    const [c, d] = await Promise.all([callOn(direct, '/test.Svc/Big', size), callOn(plain, '/test.Svc/Big', size)]);
    assert.equal(c.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(c.code, d.code);
    size.writeUInt32BE(MAX_OUT);
    const ok = await callOn(direct, '/test.Svc/Big', size);
    assert.equal(ok.code, 0);
    assert.equal(ok.reply!.length, MAX_OUT);
  });

  test('a compressed request is left to grpc-js, which decompresses it', async () => {
    const c = new grpc.Client(`127.0.0.1:${direct.port}`, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 /* gzip */ });
    try {
      const before = direct.hook!.counts.handedOver;
      const reply = await new Promise<string>((res, rej) => c.makeUnaryRequest('/test.Svc/Echo', raw, raw, Buffer.alloc(2000, 0x61), (e, v) => (e ? rej(e) : res(v!.toString()))));
      assert.equal(reply, `echo:${'a'.repeat(2000)}`);
      assert.equal(direct.hook!.counts.handedOver, before + 1);
    } finally {
      c.close();
    }
  });

  test('raw HTTP/2: no message, two messages, a message cut short, a bad flag — each answered with a status and no handler call', async () => {
    const session = http2.connect(`http://127.0.0.1:${direct.port}`);
    after(() => session.close());
    const send = (body: Buffer): Promise<{ status: string | undefined; message: string | undefined; data: number }> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ':method': 'POST', ':path': '/test.Svc/Echo', 'content-type': 'application/grpc', te: 'trailers' });
        let data = 0;
        let headers: http2.IncomingHttpHeaders = {};
        req.on('response', (h) => (headers = h));
        req.on('data', (d: Buffer) => (data += d.length));
        req.on('trailers', (t) => (headers = { ...headers, ...t }));
        req.on('error', reject);
        req.on('close', () => resolve({ status: headers['grpc-status'] as string | undefined, message: headers['grpc-message'] as string | undefined, data }));
        req.end(body);
      });
    const one = encodeFrame(Buffer.from('x'));
    assert.deepEqual(await send(Buffer.alloc(0)), { status: String(grpc.status.UNIMPLEMENTED), message: 'Received no request message for server streaming method /test.Svc/Echo', data: 0 });
    const two = await send(Buffer.concat([one, one]));
    assert.equal(two.status, String(grpc.status.UNIMPLEMENTED));
    assert.equal(two.data, 0);
    const cut = await send(one.subarray(0, 5));
    assert.equal(cut.status, String(grpc.status.INTERNAL));
    assert.match(cut.message!, /stream ended inside a message/);
    const flag = Buffer.from(one);
    flag[0] = 7;
    const bad = await send(flag);
    assert.equal(bad.status, String(grpc.status.INTERNAL));
    assert.equal(bad.data, 0);
    const good = await send(one);
    assert.equal(good.status, '0');
    assert.equal(good.data, 5 + 'echo:x'.length);
  });
});
