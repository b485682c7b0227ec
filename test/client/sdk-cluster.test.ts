// The SDK against a real 3-node cluster (separate processes on loopback): a write loop keeps
// going while the node the client was pointed at, and then the leader, are killed; every
// acknowledged write is readable afterwards and none was applied twice. Then deadline behaviour
// with the whole cluster frozen (SIGSTOP) and stopped (SIGKILL).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import {
  DeadlineExceededError,
  PlacementClient,
  UnavailableError,
  seededRandom,
  type RetryEvent,
} from '../../src/client/index.js';

const SEED = 5150;

/** Resolves when `pred()` holds, re-checked whenever `kick()` is called (no sleeps). */
class Progress {
  private waiters: Array<{ pred: () => boolean; resolve: () => void }> = [];
  kick(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }
  until(pred: () => boolean, what: string, timeoutMs: number): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }
}

describe('PlacementClient against a real 3-node cluster', { timeout: 170_000 }, () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 3 });
  });
  after(async () => {
    await c?.stop();
  });

  test('writes keep succeeding while the pointed-at node and then the leader are killed; exactly once', async () => {
    const leader0 = await c.waitForLeader();
    const pointed = c.nodes.find((n) => n.id !== leader0)!.id;
    const retries: RetryEvent[] = [];
    const client = new PlacementClient({
      endpoints: [c.node(pointed).grpcAddress],
      deadlineMs: 20_000,
      random: seededRandom(SEED),
      onRetry: (e) => retries.push(e),
    });
    const progress = new Progress();
    const acked = new Map<string, string>();
    let casAcked = 0;
    let casFailedOrUnknown = 0;
    let stop = false;
    let loopError: unknown;
    try {
      await client.connect();
      assert.equal(client.endpoints.length, 3, 'learned every member from one');
      const set = await client.kv.set('/counter', '0');
      // get() asks for kv_metadata_only: the key and value are filled in from the request and the reply.
      assert.deepEqual(await client.kv.get('/counter'), { key: '/counter', value: Buffer.from('0'), createRevision: set.revision, modRevision: set.revision, version: 1, lease: 0 });

      const loop = (async () => {
        for (let i = 0; !stop; i++) {
          const key = `/loop/${String(i).padStart(5, '0')}`;
          const value = `v${i}`;
          await client.kv.set(key, value);
          acked.set(key, value);
          // A counter bumped by compare-and-swap on its mod revision: applying a retried CAS twice,
          // or re-evaluating it instead of returning the stored outcome, breaks the count.
          const cur = await client.kv.get('/counter');
          const r = await client.kv.compareAndSwap('/counter', { modRevision: cur!.modRevision }, String(Number(cur!.value.toString()) + 1));
          if (r.succeeded) casAcked++;
          else casFailedOrUnknown++;
          progress.kick();
        }
      })().catch((e: unknown) => {
        loopError = e;
        progress.kick();
      });
      const ok = (): boolean => loopError === undefined;
      const reach = (n: number, what: string): Promise<void> =>
        progress.until(() => !ok() || acked.size >= n, what, 60_000).then(() => {
          if (!ok()) throw loopError;
        });

      await reach(15, '15 acknowledged writes');
      await c.kill(pointed); // the node the client was pointed at
      const afterFirstKill = acked.size;
      await reach(afterFirstKill + 15, '15 more writes after killing the pointed-at node');
      await c.start(pointed);
      const leader1 = await c.waitForLeader({ timeoutMs: 30_000 });
      // Make sure the client has seen this leader (writes are then sent to it directly).
      await client.cluster.members();
      await c.kill(leader1); // then the leader
      const afterSecondKill = acked.size;
      await reach(afterSecondKill + 15, '15 more writes after killing the leader');
      await c.start(leader1);
      await c.waitForLeader({ timeoutMs: 30_000 });
      await reach(acked.size + 5, '5 more writes with every node back');
      stop = true;
      await loop;
      assert.equal(loopError, undefined);

      // Every acknowledged write is readable, and none was applied twice.
      const seen = new Map<string, { value: string; version: number }>();
      for await (const kv of client.kv.listAll('/loop/', { pageSize: 200 })) {
        seen.set(kv.key, { value: kv.value.toString(), version: kv.version });
      }
      for (const [key, value] of acked) {
        const s = seen.get(key);
        assert.ok(s, `acknowledged write ${key} is missing`);
        assert.equal(s.value, value);
        assert.equal(s.version, 1, `${key} was applied ${s.version} times`);
      }
      const counter = Number((await client.kv.getString('/counter')) ?? 'NaN');
      assert.equal(casFailedOrUnknown, 0, "a single writer never loses a CAS race: a failed CAS means a retry was re-evaluated");
      assert.equal(counter, casAcked, `counter ${counter} vs ${casAcked} acknowledged CAS (${casFailedOrUnknown} lost races)`);
      assert.ok(retries.length > 0, 'the kills forced retries');
      // Writes go straight to the known leader, so killing it must have forced fail-overs.
      assert.ok(
        retries.some((r) => r.failure.endpoint === c.node(leader1).grpcAddress),
        `the killed leader's failures were retried elsewhere: ${JSON.stringify(retries.map((r) => r.failure.endpoint))}`,
      );
    } finally {
      stop = true;
      client.close();
    }
  });

  test('whole cluster frozen: DeadlineExceededError; whole cluster down: UnavailableError naming every member', async () => {
    await c.waitForLeader({ timeoutMs: 30_000 });
    const client = new PlacementClient({
      endpoints: [c.nodes[0]!.grpcAddress],
      deadlineMs: 1500,
      attemptTimeoutMs: 400,
      random: seededRandom(SEED),
    });
    try {
      await client.connect({ deadlineMs: 10_000 });
      await client.kv.set('/before-freeze', 'x', { deadlineMs: 10_000 });
      for (const n of c.nodes) process.kill(n.pid!, 'SIGSTOP');
      try {
        const t0 = Date.now();
        await assert.rejects(client.kv.get('/before-freeze'), (e: unknown) => {
          assert.ok(e instanceof DeadlineExceededError, String(e));
          assert.equal(e.deadlineMs, 1500);
          assert.ok(e.attempts.length >= 2, 'more than one member tried');
          return true;
        });
        const took = Date.now() - t0;
        assert.ok(took >= 1400 && took < 1500 + 1500, `frozen: took ${took} ms for a 1500 ms deadline`);
        // Per-call override.
        const t1 = Date.now();
        await assert.rejects(client.kv.set('/frozen', 'y', { deadlineMs: 600 }), DeadlineExceededError);
        assert.ok(Date.now() - t1 < 600 + 1500);
      } finally {
        for (const n of c.nodes) process.kill(n.pid!, 'SIGCONT');
      }
      for (const n of c.nodes) await c.kill(n.id);
      const t2 = Date.now();
      await assert.rejects(client.kv.set('/down', 'z'), (e: unknown) => {
        assert.ok(e instanceof UnavailableError, String(e));
        assert.match(e.message, /^cannot reach any of .+: connection refused$/);
        for (const n of c.nodes) assert.ok(e.triedEndpoints.includes(n.grpcAddress), `${n.grpcAddress} tried`);
        return true;
      });
      assert.ok(Date.now() - t2 < 1500 + 1500);
    } finally {
      client.close();
    }
  });
});
