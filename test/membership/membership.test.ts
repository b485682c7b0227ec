// The operator's membership path against a real 3-process cluster: add a learner that catches
// up by snapshot, a promote refused before it has caught up and accepted after, the strict
// reconfiguration check, a --join the cluster does not list, move-leader to every voter,
// removing the leader (it hands over and its process exits 0), and every acknowledged write
// present on every remaining member at the end.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl } from '../cli/support/run-ctl.js';

interface Envelope<T> {
  code: number;
  data: T;
  error?: string;
}
interface ChangeReply {
  memberId: number;
  members: Array<{ id: number; role: string; address: string }>;
}

async function http<T>(c: Cluster, id: number, method: string, path: string, body?: unknown): Promise<{ status: number; body: Envelope<T> }> {
  const res = await fetch(`http://${c.node(id).httpAddress}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  return { status: res.status, body: (await res.json()) as Envelope<T> };
}

describe('membership: learners, promotion, removal and leader moves on a real cluster', () => {
  let c: Cluster;
  let client: PlacementClient;
  const acked = new Map<string, string>();
  let seq = 0;
  /** The id the leader assigned to the learner added below. */
  let learnerId = 0;
  const voters = (): number[] => [1, 2, 3, learnerId];

  async function write(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const k = `/m/${String(seq++).padStart(5, '0')}`;
      const v = `v${seq}`;
      await client.kv.set(k, v);
      acked.set(k, v);
    }
  }

  /**
   * Writes one key at a time in the background until the returned function is called; every
   * acknowledged write joins `acked` (checked on every member at the end). A failed write's
   * outcome is unknown and is not checked. Resolves with how many were acknowledged.
   */
  function load(): () => Promise<number> {
    let stop = false;
    let n = 0;
    const loop = (async () => {
      while (!stop) {
        const k = `/load/${String(seq++).padStart(6, '0')}`;
        try {
          await client.kv.set(k, k);
          acked.set(k, k);
          n++;
        } catch {
          // outcome unknown
        }
      }
    })();
    return async () => {
      stop = true;
      await loop;
      return n;
    };
  }

  /** Waits until member `id` has applied everything the leader had committed when asked. */
  async function caughtUp(id: number): Promise<void> {
    const leader = await c.waitForLeader({ among: c.nodes.filter((h) => h.proc).map((h) => h.id) });
    const target = (await c.status(leader)).commitIndex;
    await c.waitFor(async () => ((await c.tryStatus(id))?.appliedIndex ?? 0) >= target, { timeoutMs: 30_000, what: `member ${id} to apply ${target}` });
  }

  before(async () => {
    // Snapshots every 50 entries: a learner added after a few hundred writes is far behind the
    // compacted log and must be sent a snapshot.
    c = await startCluster({ nodes: 3, extraArgs: ['--snapshot-every', '50'] });
    client = new PlacementClient({ endpoints: c.nodes.map((h) => h.grpcAddress), refreshIntervalMs: 0 });
  });

  after(async () => {
    await client?.close();
    await c?.stop();
  });

  test('the strict reconfiguration check refuses a voter add and a removal that would leave too few started voters', async () => {
    await write(10);
    const leader = await c.waitForLeader();
    const [victim, other] = [1, 2, 3].filter((x) => x !== leader) as [number, number];
    await c.kill(victim);
    // The leader counts a member as started while it heard from it within an election timeout.
    await c.waitFor(async () => (await c.status(leader)).members.find((m) => m.id === victim)?.active === false, { timeoutMs: 20_000, what: `the leader to see member ${victim} inactive` });
    const add = await http<null>(c, leader, 'POST', '/v1/cluster/members', { address: '127.0.0.1:1', isLearner: false });
    assert.equal(add.status, 409, JSON.stringify(add.body));
    assert.match(add.body.error ?? '', /adding voter \d+ would leave 2 started voters of 4, fewer than the quorum of 3 \(strict reconfiguration check\)/);
    const rm = await http<null>(c, other, 'DELETE', `/v1/cluster/members/${other}`);
    assert.equal(rm.status, 409);
    assert.match(rm.body.error ?? '', new RegExp(`removing voter ${other} would leave 1 started voters of 2, fewer than the quorum of 2`));
    const missing = await http<null>(c, other, 'DELETE', '/v1/cluster/members/12345');
    assert.equal(missing.status, 404);
    assert.deepEqual((await c.status(leader)).members.map((m) => m.id).sort((p, q) => p - q), [1, 2, 3], 'nothing changed');
    await c.start(victim);
    await caughtUp(victim);
  });

  test('a learner is added, refused promotion until caught up, joins by snapshot, and is promoted through a follower', async () => {
    await write(300);
    const stopLoad = load();
    const address = c.spareGrpcAddress();
    const add = await runCtl(['--endpoints', c.nodes[0]!.grpcAddress, '--json', 'member', 'add', address, '--learner']);
    assert.equal(add.code, 0, add.stderr);
    const added = JSON.parse(add.stdout) as ChangeReply;
    const id = added.memberId;
    learnerId = id;
    assert.ok(id > 3, `assigned id ${id} is new`);
    assert.deepEqual(added.members.find((m) => m.id === id), { ...added.members.find((m) => m.id === id), role: 'learner', address });

    // The same address again: refused, nothing changes.
    const again = await http<null>(c, 1, 'POST', '/v1/cluster/members', { address, isLearner: true });
    assert.equal(again.status, 409);
    assert.match(again.body.error ?? '', /already has the address/);

    // Not started: nothing replicated to it, so promotion is refused with the reason.
    const early = await http<null>(c, 2, 'POST', `/v1/cluster/members/${id}/promote`);
    assert.equal(early.status, 409, JSON.stringify(early.body));
    assert.match(early.body.error ?? '', new RegExp(`learner ${id} has not caught up`));

    c.addNode(id, [1, 2, 3]);
    await c.start(id);
    await caughtUp(id);
    assert.match(c.logs(id), /snapshot installed/, 'the learner was far behind the compacted log: it got a snapshot');
    assert.equal((await c.status(id)).role, 'learner');

    const current = await c.waitForLeader({ among: [1, 2, 3] });
    const follower = [1, 2, 3].find((x) => x !== current)!;
    const promoted = await http<ChangeReply>(c, follower, 'POST', `/v1/cluster/members/${id}/promote`);
    assert.equal(promoted.status, 200, JSON.stringify(promoted.body));
    assert.equal(promoted.body.data.members.find((m) => m.id === id)?.role, 'voter');
    assert.ok((await stopLoad()) > 0, 'writes went on while the learner was added, caught up and promoted');
    await write(20);
    await caughtUp(id);
    const kv = await client.kv.get('/m/00000', { endpoint: c.node(id).grpcAddress, serializable: true });
    assert.equal(kv?.value.toString(), acked.get('/m/00000'));
  });

  test('a member started with --join that the cluster does not list refuses to start', async () => {
    c.addNode(99, [1, 2, 3]);
    await assert.rejects(c.start(99), /does not list it|exited during start/);
    assert.match(c.logs(99), /does not list it/);
    assert.equal((await c.status(1)).members.some((m) => m.id === 99), false);
  });

  test('one change at a time: of two concurrent adds, a refused one says why', async () => {
    const leader = await c.waitForLeader({ among: voters() });
    const [a, b] = await Promise.all([
      http<ChangeReply>(c, leader, 'POST', '/v1/cluster/members', { address: '127.0.0.1:2', isLearner: true }),
      http<ChangeReply>(c, leader, 'POST', '/v1/cluster/members', { address: '127.0.0.1:3', isLearner: true }),
    ]);
    for (const x of [a, b]) if (x.status !== 201) assert.match(x.body.error ?? '', /one change at a time/);
    for (const x of [a, b]) {
      if (x.status !== 201) continue;
      const rm = await http<ChangeReply>(c, leader, 'DELETE', `/v1/cluster/members/${x.body.data.memberId}`);
      assert.equal(rm.status, 200, JSON.stringify(rm.body));
    }
    assert.deepEqual((await c.status(leader)).members.map((m) => m.id).sort((p, q) => p - q), voters());
  });

  test('move-leader hands leadership to each voter in turn', async () => {
    for (const to of voters()) {
      const r = await runCtl(['--endpoints', c.nodes.map((h) => h.grpcAddress).slice(0, 3).join(','), 'move-leader', String(to)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(await c.waitForLeader({ among: voters() }), to);
      await write(5);
    }
  });

  test('removing the leader: it hands over, its process exits 0, the rest keep every acknowledged write', async () => {
    const leader = await c.waitForLeader({ among: voters() });
    const proc = c.node(leader).proc!;
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    const other = voters().find((x) => x !== leader)!;
    const stopLoad = load();
    const r = await runCtl(['--endpoints', c.node(other).grpcAddress, '--json', 'member', 'remove', String(leader)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await exited, 0, `the removed leader exits cleanly; log:\n${c.logs(leader).split('\n').slice(-20).join('\n')}`);
    assert.match(c.logs(leader), /removed from the cluster: shutting down/);
    const rest = voters().filter((x) => x !== leader);
    const newLeader = await c.waitForLeader({ among: rest });
    assert.notEqual(newLeader, leader);
    assert.deepEqual((await c.status(newLeader)).members.map((m) => m.id).sort((p, q) => p - q), rest);
    await write(10);
    assert.ok((await stopLoad()) > 0);

    // A follower removed: the leader tells it, and it exits 0 as well.
    const follower = rest.find((x) => x !== newLeader)!;
    const fproc = c.node(follower).proc!;
    const fexited = new Promise<number | null>((resolve) => fproc.once('exit', (code) => resolve(code)));
    const rm = await http<ChangeReply>(c, newLeader, 'DELETE', `/v1/cluster/members/${follower}`);
    assert.equal(rm.status, 200, JSON.stringify(rm.body));
    assert.equal(await fexited, 0);
    const left = rest.filter((x) => x !== follower);
    await write(10);
    for (const id of left) await caughtUp(id);
    for (const id of left) {
      const have = new Map<string, string>();
      let startAfter = '';
      for (;;) {
        const page = await client.kv.list('/', { endpoint: c.node(id).grpcAddress, serializable: true, limit: 1000, startAfter });
        for (const kv of page.kvs) have.set(kv.key, kv.value.toString());
        if (!page.more) break;
        startAfter = page.nextKey;
      }
      for (const [k, v] of acked) assert.equal(have.get(k), v, `member ${id} has the acknowledged write ${k}`);
    }
  });

  test('a member removed while it was down learns it when it restarts, and exits 0', async () => {
    const leader = await c.waitForLeader({ among: voters().filter((x) => c.node(x).proc) });
    const down = voters().find((x) => x !== leader && c.node(x).proc)!;
    await c.kill(down);
    await c.waitFor(async () => (await c.status(leader)).members.find((m) => m.id === down)?.active === false, { timeoutMs: 20_000, what: `the leader to see member ${down} inactive` });
    const rm = await http<ChangeReply>(c, leader, 'DELETE', `/v1/cluster/members/${down}`);
    assert.equal(rm.status, 200, JSON.stringify(rm.body));
    await c.start(down).catch(() => undefined); // it may exit before its status answers
    await c.waitFor(async () => c.node(down).proc === null, { timeoutMs: 30_000, what: `removed member ${down} to exit` });
    assert.match(c.logs(down), /a quorum of the other voters refuses it as not in their configuration/);
    assert.match(c.logs(down), /"msg":"stopped"/);
    await write(5);
    assert.deepEqual((await c.status(leader)).members.map((m) => m.id), [leader]);
  });
});
