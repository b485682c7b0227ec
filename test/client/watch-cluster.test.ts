// client.watch against a real 3-node cluster (separate processes): history from a start
// revision, live batches one per revision, close() cancels on the server, and watchers on every
// member keep exactly the committed history while the leader and then a follower are kill -9'd
// and restarted under a stream of writes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { PlacementClient, type WatchBatch } from '../../src/client/index.js';

async function metric(httpAddress: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${httpAddress}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.split(' ').pop());
  return sum;
}

/** One line per event: what a watcher's sequence is compared on. */
const lines = (batches: readonly WatchBatch[]): string[] =>
  batches.flatMap((b) => b.events.map((e) => `${b.revision} ${e.type} ${e.kv.key}=${e.kv.value.toString()}${e.prevKv ? ` prev=${e.prevKv.value.toString()}` : ''}`));

/** Collects a watch's batches in the background until it ends; `error` is how it ended. */
function collect(w: AsyncIterable<WatchBatch>): { batches: WatchBatch[]; ended: Promise<Error | null> } {
  const batches: WatchBatch[] = [];
  const ended = (async () => {
    try {
      for await (const b of w) batches.push(b);
      return null;
    } catch (err) {
      return err as Error;
    }
  })();
  return { batches, ended };
}

describe('client.watch on a real cluster', { timeout: 300_000 }, () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 3 });
    await c.waitForLeader();
  });
  after(async () => {
    await c?.stop();
  });

  it('replays history from startRevision, then live writes one batch per revision with prevKv; close() cancels on the server', async () => {
    const client = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress) });
    try {
      const r1 = await client.kv.set('h/a', '1');
      await client.kv.set('other', 'x');
      await client.kv.set('h/b', '2');
      const w = client.watch('h/', { prefix: true, startRevision: r1.revision, prevKv: true });
      const got = collect(w);
      await client.kv.set('h/a', '3');
      const d = await client.kv.delete('h/b');
      await c.waitFor(async () => got.batches.length >= 4, { what: '4 batches' });
      assert.deepEqual(lines(got.batches), [
        `${r1.revision} put h/a=1`,
        `${r1.revision + 2} put h/b=2`,
        `${r1.revision + 3} put h/a=3 prev=1`,
        `${d.revision} delete h/b= prev=2`,
      ]);
      const watching = async (): Promise<number> => {
        let n = 0;
        for (const node of c.nodes) n += await metric(node.httpAddress, 'placement_watchers');
        return n;
      };
      assert.equal(await watching(), 1);
      w.close();
      assert.equal(await got.ended, null);
      await c.waitFor(async () => (await watching()) === 0, { what: 'the watcher canceled on the server' });
    } finally {
      client.close();
    }
  });

  it('watchers on every member see exactly the committed history while the leader, then a follower, are kill -9d and restarted', async () => {
    const seed = Number(process.env.TEST_SEED ?? Date.now() % 1_000_000);
    console.log(`# watch kill -9: seed ${seed} (rerun with TEST_SEED=${seed})`);
    const writer = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress), deadlineMs: 30_000 });
    const start = (await writer.kv.set('k/start', '0')).revision + 1;
    // One watcher per member: its endpoints start with that member (it moves on when it dies).
    const watchers = c.nodes.map((n) => {
      const cl = new PlacementClient({ endpoints: [n.grpcAddress, ...c.nodes.filter((m) => m !== n).map((m) => m.grpcAddress)], discoverMembers: false });
      return { cl, got: collect(cl.watch('k/', { prefix: true, startRevision: start })) };
    });
    let writing = true;
    let i = 0;
    const acked: number[] = [];
    const writes = (async () => {
      while (writing) {
        const n = i++;
        try {
          const r = await writer.kv.set(`k/${n % 7}`, `${seed}-${n}`);
          acked.push(r.revision);
        } catch {
          // outcome unknown during a failover: the history decides
        }
      }
    })();
    try {
      const progress = async (n: number): Promise<void> => {
        const target = acked.length + n;
        await c.waitFor(async () => acked.length >= target, { timeoutMs: 60_000, what: `${n} more acknowledged writes` });
      };
      await progress(30);
      const leader = await c.waitForLeader();
      await c.kill(leader);
      await progress(30);
      await c.start(leader);
      await progress(30);
      const leader2 = await c.waitForLeader();
      const follower = c.nodes.find((n) => n.id !== leader2)!.id;
      await c.kill(follower);
      await progress(30);
      await c.start(follower);
      await progress(30);
    } finally {
      writing = false;
      await writes;
    }
    const last = (await writer.kv.set('k/end', 'x')).revision;
    // The reference: the history as one fresh watch reads it from the state machine.
    const ref = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress) });
    const refGot = collect(ref.watch('k/', { prefix: true, startRevision: start }));
    await c.waitFor(async () => refGot.batches.at(-1)?.revision === last, { timeoutMs: 30_000, what: 'the reference history' });
    const expected = lines(refGot.batches);
    for (const a of acked) assert.ok(refGot.batches.some((b) => b.revision === a), `acknowledged revision ${a} is in the history`);
    for (const [k, w] of watchers.entries()) {
      await c.waitFor(async () => (w.got.batches.at(-1)?.revision ?? 0) >= last, { timeoutMs: 60_000, what: `watcher ${k + 1} reaching revision ${last}` });
      assert.deepEqual(lines(w.got.batches), expected, `watcher ${k + 1}: the committed history, no gap, duplicate or reorder`);
      w.cl.close();
      assert.equal(await w.got.ended, null);
    }
    ref.close();
    writer.close();
  });

  /**
   * Writes `<prefix>a`, watches `prefix` from it through `cl`, runs `down` once that first batch
   * arrived, then writes `<prefix>b`: the watch must deliver both, one batch each, in order.
   */
  async function watchAcross(writer: PlacementClient, cl: PlacementClient, prefix: string, down: () => Promise<void>, after: { timeoutMs: number; what: string }): Promise<void> {
    const first = (await writer.kv.set(`${prefix}a`, '1')).revision;
    const got = collect(cl.watch(prefix, { prefix: true, startRevision: first }));
    await c.waitFor(async () => got.batches.length === 1, { what: 'the first batch' });
    await down();
    const second = (await writer.kv.set(`${prefix}b`, '2')).revision;
    await c.waitFor(async () => got.batches.length === 2, after);
    assert.deepEqual(lines(got.batches), [`${first} put ${prefix}a=1`, `${second} put ${prefix}b=2`]);
  }

  it('a graceful stop of the watched member (SIGTERM) ends its streams so the watch resumes on another member', async () => {
    const leader = await c.waitForLeader();
    const member = c.nodes.find((n) => n.id !== leader)!;
    const writer = new PlacementClient({ endpoints: [c.node(leader).grpcAddress] });
    const cl = new PlacementClient({ endpoints: [member.grpcAddress, ...c.nodes.filter((n) => n !== member).map((n) => n.grpcAddress)], discoverMembers: false });
    try {
      await watchAcross(
        writer,
        cl,
        'g/',
        async () => assert.equal(await c.stopNode(member.id), 0, 'the member stopped gracefully'),
        { timeoutMs: 30_000, what: 'the batch written after the stop' },
      );
    } finally {
      cl.close();
      writer.close();
      await c.start(member.id);
    }
  });

  it('a client that only watches learns the members from its stream: when its one seed dies, the watch resumes on a member it was never given', async () => {
    const leader = await c.waitForLeader();
    const seed = c.nodes.find((n) => n.id !== leader)!;
    const writer = new PlacementClient({ endpoints: [c.node(leader).grpcAddress] });
    // Discovery on, no unary call ever: the periodic refresh (30 s) is too late for this test.
    const cl = new PlacementClient({ endpoints: [seed.grpcAddress] });
    let killed = false;
    try {
      await watchAcross(
        writer,
        cl,
        's/',
        async () => {
          await c.waitFor(async () => cl.endpoints.length === c.nodes.length, { timeoutMs: 10_000, what: `the watch-only client learning every member (knows ${cl.endpoints.join(', ')})` });
          await c.kill(seed.id);
          killed = true;
        },
        { timeoutMs: 20_000, what: 'the batch written after the seed died' },
      );
    } finally {
      cl.close();
      writer.close();
      if (killed) await c.start(seed.id);
    }
  });
});
