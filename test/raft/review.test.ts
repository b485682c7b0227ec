// Regression tests from the adversarial review of the core: one test per rule that was broken.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Role } from '../../raft/index.js';
import type { Message } from '../../raft/index.js';
import { ReadOnly } from '../../raft/read-only.js';
import { Network, enc } from './network.js';
import { newNode, msg, ent, drain, drainMsgs } from './helpers.js';

test('ReadIndex (lease): a leader stops answering from its lease once no quorum acknowledged a heartbeat within the election timeout', () => {
  const net = new Network([1, 2, 3], { readOnlyOption: 'lease' });
  net.elect(1);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  // Let a check-quorum round pass with everyone connected, then cut the leader off right after it.
  for (let t = 0; t < 10; t++) net.tickAll(1);
  net.isolate(1);
  let newLeader = 0;
  let staleReads = 0;
  for (let t = 0; t < 40; t++) {
    for (const id of [1, 2, 3]) net.tick(id);
    net.deliverAll();
    if (newLeader === 0) {
      for (const id of [2, 3]) if (net.node(id).status().softState.role === Role.Leader) newLeader = id;
      if (newLeader !== 0) {
        net.node(newLeader).propose(enc('b'));
        net.deliverAll();
      }
    } else if (net.node(1).status().softState.role === Role.Leader) {
      const before = net.members.get(1)!.readStates.length;
      net.node(1).readIndex(enc(`r${t}`));
      net.deliverAll();
      staleReads += net.members.get(1)!.readStates.length - before;
    }
  }
  assert.notEqual(newLeader, 0, 'the majority elects a new leader');
  assert.equal(staleReads, 0, 'the deposed leader answered reads from an expired lease');
});

test('ReadIndex (lease): no lease reads once the leader has sent TimeoutNow (the target skips the voters\' lease)', () => {
  const net = new Network([1, 2, 3], { readOnlyOption: 'lease' });
  net.elect(1);
  net.tickAll(1);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  // The leader is cut off right after its TimeoutNow goes out.
  net.filters.push((m) => (m.from !== 1 && m.to !== 1) || m.type === MessageType.TimeoutNow);
  net.node(1).transferLeadership(2);
  net.deliverAll();
  assert.equal(net.node(2).status().softState.role, Role.Leader);
  net.node(2).propose(enc('b'));
  net.deliverAll();
  const written = net.node(2).status().hardState.commit;
  assert.equal(net.node(1).status().softState.role, Role.Leader, 'the old leader has not heard of the new term');
  net.node(1).readIndex(enc('r'));
  net.deliverAll();
  for (const rs of net.members.get(1)!.readStates) assert.ok(rs.index >= written, `stale read at ${rs.index} < ${written}`);
});

test('ReadIndex (lease): a leader with a fresh lease still answers at once, and falls back to a quorum round otherwise', () => {
  const net = new Network([1, 2, 3], { readOnlyOption: 'lease' });
  net.elect(1);
  net.tickAll(2);
  const m = net.members.get(1)!;
  net.node(1).readIndex(enc('fresh'));
  net.processReady(1);
  assert.equal(m.readStates.length, 1, 'answered from the lease without a round trip');
  // Followers silent for an election timeout: the lease expires, the read waits for a round.
  net.isolate(1);
  net.tick(1, 9);
  net.heal();
  net.node(1).readIndex(enc('late'));
  net.processReady(1);
  assert.equal(m.readStates.length, 1);
  net.deliverAll();
  assert.equal(m.readStates.length, 2, 'answered after a quorum acknowledged a heartbeat');
});

test('Check-quorum: repeated leadership transfers do not postpone the quorum check of an isolated leader', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  for (let t = 0; t < 60; t++) {
    if (t % 5 === 0) net.node(1).transferLeadership(t % 10 === 0 ? 2 : 3);
    net.tick(1);
  }
  assert.notEqual(net.node(1).status().softState.role, Role.Leader);
});

test('Transfer: still abandoned after one election timeout when check-quorum has its own timer', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.filters.push((m) => m.type !== MessageType.TimeoutNow);
  net.node(1).transferLeadership(2);
  net.deliverAll();
  assert.equal(net.node(1).status().leadTransferee, 2);
  assert.equal(net.node(1).propose(enc('x')).ok, false);
  net.tickAll(10);
  assert.equal(net.node(1).status().softState.role, Role.Leader);
  assert.equal(net.node(1).status().leadTransferee, 0);
  assert.equal(net.node(1).propose(enc('y')).ok, true);
});

