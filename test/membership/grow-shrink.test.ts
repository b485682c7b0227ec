// Issue 21: grow 3 → 5 (each new member added as a learner, caught up, promoted) and shrink back
// 5 → 3 removing the leader first, while SDK clients read and write a few keys the whole time.
// Every operation is recorded with its invoke and completion times and the history is checked
// for linearizability with the chaos suite's checker; every member left must hold the same state.
// Seed: GROW_SEED (default random, printed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl } from '../cli/support/run-ctl.js';
import { checkHistory } from '../chaos/checker/index.js';
import type { HistoryOp } from '../chaos/checker/history.js';
import { mulberry32 } from '../chaos/checker/gen.js';

const seed = process.env.GROW_SEED !== undefined ? Number(process.env.GROW_SEED) : Math.floor(Math.random() * 2 ** 31);
console.log(`# grow-shrink seed ${seed} (replay with GROW_SEED=${seed})`);

const KEYS = ['/gs/a', '/gs/b', '/gs/c'];
const CLIENTS = 4;

interface ChangeReply {
  memberId: number;
  members: Array<{ id: number; role: string; address: string }>;
}

/** Clients doing one operation at a time on KEYS, recording each as a history entry. */
function workload(c: Cluster, rnd: () => number, t0: number): { stop: () => Promise<HistoryOp[]>; ok: () => number } {
  const history: HistoryOp[] = [];
  let id = 0;
  let stop = false;
  let okCount = 0;
  const loops = Array.from({ length: CLIENTS }, async (_, client) => {
    // Each client starts at a different founding member and learns the others (discovery on).
    const eps = c.nodes.slice(0, 3).map((h) => h.grpcAddress);
    const sdk = new PlacementClient({ endpoints: [...eps.slice(client % 3), ...eps.slice(0, client % 3)], deadlineMs: 4000 });
    try {
      while (!stop) {
        const key = KEYS[Math.floor(rnd() * KEYS.length)]!;
        const read = rnd() < 0.5;
        const value = `c${client}-${id}`;
        const op: HistoryOp = { id: id++, client, key, call: read ? { kind: 'read' } : { kind: 'write', value }, status: 'info', invoke: performance.now() - t0, complete: 0 };
        try {
          if (read) {
            const kv = await sdk.kv.get(key);
            op.result = { kind: 'read', value: kv ? kv.value.toString('utf8') : null };
          } else {
            await sdk.kv.set(key, value);
            op.result = { kind: 'write' };
          }
          op.status = 'ok';
          okCount++;
        } catch (err) {
          // The SDK retries a write under one (client id, seq): whatever happened, at most once.
          op.error = (err as Error).message;
        }
        op.complete = performance.now() - t0;
        history.push(op);
      }
    } finally {
      sdk.close();
    }
  });
  return {
    ok: () => okCount,
    stop: async () => {
      stop = true;
      await Promise.all(loops);
      return history;
    },
  };
}

async function leaderAmong(c: Cluster): Promise<number> {
  return c.waitForLeader({ among: c.nodes.filter((h) => h.proc).map((h) => h.id) });
}

async function caughtUp(c: Cluster, id: number): Promise<void> {
  const target = (await c.status(await leaderAmong(c))).commitIndex;
  await c.waitFor(async () => ((await c.tryStatus(id))?.appliedIndex ?? 0) >= target || null, { timeoutMs: 60_000, what: `member ${id} to apply ${target}` });
}

