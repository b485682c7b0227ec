// placement-ctl's etcd commands (get/del/txn/compaction) against a Placement Center, and
// etcdctl against a real etcd 3.4, run through the same script: stdout must be the same (the
// simple output format, revisions included). Then the SDK's etcd API (client.etcd, client.txn())
// against the same Placement Center.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { etcdctl } from '../support/etcdctl.js';
import { runCtl } from './support/run-ctl.js';
import { PlacementClient, cmp, op, InvalidArgumentError, PlacementClientError } from '../../src/client/index.js';

const TXN_OK = 'mod("a") = "3"\nvalue("b/1") = "v1"\n\nput a 3\nget b/1\ndel c --prev-kv\n\nget a\n\n';
const TXN_FAIL = 'version("a") = "1"\n\nput a never\n\nget a\nput "x y" "quoted value"\n\n';

/** [etcdctl args, placement-ctl args, stdin] — the same command in both dialects. */
const SCRIPT: Array<[string[], string[], string?]> = [
  [['get', 'b/', '--prefix'], ['get', 'b/', '--prefix']],
  [['get', 'b/', '--prefix', '--limit', '2', '--sort-by', 'MODIFY', '--order', 'DESCEND'], ['get', 'b/', '--prefix', '--limit', '2', '--sort-by', 'MODIFY', '--order', 'DESCEND']],
  [['get', 'b/', '--prefix', '--sort-by', 'VALUE'], ['get', 'b/', '--prefix', '--sort-by', 'VALUE']],
  [['get', 'a', '--rev', '2'], ['get', 'a', '--rev', '2']],
  [['get', 'b/', '--prefix', '--keys-only'], ['get', 'b/', '--prefix', '--keys-only']],
  [['get', 'b/', '--prefix', '--print-value-only'], ['get', 'b/', '--prefix', '--print-value-only']],
  [['get', 'b/1', 'b/3'], ['get', 'b/1', 'b/3']],
  [['get', 'b/2', '--from-key', '--limit', '3'], ['get', 'b/2', '--from-key', '--limit', '3']],
  [['txn'], ['txn'], TXN_OK],
  [['txn'], ['txn'], TXN_FAIL],
  [['txn', '-i'], ['txn', '-i'], TXN_OK],
  [['txn', '-i'], ['txn', '-i'], 'value("a") = "3"\n\nput a 4\nget a --rev=3\n\nget a\n\n'],
  [['del', 'b/', '--prefix', '--prev-kv'], ['del', 'b/', '--prefix', '--prev-kv']],
  [['del', 'nothing'], ['del', 'nothing']],
  [['compaction', '4'], ['compaction', '4']],
  [['compaction', '5', '--physical'], ['compaction', '5', '--physical']],
  [['get', 'a'], ['get', 'a']],
];