test('Performance: the pending-read queue stays bounded under continuous reads', () => {
  const ro = new ReadOnly();
  // Each heartbeat round confirms everything but the newest request: the queue never drains.
  for (let i = 0; i < 100_000; i++) {
    const seq = ro.add(i, new Uint8Array(0), 1);
    ro.releaseWhile((r) => r.seq <= seq - 1);
  }
  assert.equal(ro.pending(), 1);
  const internal = ro as unknown as { queue: unknown[] };
  assert.ok(internal.queue.length < 5000, `queue holds ${internal.queue.length} slots for 1 pending read`);
});

test('Snapshot: snapshotMetaAt(applied) still answers while a snapshot from the leader awaits installation', () => {
  // Follower 2 applied up to 2 (term 1); its log runs to 3. A snapshot at 5/2 arrives: the core
  // drops the log at once, but the state machine stays at 2 until the Ready installs the snapshot.
  const n = newNode(2, [1, 2, 3], {}, {
    hardState: { term: 1, vote: 0, commit: 2 },
    entries: [ent(1, 1, 'a'), ent(2, 1, 'b'), ent(3, 1, 'c')],
    applied: 2,
  });
  n.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: { meta: { index: 5, term: 2, confState: { voters: [1, 2, 3, 4], learners: [] } }, data: new Uint8Array(0) } }));
  assert.equal(n.status().applied, 2);
  assert.deepEqual(n.snapshotMetaAt(2), { index: 2, term: 1, confState: { voters: [1, 2, 3], learners: [] } });
  n.compact(2); // a no-op: the log is gone already
  const rd = drain(n);
  assert.equal(rd.snapshot?.meta.index, 5);
  assert.equal(n.status().applied, 5);
  assert.deepEqual(n.snapshotMetaAt(5).confState.voters, [1, 2, 3, 4]);
  assert.throws(() => n.snapshotMetaAt(2));
});

test('ReadIndex (lease): a voter that restarts honours the lease it may have granted before the crash', () => {
  const net = new Network([1, 2, 3], { readOnlyOption: 'lease' });
  net.elect(1);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  // 2 loses the leader (link 1-2 cut) and keeps trying; 3 hears from 1 and ignores 2's campaigns.
  net.filters.push((m) => !((m.from === 1 && m.to === 2) || (m.from === 2 && m.to === 1)));
  for (let t = 0; t < 25; t++) net.tickAll(1);
  assert.equal(net.node(1).status().softState.role, Role.Leader);
  net.node(1).readIndex(enc('before'));
  net.deliverAll();
  assert.equal(net.members.get(1)!.readStates.length, 1, 'lease valid, read answered at once');
  // Now 1 is cut off entirely and 3 crash-restarts: it forgot it heard from 1 a moment ago.
  net.isolate(1);
  net.restart(3);
  let newLeader = 0;
  for (let t = 0; t < 30 && newLeader === 0; t++) {
    net.tickAll(1); // every clock runs at the same rate (the lease's assumption)
    for (const id of [2, 3]) if (net.node(id).status().softState.role === Role.Leader) newLeader = id;
  }
  assert.notEqual(newLeader, 0);
  net.node(newLeader).propose(enc('b'));
  net.deliverAll();
  const written = net.node(newLeader).status().hardState.commit;
  net.node(1).readIndex(enc('after'));
  net.deliverAll();
  for (const rs of net.members.get(1)!.readStates.slice(1)) assert.ok(rs.index >= written, `stale read at ${rs.index} < ${written}`);
});

test('ReadIndex: an acknowledgement of a heartbeat sent before a request arrived does not confirm that request', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  const sent = (): Message[] => drainMsgs(n);
  makeLeaderAndCommit(n);
  n.readIndex(enc('A'));
  const hb1 = sent().find((m) => m.type === MessageType.Heartbeat && m.to === 2)!;
  n.readIndex(enc('B'));
  sent();
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: hb1.term, context: hb1.context }));
  const rd = drain(n);
  assert.deepEqual(rd.readStates.map((r) => new TextDecoder().decode(r.requestCtx)), ['A']);
});

function makeLeaderAndCommit(n: ReturnType<typeof newNode>): void {
  n.campaign();
  for (const m of drainMsgs(n)) {
    if (m.type === MessageType.Vote) n.step(msg({ type: MessageType.VoteResponse, from: m.to, to: 1, term: m.term }));
  }
  drainMsgs(n);
  const st = n.status();
  for (const f of [2, 3]) n.step(msg({ type: MessageType.AppendResponse, from: f, to: 1, term: st.hardState.term, index: st.lastIndex }));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, st.lastIndex);
}
