// Leases and sessions on a real 3-member cluster (separate processes), through the SDK:
//   - the lease API round trip, keys attached and deleted in one revision by a revoke;
//   - a live session's ephemeral key survives 20 leader changes;
//   - a holder that stops (its client closed: no more keep-alives) loses its key within the
//     documented bound (src/lease/README.md) while the leader is taken out every second;
//   - a client cut from the cluster (fault proxy) sees `suspended`, then `expired`, and by then
//     its key is gone for everyone;
//   - bad input on the etcd LeaseKeepAlive stream (served from its HTTP/2 stream,
//     src/grpc/h2/direct-stream.ts): a malformed message ends that stream INVALID_ARGUMENT and
//     changes nothing; keep-alives on a new stream go on;
//   - a LeaseKeepAlive client that sends without reading the answers stops being read once a
//     bounded number of answers wait for it (as etcd's loop), and is answered for every keep-alive
//     once it reads again.
// Leaders are taken out by freezing them (SIGSTOP): a frozen leader is a partitioned one, the
// others elect a new leader within an election timeout, and a thawed one steps down. That keeps a
// quorum without restarting processes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { LinkProxy } from '../chaos/proxy.js';
import { PlacementClient, type SessionState } from '../../src/client/index.js';
import { leaseTiming } from '../../src/lease/timing.js';
import * as grpc from '@grpc/grpc-js';

// The cluster's default timing (--tick-ms 50, --election-ticks 10).
const timing = leaseTiming({ tickMs: 50, electionTicks: 10 });
const E = timing.electionTimeoutMs;
const S = timing.slackMs;
const varint = (n: number): number[] => {
  const out: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return out;
};
/** How often the tests look at a key: the observation adds at most this to a measured time. */
const POLL_MS = 50;

