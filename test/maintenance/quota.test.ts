// The space quota (--quota-backend-bytes), through etcdctl against a 3-member cluster: filling
// past it raises NOSPACE (replicated: every member lists it), writes that grow the store are
// refused with etcd's error while reads, deletes and compaction keep working; compaction,
// defragmentation and `alarm disarm` clear it and writes are accepted again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { etcdctl } from '../support/etcdctl.js';

const QUOTA = 2 * 1024 * 1024;
/** JSON with every uint64 field value (16+ digits) as a string, so that none is rounded. */
const parseJson = (s: string): unknown => JSON.parse(s.replace(/("\w+":\s*)(\d{16,})/g, '$1"$2"'));

test('space quota: NOSPACE alarm, refused writes, working reads/deletes/compaction, recovery', { timeout: 240_000 }, async () => {
  let c: Cluster | undefined;
  let client: PlacementClient | undefined;
  try {
    c = await startCluster({ nodes: 3, extraArgs: ['--quota-backend-bytes', String(QUOTA)] });
    const eps = c.nodes.map((n) => n.grpcAddress);
    client = new PlacementClient({ endpoints: eps });
    const value = Buffer.alloc(100 * 1024, 'x');
    let refused: Error | undefined;
    let written = 0;
    for (let i = 0; i < 300 && !refused; i++) {
      try {
        await client.kv.set(`big/${i}`, value);
        written++;
      } catch (err) {
        refused = err as Error;
      }
      // The alarm is raised by a periodic check: give it a moment once past the quota.
      if (written * value.length > QUOTA) await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(refused, `no write refused after ${written} writes of ${value.length} bytes`);
    assert.match(refused.message, /database space exceeded/);
    assert.ok(written * value.length > QUOTA, `refused after only ${written} writes`);

    // Every member raised its own alarm; each is replicated to all.
    let list = await c.waitFor(async () => {
      const r = await etcdctl(eps, ['alarm', 'list']);
      return r.stdout.split('\n').filter((l) => /alarm:NOSPACE/.test(l)).length === 3 ? r : null;
    }, { what: 'three NOSPACE alarms', timeoutMs: 20_000 });
    assert.equal(list.code, 0);
    const put = await etcdctl(eps, ['put', 'small', 'v']);
    assert.equal(put.code, 1);
    assert.match(put.stderr, /Error: etcdserver: mvcc: database space exceeded/);
    const status = parseJson((await etcdctl(eps, ['endpoint', 'status', '-w', 'json'])).stdout) as Array<{ Status: { errors?: string[]; dbSize: number } }>;
    for (const s of status) assert.ok((s.Status.errors ?? []).some((e) => /alarm:NOSPACE/.test(e)), JSON.stringify(s));
    // Reads, deletes and compaction still work.
    const get = await etcdctl(eps, ['get', 'big/0', '--print-value-only']);
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout.trim().length, value.length);
    const del = await etcdctl(eps, ['del', 'big/', '--prefix']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(del.stdout.trim(), String(written));
    const rev = (parseJson((await etcdctl(eps, ['get', 'x', '-w', 'json'])).stdout) as { header: { revision: number } }).header.revision;
    const compact = await etcdctl(eps, ['compaction', String(rev), '--physical']);
    assert.equal(compact.code, 0, compact.stderr);
    // Still refused until the alarm is cleared.
    assert.equal((await etcdctl(eps, ['put', 'small', 'v'])).code, 1);
    const defrag = await etcdctl(eps, ['defrag']);
    assert.equal(defrag.code, 0, defrag.stderr);
    const after = parseJson((await etcdctl(eps, ['endpoint', 'status', '-w', 'json'])).stdout) as Array<{ Status: { dbSize: number } }>;
    for (const s of after) assert.ok(s.Status.dbSize < QUOTA, `db size after defrag: ${s.Status.dbSize}`);
    const disarm = await etcdctl(eps, ['alarm', 'disarm']);
    assert.equal(disarm.code, 0, disarm.stderr);
    assert.equal(disarm.stdout.split('\n').filter((l) => /alarm:NOSPACE/.test(l)).length, 3, disarm.stdout);
    list = await etcdctl(eps, ['alarm', 'list']);
    assert.equal(list.stdout.trim(), '');
    const again = await etcdctl(eps, ['put', 'small', 'v']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout.trim(), 'OK');
    // The quota check runs every 500 ms: the store is below the quota, so no alarm comes back.
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal((await etcdctl(eps, ['alarm', 'list'])).stdout.trim(), '');
  } finally {
    client?.close();
    await c?.stop();
  }
});
