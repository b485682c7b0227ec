// placement-ctl endpoint hashkv against a real 3-member cluster: every member answers the same hash
// for the same revision (table and --json in etcdctl's shape), the hash changes with the revision,
// etcdctl endpoint hashkv against us reports the same hashes, and bad input or a dead member is
// reported with the right exit code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { etcdctl } from '../support/etcdctl.js';
import { runCtl } from './support/run-ctl.js';

type Row = { Endpoint: string; HashKV?: { header: { revision: number; member_id: number }; hash: number; compact_revision: number }; error?: string };

test('placement-ctl endpoint hashkv: all three members report the same hash', { timeout: 200_000 }, async () => {
  let c: Cluster | undefined;
  let client: PlacementClient | undefined;
  try {
    c = await startCluster({ nodes: 3 });
    const eps = c.nodes.map((n) => n.grpcAddress);
    client = new PlacementClient({ endpoints: eps });
    let last = 0;
    for (let i = 0; i < 40; i++) last = (await client.kv.set(`h/${i}`, `v${i}`)).revision;
    const mid = last - 20;

    const json = async (args: string[]): Promise<Row[]> => {
      const r = await runCtl(['--endpoints', eps.join(','), '--json', 'endpoint', 'hashkv', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Row[];
    };
    const atLast = await json(['--rev', String(last)]);
    assert.deepEqual(atLast.map((r) => r.Endpoint), eps);
    for (const r of atLast) {
      assert.ok(r.HashKV, JSON.stringify(r));
      assert.equal(r.HashKV.header.revision, last);
      assert.equal(r.HashKV.compact_revision, -1);
    }
    assert.equal(new Set(atLast.map((r) => r.HashKV!.hash)).size, 1, `members disagree: ${JSON.stringify(atLast)}`);
    assert.equal(new Set(atLast.map((r) => String(r.HashKV!.header.member_id))).size, 3, 'each answer names its own member');
    const atMid = await json(['--rev', String(mid)]);
    assert.equal(new Set(atMid.map((r) => r.HashKV!.hash)).size, 1);
    assert.notEqual(atMid[0]!.HashKV!.hash, atLast[0]!.HashKV!.hash, 'the hash covers the revisions up to --rev');

    // Without --rev each member hashes its current revision: once all have applied the last
    // write, that is the same hash again.
    await c.waitFor(async () => (await Promise.all(c!.nodes.map((n) => c!.status(n.id)))).every((s) => s.revision === last), { what: 'every member at the last revision' });
    const current = await json([]);
    assert.deepEqual(current.map((r) => r.HashKV!.hash), atLast.map((r) => r.HashKV!.hash));

    // The table.
    const t = await runCtl(['--endpoints', eps.join(','), 'endpoint', 'hashkv', '--rev', String(last)]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /ENDPOINT\s.*HASH\s.*REVISION\s.*COMPACT REVISION/);
    for (const ep of eps) assert.match(t.stdout, new RegExp(`${ep.replace(/\./g, '\\.')}\\s.*${atLast[0]!.HashKV!.hash}\\s.*${last}\\s.*-1`));

    // etcdctl against us reports the same hashes.
    const e = await etcdctl(eps, ['endpoint', 'hashkv', '--rev', String(last), '-w', 'json']);
    assert.equal(e.code, 0, e.stderr);
    const theirs = JSON.parse(e.stdout.replace(/("\w+":\s*)(\d{16,})/g, '$1"$2"')) as Array<{ Endpoint: string; HashKV: { hash: number } }>;
    assert.deepEqual(theirs.map((r) => r.HashKV.hash), atLast.map((r) => r.HashKV!.hash));

    // Bad input: usage error, nothing asked.
    for (const bad of ['abc', '-1', '1.5']) {
      const r = await runCtl(['--endpoints', eps.join(','), 'endpoint', 'hashkv', '--rev', bad]);
      assert.equal(r.code, 2, `--rev ${bad}: ${r.stdout}${r.stderr}`);
    }
    // A future revision: each endpoint reports etcd's error, exit code 7.
    const future = await runCtl(['--endpoints', eps.join(','), '--json', 'endpoint', 'hashkv', '--rev', String(last + 1000)]);
    assert.equal(future.code, 7, future.stderr);
    for (const r of JSON.parse(future.stdout) as Row[]) assert.match(r.error ?? '', /future revision/);

    // A dead member: its row carries the error, the others still agree, exit code 7.
    await c.kill(3);
    const partial = await runCtl(['--endpoints', eps.join(','), '--json', '--timeout', '2s', 'endpoint', 'hashkv', '--rev', String(last)]);
    assert.equal(partial.code, 7, partial.stderr);
    const rows = JSON.parse(partial.stdout) as Row[];
    assert.equal(rows[0]!.HashKV!.hash, atLast[0]!.HashKV!.hash);
    assert.equal(rows[1]!.HashKV!.hash, atLast[0]!.HashKV!.hash);
    assert.ok(rows[2]!.error && !rows[2]!.HashKV, JSON.stringify(rows[2]));
  } finally {
    client?.close();
    await c?.stop();
  }
});
