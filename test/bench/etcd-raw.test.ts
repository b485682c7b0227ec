// The benches' raw etcd-API client (bench/etcd-raw.ts) on node:http2, against a bare HTTP/2 server
// answering as a gRPC server would: the request it makes, the reply message it hands back, and a
// failed call rejected with its status code and decoded message, as grpc-js would report them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { PutRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { encodeFrame, FrameDecoder } from '../../src/grpc/h2/framing.js';
import { call, rawClient, type RawClient } from '../../bench/etcd-raw.js';

describe('raw etcd-API client on node:http2', () => {
  let server: http2.Http2Server;
  let client: RawClient;
  const seen: Array<{ headers: http2.IncomingHttpHeaders; body: PutRequest }> = [];
  before(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      const dec = new FrameDecoder(1 << 20);
      const got: Buffer[] = [];
      stream.on('data', (c: Buffer) => got.push(...dec.push(c)));
      stream.on('end', () => {
        const body = PutRequest.decode(got[0]!);
        seen.push({ headers, body });
        if (body.value.toString() === 'fail') {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '9', 'grpc-message': encodeURIComponent('etcdserver: 100% wrong') }, { endStream: true });
          return;
        }
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
        // The answer arrives split across two DATA frames.
        const framed = encodeFrame(Buffer.from(`reply to ${body.key.toString()}`));
        stream.write(framed.subarray(0, 3));
        stream.end(framed.subarray(3));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = rawClient(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  });
  after(() => {
    client.close();
    server.close();
  });

  it('posts the encoded request and returns the reply message', async () => {
    const reply = await call(client, 'Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from('k1'), value: Buffer.from('v') }));
    assert.equal(reply.toString(), 'reply to k1');
    const last = seen.at(-1)!;
    assert.equal(last.headers[':path'], '/etcdserverpb.KV/Put');
    assert.equal(last.headers['content-type'], 'application/grpc');
    assert.equal(last.headers.te, 'trailers');
    assert.equal(last.body.key.toString(), 'k1');
  });

  it('rejects a failed call with its code and message', async () => {
    await assert.rejects(call(client, 'Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from('k2'), value: Buffer.from('fail') })), (e: { code: number; details: string }) => e.code === 9 && e.details === 'etcdserver: 100% wrong');
    // The connection is still usable after a failed call.
    assert.equal((await call(client, 'Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from('k3'), value: Buffer.from('v') }))).toString(), 'reply to k3');
  });
});
