// src/grpc/stream-writer.ts on a real grpc-js server: messages written in one turn arrive whole
// and in order, the status sent by call.end() comes after them (with and without an interceptor
// shaped like the auth one), they leave in a few socket writes instead of one each, and a write
// after the end is dropped without an error.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { messageWriter, writesDirectly } from '../../src/grpc/stream-writer.js';

const raw = (b: Buffer): Buffer => b;
const service = {
  fan: { path: '/test.Stream/Fan', requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} as unknown as grpc.ServiceDefinition;

/** A pass-through interceptor with listeners, as src/auth/guard.ts installs on streams. */
const passThrough: grpc.ServerInterceptor = (_method, call) =>
  new grpc.ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMetadata: (md, mdNext) => mdNext(md),
        onReceiveMessage: (msg, msgNext) => msgNext(msg),
        onReceiveHalfClose: (hcNext) => hcNext(),
      }),
  });

/** Each request: [count u16][mode u8: 0 direct, 1 Duplex][end after u8]. Replies carry their index. */
function handler(call: grpc.ServerDuplexStream<Buffer, Buffer>): void {
  const direct = messageWriter(call);
  assert.ok(writesDirectly(call), 'grpc-js still has the call under its Duplex (src/grpc/stream-writer.ts relies on it)');
  call.on('data', (req: Buffer) => {
    const n = req.readUInt16BE(0);
    const send = req[2] === 0 ? direct : (m: Buffer): void => void call.write(m);
    for (let i = 0; i < n; i++) {
      const m = Buffer.alloc(100, i % 256);
      m.writeUInt32BE(i, 0);
      send(m);
    }
    if (req[3] === 1) {
      call.end();
      // After the end: dropped, no error on the call.
      direct(Buffer.from('late'));
    }
  });
  call.on('end', () => {
    if (!call.writableEnded) call.end();
  });
}

const servers: grpc.Server[] = [];
const clients: grpc.Client[] = [];
let plain: grpc.Client;
let intercepted: grpc.Client;

async function serve(interceptors: grpc.ServerInterceptor[]): Promise<grpc.Client> {
  const srv = new grpc.Server({ interceptors });
  srv.addService(service, { fan: handler });
  const port = await new Promise<number>((res, rej) => srv.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  servers.push(srv);
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

before(async () => {
  plain = await serve([]);
  intercepted = await serve([passThrough]);
});

after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
});

function request(n: number, mode: 'direct' | 'duplex', end: boolean): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(n, 0);
  b[2] = mode === 'direct' ? 0 : 1;
  b[3] = end ? 1 : 0;
  return b;
}

/** One request on a new stream; resolves with the indexes received and the final status. */
function exchange(c: grpc.Client, n: number, mode: 'direct' | 'duplex'): Promise<{ got: number[]; status: grpc.StatusObject }> {
  return new Promise((resolve, reject) => {
    const call = c.makeBidiStreamRequest('/test.Stream/Fan', raw, raw);
    const got: number[] = [];
    call.on('data', (m: Buffer) => got.push(m.length === 100 ? m.readUInt32BE(0) : -1));
    call.on('error', reject);
    call.on('status', (status) => resolve({ got, status }));
    call.write(request(n, mode, true));
  });
}

for (const [name, client] of [['plain', () => plain], ['with an interceptor', () => intercepted]] as const) {
  test(`${name}: 500 messages written in one turn arrive whole and in order, then the status; a write after the end is dropped`, async () => {
    const { got, status } = await exchange(client(), 500, 'direct');
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(got, Array.from({ length: 500 }, (_, i) => i));
  });
}

function socketWrites(): number {
  return Number(/^syscw: (\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

test('64 messages written in one turn leave in a few socket writes (through the Duplex: one each)', async () => {
  const call = plain.makeBidiStreamRequest('/test.Stream/Fan', raw, raw);
  call.on('error', () => undefined);
  const turn = (mode: 'direct' | 'duplex'): Promise<number> =>
    new Promise((resolve) => {
      let got = 0;
      const w0 = socketWrites();
      const onData = (): void => {
        if (++got < 64) return;
        call.off('data', onData);
        resolve(socketWrites() - w0);
      };
      call.on('data', onData);
      call.write(request(64, mode, false));
    });
  await turn('direct'); // the connection's first exchange (headers, window updates)
  // syscw counts every write of this process (the test runner's reports too): the fewest of five
  // turns each is what the turn itself took. A loaded CI machine once added 20 to a single turn.
  const duplexTurns: number[] = [];
  const directTurns: number[] = [];
  for (let i = 0; i < 5; i++) {
    duplexTurns.push(await turn('duplex'));
    directTurns.push(await turn('direct'));
  }
  const duplex = Math.min(...duplexTurns);
  const direct = Math.min(...directTurns);
  console.log(`# socket writes for one turn of 64 messages (5 turns each): Duplex ${duplexTurns.join(', ')}; direct ${directTurns.join(', ')}`);
  assert.ok(duplex >= 64, `through the Duplex each message is a write of its own (${duplex})`);
  assert.ok(direct <= 8, `direct: ${direct} writes for 64 messages`);
  call.end();
});

test('a stream object without the call underneath falls back to its own write', () => {
  const written: unknown[] = [];
  const fake = { write: (m: unknown, cb?: () => void) => (written.push(m), cb?.(), true) } as unknown as grpc.ServerDuplexStream<unknown, string>;
  assert.equal(writesDirectly(fake), false);
  let done = 0;
  messageWriter(fake)('a', () => void done++);
  assert.deepEqual(written, ['a']);
  assert.equal(done, 1);
});
