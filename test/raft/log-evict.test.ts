// Entries evicted from the in-memory log (RaftLog.evict / RaftNode.evictLog): only durable,
// applied ones go; their terms stay known; a member behind gets them read back from storage, or
// a snapshot when storage no longer has them; what comes back must be what went.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EntryType, MessageType, type Entry } from '../../raft/index.js';
import { RaftLog, entrySize } from '../../raft/log.js';
import { Network, enc, dec } from './network.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const entry = (index: number, term: number, bytes = 100): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(bytes).fill(index & 0xff) });

/** A log of entries 1..n (term 1 up to 5, term 2 after) with `stable` and `applied` set. */
function logOf(n: number, stable = n, applied = n): { log: RaftLog; ents: Entry[] } {
  const ents = Array.from({ length: n }, (_, i) => entry(i + 1, i < 5 ? 1 : 2));
  const log = new RaftLog(0, 0, ents);
  log.stable = stable;
  log.commitTo(applied);
  log.applied = applied;
  return { log, ents };
}

test('RaftLog.evict: only durable, applied entries below the bound go, oldest first, down to the bytes kept', () => {
  const { log } = logOf(10, 8, 6);
  const size = entrySize(log.entry(1)!);
  assert.equal(log.hotBytes, 10 * size);
  assert.equal(log.evict(0, 100), 6, 'applied (6) bounds it, not stable (8)');
  assert.equal(log.evictedThrough, 6);
  assert.equal(log.hotBytes, 4 * size);
  log.applied = 10;
  assert.equal(log.evict(0, 7), 1, 'the caller bound (7)');
  assert.equal(log.evict(0, 100), 1, 'stable (8)');
  log.stable = 10;
  assert.equal(log.evict(size, 100), 1, 'stops once at most keepBytes are held');
  assert.equal(log.hotBytes, size);
  // Terms and types stay known: elections, probes and conflict search never need the data.
  assert.deepEqual([1, 5, 6, 9].map((i) => log.term(i)), [1, 1, 2, 2]);
  assert.equal(log.entry(3)!.type, EntryType.Normal);
  assert.equal(log.entry(3)!.data.length, 0);
  assert.equal(log.findConflictByTerm(9, 1).index, 5);
  assert.throws(() => log.slice(9, 11), /evicted/, 'apply and persist never reach evicted entries');
  assert.deepEqual(log.slice(10, 11).map((e) => e.index), [10]);
});

test('RaftLog: the bytes held follow appends, truncation, compaction and snapshot restore', () => {
  const { log } = logOf(10, 10, 4);
  const size = entrySize(log.entry(1)!);
  log.evict(0, 2);
  assert.equal(log.hotBytes, 8 * size);
  log.truncateAndAppend([entry(8, 3, 300), entry(9, 3, 300)], 0);
  assert.equal(log.hotBytes, 5 * size + 2 * (300 + 16));
  assert.throws(() => log.truncateFrom(2), /evicted/);
  log.compact(3);
  assert.equal(log.hotBytes, 4 * size + 2 * (300 + 16), 'compacting evicted entries frees nothing more');
  assert.equal(log.evictedThrough, 3);
  log.restore({ meta: { index: 20, term: 3, confState: { voters: [1], learners: [] } }, data: new Uint8Array(0) });
  assert.equal(log.hotBytes, 0);
  assert.equal(log.evictedThrough, 20);
  log.push(entry(21, 3));
  assert.equal(log.hotBytes, size);
});

test('RaftLog.sliceBySize: evicted entries come back through the loader, checked, and only up to the evicted end', () => {
  const { log, ents } = logOf(10);
  log.evict(0, 6);
  const calls: number[][] = [];
  log.loader = (lo, hi, maxBytes) => {
    calls.push([lo, hi, maxBytes]);
    return ents.slice(lo - 1, Math.min(hi, lo + 1));
  };
  const a = log.sliceBySize(2, 10, 5000)!;
  assert.deepEqual(calls, [[2, 6, 5000]], 'the batch ends where the evicted entries do');
  assert.deepEqual(a.entries.map((e) => e.index), [2, 3]);
  assert.equal(a.bytes, 2 * entrySize(ents[0]!));
  assert.deepEqual(log.sliceBySize(7, 10, 5000)!.entries.map((e) => e.index), [7, 8, 9, 10], 'held entries need no loader');
  log.loader = () => undefined;
  assert.equal(log.sliceBySize(2, 10, 5000), undefined, 'storage no longer has them');
  log.loader = (lo) => [entry(lo, 9)];
  assert.throws(() => log.sliceBySize(2, 10, 5000), /read back from storage/, 'a different term is never sent on');
  log.loader = (lo) => [entry(lo + 1, 1)];
  assert.throws(() => log.sliceBySize(2, 10, 5000), /read back from storage/, 'nor a different index');
});

test('RaftLog.evict: evicted data is no longer reachable through the log', async () => {
  const ents = Array.from({ length: 50 }, (_, i) => entry(i + 1, 1, 64 * 1024));
  const refs = ents.map((e) => new WeakRef(e.data));
  const log = new RaftLog(0, 0, ents);
  ents.length = 0;
  log.commitTo(50);
  log.applied = 50;
  log.evict(0, 40);
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.map((r) => r.deref() !== undefined);
  assert.equal(alive.slice(0, 40).filter(Boolean).length, 0, 'entries 1..40 were evicted');
  assert.ok(alive.slice(40).every(Boolean), 'entries 41..50 are still held');
});

test('RaftNode.evictLog: a follower that was away is caught up from entries read back from storage, no snapshot', () => {
  const net = new Network([1, 2, 3], {}, undefined, { readBack: true });
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 40; i++) {
    net.node(1).propose(enc(`v${i}`));
    net.deliverAll();
  }
  for (const id of [1, 2]) assert.ok(net.node(id).evictLog(0, Number.MAX_SAFE_INTEGER) > 0);
  assert.equal(net.node(1).logMemory().bytes, 0);
  net.heal();
  net.tickAll(3);
  const s3 = net.members.get(3)!.state;
  assert.deepEqual(s3, net.members.get(1)!.state);
  assert.equal(s3.length, 40);
  assert.ok((net.readBack.get(1) ?? 0) >= 40, `the leader read the entries back (${net.readBack.get(1)})`);
  assert.equal(net.sent.filter((m) => m.type === MessageType.Snapshot).length, 0);
  // The entries node 3 got are the originals.
  assert.deepEqual(net.members.get(3)!.disk.entries.filter((e) => e.data.length > 0).map((e) => dec(e.data)), s3);
});

test('RaftNode.evictLog: when storage no longer has the entries, the member is sent a snapshot instead', () => {
  const net = new Network([1, 2, 3], {}, undefined, { readBack: true });
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) {
    net.node(1).propose(enc(`v${i}`));
    net.deliverAll();
  }
  net.node(1).evictLog(0, Number.MAX_SAFE_INTEGER);
  assert.equal(net.node(1).status().firstIndex, 1, 'nothing was compacted: only storage lost them');
  net.diskForgets = true;
  net.heal();
  net.tickAll(3);
  assert.ok(net.sent.some((m) => m.type === MessageType.Snapshot && m.to === 3));
  assert.equal(net.readBack.get(1), undefined);
  assert.deepEqual(net.members.get(3)!.state, net.members.get(1)!.state);
});

test('RaftNode.evictLog: nothing is evicted without a way to read entries back', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(enc('x'));
  net.deliverAll();
  assert.equal(net.node(1).evictLog(0, Number.MAX_SAFE_INTEGER), 0);
  assert.ok(net.node(1).logMemory().bytes > 0);
});
