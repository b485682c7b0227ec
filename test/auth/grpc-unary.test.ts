// The client server's auth without an interceptor on the unary path (src/auth/grpc-unary.ts,
// guard.ts guardedGrpcServer): a unary handler is judged where it runs, and auth turned on at
// runtime applies to the very next call; with auth off the handler still runs as its caller (an
// anonymous caller stamped with the auth revision, never "the cluster itself", which the
// apply-time re-check would let through); open methods run untouched; streams are still judged
// by the interceptor. All of it with unary calls through grpc-js and answered directly from their
// HTTP/2 stream (src/grpc/h2/direct-unary.ts, the node's default).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Authenticator } from '../../src/auth/authenticator.js';
import { callerOf } from '../../src/auth/context.js';
import { guardedGrpcServer } from '../../src/auth/guard.js';
import { isDirectCall } from '../../src/grpc/h2/direct-unary.js';
import { isDirectStreamCall } from '../../src/grpc/h2/direct-stream.js';
import { TokenIssuer } from '../../src/auth/tokens.js';
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { AuthSnapshot } from '../../storage/index.js';

const raw = (b: Buffer): Buffer => b;
const def = (path: string, stream = false): grpc.MethodDefinition<Buffer, Buffer> => ({ path, requestStream: stream, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw });
// An undecided method (root only), an etcd one (root only; etcd's code for an anonymous caller),
// an open one, and an undecided client stream.
const SERVICE = {
  probe: def('/test.Probe/Call'),
  defrag: def('/etcdserverpb.Maintenance/Defragment'),
  health: def('/grpc.health.v1.Health/Check'),
  stream: def('/test.Probe/Stream', true),
} as unknown as grpc.ServiceDefinition;

interface Call {
  code: number;
  details: string;
}

for (const directUnary of [false, true]) test(`unary calls are judged in their handler: auth toggled at runtime applies to the next call, callers are always stamped${directUnary ? ' (answered directly, the stream too)' : ''}`, { timeout: 30_000 }, async () => {
  let state: AuthSnapshot = { enabled: false, revision: 5, users: new Map(), roles: new Map() };
  const authn = new Authenticator({ auth: () => state, tokens: new TokenIssuer(new Uint8Array(32), 60_000), clientCertAuth: false });
  const seen: Array<{ method: string; caller: CommandCaller | undefined }> = [];
  const unary = (method: string) => (c: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>): void => {
    assert.equal(isDirectCall(c), directUnary, `${method}: answered ${directUnary ? 'directly' : 'by grpc-js'}`);
    seen.push({ method, caller: callerOf(c) });
    cb(null, Buffer.from('ok'));
  };
  // With directUnary the client stream is served from its HTTP/2 stream too, judged by the same
  // stream judge as grpc-js's interceptor (src/grpc/h2/direct-stream.ts).
  const server = guardedGrpcServer({}, authn, { directUnary, directStreams: directUnary ? new Set(['/test.Probe/Stream']) : undefined });
  server.addService(SERVICE, {
    probe: unary('probe'),
    defrag: unary('defrag'),
    health: unary('health'),
    stream: (c: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      assert.equal(isDirectStreamCall(c), directUnary, `stream: served ${directUnary ? 'directly' : 'by grpc-js'}`);
      c.on('data', (m: Buffer) => seen.push({ method: 'stream', caller: callerOf(m) }));
      c.on('end', () => cb(null, Buffer.from('ok')));
    },
  });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const Client = grpc.makeGenericClientConstructor(SERVICE, 'Probe');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as Record<string, (...a: unknown[]) => unknown>;
  const callUnary = (name: string): Promise<Call> =>
    new Promise((res) => client[name]!(Buffer.from('req'), (e: grpc.ServiceError | null) => res(e ? { code: e.code, details: e.details } : { code: 0, details: '' })));
  const callStream = (): Promise<Call> =>
    new Promise((res) => {
      const s = client.stream!((e: grpc.ServiceError | null) => res(e ? { code: e.code, details: e.details } : { code: 0, details: '' })) as grpc.ClientWritableStream<Buffer>;
      s.write(Buffer.from('m'));
      s.end();
    });
  try {
    // Auth off: everything runs; the unary handlers run as an anonymous caller at revision 5.
    for (const m of ['probe', 'defrag', 'health']) assert.deepEqual(await callUnary(m), { code: 0, details: '' }, m);
    assert.deepEqual(await callStream(), { code: 0, details: '' });
    assert.deepEqual(
      seen.map((s) => [s.method, s.caller]),
      [
        ['probe', { user: '', authRevision: 5 }],
        ['defrag', { user: '', authRevision: 5 }],
        ['health', undefined],
        ['stream', { user: '', authRevision: 5 }],
      ],
    );

    // Auth on (as an applied AuthEnable would make it): the next calls are refused before their
    // handler runs, with etcd's code on the etcd service and ours elsewhere; open still runs.
    seen.length = 0;
    state = { ...state, enabled: true, revision: 6 };
    assert.deepEqual(await callUnary('probe'), { code: grpc.status.UNAUTHENTICATED, details: 'etcdserver: user name is empty' });
    assert.deepEqual(await callUnary('defrag'), { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: user name is empty' });
    assert.deepEqual(await callStream(), { code: grpc.status.UNAUTHENTICATED, details: 'etcdserver: user name is empty' });
    assert.deepEqual(await callUnary('health'), { code: 0, details: '' });
    assert.deepEqual(seen.map((s) => s.method), ['health']);

    // Off again: allowed again, stamped with the new revision.
    seen.length = 0;
    state = { ...state, enabled: false, revision: 7 };
    assert.deepEqual(await callUnary('probe'), { code: 0, details: '' });
    assert.deepEqual(seen, [{ method: 'probe', caller: { user: '', authRevision: 7 } }]);
  } finally {
    (client as unknown as grpc.Client).close();
    server.forceShutdown();
  }
});