describe('leases on a real cluster', { timeout: 300_000 }, () => {
  let c: Cluster;
  let client: PlacementClient;
  const frozen = new Set<number>();

  const freeze = (id: number): void => {
    process.kill(c.node(id).pid!, 'SIGSTOP');
    frozen.add(id);
  };
  const thaw = (id: number): void => {
    if (!frozen.delete(id)) return;
    process.kill(c.node(id).pid!, 'SIGCONT');
  };
  const running = (): number[] => c.nodes.map((n) => n.id).filter((id) => !frozen.has(id));
  /** Freezes the leader, waits for another, thaws the old one: one leader change. */
  const changeLeader = async (): Promise<number> => {
    const old = await c.waitForLeader({ among: running() });
    freeze(old);
    const next = await c.waitForLeader({ among: running(), timeoutMs: 20_000 });
    thaw(old);
    return next;
  };
  /** A metric summed over the members that answer (counters are counted once, by one member). */
  const metric = async (name: string): Promise<number> => {
    let sum = 0;
    for (const id of running()) {
      const text = await (await fetch(`http://${c.node(id).httpAddress}/metrics`)).text();
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
      if (m) sum += Number(m[1]);
    }
    return sum;
  };
  const exists = async (key: string): Promise<boolean> => (await client.kv.get(key, { deadlineMs: 10_000 })) !== undefined;
  const waitGone = async (key: string, what: string): Promise<number> => {
    await c.waitFor(async () => !(await exists(key)), { timeoutMs: 30_000, what, intervalMs: POLL_MS });
    return performance.now();
  };

  before(async () => {
    c = await startCluster({ nodes: 3 });
    client = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress), deadlineMs: 10_000 });
  });
  after(async () => {
    client?.close();
    for (const id of [...frozen]) thaw(id);
    await c?.stop();
  });

  it('LeaseKeepAlive bad input: a malformed message ends the stream INVALID_ARGUMENT and changes nothing', async () => {
    const lease = await client.lease.grant(60_000);
    const raw = (b: Buffer): Buffer => b;
    const rpc = new grpc.Client(c.node(await c.waitForLeader()).grpcAddress, grpc.credentials.createInsecure());
    // One keep-alive stream: its answers and how it ended.
    const keepAlive = (messages: Buffer[]): Promise<{ answers: number; code: number; details: string }> =>
      new Promise((resolve) => {
        const s = rpc.makeBidiStreamRequest('/etcdserverpb.Lease/LeaseKeepAlive', raw, raw, new grpc.Metadata(), {});
        let answers = 0;
        s.on('data', () => {
          answers++;
          if (answers === messages.length) s.end();
        });
        s.on('error', () => undefined);
        s.on('status', (st) => resolve({ answers, code: st.code, details: st.details }));
        for (const m of messages) s.write(m);
      });
    const idMessage = Buffer.from([0x08, ...varint(lease.id)]); // field 1 (ID), varint
    try {
      const before = await client.lease.timeToLive(lease.id);
      // A field 1 whose varint never ends: not a LeaseKeepAliveRequest.
      const bad = await keepAlive([idMessage, Buffer.from([0x08, 0xff, 0xff])]);
      assert.equal(bad.code, grpc.status.INVALID_ARGUMENT, `${bad.code} ${bad.details}`);
      assert.match(bad.details, /malformed request/);
      const ok = await keepAlive([idMessage, idMessage]);
      assert.deepEqual([ok.answers, ok.code], [2, grpc.status.OK]);
      const after = await client.lease.timeToLive(lease.id);
      assert.equal(after?.grantedTtlMs, before?.grantedTtlMs);
    } finally {
      rpc.close();
      await client.lease.revoke(lease.id);
    }
  });

  it('LeaseKeepAlive with a client that does not read its answers: the member stops reading it, and answers everything once it reads again', async () => {
    const lease = await client.lease.grant(60_000);
    const leaderId = await c.waitForLeader();
    const member = c.node(leaderId);
    const raw = (b: Buffer): Buffer => b;
    const rpc = new grpc.Client(member.grpcAddress, grpc.credentials.createInsecure());
    const answered = async (): Promise<number> => {
      const text = await (await fetch(`http://${member.httpAddress}/metrics`)).text();
      return Number(/^placement_lease_keepalives_total (\S+)$/m.exec(text)?.[1] ?? 0);
    };
    const SENT = 40_000;
    try {
      const s = rpc.makeBidiStreamRequest('/etcdserverpb.Lease/LeaseKeepAlive', raw, raw, new grpc.Metadata(), {});
      let answers = 0;
      let allAnswered!: () => void;
      const done = new Promise<void>((r) => (allAnswered = r));
      s.on('data', () => {
        if (++answers === SENT) allAnswered();
      });
      s.on('error', () => undefined);
      const status = new Promise<grpc.StatusObject>((r) => s.on('status', r));
      s.pause();
      const from = await answered();
      const idMessage = Buffer.from([0x08, ...varint(lease.id)]);
      for (let i = 0; i < SENT; i++) s.write(idMessage);
      // The member answers what it reads; it stops once the answers the client leaves wait
      // (a bounded number, plus what HTTP/2 flow control lets through). A member that kept
      // reading would answer them all.
      let last = -1;
      let still = 0;
      for (;;) {
        const n = (await answered()) - from;
        if (n >= SENT) break;
        still = n === last ? still + 1 : 0;
        last = n;
        if (still >= 5) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const whilePaused = (await answered()) - from;
      assert.ok(whilePaused < SENT / 4, `the member answered ${whilePaused} of ${SENT} keep-alives for a client that did not read them`);
      s.resume();
      await done;
      s.end();
      assert.equal((await status).code, grpc.status.OK);
      assert.equal((await answered()) - from, SENT, 'every keep-alive answered once the client read again');
    } finally {
      rpc.close();
      await client.lease.revoke(lease.id);
    }
  });

  it('grant, attach keys, timeToLive with keys, keepAlive, list, revoke (every key in one revision)', async () => {
    const l = await client.lease.grant(30_000);
    assert.ok(l.id > 0 && Number.isSafeInteger(l.id));
    assert.equal(l.ttlMs, 30_000);
    assert.equal((await client.lease.grant(1)).ttlMs, 2000, 'raised to the minimum TTL (1.5 × E, whole seconds)');
    await client.kv.set('/lease/a', '1', { lease: l.id });
    await client.kv.set('/lease/b', '2', { lease: l.id });
    const ttl = await client.lease.timeToLive(l.id, { keys: true });
    assert.deepEqual(ttl?.keys.sort(), ['/lease/a', '/lease/b']);
    assert.equal(ttl?.grantedTtlMs, 30_000);
    assert.ok(ttl!.remainingMs >= 28_000 && ttl!.remainingMs <= 30_000, `remaining ${ttl!.remainingMs}`);
    assert.equal((await client.lease.keepAlive(l.id)).ttlMs, 30_000);
    assert.ok((await client.lease.list()).includes(l.id));
    const before = (await client.kv.get('/lease/a'))!.modRevision;
    const r = await client.lease.revoke(l.id);
    assert.ok(r.revision > before);
    assert.equal(await exists('/lease/a'), false);
    assert.equal(await exists('/lease/b'), false);
    assert.equal(await client.lease.timeToLive(l.id), undefined);
    await assert.rejects(client.lease.keepAlive(l.id), { name: 'NotFoundError' });
    await assert.rejects(client.lease.revoke(l.id), { name: 'NotFoundError' });
    await assert.rejects(client.kv.set('/lease/c', 'x', { lease: l.id }), { name: 'NotFoundError' });
    await assert.rejects(client.lease.grant(1000, { id: 2 ** 53 }), { name: 'InvalidArgumentError' });
    assert.ok((await metric('placement_lease_granted_total')) >= 2);
    assert.ok((await metric('placement_lease_revoked_total')) >= 1);
    assert.ok((await metric('placement_lease_keepalives_total')) >= 1);
    assert.ok((await metric('placement_lease_renewal_commands_total')) >= 1);
  });

  it("a live session's ephemeral key survives 20 leader changes", async () => {
    const session = await client.session({ ttlMs: 3000 });
    const states: SessionState[] = [];
    session.on('state', (s) => states.push(s));
    await session.put('/eph/live', 'here');
    const leaders: number[] = [];
    for (let i = 0; i < 20; i++) {
      const changedAt = performance.now();
      leaders.push(await changeLeader());
      // Each leader serves until the holder reached it (the documented assumption: a lease is
      // kept alive if its holder can renew with each leader; back-to-back elections with no
      // leader reachable in between are an unavailable cluster, where leases do expire).
      await c.waitFor(async () => session.acknowledgedAt > changedAt, { timeoutMs: 20_000, what: `a keep-alive acknowledged after change ${i + 1}`, intervalMs: POLL_MS });
      assert.equal(await exists('/eph/live'), true, `the key vanished after leader change ${i + 1} (leaders ${leaders.join(',')}; states ${states.join(',')})`);
    }
    assert.ok(!states.includes('expired'), `session states: ${states.join(',')}`);
    assert.equal(session.state === 'connected' || session.state === 'suspended', true);
    await session.close();
    assert.equal(session.state, 'closed');
    assert.equal(await exists('/eph/live'), false, 'close() revokes the lease: its key is deleted');
  });

  it('a holder that stops keeping alive loses its key within lastAck + T + E + S while the leader is taken out every second', async () => {
    const holder = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress), deadlineMs: 10_000 });
    const session = await holder.session({ ttlMs: 2000 });
    await session.put('/eph/holder', 'x');
    // The holder's last acknowledged keep-alive, then it dies (its client is closed: no revoke).
    await holder.lease.keepAlive(session.leaseId);
    const lastAck = performance.now();
    holder.close();
    let churning = true;
    const churn = (async () => {
      while (churning) {
        await changeLeader();
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    try {
      const goneAt = await waitGone('/eph/holder', 'the dead holder’s key to be deleted');
      const took = goneAt - lastAck;
      // The bound holds when a leader is in office at lastAck + T + E; with the leader out every
      // second, the office may be vacant then, for at most one election (E), after which the new
      // leader deletes at once (within S).
      const bound = session.ttlMs + E + S + E + POLL_MS;
      console.log(`# dead holder's key deleted ${Math.round(took)} ms after its last ack (TTL ${session.ttlMs}, bound ${bound})`);
      assert.ok(took >= session.ttlMs - POLL_MS, `deleted after ${took} ms, before the TTL`);
      assert.ok(took <= bound, `deleted after ${took} ms, past ${bound}`);
    } finally {
      churning = false;
      await churn;
    }
    assert.ok((await metric('placement_lease_expired_total')) >= 1, 'the expiry is counted by the leader that decided it');
  });

  it('a client cut from the cluster sees suspended, then expired; by then its key is gone for everyone', async () => {
    const proxies = await Promise.all(
      c.nodes.map(async (n) => {
        const [host, port] = n.grpcAddress.split(':');
        const p = new LinkProxy({ host: host!, port: Number(port) }, Math.random, `client→${n.id}`);
        await p.start();
        return p;
      }),
    );
    const cut = new PlacementClient({ endpoints: proxies.map((p) => p.address), discoverMembers: false, deadlineMs: 5000 });
    try {
      const session = await cut.session({ ttlMs: 2000 });
      await session.put('/eph/cut', 'x');
      const states: Array<[SessionState, number]> = [];
      session.on('state', (s) => states.push([s, performance.now()]));
      const cutAt = performance.now();
      for (const p of proxies) p.blackhole('drop');
      assert.equal(await session.ended(), 'expired');
      const expiredAt = performance.now();
      assert.deepEqual(
        states.map(([s]) => s),
        ['suspended', 'expired'],
      );
      // The client declares expiry only once the cluster has surely deleted the key.
      assert.equal(await exists('/eph/cut'), false, 'the key is gone for everyone when the session says expired');
      console.log(`# cut client: suspended after ${Math.round(states[0]![1] - cutAt)} ms, expired after ${Math.round(expiredAt - cutAt)} ms`);
    } finally {
      cut.close();
      await Promise.all(proxies.map((p) => p.close()));
    }
  });
});
