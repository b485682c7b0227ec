// A member answers a write before its batch is in the state machine (src/node/node.ts, apply), so
// a Watch request sent right after the reply can reach the hub before that revision does. Like
// etcd, which answers a write after applying it, a progress notification asked for after a write
// was acknowledged covers it, and a watch created from the current revision after the reply does
// not deliver that write again: its created header is at the write's revision or later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { PutRequest, WatchRequest, WatchResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster } from '../support/cluster.js';
import { call, revisionOf } from '../../bench/etcd-raw.js';

const ROUNDS = 1000;

test('a progress notification or a new watch asked for after a write was acknowledged is at its revision or later', { timeout: 120_000 }, async () => {
  const c = await startCluster({ nodes: 1 });
  const addr = c.node(1).grpcAddress;
  const kv = new grpc.Client(addr, grpc.credentials.createInsecure());
  const watchClient = new grpc.Client(addr, grpc.credentials.createInsecure());
  const stream = watchClient.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', (r: WatchRequest) => Buffer.from(WatchRequest.encode(r).finish()), (b: Buffer) => WatchResponse.decode(b), new grpc.Metadata());
  stream.on('error', () => {});
  const replies: WatchResponse[] = [];
  let wake: () => void = () => {};
  stream.on('data', (r: WatchResponse) => {
    replies.push(r);
    wake();
  });
  const next = async (): Promise<WatchResponse> => {
    while (replies.length === 0) await new Promise<void>((r) => (wake = r));
    return replies.shift()!;
  };
  try {
    let behind = 0;
    for (let i = 0; i < ROUNDS; i++) {
      const rev = revisionOf(await call(kv, 'Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from(`k${i % 10}`), value: Buffer.from(`v${i}`) })));
      if (i % 2 === 0) {
        stream.write({ requestUnion: { $case: 'progressRequest', value: {} } });
        const r = await next();
        assert.equal(r.watchId, -1, 'a progress notification');
        if (Number(r.header!.revision) < rev) behind++;
      } else {
        stream.write({ requestUnion: { $case: 'createRequest', value: { key: Buffer.from('k'), rangeEnd: Buffer.from('l'), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false } } });
        const r = await next();
        assert.equal(r.created, true);
        if (Number(r.header!.revision) < rev) behind++;
        stream.write({ requestUnion: { $case: 'cancelRequest', value: { watchId: r.watchId } } });
        const canceled = await next();
        assert.equal(canceled.canceled, true, `watch ${r.watchId} canceled; no event of the acknowledged write came first`);
      }
    }
    assert.equal(behind, 0, `${behind} of ${ROUNDS} answers were behind a write acknowledged before they were asked for`);
  } finally {
    stream.cancel();
    kv.close();
    watchClient.close();
    await c.stop();
  }
});
