// Traffic in bytes. Client traffic (src/metrics/grpc-bytes.ts): each gRPC message a client sends
// and gets is counted at its encoded size, on the unary path and on streams, and the members' Raft
// traffic is not. Peer traffic (src/transport): each Raft batch, by peer, on both ends.
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import assert from 'node:assert/strict';
import { PutRequest, WatchRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster } from '../support/cluster.js';
import { RawEtcd } from '../support/raw-etcd.js';
import { parseExposition } from './exposition.js';

async function peerBytes(grpcAddress: string, name: string, peer: number): Promise<number> {
  const fams = parseExposition(await (await fetch(`http://${grpcAddress}/metrics`)).text());
  return fams.get(name)?.samples.find((x) => x.labels.peer === String(peer))?.value ?? 0;
}

async function traffic(grpcAddress: string): Promise<{ received: number; sent: number }> {
  const fams = parseExposition(await (await fetch(`http://${grpcAddress}/metrics`)).text());
  const v = (name: string): number => fams.get(name)?.samples[0]?.value ?? NaN;
  const received = v('placement_grpc_received_bytes_total');
  assert.equal(v('etcd_network_client_grpc_received_bytes_total'), received, "etcd's name reads the same counter");
  return { received, sent: v('placement_grpc_sent_bytes_total') };
}

test('client traffic: every message at its encoded size, unary and streamed; Raft traffic between members not counted', { timeout: 60_000 }, async () => {
  const c = await startCluster({ nodes: 3 });
  try {
    const leader = c.node(await c.waitForLeader());
    const followers = c.nodes.filter((n) => n.id !== leader.id);
    const idle = await Promise.all(followers.map((f) => traffic(f.grpcAddress)));

    const f = followers[0]!;
    const sentTo = (): Promise<number> => peerBytes(leader.grpcAddress, 'placement_raft_peer_sent_bytes_total', f.id);
    const receivedFrom = (): Promise<number> => peerBytes(f.grpcAddress, 'placement_raft_peer_received_bytes_total', leader.id);
    const [sent0, received0] = [await sentTo(), await receivedFrom()];
    const client = new RawEtcd(leader.grpcAddress);
    try {
      const before = await traffic(leader.grpcAddress);
      const req = PutRequest.fromPartial({ key: Buffer.from('bytes/k'), value: Buffer.alloc(1000, 0x61) });
      const { err, rep } = await client.unary('/etcdserverpb.KV/Put', PutRequest, req);
      assert.equal(err, null);
      const after = await traffic(leader.grpcAddress);
      assert.equal(after.received - before.received, PutRequest.encode(req).finish().length, 'the Put request, encoded');
      assert.equal(after.sent - before.sent, rep!.length, 'the Put response, as the client got it');

      // A watch stream: its create request in; the created response and an event out.
      const w = client.stream('/etcdserverpb.Watch/Watch', WatchRequest, new grpc.Metadata());
      const got: Buffer[] = [];
      const two = new Promise<void>((resolve) => w.on('data', (b: Buffer) => (got.push(b), got.length === 2 && resolve())));
      w.on('error', () => undefined);
      const create = WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', value: { key: Buffer.from('bytes/w') } } });
      const s0 = await traffic(leader.grpcAddress);
      w.write(create);
      await new Promise<void>((resolve) => w.once('data', () => resolve()));
      const put = await client.unary('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from('bytes/w'), value: Buffer.from('v') }));
      await two;
      w.cancel();
      const s1 = await traffic(leader.grpcAddress);
      const putBytes = PutRequest.encode(PutRequest.fromPartial({ key: Buffer.from('bytes/w'), value: Buffer.from('v') })).finish().length;
      assert.equal(s1.received - s0.received, WatchRequest.encode(create).finish().length + putBytes, 'the create request and the Put');
      assert.equal(s1.sent - s0.sent, got[0]!.length + got[1]!.length + put.rep!.length, 'the created response, the event and the Put response');
    } finally {
      client.close();
    }

    // The writes (over 1,000 bytes of values) went to the follower in Raft batches: counted on both ends.
    assert.ok((await sentTo()) - sent0 > 1000, 'the leader counted what it sent the follower');
    assert.ok((await receivedFrom()) - received0 > 1000, 'the follower counted what it received from the leader');
    // The followers replicated the writes (Raft messages on the same port) and served no client.
    for (const [i, f] of followers.entries()) assert.deepEqual(await traffic(f.grpcAddress), idle[i], `follower ${f.id}`);
  } finally {
    await c.stop();
  }
});
