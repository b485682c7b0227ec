// A member that missed the leases' history and caught up from a snapshot (--snapshot-every 20,
// the log compacted past what it had) rebuilds its lease table from the installed state: once it
// leads, a lease kept alive elsewhere is still there with its TTL, an inherited lease nobody
// renews is ended within the bound, and keys of new leases expire as on any other leader.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { PlacementClient } from '../../src/client/index.js';
import { leaseTiming } from '../../src/lease/timing.js';

const timing = leaseTiming({ tickMs: 50, electionTicks: 10 });

describe('leases after a snapshot install', { timeout: 240_000 }, () => {
  let c: Cluster;
  let client: PlacementClient;
  const frozen = new Set<number>();

  before(async () => {
    c = await startCluster({ nodes: 3, extraArgs: ['--snapshot-every', '20'] });
    client = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress), deadlineMs: 10_000 });
  });
  after(async () => {
    client?.close();
    for (const id of frozen) process.kill(c.node(id).pid!, 'SIGCONT');
    await c?.stop();
  });

  it('the table is rebuilt from the snapshot: kept leases survive, unrenewed ones end within the bound', async () => {
    const leader = await c.waitForLeader();
    const late = c.nodes.map((n) => n.id).find((id) => id !== leader)!;
    await c.kill(late);

    const kept = await client.lease.grant(120_000);
    await client.kv.set('/snap/kept', 'k', { lease: kept.id });
    // The orphan's holder keeps it alive (a session on its own client) until the late member
    // leads; then the holder dies (its client closed: no revoke) and the lease is left to expire.
    const holder = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress), deadlineMs: 10_000 });
    const orphan = await holder.session({ ttlMs: 3000 });
    await orphan.put('/snap/orphan', 'o');
    const orphanStates: string[] = [];
    orphan.on('state', (st) => orphanStates.push(`${st}@${Math.round(performance.now())}`));
    for (let i = 0; i < 60; i++) await client.kv.set(`/snap/filler/${i % 5}`, String(i));
    await c.waitFor(async () => (await c.status(leader)).snapshotIndex > 40 || null, { what: 'a snapshot past the late member', timeoutMs: 30_000 });

    await c.restart(late);
    const target = (await c.status(leader)).appliedIndex;
    await c.waitFor(async () => ((await c.tryStatus(late))?.appliedIndex ?? 0) >= target || null, { what: 'the late member caught up', timeoutMs: 60_000 });
    assert.ok((await c.status(late)).snapshotIndex > 0, 'it caught up from a snapshot');

    // Make the late member the leader: freeze whoever else leads until it wins an election.
    for (let tries = 0; ; tries++) {
      const l = await c.waitForLeader({ among: c.nodes.map((n) => n.id).filter((id) => !frozen.has(id)) });
      if (l === late) break;
      assert.ok(tries < 10, 'the late member never became leader');
      const changedAt = performance.now();
      process.kill(c.node(l).pid!, 'SIGSTOP');
      frozen.add(l);
      await c.waitFor(async () => {
        const st = await c.tryStatus(late);
        return st && st.leaderId !== 0 && st.leaderId !== l ? st : null;
      }, { what: 'a new leader', timeoutMs: 20_000 });
      process.kill(c.node(l).pid!, 'SIGCONT');
      frozen.delete(l);
      // Each leader serves until the orphan's holder reached it (the documented assumption).
      await c.waitFor(async () => orphan.acknowledgedAt > changedAt || null, { what: 'the holder renewed with the new leader', timeoutMs: 20_000, intervalMs: 50 });
    }
    // The late member's own table (it answers from it) holds what it only learned from the snapshot.
    const ttl = await client.lease.timeToLive(kept.id, { keys: true, endpoint: c.node(late).grpcAddress });
    assert.ok(ttl, 'the kept lease is in the new leader’s table');
    assert.deepEqual(ttl.keys, ['/snap/kept']);
    assert.ok(ttl.remainingMs > 30_000, `remaining ${ttl.remainingMs}`);
    await client.lease.keepAlive(kept.id);

    // The orphan (granted while the late member was down): renewed once more now, then never.
    const orphanTtl = await client.lease.timeToLive(orphan.leaseId, { endpoint: c.node(late).grpcAddress });
    if (!orphanTtl) {
      const views = await Promise.all(c.nodes.map((n) => client.lease.timeToLive(orphan.leaseId, { endpoint: n.grpcAddress }).catch((e: Error) => e.message)));
      console.log('# orphan views', JSON.stringify(views), 'states', orphanStates.join(','), 'now', Math.round(performance.now()), 'late', late);
    }
    assert.ok(orphanTtl, 'the orphan is in the new leader’s table');
    holder.close();
    // The renewal (or grant) takes effect somewhere between the request and its answer: the lower
    // bound counts from the request, the upper bound from the answer.
    const kaSent = performance.now();
    await client.lease.keepAlive(orphan.leaseId);
    const lastAck = performance.now();
    await c.waitFor(async () => (await client.kv.get('/snap/orphan')) === undefined || null, { what: 'the orphan’s key deleted', timeoutMs: 30_000, intervalMs: 50 });
    const orphanEnd = performance.now();
    assert.ok(
      orphanEnd - kaSent >= orphan.ttlMs - 100 && orphanEnd - lastAck <= orphan.ttlMs + timing.graceMs + timing.slackMs + 500,
      `the orphan ended ${Math.round(orphanEnd - kaSent)} ms after its last keep-alive was sent, ${Math.round(orphanEnd - lastAck)} ms after it was answered`,
    );

    const grantSent = performance.now();
    const fresh = await client.lease.grant(2000);
    const granted = performance.now();
    await client.kv.set('/snap/fresh', 'f', { lease: fresh.id });
    await c.waitFor(async () => (await client.kv.get('/snap/fresh')) === undefined || null, { what: 'the fresh key deleted', timeoutMs: 30_000, intervalMs: 50 });
    const freshEnd = performance.now();
    assert.ok(
      freshEnd - grantSent >= fresh.ttlMs - 100 && freshEnd - granted <= fresh.ttlMs + timing.graceMs + timing.slackMs + 500,
      `the fresh lease ended ${Math.round(freshEnd - grantSent)} ms after the grant was sent, ${Math.round(freshEnd - granted)} ms after it was answered`,
    );
    assert.ok((await client.kv.get('/snap/kept')) !== undefined, 'the kept lease is alive');
  });
});
