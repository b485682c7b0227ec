// The admin API on a real 3-node cluster (separate processes): writes sent to a follower are
// forwarded to the leader and replicated; every node then serves them; replicas converge to the
// same state hash; no leader → 503 for writes while serializable reads still answer.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';

type Envelope = { code: number; data: any; error?: string };

async function call(addr: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Envelope }> {
  const res = await fetch(`http://${addr}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as Envelope };
}

describe('admin API on a real 3-node cluster', () => {
  let c: Cluster;

  before(async () => {
    c = await startCluster({ nodes: 3 });
  });

  after(async () => {
    await c?.stop();
  });

  it('writes through a follower are replicated; every node serves them; replicas converge', async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!.httpAddress;

    const put = await call(follower, 'PUT', '/v1/kv//brokers/1', { value: '{"addr":"10.0.0.1:9092"}' });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const bin = await call(follower, 'PUT', '/v1/kv/bin', { value: Buffer.from([0, 255]).toString('base64'), encoding: 'base64' });
    assert.equal(bin.status, 200);
    const user = await call(follower, 'POST', '/v1/users', {
      name: 'ops',
      password: 'a long password',
      permissions: [{ prefix: '/brokers/', read: true }],
    });
    assert.equal(user.status, 201, JSON.stringify(user.body));
    assert.doesNotMatch(JSON.stringify(user.body), /hash|salt|password/i);
    assert.equal((await call(follower, 'POST', '/v1/users', { name: 'ops', password: 'a long password' })).status, 409);
    assert.equal((await call(follower, 'PUT', '/v1/config/topic.defaults', { value: 'partitions=3' })).status, 200);

    for (const n of c.nodes) {
      const kv = await call(n.httpAddress, 'GET', '/v1/kv/%2Fbrokers%2F1');
      assert.equal(kv.status, 200, `node ${n.id}: ${JSON.stringify(kv.body)}`);
      assert.equal(kv.body.data.value, '{"addr":"10.0.0.1:9092"}');
      const b = await call(n.httpAddress, 'GET', '/v1/kv/bin');
      assert.equal(b.body.data.encoding, 'base64');
      const u = await call(n.httpAddress, 'GET', '/v1/users/ops/permissions');
      assert.deepEqual(u.body.data.permissions, [{ prefix: '/brokers/', read: true, write: false }]);
      const cfg = await call(n.httpAddress, 'GET', '/v1/config/topic.defaults');
      assert.equal(cfg.body.data.value, 'partitions=3');
      const list = await call(n.httpAddress, 'GET', '/v1/kv?prefix=/brokers/');
      assert.deepEqual(list.body.data.kvs.map((x: { key: string }) => x.key), ['/brokers/1']);
    }

    const hashes = await c.waitFor(
      async () => {
        const all = await Promise.all(c.nodes.map((n) => call(n.httpAddress, 'GET', '/v1/debug/hash')));
        const h = all.map((x) => x.body.data as { appliedIndex: number; hash: string });
        return h.every((x) => x.appliedIndex === h[0]!.appliedIndex && x.hash === h[0]!.hash) ? h : null;
      },
      { timeoutMs: 15_000, what: 'replicas converge to one state hash' },
    );
    assert.equal(hashes.length, 3);

    const del = await call(follower, 'DELETE', '/v1/kv//brokers/1');
    assert.equal(del.status, 200);
    assert.equal((await call(follower, 'DELETE', '/v1/kv//brokers/1')).status, 404);

    // The README's form for keys that start with "/": ?key=, through a follower, read everywhere.
    const q = await call(follower, 'PUT', '/v1/kv?key=/brokers/2', { value: '{"host":"10.0.0.7"}' });
    assert.equal(q.status, 200, JSON.stringify(q.body));
    assert.equal(q.body.data.key, '/brokers/2');
    for (const n of c.nodes) {
      const kv = await call(n.httpAddress, 'GET', '/v1/kv?key=/brokers/2');
      assert.equal(kv.status, 200, `node ${n.id}: ${JSON.stringify(kv.body)}`);
      assert.equal(kv.body.data.value, '{"host":"10.0.0.7"}');
    }
    assert.equal((await call(follower, 'DELETE', '/v1/kv?key=/brokers/2')).status, 200);
    assert.equal((await call(follower, 'GET', '/v1/kv?key=/brokers/2')).status, 404);
  });

  it('a compare-and-swap PUT and a delimiter listing on the real state machine', async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!.httpAddress;
    for (const k of ['/tree/a', '/tree/a/deep/1', '/tree/a/deep/2', '/tree/b/1', '/tree/c']) {
      assert.equal((await call(follower, 'PUT', `/v1/kv?key=${k}`, { value: k, expectedModRevision: 0 })).status, 200);
    }
    const level = await call(follower, 'GET', '/v1/kv?prefix=/tree/&delimiter=/&keysOnly=true');
    assert.deepEqual(level.body.data.kvs.map((x: { key: string }) => x.key), ['/tree/a', '/tree/c']);
    assert.deepEqual(level.body.data.prefixes, ['/tree/a/', '/tree/b/']);
    const page = await call(follower, 'GET', '/v1/kv?prefix=/tree/&delimiter=/&limit=2');
    assert.deepEqual([page.body.data.more, page.body.data.nextKey], [true, '/tree/a/']);
    const rest = await call(follower, 'GET', '/v1/kv?prefix=/tree/&delimiter=/&startAfter=/tree/a/');
    assert.deepEqual([rest.body.data.kvs.map((x: { key: string }) => x.key), rest.body.data.prefixes], [['/tree/c'], ['/tree/b/']]);

    const read = (await call(follower, 'GET', '/v1/kv?key=/tree/a')).body.data;
    assert.equal((await call(follower, 'PUT', '/v1/kv?key=/tree/a', { value: 'mine', expectedModRevision: read.modRevision })).status, 200);
    const stale = await call(follower, 'PUT', '/v1/kv?key=/tree/a', { value: 'lost', expectedModRevision: read.modRevision });
    assert.equal(stale.status, 409, JSON.stringify(stale.body));
    assert.equal(stale.body.code, 9);
    assert.match(stale.body.error!, /is at mod revision \d+, not \d+: it changed since it was read/);
    assert.equal((await call(follower, 'GET', '/v1/kv?key=/tree/a')).body.data.value, 'mine');
  });

  it('GET /v1/cluster/overview on a follower: every member answers for itself over HTTP; a killed one is unreachable', async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const o = (await call(follower.httpAddress, 'GET', '/v1/cluster/overview')).body.data;
    assert.equal(o.servedBy, follower.id);
    assert.equal(o.leaderId, leader);
    assert.deepEqual(o.members.map((m: { id: number }) => m.id), [1, 2, 3]);
    for (const m of o.members) {
      assert.equal(m.reachable, true, JSON.stringify(m));
      assert.equal(m.status.leaderId, leader);
      assert.equal(m.status.role, m.id === leader ? 'leader' : 'follower');
      assert.match(m.status.version, /^\d+\.\d+\.\d+/);
      assert.ok(m.status.dbSizeBytes > 0, `member ${m.id} DB size`);
      assert.equal(m.health.status, 'ok');
      assert.equal(typeof m.lag, 'number', 'lag as the leader reports it');
    }
    const other = c.nodes.find((n) => n.id !== leader && n.id !== follower.id)!;
    await c.kill(other.id);
    const after = (await call(follower.httpAddress, 'GET', '/v1/cluster/overview')).body.data;
    const gone = after.members.find((m: { id: number }) => m.id === other.id);
    assert.deepEqual([gone.reachable, gone.status, gone.error], [false, null, 'ECONNREFUSED']);
    await c.start(other.id);
  });

  it('with no quorum, writes answer 503 in the envelope and serializable reads still answer', async () => {
    const leader = await c.waitForLeader();
    const survivor = c.nodes.find((n) => n.id !== leader)!;
    await call(survivor.httpAddress, 'PUT', '/v1/kv/before-outage', { value: 'x' });
    await c.waitFor(
      async () => (await call(survivor.httpAddress, 'GET', '/v1/kv/before-outage?serializable=true')).status === 200,
      { what: 'survivor applied the write' },
    );
    for (const n of c.nodes) if (n.id !== survivor.id) await c.kill(n.id);
    const put = await call(survivor.httpAddress, 'PUT', '/v1/kv/during-outage', { value: 'x' });
    assert.equal(put.status, 503, JSON.stringify(put.body));
    assert.equal(put.body.code, 14);
    assert.equal(put.body.data, null);
    const stale = await call(survivor.httpAddress, 'GET', '/v1/kv/before-outage?serializable=true');
    assert.equal(stale.status, 200);
    assert.equal(stale.body.data.value, 'x');
    // Once its election timeout passes the survivor knows it has no leader: not ready.
    const notReady = await c.waitFor(
      async () => {
        const res = await fetch(`http://${survivor.httpAddress}/readyz`, { signal: AbortSignal.timeout(5000) });
        const body = (await res.json()) as { status: string; checks: Array<{ ok: boolean }> };
        return res.status === 503 ? body : null;
      },
      { timeoutMs: 15_000, what: 'survivor /readyz answers 503' },
    );
    assert.equal(notReady.status, 'failing');
    assert.ok(notReady.checks.some((x) => !x.ok));
  });
});
