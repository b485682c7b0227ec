// Issue 16 item 8: a prefix holding 300 values of 1 MiB. Every list surface answers pages bounded
// by bytes (--max-response-bytes, 4 MiB by default) with a continuation, so the whole prefix is
// listed page by page; the etcd API, whose clients do not expect a shortened page, refuses a
// Range whose reply could not be sent instead of building it. No 500, no reply that cannot be
// sent, and the node's RSS stays bounded while it serves them all (it grew by more than 1 GiB
// and answered 500 before).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { KvServiceClient } from '../../proto/services.js';
import type { ListReply } from '../../proto/gen/placement/v1/kv.js';
import { KVClient, RangeRequest, type RangeResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';

const N = 300;
const MiB = 1024 * 1024;

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

test('300 values of 1 MiB: every list answers bounded pages, etcd Range refuses what it cannot send, RSS stays bounded', { timeout: 600_000 }, async () => {
  let c: Cluster | undefined;
  let client: PlacementClient | undefined;
  const grpcClients: grpc.Client[] = [];
  try {
    c = await startCluster({ nodes: 1 });
    const node = c.nodes[0]!;
    client = new PlacementClient({ endpoints: [node.grpcAddress], deadlineMs: 30_000 });
    const value = Buffer.alloc(MiB, 0x61);
    for (let i = 0; i < N; i += 4) {
      await Promise.all([0, 1, 2, 3].filter((j) => i + j < N).map((j) => client!.kv.set(`big/${String(i + j).padStart(4, '0')}`, value)));
    }
    const pid = node.pid!;
    const base = rssMiB(pid);
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 20);
    try {
      // Admin HTTP, asking for every key in one page.
      let seen = 0;
      let pages = 0;
      let startAfter = '';
      for (;;) {
        const res = await fetch(`http://${node.httpAddress}/v1/kv?prefix=big/&limit=1000&startAfter=${encodeURIComponent(startAfter)}`);
        assert.equal(res.status, 200, await res.clone().text().then((t) => t.slice(0, 300)));
        const page = ((await res.json()) as { data: { kvs: { key: string; value: string }[]; more: boolean; nextKey: string } }).data;
        pages++;
        seen += page.kvs.length;
        assert.ok(page.kvs.length >= 1 && page.kvs.length <= 4, `an HTTP page of ${page.kvs.length} values of 1 MiB`);
        assert.ok(page.kvs.every((kv) => kv.value.length === MiB));
        if (!page.more) break;
        startAfter = page.nextKey;
      }
      assert.deepEqual([seen, pages > 70], [N, true]);

      // gRPC List, unary, with the server's default page (--max-list-limit).
      const kv = new KvServiceClient(node.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 16 * MiB });
      grpcClients.push(kv);
      seen = 0;
      startAfter = '';
      for (;;) {
        const page = await new Promise<ListReply>((resolve, reject) =>
          kv.list({ prefix: 'big/', startAfter, limit: 0, keysOnly: false, serializable: false }, (err, rep) => (err ? reject(err) : resolve(rep))),
        );
        assert.ok(page.kvs.length >= 1 && page.kvs.length <= 4, `a List page of ${page.kvs.length} values of 1 MiB`);
        seen += page.kvs.length;
        if (!page.more) break;
        startAfter = page.nextKey;
      }
      assert.equal(seen, N);

      // The SDK over its session stream, paging as the server says.
      seen = 0;
      for await (const k of client.kv.listAll('big/')) {
        assert.equal(k.value.length, MiB);
        seen++;
      }
      assert.equal(seen, N);

      // The etcd API: a Range of everything would be a 300 MiB reply: refused before it is built.
      const etcd = new KVClient(node.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 256 * MiB });
      grpcClients.push(etcd);
      const range = (req: RangeRequest): Promise<RangeResponse> =>
        new Promise((resolve, reject) => etcd.range(req, (err, rep) => (err ? reject(err) : resolve(rep))));
      await assert.rejects(range(RangeRequest.fromPartial({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0') })), (err: grpc.ServiceError) => {
        assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
        assert.match(err.details, /larger than the server's largest message/);
        return true;
      });
      const some = await range(RangeRequest.fromPartial({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0'), limit: 20 }));
      assert.deepEqual([some.kvs.length, some.count, some.more], [20, N, true]);
      const keys = await range(RangeRequest.fromPartial({ key: Buffer.from('big/'), rangeEnd: Buffer.from('big0'), keysOnly: true }));
      assert.equal(keys.kvs.length, N);
    } finally {
      clearInterval(sampler);
    }
    console.log(`# RSS of the node: ${base.toFixed(0)} MiB before the lists, peak ${peak.toFixed(0)} MiB`);
    assert.ok(peak - base < 256, `RSS grew from ${base.toFixed(0)} to ${peak.toFixed(0)} MiB while listing`);
  } finally {
    client?.close();
    for (const g of grpcClients) g.close();
    await c?.stop();
  }
});
