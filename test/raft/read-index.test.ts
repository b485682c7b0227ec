// Linearizable reads by ReadIndex (thesis §6.4) and the lease option (§6.4.1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Role } from '../../raft/index.js';
import { newNode, msg, drainMsgs, makeLeader, ackAll, ofType, drain } from './helpers.js';
import { Network, enc, dec } from './network.js';

test('ReadIndex: the leader answers only after a quorum acknowledges a heartbeat round', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  assert.equal(n.readIndex(enc('r1')), true);
  const rd = drain(n);
  assert.equal(rd.readStates.length, 0);
  const hbs = ofType(rd.messages, MessageType.Heartbeat);
  assert.equal(hbs.length, 2);
  assert.ok(hbs[0]!.context.length > 0);
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: 1, context: hbs[0]!.context }));
  const rd2 = drain(n);
  assert.deepEqual(rd2.readStates.map((r) => [r.index, dec(r.requestCtx)]), [[1, 'r1']]);
});

test('ReadIndex: a stale leader cut off from the majority never answers', () => {
  const net = new Network([1, 2, 3], { checkQuorum: false });
  net.elect(1);
  net.isolate(1);
  assert.equal(net.node(1).readIndex(enc('r')), true);
  for (let i = 0; i < 5; i++) net.tick(1);
  net.deliverAll();
  assert.equal(net.members.get(1)!.readStates.length, 0);
});

test('ReadIndex (planted bug readWithoutQuorum): the stale leader answers at once', () => {
  const net = new Network([1, 2, 3], { checkQuorum: false, bugs: { readWithoutQuorum: true } });
  net.elect(1);
  net.isolate(1);
  net.node(1).readIndex(enc('r'));
  net.deliverAll();
  assert.equal(net.members.get(1)!.readStates.length, 1);
});

test('ReadIndex: waits until the leader has committed an entry of its own term', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  n.readIndex(enc('early'));
  const rd = drain(n);
  assert.equal(ofType(rd.messages, MessageType.Heartbeat).length, 0, 'no round before the no-op commits');
  assert.equal(rd.readStates.length, 0);
  ackAll(n, [2]); // commits the no-op, which releases the read into a heartbeat round
  assert.equal(n.status().hardState.commit, 1);
  n.readIndex(enc('later'));
  const msgs = drainMsgs(n);
  const hb = ofType(msgs, MessageType.Heartbeat).find((m) => m.to === 3)!;
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 3, to: 1, term: 1, context: hb.context }));
  const states = drain(n).readStates;
  assert.deepEqual(states.map((r) => dec(r.requestCtx)), ['early', 'later']);
  assert.ok(states.every((r) => r.index === 1));
});

test('ReadIndex: the read index is the commit index when the request arrived', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 3; i++) net.node(1).propose(enc('w' + i));
  net.deliverAll();
  net.node(1).readIndex(enc('r'));
  net.deliverAll();
  const rs = net.members.get(1)!.readStates;
  assert.equal(rs.length, 1);
  assert.equal(rs[0]!.index, 4);
});

test('ReadIndex: a follower forwards the request to the leader and gets the read state back', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(enc('w'));
  net.deliverAll();
  assert.equal(net.node(2).readIndex(enc('f')), true);
  net.deliverAll();
  const rs = net.members.get(2)!.readStates;
  assert.equal(rs.length, 1);
  assert.equal(dec(rs[0]!.requestCtx), 'f');
  assert.equal(rs[0]!.index, 2);
  assert.ok(net.sent.some((m) => m.type === MessageType.ReadIndex && m.from === 2 && m.to === 1));
});

test('ReadIndex: returns false when no leader is known', () => {
  const n = newNode(2);
  assert.equal(n.readIndex(enc('x')), false);
});

test('ReadIndex: a single-voter cluster answers without a round', () => {
  const n = newNode(1, [1]);
  n.campaign();
  drainMsgs(n); // persists the no-op, which commits it
  assert.equal(n.status().softState.role, Role.Leader);
  assert.equal(n.status().hardState.commit, 1);
  n.readIndex(enc('solo'));
  assert.equal(drain(n).readStates.length, 1);
});

test('ReadIndex (lease): the leader answers from its lease without a heartbeat round', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false, readOnlyOption: 'lease' });
  makeLeader(n);
  ackAll(n, [2, 3]);
  // The lease starts when a quorum acknowledges a heartbeat (the context carries its send time).
  n.tick();
  const hb = ofType(drainMsgs(n), MessageType.Heartbeat).find((m) => m.to === 2)!;
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: hb.term, context: hb.context }));
  drainMsgs(n);
  n.readIndex(enc('l'));
  const rd = drain(n);
  assert.equal(rd.readStates.length, 1);
  assert.equal(ofType(rd.messages, MessageType.Heartbeat).length, 0);
});

test('ReadIndex: pending reads are dropped when the leader steps down', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  n.readIndex(enc('r'));
  drainMsgs(n);
  n.step(msg({ type: MessageType.Append, from: 2, to: 1, term: 2 }));
  const hbCtx = new Uint8Array(8);
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 3, to: 1, term: 2, context: hbCtx }));
  assert.equal(drain(n).readStates.length, 0);
});
