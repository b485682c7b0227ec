// The reassignment controller stays quiet while only other keys change (issue 24): on a leader
// whose keyspace moves on every tick, a pass — two ReadIndex'd lists of the registry and the shard
// map — runs only when the history since the last settled pass shows a change under the registry
// or the shard map, a leadership change, or a gap it will not look through (compacted, too long).
// In one process: a real state machine, proposals applied directly, ticks driven by the test.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine } from '../../storage/index.js';
import { Command, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { PlacementController } from '../../src/placement/controller.js';
import { Registry, type RegistryNode } from '../../src/registry/registry.js';
import { nodeKey, shardKey } from '../../src/registry/layout.js';
import { encodeShard, parseShard, type ShardRecord } from '../../src/placement/shard.js';
import { tempDir } from '../storage/helpers.js';

const CL = 'mq';
const FAR = () => Date.now() + 5_000;

function member(sm: StateMachine) {
  let index = 0;
  const state = { leader: true, barriers: 0 };
  const node = {
    keyspace: sm,
    cfg: { requestTimeoutMs: 5_000, maxLeaseTtlMs: 60_000 },
    isLeader: () => state.leader,
    async propose(cmd: Command): Promise<CommandResult> {
      const [r] = await sm.apply([{ index: ++index, term: 1, data: Command.encode(cmd).finish() }]);
      return r!;
    },
    // A ReadIndex round on a real leader: what an idle controller must not spend.
    async readBarrier(): Promise<void> {
      state.barriers++;
    },
    leases: {
      timing: { minTtlMs: 1_000 },
      grant: () => Promise.reject(new Error('not in this test')),
      renew: () => Promise.resolve(null),
      renewNow: () => undefined,
    },
  } satisfies RegistryNode & { isLeader(): boolean; cfg: { requestTimeoutMs: number } };
  const registry = new Registry(node);
  const controller = new PlacementController(node, registry, { intervalMs: 60_000 });
  const kv = registry.kv;
  const register = (id: number, zone: string) =>
    kv.putMany([{ key: nodeKey(CL, id), value: Buffer.from(JSON.stringify({ nodeType: 'broker', addresses: [], zone, capacity: 0, extendInfo: '', draining: false })) }], FAR(), undefined);
  const putShard = (name: string, rec: Partial<ShardRecord>) =>
    kv.putMany([{ key: shardKey(CL, name), value: encodeShard({ replicas: [], leader: 0, epoch: 1, status: 'active', replicationFactor: 2, constraints: {}, ...rec }) }], FAR(), undefined);
  const shard = async (name: string) => parseShard((await kv.get(shardKey(CL, name), FAR())).kv!.value);
  let n = 0;
  const unrelated = async (count: number) => {
    for (let i = 0; i < count; i++) await kv.putMany([{ key: `/app/load/${n++ % 7}`, value: Buffer.from(String(n)) }], FAR(), undefined);
  };
  return { state, controller, kv, propose: node.propose, register, putShard, shard, unrelated };
}

describe('placement controller: quiet while nothing it watches changes', () => {
  it('runs a pass only for registry or shard-map changes, a new leadership or a compacted gap', async () => {
    const sm = await StateMachine.open(tempDir(after, 'controller-quiet'));
    after(() => sm.close());
    const m = member(sm);
    const { state, controller: c } = m;
    for (const [id, zone] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) await m.register(id, zone);
    await m.putShard('s1', { replicas: [1, 2], leader: 1 });

    let barriers = state.barriers;
    await c.tick();
    assert.equal(state.barriers, barriers + 1, 'the first pass on a leader reads the registry');
    assert.equal(c.moves, 0);

    // A busy cluster: the revision moves before every tick, none of it under /placement/.
    barriers = state.barriers;
    for (let i = 0; i < 20; i++) {
      await m.unrelated(3);
      await c.tick();
    }
    assert.equal(state.barriers, barriers, 'no ReadIndex\'d list for writes to other keys');
    assert.equal(c.passes, 1);

    // A broker leaves (its key deleted, after more unrelated writes): the next tick moves its replica.
    await m.unrelated(5);
    await m.kv.delete(nodeKey(CL, 2), undefined, FAR(), undefined);
    await m.unrelated(5);
    await c.tick();
    assert.equal(c.passes, 2, 'a registry change runs a pass');
    assert.equal(c.moves, 1);
    assert.deepEqual((await m.shard('s1')).replicas, [1, 3]);
    // The pass's own move is a shard-map change: one more pass finds nothing to do, then quiet.
    await c.tick();
    assert.equal(c.passes, 3);
    await m.unrelated(10);
    await c.tick();
    await c.tick();
    assert.equal(c.passes, 3);

    // A shard created short of its replication factor (a shard-map change) is topped up.
    await m.putShard('s2', { replicas: [1], leader: 1 });
    await m.unrelated(3);
    await c.tick();
    assert.equal(c.passes, 4, 'a shard-map change runs a pass');
    assert.equal(c.moves, 2);
    assert.equal((await m.shard('s2')).replicas.length, 2);
    await c.tick();
    await m.unrelated(3);
    await c.tick();
    assert.equal(c.passes, 5);

    // Leadership lost and won again: a pass with nothing changed.
    state.leader = false;
    await c.tick();
    state.leader = true;
    await c.tick();
    assert.equal(c.passes, 6, 'a new leadership runs a pass');

    // History compacted past the settled revision: it cannot tell, so it runs a pass.
    await m.unrelated(3);
    await m.propose({ clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'etcdCompaction', value: { revision: sm.revision, physical: false } } });
    assert.equal(sm.compactRevision, sm.revision);
    barriers = state.barriers;
    await c.tick();
    assert.equal(c.passes, 7, 'a compacted gap runs a pass');
    assert.equal(state.barriers, barriers + 1);
  });

  it('a registry change that lands during a pass is not settled past', async () => {
    const sm = await StateMachine.open(tempDir(after, 'controller-quiet'));
    after(() => sm.close());
    const m = member(sm);
    const { controller: c } = m;
    for (const [id, zone] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) await m.register(id, zone);
    await m.putShard('s1', { replicas: [1, 2], leader: 1 });
    // Broker 2 goes away right after the pass has read the registry (it still sees 2 alive).
    const range = sm.range.bind(sm);
    let once = true;
    sm.range = async (req, opts) => {
      const r = await range(req, opts);
      if (once && Buffer.from(req.key).toString().startsWith('/placement/registry/')) {
        once = false;
        await m.kv.delete(nodeKey(CL, 2), undefined, FAR(), undefined);
      }
      return r;
    };
    await c.tick();
    assert.equal(c.moves, 0, 'the pass saw broker 2 alive');
    await c.tick();
    assert.equal(c.moves, 1, 'the next tick sees the deletion');
    assert.deepEqual((await m.shard('s1')).replicas, [1, 3]);
  });

  it('changedUnder: prefixes, bounds and compaction', async () => {
    const sm = await StateMachine.open(tempDir(after, 'changed-under'));
    after(() => sm.close());
    const m = member(sm);
    await m.unrelated(2);
    const start = sm.revision;
    assert.deepEqual(await sm.changedUnder(['/placement/'], start, 100), { changed: false, revision: start });
    await m.unrelated(5);
    assert.deepEqual(await sm.changedUnder(['/placement/'], start, 100), { changed: false, revision: start + 5 });
    assert.equal((await sm.changedUnder(['/placement/'], start, 4)).changed, true, 'more revisions than it may read');
    assert.equal((await sm.changedUnder(['/app/'], start, 100)).changed, true);
    await m.putShard('x', { replicas: [1] });
    await m.unrelated(2);
    assert.equal((await sm.changedUnder(['/placement/registry/', '/placement/shards/'], start, 100)).changed, true);
    assert.equal((await sm.changedUnder(['/placement/registry/'], start, 100)).changed, false);
    assert.equal((await sm.changedUnder(['/placement/'], sm.revision + 3, 100)).changed, true, 'a revision ahead of the keyspace');
  });
});