describe('placement-ctl etcd commands against etcdctl + etcd', { timeout: 170_000 }, () => {
  let c: Cluster;
  let etcd: EtcdCluster;
  let ours: string;
  before(async () => {
    [c, etcd] = await Promise.all([startCluster({ nodes: 1 }), startEtcdCluster({ members: 1 })]);
    await c.waitForLeader();
    ours = c.nodes.map((n) => n.grpcAddress).join(',');
  });
  after(async () => {
    await Promise.all([c?.stop(), etcd?.stop()]);
  });

  test('the same script gives the same output', async () => {
    // The same writes through etcdctl on both (revisions 2..8).
    const writes = [['a', '1'], ['a', '2'], ['b/1', 'v1'], ['b/2', 'v2'], ['b/3', 'v3'], ['b/2', 'v2b'], ['c', 'x']];
    for (const [k, v] of writes) {
      for (const ep of [etcd.endpoints, [ours]]) {
        const r = await etcdctl(ep, ['put', k!, v!]);
        assert.equal(r.code, 0, r.stderr);
      }
    }
    for (const [theirs, mine, stdin] of SCRIPT) {
      const e = await etcdctl(etcd.endpoints, theirs, stdin === undefined ? {} : { stdin });
      const p = await runCtl(['--endpoints', ours, ...mine], stdin === undefined ? {} : { input: stdin });
      assert.equal(e.code, 0, `etcdctl ${theirs.join(' ')}: ${e.stderr}`);
      // placement-ctl's txn exits 6 when the comparisons did not hold (etcdctl: 0).
      const expectCode = mine[0] === 'txn' && e.stdout.split('\n').includes('FAILURE') ? 6 : 0;
      assert.equal(p.code, expectCode, `placement-ctl ${mine.join(' ')}: ${p.stderr}`);
      assert.equal(p.stdout, e.stdout, `placement-ctl ${mine.join(' ')} vs etcdctl ${theirs.join(' ')}`);
    }
    // Below the compacted revision: both refuse (etcd's message through our error path).
    const e = await etcdctl(etcd.endpoints, ['get', 'a', '--rev', '2']);
    const p = await runCtl(['--endpoints', ours, 'get', 'a', '--rev', '2']);
    assert.notEqual(e.code, 0);
    assert.match(e.stderr, /required revision has been compacted/);
    assert.equal(p.code, 5, p.stderr);
    assert.match(p.stderr, /required revision has been compacted/);
    assert.equal(p.stdout, '');
  });

  test('bad command lines change nothing (exit 2)', async () => {
    const before = await runCtl(['--endpoints', ours, '--json', 'get', '', '--from-key']);
    assert.equal(before.code, 0, before.stderr);
    const rev = (JSON.parse(before.stdout) as { revision: number }).revision;
    for (const [args, stdin, why] of [
      [['txn'], 'mod("a") == "1"\n\nput a 1\n', /malformed comparison/],
      [['txn'], 'value("a") = "1"\n\nfrobnicate a\n', /unknown operation "frobnicate"/],
      [['txn'], 'mod("a") = "x"\n\nput a 1\n', /mod revision must be a whole number/],
      [['txn'], '\nput a\n', /put needs a key and a value/],
      [['get', 'a', 'b', '--prefix'], undefined, /at most one of a range end, --prefix and --from-key/],
      [['get', 'a', '--sort-by', 'SIZE'], undefined, /Allowed choices are KEY, VERSION, CREATE, MODIFY, VALUE/],
      [['get', 'a', '--rev', '-1'], undefined, /./],
      [['compaction', '0'], undefined, /positive integer/],
    ] as Array<[string[], string | undefined, RegExp]>) {
      const r = await runCtl(['--endpoints', ours, ...args], stdin === undefined ? {} : { input: stdin });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, why);
    }
    const afterwards = await runCtl(['--endpoints', ours, '--json', 'get', '', '--from-key']);
    assert.equal((JSON.parse(afterwards.stdout) as { revision: number }).revision, rev, 'a refused command wrote something');
  });

  test('SDK: client.txn() builder, etcd ranges, get at a revision', async () => {
    const client = new PlacementClient({ endpoints: [ours], refreshIntervalMs: 0 });
    try {
      const p1 = await client.etcd.put('/sdk/lock', 'owner-1');
      // Absent key: version 0 → then-branch.
      const t1 = await client.txn().if(cmp.version('/sdk/leader', '=', 0)).then(op.put('/sdk/leader', 'me'), op.get('/sdk/lock')).else(op.get('/sdk/leader')).commit();
      assert.equal(t1.succeeded, true);
      assert.equal(t1.header.revision, p1.header.revision + 1);
      assert.equal(t1.responses.length, 2);
      assert.equal(t1.responses[0]!.type, 'put');
      const got = t1.responses[1]!;
      assert.ok(got.type === 'range');
      assert.equal(got.range.kvs[0]!.value.toString(), 'owner-1');
      // Now present: else-branch, nothing written.
      const t2 = await client.txn().if(cmp.version('/sdk/leader', '=', 0)).then(op.put('/sdk/leader', 'other')).else(op.get('/sdk/leader')).commit();
      assert.equal(t2.succeeded, false);
      assert.equal(t2.header.revision, t1.header.revision);
      const r2 = t2.responses[0]!;
      assert.ok(r2.type === 'range');
      assert.equal(r2.range.kvs[0]!.value.toString(), 'me');
      // Compare on mod revision, then put: the CAS pattern of the etcd API.
      const t3 = await client.txn().if(cmp.modRevision('/sdk/leader', '=', t1.header.revision)).then(op.put('/sdk/leader', 'me-2', { prevKv: true })).commit();
      assert.equal(t3.succeeded, true);
      const r3 = t3.responses[0]!;
      assert.ok(r3.type === 'put');
      assert.equal(r3.put.prevKv?.value.toString(), 'me');
      // Old revision through the native-style get and through range.
      assert.equal((await client.kv.get('/sdk/leader', { revision: t1.header.revision }))?.value.toString(), 'me');
      assert.equal((await client.kv.get('/sdk/leader'))?.value.toString(), 'me-2');
      assert.equal(await client.kv.get('/sdk/leader', { revision: p1.header.revision }), undefined);
      const sorted = await client.etcd.range('/sdk/', { prefix: true, sortTarget: 'mod', sortOrder: 'descend', limit: 1 });
      assert.deepEqual(sorted.kvs.map((k) => k.key.toString()), ['/sdk/leader']);
      assert.equal(sorted.more, true);
      assert.equal(sorted.count, 2);
      const counted = await client.etcd.range('/sdk/', { prefix: true, countOnly: true });
      assert.equal(counted.count, 2);
      assert.equal(counted.kvs.length, 0);
      // A future revision: etcd's error, typed.
      await assert.rejects(client.etcd.range('/sdk/', { prefix: true, revision: t3.header.revision + 100 }), (e: unknown) => e instanceof PlacementClientError && /future revision/.test(e.message));
      // Builder misuse is caught before anything is sent.
      assert.throws(() => client.txn().then(op.put('x', '1')).if(cmp.value('x', '=', '1')), InvalidArgumentError);
      await assert.rejects(client.etcd.range('x', { prefix: true, fromKey: true }), InvalidArgumentError);
      const d = await client.etcd.deleteRange('/sdk/', { prefix: true, prevKv: true });
      assert.equal(d.deleted, 2);
      assert.deepEqual(d.prevKvs.map((k) => k.key.toString()).sort(), ['/sdk/leader', '/sdk/lock']);
    } finally {
      client.close();
    }
  });
});
