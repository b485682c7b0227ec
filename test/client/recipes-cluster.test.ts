// The SDK's mutex and election recipes on a real 3-member cluster (separate processes):
//   - two sessions contend for a mutex; the holder's lease is revoked (its session killed) and the
//     waiter gets the lock, with a larger fencing token, and the old holder's fenced write fails;
//     while it waited the members served no Range at all (the waiter watches, it does not poll);
//   - a holder whose client dies without releasing (no more keep-alives) loses the lock to the
//     waiter once its lease expires;
//   - waiters get the lock in the order they queued (create revision);
//   - election: campaign, observe, proclaim, resign across two sessions;
//   - etcdctl (3.4) `elect` and `lock` against the same cluster queue with the recipes on the
//     same keys, in both directions.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { startCluster, type Cluster } from '../support/cluster.js';
import { ETCDCTL_BIN } from '../support/etcdctl.js';
import { Election, Mutex, PlacementClient, op, type Leader, type Session } from '../../src/client/index.js';

/** Sum over the members of the metric lines starting with `prefix` and containing every `parts`. */
async function metricSum(c: Cluster, prefix: string, ...parts: string[]): Promise<number> {
  let sum = 0;
  for (const n of c.nodes) {
    const text = await (await fetch(`http://${n.httpAddress}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    for (const line of text.split('\n')) {
      if (line.startsWith(prefix) && parts.every((p) => line.includes(p))) sum += Number(line.split(' ').pop());
    }
  }
  return sum;
}

/** Range calls the members have served so far (all status codes). */
const rangesServed = (c: Cluster): Promise<number> => metricSum(c, 'placement_grpc_requests_total{', 'service="etcdserverpb.KV"', 'method="Range"');
/** Watchers open on the members. */
const watchers = async (c: Cluster): Promise<number> => (await metricSum(c, 'placement_watchers ')) + (await metricSum(c, 'placement_watchers{'));

function track<T>(p: Promise<T>): { done: boolean; p: Promise<T> } {
  const t = { done: false, p };
  p.then(
    () => (t.done = true),
    () => (t.done = true),
  );
  return t;
}

/** A long-running etcdctl (elect/lock hold until signalled): its output so far and its exit. */
class Ctl {
  readonly child: ChildProcessWithoutNullStreams;
  out = '';
  err = '';
  readonly exited: Promise<number | null>;
  constructor(endpoints: string[], args: string[]) {
    this.child = spawn(ETCDCTL_BIN, ['--endpoints', endpoints.join(','), '--dial-timeout', '2s', ...args], { env: { ...process.env, ETCDCTL_API: '3' } });
    this.child.stdout.on('data', (d: Buffer) => (this.out += d.toString('utf8')));
    this.child.stderr.on('data', (d: Buffer) => (this.err += d.toString('utf8')));
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
  }
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, signal);
  }
}

describe('mutex and election recipes on a real cluster', { timeout: 300_000 }, () => {
  let c: Cluster;
  let endpoints: string[];
  const clients: PlacementClient[] = [];
  const ctls: Ctl[] = [];
  const newClient = (): PlacementClient => {
    const cl = new PlacementClient({ endpoints, deadlineMs: 20_000 });
    clients.push(cl);
    return cl;
  };

  before(async () => {
    c = await startCluster({ nodes: 3 });
    await c.waitForLeader();
    endpoints = c.nodes.map((n) => n.grpcAddress);
  });
  after(async () => {
    for (const x of ctls) x.kill();
    for (const cl of clients) cl.close();
    await c?.stop();
  });

  it("two sessions contend; the holder's lease is revoked; the waiter gets the lock without having polled, and the old holder's fenced write fails", async () => {
    const ca = newClient();
    const cb = newClient();
    const sa = await ca.session({ ttlMs: 10_000 });
    const sb = await cb.session({ ttlMs: 10_000 });
    const a = new Mutex(ca, 'recipes/m1', sa);
    const b = new Mutex(cb, 'recipes/m1', sb);
    const ta = await a.lock();
    assert.equal(a.key, `recipes/m1/${sa.leaseId.toString(16)}`);
    const kv = (await ca.etcd.range(a.key!)).kvs[0]!;
    assert.equal(kv.createRevision, ta);
    assert.equal(kv.lease, sa.leaseId);
    const pb = track(b.lock());
    // B is queued once its key exists; then give it time in which it could poll: more writes than
    // any polling loop would let pass, and two keep-alive rounds of both sessions.
    await c.waitFor(async () => (await ca.etcd.range(`recipes/m1/${sb.leaseId.toString(16)}`)).kvs.length === 1, { what: "B's queued key" });
    // B reads who is ahead of it, then watches that key: once its watch is open, its read is done.
    await c.waitFor(async () => (await watchers(c)) === 1, { what: "B's watch on A's key" });
    const before = await rangesServed(c);
    const ackA = sa.acknowledgedAt;
    for (let i = 0; i < 30; i++) await ca.kv.set(`recipes/noise/${i}`, String(i));
    await c.waitFor(async () => sa.acknowledgedAt > ackA && sb.acknowledgedAt > ackA, { what: 'a keep-alive round', timeoutMs: 20_000 });
    assert.equal(pb.done, false, 'B got the lock while A holds it');
    // rangesServed reads /metrics, not Range: any Range counted here is B's.
    assert.equal(await rangesServed(c), before, 'the waiter re-read while waiting');
    await ca.lease.revoke(sa.leaseId);
    const tb = await pb.p;
    assert.ok(tb > ta, `B's token ${tb} > A's ${ta}`);
    // Woken once: one Range finding nobody ahead, one confirming its own key.
    assert.equal((await rangesServed(c)) - before, 2);
    const stale = await ca.txn().if(a.isOwner()).then(op.put('recipes/m1-data', 'A')).commit();
    assert.equal(stale.succeeded, false, "the revoked holder's fenced write was applied");
    const fresh = await cb.txn().if(b.isOwner()).then(op.put('recipes/m1-data', 'B')).commit();
    assert.equal(fresh.succeeded, true);
    await b.unlock();
    assert.equal((await cb.etcd.range('recipes/m1/', { prefix: true })).kvs.length, 0);
    await sb.close();
  });

  it("a holder whose client dies (no more keep-alives) loses the lock to the waiter once its lease expires", async () => {
    const ca = newClient();
    const cb = newClient();
    const sa = await ca.session({ ttlMs: 2000 });
    const sb = await cb.session({ ttlMs: 10_000 });
    const ta = await new Mutex(ca, 'recipes/m2', sa).lock();
    const pb = track(new Mutex(cb, 'recipes/m2', sb).lock());
    await c.waitFor(async () => (await cb.etcd.range('recipes/m2/', { prefix: true, countOnly: true })).count === 2, { what: 'B queued' });
    const died = performance.now();
    ca.close(); // the process "dies": no revoke, keep-alives stop
    const tb = await pb.p;
    const took = performance.now() - died;
    assert.ok(tb > ta);
    assert.ok(took < sa.ttlMs + 10_000, `took ${took} ms`);
    await sb.close();
  });

  it('waiters get the lock in the order they queued (create revision), each after the one before releases', async () => {
    const sessions: Session[] = [];
    const ms: Mutex[] = [];
    for (let i = 0; i < 4; i++) {
      const cl = newClient();
      const s = await cl.session({ ttlMs: 10_000 });
      sessions.push(s);
      ms.push(new Mutex(cl, 'recipes/m3', s));
    }
    const order: number[] = [];
    const tokens: number[] = [await ms[0]!.lock()];
    order.push(0);
    const waits: Array<{ done: boolean; p: Promise<number> }> = [];
    for (let i = 1; i < 4; i++) {
      waits.push(track(ms[i]!.lock().then((t) => (order.push(i), t))));
      await c.waitFor(async () => (await clients[0]!.etcd.range('recipes/m3/', { prefix: true, countOnly: true })).count === i + 1, { what: `waiter ${i} queued` });
    }
    for (let i = 0; i < 3; i++) {
      await ms[i]!.unlock();
      tokens.push(await waits[i]!.p);
      for (const w of waits.slice(i + 1)) assert.equal(w.done, false, `a later waiter got the lock before waiter ${i + 1}`);
    }
    assert.deepEqual(order, [0, 1, 2, 3]);
    assert.deepEqual(tokens, [...tokens].sort((x, y) => x - y));
    await ms[3]!.unlock();
    for (const s of sessions) await s.close();
  });

  it('election: campaign, observe, proclaim, and the next candidate elected on resign', async () => {
    const ca = newClient();
    const cb = newClient();
    const sa = await ca.session({ ttlMs: 10_000 });
    const sb = await cb.session({ ttlMs: 10_000 });
    const watcher = new Election(newClient(), 'recipes/e1');
    const ac = new AbortController();
    const seen: string[] = [];
    const observing = (async () => {
      for await (const l of watcher.observe({ signal: ac.signal })) seen.push(`${l.key}=${l.value.toString()}@${l.fencingToken}`);
    })();
    const ea = new Election(ca, 'recipes/e1', sa);
    const eb = new Election(cb, 'recipes/e1', sb);
    const ta = await ea.campaign('A');
    const pb = track(eb.campaign('B'));
    await c.waitFor(async () => (await cb.etcd.range('recipes/e1/', { prefix: true, countOnly: true })).count === 2, { what: 'B a candidate' });
    const leader = (await watcher.leader())!;
    assert.deepEqual([leader.key, leader.value.toString(), leader.fencingToken], [`recipes/e1/${sa.leaseId.toString(16)}`, 'A', ta]);
    await ea.proclaim('A2');
    assert.equal(pb.done, false);
    await ea.resign();
    const tb = await pb.p;
    assert.ok(tb > ta);
    const ka = `recipes/e1/${sa.leaseId.toString(16)}`;
    const kb = `recipes/e1/${sb.leaseId.toString(16)}`;
    await c.waitFor(async () => seen.length >= 3, { what: 'three observations' });
    ac.abort();
    await observing;
    assert.deepEqual(seen, [`${ka}=A@${ta}`, `${ka}=A2@${ta}`, `${kb}=B@${tb}`]);
    await sa.close();
    await sb.close();
  });

  it('etcdctl elect and the recipe queue on the same keys, both ways', async () => {
    const cl = newClient();
    const s = await cl.session({ ttlMs: 10_000 });
    const e = new Election(cl, 'recipes/e2', s);
    // etcdctl leads first; the recipe waits behind it.
    const ctl = new Ctl(endpoints, ['elect', 'recipes/e2', 'from-etcdctl']);
    ctls.push(ctl);
    await c.waitFor(async () => ctl.out.includes('from-etcdctl'), { what: 'etcdctl elected' });
    const l: Leader = (await e.leader())!;
    assert.match(l.key, /^recipes\/e2\/[0-9a-f]+$/);
    assert.equal(l.value.toString(), 'from-etcdctl');
    assert.equal(ctl.out, `${l.key}\nfrom-etcdctl\n`);
    const p = track(e.campaign('from-sdk'));
    await c.waitFor(async () => (await cl.etcd.range('recipes/e2/', { prefix: true, countOnly: true })).count === 2, { what: 'the recipe a candidate' });
    assert.equal(p.done, false);
    ctl.kill('SIGINT'); // etcdctl resigns on SIGINT
    assert.equal(await ctl.exited, 0, ctl.err);
    const token = await p.p;
    assert.equal((await e.leader())!.value.toString(), 'from-sdk');
    // Now the recipe leads; an etcdctl candidate waits until it resigns.
    const ctl2 = new Ctl(endpoints, ['elect', 'recipes/e2', 'second-etcdctl']);
    ctls.push(ctl2);
    await c.waitFor(async () => (await cl.etcd.range('recipes/e2/', { prefix: true, countOnly: true })).count === 2, { what: 'etcdctl a candidate' });
    assert.equal(ctl2.out, '');
    await e.resign();
    await c.waitFor(async () => ctl2.out.includes('second-etcdctl'), { what: 'etcdctl elected after the resign' });
    const l2 = (await e.leader())!;
    assert.ok(l2.fencingToken > token);
    ctl2.kill('SIGINT');
    assert.equal(await ctl2.exited, 0, ctl2.err);
    await s.close();
  });

  it('etcdctl lock and the recipe exclude each other on the same keys, both ways', async () => {
    const cl = newClient();
    const s = await cl.session({ ttlMs: 10_000 });
    const m = new Mutex(cl, 'recipes/l1', s);
    const token = await m.lock();
    // etcdctl waits behind the recipe, and runs its command once the recipe unlocks.
    const ctl = new Ctl(endpoints, ['lock', 'recipes/l1', '--', 'sh', '-c', 'echo "key=$ETCD_LOCK_KEY"']);
    ctls.push(ctl);
    await c.waitFor(async () => (await cl.etcd.range('recipes/l1/', { prefix: true, countOnly: true })).count === 2, { what: 'etcdctl queued' });
    assert.equal(ctl.out, '');
    await m.unlock();
    assert.equal(await ctl.exited, 0, ctl.err);
    assert.match(ctl.out, /^key=recipes\/l1\/[0-9a-f]+\n$/);
    // etcdctl holds; the recipe waits until it is interrupted (it unlocks).
    const holder = new Ctl(endpoints, ['lock', 'recipes/l1']);
    ctls.push(holder);
    await c.waitFor(async () => /^recipes\/l1\/[0-9a-f]+\n/.test(holder.out), { what: 'etcdctl holds the lock' });
    const p = track(m.lock());
    await c.waitFor(async () => (await cl.etcd.range('recipes/l1/', { prefix: true, countOnly: true })).count === 2, { what: 'the recipe queued' });
    assert.equal(p.done, false);
    holder.kill('SIGINT');
    assert.equal(await holder.exited, 0, holder.err);
    const t2 = await p.p;
    assert.ok(t2 > token);
    await m.unlock();
    await s.close();
  });
});