test('grow 3 → 5 (learner, catch up, promote) and shrink 5 → 3 removing the leader, under a read/write load: linearizable, nothing lost', { timeout: 360_000 }, async () => {
  const c = await startCluster({ nodes: 3 });
  const t0 = performance.now();
  const load = workload(c, mulberry32(seed), t0);
  let history: HistoryOp[] = [];
  try {
    const live = (): string[] => c.nodes.filter((h) => h.proc).map((h) => h.grpcAddress);
    // Grow: two members, one change at a time.
    const added: number[] = [];
    for (let n = 0; n < 2; n++) {
      const address = c.spareGrpcAddress();
      const add = await runCtl(['--endpoints', live().join(','), '--json', 'member', 'add', address, '--learner']);
      assert.equal(add.code, 0, add.stderr);
      const id = (JSON.parse(add.stdout) as ChangeReply).memberId;
      c.addNode(id, c.nodes.map((h) => h.id).concat(id));
      await c.start(id);
      await caughtUp(c, id);
      // Promotion is refused until the learner has caught up with the leader at that moment: retry.
      await c.waitFor(async () => (await runCtl(['--endpoints', live().join(','), 'member', 'promote', String(id)])).code === 0 || null, { timeoutMs: 60_000, intervalMs: 300, what: `member ${id} promoted` });
      assert.equal((await c.status(id)).role !== 'learner', true, `member ${id} is a voter`);
      added.push(id);
    }
    const five = (await c.status(await leaderAmong(c))).members;
    console.log(`# grown to ${five.length} members (added ${added.join(', ')}), roles ${five.map((m) => m.role).join(',')}; ${load.ok()} ops ok so far`);
    assert.equal(five.filter((m) => m.role !== 'learner').length, 5, `five voters: ${JSON.stringify(five.map((m) => [m.id, m.role]))}`);

    // Shrink: the leader first (it hands over and exits), then one of the added members.
    for (const pick of ['leader', 'added'] as const) {
      const leader = await leaderAmong(c);
      const victim = pick === 'leader' ? leader : added.find((a) => a !== leader && c.node(a).proc)!;
      const other = c.nodes.find((h) => h.proc && h.id !== victim)!;
      const exited = c.node(victim).proc ? new Promise<number | null>((res) => c.node(victim).proc!.once('exit', (code) => res(code))) : Promise.resolve(0);
      const r = await runCtl(['--endpoints', other.grpcAddress, '--json', 'member', 'remove', String(victim)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await exited, 0, `removed member ${victim} exits cleanly`);
      await leaderAmong(c);
    }
    const remaining = c.nodes.filter((h) => h.proc).map((h) => h.id);
    assert.equal(remaining.length, 3, `three members left: ${remaining.join(',')}`);
    // Let the load run a little on the final configuration.
    await c.waitFor(async () => load.ok() > 0 || null, { what: 'some operations', timeoutMs: 10_000 });
  } finally {
    history = await load.stop();
  }
  try {
    // Final linearizable reads, appended to the history, so a lost write is a violation.
    const sdk = new PlacementClient({ endpoints: c.nodes.filter((h) => h.proc).map((h) => h.grpcAddress), deadlineMs: 10_000 });
    try {
      for (const key of KEYS) {
        const invoke = performance.now() - t0;
        const kv = await sdk.kv.get(key);
        history.push({ id: 1_000_000 + history.length, client: -1, key, call: { kind: 'read' }, status: 'ok', result: { kind: 'read', value: kv ? kv.value.toString('utf8') : null }, invoke, complete: performance.now() - t0 });
      }
    } finally {
      sdk.close();
    }
    const ok = history.filter((o) => o.status === 'ok').length;
    console.log(`# ${history.length} ops, ${ok} ok, ${history.filter((o) => o.status !== 'ok').length} indeterminate`);
    assert.ok(ok > 100, `a real load ran through the changes: ${ok} ops ok`);
    const lin = checkHistory(history, { timeBudgetMs: 60_000 });
    assert.equal(lin.verdict, 'ok', `linearizability (seed ${seed}): ${lin.keys.map((k) => `${k.key}: ${k.verdict} ${k.message ?? ''}`).join('; ')}`);

    // Every member left holds the same state.
    const ids = c.nodes.filter((h) => h.proc).map((h) => h.id);
    await c.waitFor(
      async () => {
        const st = await Promise.all(ids.map((id) => c.tryStatus(id)));
        return st.every((s) => s && s.appliedIndex === st[0]!.appliedIndex) || null;
      },
      { what: 'the remaining members to apply the same index', timeoutMs: 30_000 },
    );
  } finally {
    await c.stop();
  }
});
