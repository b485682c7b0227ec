// Issue 16 item 8, the paging part: every list surface stops a page before its values exceed
// --max-response-bytes and says how to continue, so a prefix of big values is listed whole, page
// by page, however large the page asked for. (A 64 KiB budget and values of 16 KiB keep it quick;
// test/node/big-replies on branch etcdkv-wip is the 300 x 1 MiB version with an RSS bound.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KvServiceClient } from '../../proto/services.js';
import type { ListReply } from '../../proto/gen/placement/v1/kv.js';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';

const N = 40;
const VALUE = 16 * 1024;
const BUDGET = 64 * 1024;

test('with --max-response-bytes 64 KiB, HTTP list, gRPC List and the SDK session list 40 values of 16 KiB in bounded pages', { timeout: 120_000 }, async () => {
  let c: Cluster | undefined;
  let client: PlacementClient | undefined;
  let kv: KvServiceClient | undefined;
  try {
    c = await startCluster({ nodes: 1, extraArgs: ['--max-response-bytes', String(BUDGET)] });
    const node = c.nodes[0]!;
    client = new PlacementClient({ endpoints: [node.grpcAddress], deadlineMs: 10_000 });
    for (let i = 0; i < N; i++) await client.kv.set(`big/${String(i).padStart(3, '0')}`, Buffer.alloc(VALUE, 0x61 + (i % 26)));
    await client.kv.set('small', 'x');
    const most = Math.floor(BUDGET / VALUE);

    // Admin HTTP, asking for every key in one page.
    let seen: string[] = [];
    let startAfter = '';
    for (;;) {
      const res = await fetch(`http://${node.httpAddress}/v1/kv?prefix=big/&limit=1000&startAfter=${encodeURIComponent(startAfter)}`);
      assert.equal(res.status, 200);
      const page = ((await res.json()) as { data: { kvs: { key: string; value: string }[]; more: boolean; nextKey: string } }).data;
      assert.ok(page.kvs.length >= 1 && page.kvs.length <= most, `an HTTP page of ${page.kvs.length} values of 16 KiB`);
      assert.ok(page.kvs.every((e) => e.value.length === VALUE));
      seen.push(...page.kvs.map((e) => e.key));
      if (!page.more) break;
      assert.equal(page.nextKey, seen.at(-1));
      startAfter = page.nextKey;
    }
    const all = Array.from({ length: N }, (_, i) => `big/${String(i).padStart(3, '0')}`);
    assert.deepEqual(seen, all);

    // gRPC List, unary, with the server's default page (--max-list-limit).
    kv = new KvServiceClient(node.grpcAddress, grpc.credentials.createInsecure());
    seen = [];
    startAfter = '';
    for (;;) {
      const page = await new Promise<ListReply>((resolve, reject) =>
        kv!.list({ prefix: 'big/', startAfter, limit: 0, keysOnly: false, serializable: false }, (err, rep) => (err ? reject(err) : resolve(rep))),
      );
      assert.ok(page.kvs.length >= 1 && page.kvs.length <= most, `a List page of ${page.kvs.length} values of 16 KiB`);
      seen.push(...page.kvs.map((e) => e.key));
      if (!page.more) break;
      startAfter = page.nextKey;
    }
    assert.deepEqual(seen, all);

    // Keys only: the budget counts values, so one page holds them all.
    const keys = await new Promise<ListReply>((resolve, reject) =>
      kv!.list({ prefix: 'big/', startAfter: '', limit: 0, keysOnly: true, serializable: false }, (err, rep) => (err ? reject(err) : resolve(rep))),
    );
    assert.deepEqual([keys.kvs.length, keys.more], [N, false]);

    // The SDK over its session stream, paging as the server says.
    seen = [];
    for await (const k of client.kv.listAll('big/')) {
      assert.equal(k.value.length, VALUE);
      seen.push(k.key);
    }
    assert.deepEqual(seen, all);
  } finally {
    client?.close();
    kv?.close();
    await c?.stop();
  }
});
