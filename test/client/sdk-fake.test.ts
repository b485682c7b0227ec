// SDK behaviour against an in-process fake cluster (real gRPC on loopback): typed operations,
// member discovery, fail-over, leader hints, back-off, deadlines, de-dup sequence reuse,
// error mapping and close().
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  PlacementClient,
  ClientClosedError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  PlacementClientError,
  UnavailableError,
  FailedPreconditionError,
  backoffDelay,
  resolveBackoff,
  seededRandom,
  type RetryEvent,
} from '../../src/client/index.js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { FakeCluster, deadAddress } from './support/fake-cluster.js';

const SEED = 20261121;

/** Resolves once node `nodeId` has received a `method` call; fails if `pending` settles first or
 *  nothing arrives within 20 s (instead of spinning for ever). */
async function untilReceived(fc: FakeCluster, method: string, nodeId: number, pending: Promise<unknown>): Promise<void> {
  let settled: string | undefined;
  pending.then(
    () => (settled = 'resolved'),
    (e: unknown) => (settled = `rejected: ${String(e)}`),
  );
  const deadline = Date.now() + 20_000;
  while (fc.callsTo(method, nodeId).length === 0) {
    if (settled !== undefined) assert.fail(`the call ${settled} before node ${nodeId} received a ${method}`);
    if (Date.now() > deadline) assert.fail(`node ${nodeId} received no ${method} within 20 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// A suite-wide bound (the suite takes ~10 s, ~30 s on a loaded machine) so that a hang names the
// test it happened in instead of timing out the whole file silently.
describe('PlacementClient against a fake cluster', { timeout: 180_000 }, () => {
  let fc: FakeCluster;
  const clients: PlacementClient[] = [];
  const mk = (opts: Partial<ConstructorParameters<typeof PlacementClient>[0]> & { endpoints: string[] }): PlacementClient => {
    const c = new PlacementClient({ random: seededRandom(SEED), ...opts });
    clients.push(c);
    return c;
  };

  const c0 = (): PlacementClient => mk({ endpoints: [fc.node(1).address] });
  before(async () => {
    fc = await FakeCluster.start(3);
  });
  after(async () => {
    for (const c of clients) c.close();
    await fc.stop();
  });
  beforeEach(async () => {
    for (const n of fc.nodes) {
      n.fault = undefined;
      if (!n.running) await n.start();
    }
    fc.leaderId = 1;
    fc.calls.length = 0;
  });

  test('typed key-value operations', async () => {
    const c = mk({ endpoints: [fc.node(1).address] });
    const s1 = await c.kv.set('/brokers/1', '{"host":"10.0.0.1"}');
    assert.ok(s1.revision > 0);
    assert.equal(s1.header.clusterId, 'fake');
    const kv = await c.kv.get('/brokers/1');
    assert.ok(kv);
    assert.equal(kv.value.toString(), '{"host":"10.0.0.1"}');
    assert.equal(kv.version, 1);
    assert.equal(kv.modRevision, s1.revision);
    const s2 = await c.kv.set('/brokers/1', Buffer.from([0, 1, 2]), { prevKv: true });
    assert.equal(s2.prevKv?.value.toString(), '{"host":"10.0.0.1"}');
    assert.deepEqual([...(await c.kv.get('/brokers/1'))!.value], [0, 1, 2]);
    assert.equal(await c.kv.get('/missing'), undefined);
    assert.equal(await c.kv.getString('/missing'), undefined);
    await assert.rejects(c.kv.getOrThrow('/missing'), (e: unknown) => e instanceof NotFoundError && e.code === GrpcStatus.NOT_FOUND);
    assert.equal(await c.kv.exists('/brokers/1'), true);
    assert.equal(await c.kv.exists('/missing'), false);
    const d = await c.kv.delete('/brokers/1', { prevKv: true });
    assert.equal(d.deleted, true);
    assert.deepEqual([...d.prevKv!.value], [0, 1, 2]);
    assert.equal((await c.kv.delete('/brokers/1')).deleted, false);

    for (let i = 0; i < 7; i++) await c.kv.set(`/topics/t${i}`, `v${i}`);
    await c.kv.set('/other', 'x');
    const page = await c.kv.list('/topics/', { limit: 3 });
    assert.deepEqual(page.kvs.map((k) => k.key), ['/topics/t0', '/topics/t1', '/topics/t2']);
    assert.equal(page.more, true);
    const page2 = await c.kv.list('/topics/', { limit: 3, startAfter: page.nextKey });
    assert.deepEqual(page2.kvs.map((k) => k.key), ['/topics/t3', '/topics/t4', '/topics/t5']);
    const all: string[] = [];
    for await (const k of c.kv.listAll('/topics/', { pageSize: 2 })) all.push(k.key);
    assert.equal(all.length, 7);
    const five: string[] = [];
    for await (const k of c.kv.listAll('/topics/', { pageSize: 2, limit: 5 })) five.push(k.key);
    assert.deepEqual(five, ['/topics/t0', '/topics/t1', '/topics/t2', '/topics/t3', '/topics/t4']);

    // A server with a smaller maximum page: listAll falls back to the server's default pages.
    fc.listMax = 3;
    fc.listDefault = 3;
    try {
      const paged: string[] = [];
      for await (const k of c.kv.listAll('/topics/', { pageSize: 50 })) paged.push(k.key);
      assert.equal(paged.length, 7);
      await assert.rejects(c.kv.list('/topics/', { limit: 50 }), InvalidArgumentError);
    } finally {
      fc.listMax = 1000;
      fc.listDefault = 100;
    }

    const cas1 = await c.kv.compareAndSwap('/lock', { absent: true }, 'me');
    assert.equal(cas1.succeeded, true);
    const cas2 = await c.kv.compareAndSwap('/lock', { absent: true }, 'other');
    assert.equal(cas2.succeeded, false);
    assert.equal(cas2.prevKv?.value.toString(), 'me');
    const cas3 = await c.kv.compareAndSwap('/lock', { value: 'me' }, 'me2');
    assert.equal(cas3.succeeded, true);
    const cas4 = await c.kv.compareAndSwap('/lock', { modRevision: cas3.revision }, 'me3');
    assert.equal(cas4.succeeded, true);
    assert.equal(await c.kv.getString('/lock'), 'me3');
  });

  test('operations issued together share one Session message, and each caller gets its own result', async () => {
    const c = mk({ endpoints: [fc.node(1).address], discoverMembers: false });
    await c.kv.set('/warm', 'w');
    fc.sessionBatches.length = 0;
    const keys = Array.from({ length: 50 }, (_, i) => `/batch/${i}`);
    const sets = await Promise.all(keys.map((k, i) => c.kv.set(k, `v${i}`)));
    assert.deepEqual(fc.sessionBatches, [50], 'fifty sets issued in one turn leave in one message');
    assert.equal(new Set(sets.map((r) => r.revision)).size, 50, 'every set got its own revision back');
    const got = await Promise.all(keys.map((k) => c.kv.getString(k)));
    assert.deepEqual(got, keys.map((_, i) => `v${i}`));
    assert.deepEqual(fc.sessionBatches, [50, 50]);
    // One bad operation in a batch fails alone, with its own typed error.
    const [bad, good] = await Promise.allSettled([c.kv.set('', 'x'), c.kv.set('/fine', 'y')]);
    assert.equal(bad.status, 'rejected');
    assert.ok(bad.status === 'rejected' && bad.reason instanceof InvalidArgumentError && bad.reason.serverMessage === 'key is empty');
    assert.equal(good.status, 'fulfilled');
    assert.deepEqual(fc.sessionBatches, [50, 50, 2]);
  });

  test('a server without KvService.Session is spoken to with unary calls; transport "unary" never opens one', async () => {
    fc.sessions = false;
    try {
      const c = mk({ endpoints: [fc.node(1).address], discoverMembers: false });
      fc.sessionBatches.length = 0;
      await c.kv.set('/legacy', 'x');
      assert.equal(await c.kv.getString('/legacy'), 'x');
      assert.deepEqual(fc.sessionBatches, []);
      assert.equal(fc.callsTo('Set').length, 1, 'the set was applied once, by a unary call');
    } finally {
      fc.sessions = true;
    }
    const u = mk({ endpoints: [fc.node(1).address], discoverMembers: false, transport: 'unary' });
    await u.kv.set('/unary', 'u');
    assert.equal(await u.kv.getString('/unary'), 'u');
    assert.deepEqual(fc.sessionBatches, []);
    assert.throws(() => mk({ endpoints: [fc.node(1).address], transport: 'carrier-pigeon' as 'unary' }), InvalidArgumentError);
  });

  test('learns the members from one endpoint and reports the leader', async () => {
    const c = mk({ endpoints: [fc.node(2).address] });
    assert.deepEqual(c.endpoints, [fc.node(2).address]);
    const m = await c.connect();
    assert.equal(m.members.length, 3);
    assert.equal(m.leaderId, 1);
    assert.deepEqual([...c.endpoints].sort(), fc.nodes.map((n) => n.address).sort());
    assert.deepEqual(c.leaderHint, { id: 1, address: fc.node(1).address });
    const st = await c.cluster.status();
    assert.equal(st.leaderId, 1);
    assert.equal(st.members.length, 3);
    const own = await c.cluster.status({ endpoint: fc.node(3).address });
    assert.equal(own.id, 3);
    assert.equal(own.role, 'follower');
  });

  test('keeps the member list fresh: a replaced member is learned by the background refresh', async () => {
    const local = await FakeCluster.start(3);
    const c = mk({ endpoints: [local.node(1).address], refreshIntervalMs: 30 });
    try {
      await c.connect();
      assert.equal(c.endpoints.length, 3);
      const n4 = await local.addNode();
      await local.removeNode(3);
      const deadline = Date.now() + 10_000;
      while (!(c.endpoints.includes(n4.address) && c.endpoints.length === 3) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.deepEqual([...c.endpoints].sort(), [local.node(1).address, local.node(2).address, n4.address].sort());
      // Only the new member is left alive: the client reaches it although it was never given its address.
      await local.node(1).stop();
      await local.node(2).stop();
      assert.equal((await c.kv.set('/fresh', 'yes')).header.memberId, 4);
    } finally {
      c.close();
      await local.stop();
    }
  });

  test('fails over from a dead endpoint and from a stopped member', async () => {
    const dead = await deadAddress();
    const events: RetryEvent[] = [];
    const c = mk({ endpoints: [dead, fc.node(1).address], onRetry: (e) => events.push(e) });
    await c.kv.set('/a', '1');
    assert.ok(events.length >= 1);
    assert.equal(events[0]!.failure.endpoint, dead);
    assert.equal(events[0]!.failure.codeName, 'UNAVAILABLE');
    await c.connect(); // learn every member
    // The node the client talks to dies: the next calls go elsewhere.
    await fc.node(1).stop();
    fc.leaderId = 2;
    for (let i = 0; i < 5; i++) await c.kv.set(`/after/${i}`, String(i));
    assert.equal(await c.kv.getString('/after/4'), '4');
  });

  test('follows the leader hint in trailing metadata', async () => {
    const events: RetryEvent[] = [];
    // Node 3 is not among the endpoints and discovery is off: only the hint can lead there.
    const c = mk({ endpoints: [fc.node(1).address], discoverMembers: false, onRetry: (e) => events.push(e) });
    fc.node(1).fault = { kind: 'unavailable', message: 'not the leader', leaderId: 3, leaderAddress: fc.node(3).address };
    const r = await c.kv.set('/hinted', 'x');
    assert.equal(r.header.memberId, 3);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.nextEndpoint, fc.node(3).address);
    assert.deepEqual(events[0]!.leaderHint, { id: 3, address: fc.node(3).address });
    assert.deepEqual(c.leaderHint, { id: 3, address: fc.node(3).address });
    // The next write goes to the known leader directly.
    fc.calls.length = 0;
    await c.kv.set('/hinted2', 'y');
    assert.deepEqual(fc.callsTo('Set').map((x) => x.node), [3]);
  });

  test('never retries INVALID_ARGUMENT or other definite failures', async () => {
    const c = mk({ endpoints: fc.nodes.map((n) => n.address) });
    await assert.rejects(c.kv.set('', 'x'), (e: unknown) => {
      assert.ok(e instanceof InvalidArgumentError);
      assert.equal(e.code, GrpcStatus.INVALID_ARGUMENT);
      assert.equal(e.codeName, 'INVALID_ARGUMENT');
      assert.equal(e.serverMessage, 'key is empty');
      assert.match(e.message, /key is empty/);
      return true;
    });
    assert.equal(fc.callsTo('Set').length, 1);
    await assert.rejects(c.kv.get('k'.repeat(5000)), (e: unknown) => e instanceof InvalidArgumentError && /4096-byte limit/.test(e.message));
    assert.equal(fc.callsTo('Get').length, 1);
    fc.node(1).fault = { kind: 'status', code: GrpcStatus.FAILED_PRECONDITION, message: 'lease 9 not found' };
    fc.node(2).fault = fc.node(1).fault;
    fc.node(3).fault = fc.node(1).fault;
    await assert.rejects(c.kv.set('/x', 'y', { lease: 9 }), (e: unknown) => e instanceof FailedPreconditionError && e.message === 'lease 9 not found');
    assert.equal(fc.callsTo('Set').length, 2);
  });

  test('a write whose reply was lost is retried with the same seq and applied once', async () => {
    const c = mk({ endpoints: [fc.node(1).address, fc.node(2).address], clientId: 'broker-7', discoverMembers: false });
    await c.kv.set('/counter', '0');
    const appliedBefore = fc.applied;
    // The first attempt is applied, then its reply is lost; the retry must not apply it again.
    fc.node(1).fault = { kind: 'drop-reply', count: 1 };
    const seqBefore = c.nextSequence;
    const r = await c.kv.compareAndSwap('/counter', { value: '0' }, '1');
    assert.equal(r.succeeded, true, 'the retry returns the original (successful) outcome');
    assert.equal(fc.applied, appliedBefore + 1, 'applied exactly once');
    const cas = fc.callsTo('CompareAndSwap');
    assert.equal(cas.length, 2);
    assert.equal(cas[0]!.request.seq, cas[1]!.request.seq);
    assert.equal(cas[0]!.request.clientId, 'broker-7');
    assert.equal(cas[0]!.request.seq, seqBefore);
    assert.equal(await c.kv.getString('/counter'), '1');
    // Distinct logical writes carry increasing sequence numbers.
    await c.kv.set('/s1', 'a');
    await c.kv.delete('/s1');
    const seqs = fc.calls.filter((x) => x.method !== 'Get' && typeof x.request.seq === 'number').map((x) => x.request.seq as number);
    for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! >= seqs[i - 1]!);
    assert.equal(c.nextSequence, seqBefore + 3);
  });

  test('exponential back-off with jitter between retries, seeded', async () => {
    const b = resolveBackoff({ initialMs: 10, maxMs: 80, jitter: 0 });
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, b, () => 0.5)), [10, 20, 40, 80, 80, 80]);
    const j = resolveBackoff({ initialMs: 100, maxMs: 1000, jitter: 0.5 });
    const rnd = seededRandom(SEED);
    for (let n = 0; n < 50; n++) {
      const d = backoffDelay(n % 6, j, rnd);
      const base = Math.min(1000, 100 * 2 ** (n % 6));
      assert.ok(d >= base / 2 && d <= base, `delay ${d} within [${base / 2}, ${base}]`);
    }
    assert.throws(() => resolveBackoff({ initialMs: 10, maxMs: 5 }), RangeError);

    const events: RetryEvent[] = [];
    const c = mk({
      endpoints: [fc.node(1).address],
      discoverMembers: false,
      deadlineMs: 700,
      backoff: { initialMs: 10, maxMs: 160, jitter: 0 },
      onRetry: (e) => events.push(e),
    });
    fc.node(1).fault = { kind: 'unavailable', message: 'no leader' };
    await assert.rejects(c.kv.set('/x', 'y'), UnavailableError);
    assert.deepEqual(
      events.slice(0, 5).map((e) => e.delayMs),
      [10, 20, 40, 80, 160],
    );
    assert.ok(events.every((e, i) => e.retry === i + 1));
  });

  test('leaderless cluster: UnavailableError inside the deadline, with the last leader hint', async () => {
    for (const n of fc.nodes) n.fault = { kind: 'unavailable', message: 'no leader elected', leaderId: 2, leaderAddress: fc.node(2).address };
    const c = mk({ endpoints: [fc.node(1).address], deadlineMs: 600 });
    const t0 = Date.now();
    await assert.rejects(c.kv.set('/x', 'y'), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.equal(e.code, GrpcStatus.UNAVAILABLE);
      assert.deepEqual(e.leaderHint, { id: 2, address: fc.node(2).address });
      assert.match(e.message, /cluster unavailable/);
      assert.match(e.message, /no leader elected/);
      assert.ok(e.attempts.length >= 2);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took <= 600 + 1000, `took ${took} ms`);
    // Per-call override of the deadline.
    const t1 = Date.now();
    await assert.rejects(c.kv.get('/x', { deadlineMs: 300 }), (e: unknown) => e instanceof UnavailableError || e instanceof DeadlineExceededError);
    assert.ok(Date.now() - t1 <= 300 + 1000);
  });

  test('a hung member costs one attempt timeout; a hung cluster gives DeadlineExceededError', async () => {
    fc.node(1).fault = { kind: 'hang' };
    const c = mk({ endpoints: [fc.node(1).address, fc.node(2).address], discoverMembers: false, attemptTimeoutMs: 200, deadlineMs: 3000 });
    assert.equal((await c.kv.set('/h', '1')).header.memberId, 2);
    for (const n of fc.nodes) n.fault = { kind: 'hang' };
    const t0 = Date.now();
    await assert.rejects(c.kv.get('/h', { deadlineMs: 500 }), (e: unknown) => {
      assert.ok(e instanceof DeadlineExceededError, String(e));
      assert.equal(e.code, GrpcStatus.DEADLINE_EXCEEDED);
      assert.equal(e.deadlineMs, 500);
      assert.match(e.message, /no answer within the 500 ms deadline/);
      return true;
    });
    const took = Date.now() - t0;
    assert.ok(took >= 450 && took <= 500 + 1000, `took ${took} ms`);
  });

  test('every endpoint refusing connections: "cannot reach any of …: connection refused"', async () => {
    const a = await deadAddress();
    const b = await deadAddress();
    // The deadline is a minute: refusals everywhere end the call on their own (refusedGiveUpMs).
    const c = mk({ endpoints: [a, b], deadlineMs: 60_000 });
    const t0 = performance.now();
    await assert.rejects(c.kv.get('/x'), (e: unknown) => {
      assert.ok(e instanceof UnavailableError);
      assert.equal(e.message, `cannot reach any of ${a}, ${b}: connection refused`);
      assert.deepEqual(e.triedEndpoints, [a, b]);
      return true;
    });
    assert.ok(performance.now() - t0 < 30_000, 'gave up before the deadline');
    // refusedGiveUpMs: 0 gives up once every endpoint refused once.
    const once = mk({ endpoints: [a, b], deadlineMs: 60_000, refusedGiveUpMs: 0 });
    await assert.rejects(once.kv.set('/x', 'y'), (e: unknown) => e instanceof UnavailableError && e.attempts.length === 2);
  });

  test('close() rejects in-flight calls, refuses new ones, and is idempotent', async () => {
    fc.node(1).fault = { kind: 'hang' };
    const c = mk({ endpoints: [fc.node(1).address], discoverMembers: false, deadlineMs: 10_000, attemptTimeoutMs: 10_000 });
    const p = c.kv.get('/x');
    await untilReceived(fc, 'Get', 1, p);
    c.close();
    await assert.rejects(p, ClientClosedError);
    await assert.rejects(c.kv.get('/x'), ClientClosedError);
    c.close();
    assert.equal(c.isClosed, true);
  });

  test('abort signal cancels a call', async () => {
    fc.node(1).fault = { kind: 'hang' };
    const c = mk({ endpoints: [fc.node(1).address], discoverMembers: false, deadlineMs: 10_000, attemptTimeoutMs: 10_000 });
    const ac = new AbortController();
    const p = c.kv.get('/x', { signal: ac.signal });
    await untilReceived(fc, 'Get', 1, p);
    ac.abort(new Error('shutting down'));
    await assert.rejects(p, (e: unknown) => e instanceof PlacementClientError && e.code === GrpcStatus.CANCELLED && /shutting down/.test(e.message));
  });

  test('the default client id is 128 random bits, different for every client', () => {
    const ids = Array.from({ length: 20 }, () => {
      const c = new PlacementClient({ endpoints: 'a:1' });
      c.close();
      return c.clientId;
    });
    for (const id of ids) assert.match(id, /^[0-9a-f]{32}$/);
    assert.equal(new Set(ids).size, ids.length);
  });

  test('bad options and arguments fail fast, locally', () => {
    assert.throws(() => new PlacementClient({ endpoints: [] }), InvalidArgumentError);
    assert.throws(() => new PlacementClient({ endpoints: ['nohostport'] }), InvalidArgumentError);
    assert.throws(() => new PlacementClient({ endpoints: 'a:1', deadlineMs: 0 }), InvalidArgumentError);
  });

  test('examples/sdk-basics.ts runs: connect, store metadata, read cluster status', async () => {
    const example = fileURLToPath(new URL('../../examples/sdk-basics.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', example], {
      env: { ...process.env, PLACEMENT_ENDPOINTS: fc.node(2).address, BROKER_ID: '7' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(killer);
    assert.equal(code, 0, text);
    assert.match(text, /connected; members: 1@.*, 2@.*, 3@.*, leader 1/);
    assert.match(text, /registered \/brokers\/ids\/7 at revision \d+/);
    assert.match(text, /broker 7 at .*:9099/);
    // Its writes carry the SDK's random id, not one derived from the pid (a restarted broker may
    // get the same pid, and the cluster would refuse its writes as a reused id).
    const put = fc.callsTo('Set').find((call) => call.request.key === '/brokers/ids/7');
    assert.match(String(put?.request.clientId), /^[0-9a-f]{32}$/);
    assert.match(text, /cluster fake: leader 1, term 7/);
    assert.equal(JSON.parse((await c0().kv.getString('/brokers/ids/7'))!).port, 9099);
  });

  test('no timer or channel keeps the process alive, with or without close()', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/exit-check.ts', import.meta.url));
    for (const mode of ['close', 'no-close', 'dead']) {
      const target = mode === 'dead' ? await deadAddress() : fc.node(1).address;
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, target, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      let outText = '';
      child.stdout.on('data', (d: Buffer) => (outText += d.toString()));
      child.stderr.on('data', (d: Buffer) => (outText += d.toString()));
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      clearTimeout(killer);
      assert.equal(signal, null, `mode ${mode}: child had to be killed (kept alive): ${outText}`);
      assert.equal(code, 0, `mode ${mode}: ${outText}`);
      assert.match(outText, /done/);
    }
  });
});
