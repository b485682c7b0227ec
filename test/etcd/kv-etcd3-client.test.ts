// The `etcd3` npm client (a widely used Node.js etcd client, unchanged) drives a real 3-member
// etcd 3.4 and a 3-node Placement Center through the same script; every response and every
// error must be the same once the ids and terms that legitimately differ are blanked: revisions,
// versions, values, counts, `more`, prev_kv, succeeded, and the client's typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { startCluster, type Cluster } from '../support/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';

/** Responses with cluster_id, member_id and raft_term blanked (they differ between clusters). */
function normalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalize);
  if (Buffer.isBuffer(v)) return `bytes:${v.toString('latin1')}`;
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = k === 'cluster_id' || k === 'member_id' || k === 'raft_term' ? '<id>' : normalize(x);
    return out;
  }
  return v;
}

type Step = [string, (c: Etcd3) => Promise<unknown>];

const SCRIPT: Step[] = [
  ['put a 1', (c) => c.put('a').value('1').exec()],
  ['put a 2', (c) => c.put('a').value('2').exec()],
  ['put a 3, previous', (c) => c.put('a').value('3').getPrevious()],
  ['put b/1..b/4', async (c) => {
    const out = [];
    for (const n of ['1', '2', '3', '4']) out.push(await c.put(`b/${n}`).value(`v${n}`).exec());
    return out;
  }],
  ['put b/2 again', (c) => c.put('b/2').value('v2b').exec()],
  ['get a', (c) => c.get('a').exec()],
  ['get a string', (c) => c.get('a').string()],
  ['get missing', (c) => c.get('missing').string()],
  ['get a at revision 3', (c) => c.get('a').revision(3).exec()],
  ['prefix b, sorted by mod desc, limit 2', (c) => c.getAll().prefix('b/').sort('Mod', 'Descend').limit(2).exec()],
  ['prefix b keys', (c) => c.getAll().prefix('b/').keys()],
  ['prefix b count', (c) => c.getAll().prefix('b/').count()],
  ['prefix b strings', (c) => c.getAll().prefix('b/').strings()],
  ['all keys, serializable', (c) => c.getAll().serializable(true).keys()],
  ['prefix b, created by revision 6', (c) => c.getAll().prefix('b/').maxCreateRevision(6).exec()],
  ['txn value(a)=3 → put a 4, get a; else put a never', (c) => c.if('a', 'Value', '==', '3').then(c.put('a').value('4'), c.get('a')).else(c.put('a').value('never')).commit()],
  ['txn version(a)>10 → …; else get a, delete b/1', (c) => c.if('a', 'Version', '>', 10).then(c.put('a').value('never')).else(c.get('a'), c.delete().key('b/1')).commit()],
  ['txn mod(b/2)<100 → get prefix b (read-only)', (c) => c.if('b/2', 'Mod', '<', 100).then(c.getAll().prefix('b/')).commit()],
  ['txn create(zz)=0 → put zz', (c) => c.if('zz', 'Create', '==', 0).then(c.put('zz').value('1')).commit()],
  ['delete prefix b, previous', (c) => c.delete().prefix('b/').getPrevious()],
  ['delete missing', (c) => c.delete().key('missing').exec()],
  ['compact 4', (c) => c.kv.compact({ revision: '4' })],
  ['get a at revision 3 (compacted)', (c) => c.get('a').revision(3).exec()],
  ['get a at revision 1000 (future)', (c) => c.get('a').revision(1000).exec()],
  ['put empty key', (c) => c.put('').value('x').exec()],
  ['txn with a duplicate key', (c) => c.if('a', 'Version', '>', 0).then(c.put('d').value('1'), c.put('d').value('2')).commit()],
  ['txn with 129 operations', (c) => c.if('a', 'Version', '>', 0).then(...Array.from({ length: 129 }, (_, i) => c.put(`m/${i}`).value('x'))).commit()],
  ['put with a lease that does not exist', (c) => c.put('a').value('x').lease('305419896').exec()],
  ['put ignoring the lease of a missing key', (c) => c.put('nope').value('x').ignoreLease().exec()],
  ['everything, at the end', (c) => c.getAll().exec()],
];

async function run(hosts: string[]): Promise<unknown[]> {
  const client = new Etcd3({ hosts: hosts.map((h) => `http://${h}`), defaultCallOptions: () => ({ deadline: Date.now() + 10_000 }) });
  const out: unknown[] = [];
  try {
    for (const [name, step] of SCRIPT) {
      try {
        out.push({ step: name, ok: normalize(await step(client)) });
      } catch (err) {
        out.push({ step: name, error: `${(err as Error).constructor.name}: ${(err as Error).message}` });
      }
    }
  } finally {
    client.close();
  }
  return out;
}

test('the etcd3 npm client gets the same answers from real etcd 3.4 and from Placement Center', { timeout: 300_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  try {
    [etcd, ours] = await Promise.all([startEtcdCluster(), startCluster({ nodes: 3 })]);
    const expected = await run(etcd.endpoints);
    const actual = await run(ours.nodes.map((n) => n.grpcAddress));
    for (let i = 0; i < SCRIPT.length; i++) assert.deepEqual(actual[i], expected[i], `step ${i}: ${SCRIPT[i]![0]}`);
    // The script reached the paths it names (guards against a script that errors everywhere).
    const errors = expected.map((r) => (r as { error?: string }).error ?? '').join('\n');
    for (const re of [/compacted/, /future revision/, /key is not provided/, /duplicate key/, /too many operations/, /lease not found/, /key not found/]) {
      assert.match(errors, re);
    }
    assert.equal((expected[SCRIPT.length - 1] as { ok: { count: string } }).ok.count, '2');
  } finally {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  }
});
