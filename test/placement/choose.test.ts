// The pure placement module: constraints, zone spread, load, determinism, too few brokers, and
// the reassignment step the controller applies (dead, draining, leader change with epoch + 1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseLeader, chooseReplicas, type Candidate } from '../../src/placement/choose.js';
import { reassign, type ShardRecord } from '../../src/placement/shard.js';
import { PlacementError } from '../../src/errors.js';

const node = (nodeId: number, zone = 'z1', extra: Partial<Candidate> = {}): Candidate => ({ nodeId, zone, nodeType: 'broker', draining: false, ...extra });
const noLoad = new Map<number, number>();

/** A seeded shuffle (mulberry32), the seed printed, to show input order does not matter. */
function shuffled<T>(xs: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

test('zones: no two replicas in one zone while unused zones remain', () => {
  const nodes = [node(1, 'a'), node(2, 'a'), node(3, 'b'), node(4, 'b'), node(5, 'c')];
  const r = chooseReplicas({ nodes, load: noLoad, count: 3 });
  assert.deepEqual(r, [1, 3, 5]);
  // Four replicas over three zones: the fourth goes to a zone used once, by load then id.
  assert.deepEqual(chooseReplicas({ nodes, load: noLoad, count: 4 }), [1, 3, 5, 2]);
});

test('zones of kept replicas count: a replacement avoids them', () => {
  const nodes = [node(1, 'a'), node(2, 'a'), node(3, 'b'), node(4, 'c')];
  assert.deepEqual(chooseReplicas({ nodes, load: noLoad, keep: [1, 3], count: 1 }), [4]);
});

test('load: least shards first, then the smaller id', () => {
  const nodes = [node(1), node(2), node(3), node(4)];
  const load = new Map([[1, 5], [2, 1], [3, 1], [4, 0]]);
  assert.deepEqual(chooseReplicas({ nodes, load, count: 3 }), [4, 2, 3]);
});

test('constraints: zones, excluded nodes and node type', () => {
  const nodes = [node(1, 'a'), node(2, 'b'), node(3, 'c', { nodeType: 'journal' }), node(4, 'b')];
  assert.deepEqual(chooseReplicas({ nodes, load: noLoad, count: 2, constraints: { zones: ['b'] } }), [2, 4]);
  assert.deepEqual(chooseReplicas({ nodes, load: noLoad, count: 2, constraints: { excludeNodes: [1, 2] } }), [3, 4]);
  assert.deepEqual(chooseReplicas({ nodes, load: noLoad, count: 1, constraints: { nodeType: 'journal' } }), [3]);
});

test('never a draining node', () => {
  const nodes = [node(1, 'a', { draining: true }), node(2, 'b'), node(3, 'c')];
  assert.deepEqual(chooseReplicas({ nodes, load: noLoad, count: 2 }), [2, 3]);
});

test('too few brokers: FAILED_PRECONDITION naming eligible brokers and replicas asked', () => {
  const nodes = [node(1, 'a'), node(2, 'b', { draining: true })];
  assert.throws(
    () => chooseReplicas({ nodes, load: noLoad, count: 3 }),
    (e: unknown) => e instanceof PlacementError && e.code === 'FAILED_PRECONDITION' && /1 eligible/.test(e.message) && /3 replicas asked/.test(e.message),
  );
  assert.throws(() => chooseReplicas({ nodes, load: noLoad, count: -1 }), (e: unknown) => e instanceof PlacementError && e.code === 'INVALID_ARGUMENT');
});

test('determinism: the same answer whatever the order of the nodes', () => {
  const nodes = Array.from({ length: 12 }, (_, i) => node(i + 1, `z${i % 4}`));
  const load = new Map(nodes.map((n) => [n.nodeId, (n.nodeId * 7) % 3]));
  const want = chooseReplicas({ nodes, load, count: 3 });
  for (let seed = 1; seed <= 50; seed++) {
    assert.deepEqual(chooseReplicas({ nodes: shuffled(nodes, seed), load, count: 3 }), want, `seed ${seed}`);
  }
});

test('spread: 60 shards of 3 replicas over 10 brokers in 5 zones are even', () => {
  const nodes = Array.from({ length: 10 }, (_, i) => node(i + 1, `z${i % 5}`));
  const load = new Map<number, number>();
  for (let s = 0; s < 60; s++) {
    const r = chooseReplicas({ nodes, load, count: 3 });
    assert.equal(new Set(r.map((id) => nodes[id - 1]!.zone)).size, 3, 'three zones');
    for (const id of r) load.set(id, (load.get(id) ?? 0) + 1);
  }
  const counts = [...load.values()];
  assert.equal(Math.max(...counts) - Math.min(...counts), 0, `counts ${counts}`);
});

test('chooseLeader: fewest led shards, then smaller id', () => {
  assert.equal(chooseLeader([5, 3, 9], new Map([[3, 2], [5, 1], [9, 1]])), 5);
  assert.equal(chooseLeader([], noLoad), 0);
});

const shard = (replicas: number[], leader: number, epoch = 1, rf = replicas.length): ShardRecord => ({ replicas, leader, epoch, status: 'active', replicationFactor: rf, constraints: {} });

test('reassign: a dead follower is replaced, leader and epoch unchanged', () => {
  const nodes = [node(1, 'a'), node(2, 'b'), node(4, 'c')];
  const next = reassign({ shard: shard([1, 2, 3], 1), nodes, load: noLoad });
  assert.deepEqual(next, { ...shard([1, 2, 4], 1), replicationFactor: 3 });
});

test('reassign: a dead leader → first surviving replica leads at epoch + 1; applying twice changes nothing', () => {
  const nodes = [node(2, 'b'), node(3, 'c'), node(4, 'a')];
  const next = reassign({ shard: shard([1, 2, 3], 1, 7), nodes, load: noLoad })!;
  assert.deepEqual(next.replicas, [2, 3, 4]);
  assert.equal(next.leader, 2);
  assert.equal(next.epoch, 8);
  assert.equal(reassign({ shard: next, nodes, load: noLoad }), null, 'idempotent');
});

test('reassign: no broker to replace → the dead replica is dropped; topped up once one joins', () => {
  const nodes = [node(2, 'b'), node(3, 'c')];
  const next = reassign({ shard: shard([1, 2, 3], 2), nodes, load: noLoad })!;
  assert.deepEqual(next.replicas, [2, 3]);
  assert.equal(next.epoch, 1);
  assert.equal(reassign({ shard: next, nodes, load: noLoad }), null);
  const later = reassign({ shard: next, nodes: [...nodes, node(9, 'a')], load: noLoad })!;
  assert.deepEqual(later.replicas, [2, 3, 9]);
});

test('reassign: a draining leader hands over and leaves once replaced; alone it keeps leading', () => {
  const nodes = [node(1, 'a', { draining: true }), node(2, 'b'), node(3, 'c'), node(4, 'd')];
  const next = reassign({ shard: shard([1, 2, 3], 1, 3), nodes, load: noLoad })!;
  assert.deepEqual(next.replicas, [2, 3, 4]);
  assert.equal(next.leader, 2);
  assert.equal(next.epoch, 4);
  const alone = [node(1, 'a', { draining: true })];
  assert.equal(reassign({ shard: shard([1], 1, 3), nodes: alone, load: noLoad }), null);
});

test('reassign: every replica dead → leader 0 at epoch + 1 (nobody may act as the old leader)', () => {
  const next = reassign({ shard: shard([1, 2], 1, 5), nodes: [], load: noLoad })!;
  assert.deepEqual(next.replicas, []);
  assert.equal(next.leader, 0);
  assert.equal(next.epoch, 6);
});

test('reassign: a leaderless shard whose replicas all died gets a leader when a broker joins', () => {
  const empty = reassign({ shard: shard([1, 2], 1, 5), nodes: [], load: noLoad })!;
  const back = reassign({ shard: empty, nodes: [node(7, 'a'), node(8, 'b')], load: noLoad })!;
  assert.deepEqual(back.replicas, [7, 8]);
  assert.equal(back.leader, 7);
  assert.equal(back.epoch, 7);
  assert.equal(reassign({ shard: back, nodes: [node(7, 'a'), node(8, 'b')], load: noLoad }), null);
});
