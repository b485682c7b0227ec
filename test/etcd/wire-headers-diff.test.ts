// What a unary answer looks like on the wire, next to etcd 3.4's: every client parses the response
// headers and trailers of every call, so ours are etcd's (grpc-go's): content-type
// application/grpc, no encoding headers, no date; OK trailers with an empty grpc-message; an error
// before any message as one trailers-only HEADERS frame with etcd's code and words.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { rawUnary, type RawUnaryAnswer } from '../support/raw-grpc-unary.js';
import { PutRequest, PutResponse, RangeRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';

let etcd: EtcdCluster;
let ours: Cluster;
before(async () => {
  [etcd, ours] = await Promise.all([startEtcdCluster({ members: 1 }), startCluster({ nodes: 1 })]);
  await ours.waitForLeader();
});
after(async () => {
  await Promise.all([etcd?.stop(), ours?.stop()]);
});

const put = PutRequest.encode(PutRequest.fromPartial({ key: Buffer.from('wire/a'), value: Buffer.from('v') })).finish();
const futureRange = RangeRequest.encode(RangeRequest.fromPartial({ key: Buffer.from('wire/a'), revision: 1_000_000 })).finish();

async function both(path: string, message: Uint8Array): Promise<[RawUnaryAnswer, RawUnaryAnswer]> {
  return [await rawUnary(etcd.endpoints[0]!, path, message), await rawUnary(ours.nodes[0]!.grpcAddress, path, message)];
}

test('a Put is answered with the headers and trailers etcd sends', async () => {
  const [e, o] = await both('/etcdserverpb.KV/Put', put);
  assert.deepEqual(e.headers, { ':status': 200, 'content-type': 'application/grpc' }, 'etcd 3.4 answers so (the reference itself)');
  assert.deepEqual(o.headers, e.headers);
  assert.deepEqual(e.trailers, { 'grpc-status': '0', 'grpc-message': '' });
  assert.deepEqual(o.trailers, e.trailers);
  assert.equal(o.messages.length, 1);
  assert.ok(PutResponse.decode(o.messages[0]!).header!.revision > 0);
});

test('an error before any message is one trailers-only answer, as etcd sends it', async () => {
  const [e, o] = await both('/etcdserverpb.KV/Range', futureRange);
  assert.equal(e.trailers, null);
  assert.equal(o.trailers, null);
  assert.equal(e.headers['grpc-status'], '11');
  assert.deepEqual(o.headers, e.headers);
  assert.deepEqual(o.messages, []);
});
