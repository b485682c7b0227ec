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

// A follower accepts a ReadIndexResponse only in the term it asked in, so by the time the answer
// is used it has not voted for a newer leader: it vouches for the leader like a heartbeat ack.

test('ReadIndex: in a 3-voter cluster a follower\'s request is answered at once, without a heartbeat round', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  n.step(msg({ type: MessageType.ReadIndex, from: 2, to: 1, term: 1, context: enc('f') }));
  const out = drainMsgs(n);
  assert.equal(ofType(out, MessageType.Heartbeat).length, 0);
  const resp = ofType(out, MessageType.ReadIndexResponse);
  assert.deepEqual(resp.map((m) => [m.to, m.index, dec(m.context)]), [[2, 1, 'f']]);
});

test('ReadIndex: in a 5-voter cluster a follower\'s request needs one more acknowledgement besides the requester', () => {
  const n = newNode(1, [1, 2, 3, 4, 5], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3, 4, 5]);
  n.step(msg({ type: MessageType.ReadIndex, from: 2, to: 1, term: 1, context: enc('f') }));
  const out = drainMsgs(n);
  assert.equal(ofType(out, MessageType.ReadIndexResponse).length, 0, 'leader + requester are 2 of 5');
  const hb = ofType(out, MessageType.Heartbeat).find((m) => m.to === 4)!;
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 4, to: 1, term: 1, context: hb.context }));
  assert.deepEqual(ofType(drainMsgs(n), MessageType.ReadIndexResponse).map((m) => [m.to, dec(m.context)]), [[2, 'f']]);
});

test('ReadIndex: in a 5-voter cluster the leader\'s own read still needs two acknowledgements', () => {
  const n = newNode(1, [1, 2, 3, 4, 5], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3, 4, 5]);
  n.readIndex(enc('own'));
  const hbs = ofType(drainMsgs(n), MessageType.Heartbeat);
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 4, to: 1, term: 1, context: hbs[0]!.context }));
  assert.equal(drain(n).readStates.length, 0);
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 5, to: 1, term: 1, context: hbs[0]!.context }));
  assert.deepEqual(drain(n).readStates.map((r) => dec(r.requestCtx)), ['own']);
});

test('ReadIndex: a learner\'s request does not count towards the quorum', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false }, { confState: { voters: [1, 2, 3], learners: [4] } });
  makeLeader(n);
  ackAll(n, [2, 3, 4]);
  n.step(msg({ type: MessageType.ReadIndex, from: 4, to: 1, term: 1, context: enc('l') }));
  const out = drainMsgs(n);
  assert.equal(ofType(out, MessageType.ReadIndexResponse).length, 0);
  const hb = ofType(out, MessageType.Heartbeat).find((m) => m.to === 2)!;
  n.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: 1, context: hb.context }));
  assert.deepEqual(ofType(drainMsgs(n), MessageType.ReadIndexResponse).map((m) => m.to), [4]);
});

test('ReadIndex: a follower that moved to a newer term ignores the answer from the old leader', () => {
  const f = newNode(2, [1, 2, 3], { preVote: false });
  f.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1 }));
  drainMsgs(f);
  assert.equal(f.readIndex(enc('q')), true);
  assert.equal(ofType(drainMsgs(f), MessageType.ReadIndex).length, 1);
  // Node 3 leads term 2 now: the old leader may already be deposed.
  f.step(msg({ type: MessageType.Heartbeat, from: 3, to: 2, term: 2 }));
  drainMsgs(f);
  assert.equal(f.status().hardState.term, 2);
  f.step(msg({ type: MessageType.ReadIndexResponse, from: 1, to: 2, term: 1, index: 1, context: enc('q') }));
  assert.equal(drain(f).readStates.length, 0);
});

test('ReadIndex: a follower still reads linearizably when the other follower is cut off (leader + requester are a quorum)', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(enc('w'));
  net.deliverAll();
  net.isolate(3);
  net.node(2).readIndex(enc('r'));
  net.deliverAll();
  assert.deepEqual(net.members.get(2)!.readStates.map((r) => [dec(r.requestCtx), r.index]), [['r', 2]]);
});

// Read rounds riding on ordinary traffic (Message.readSeq).

test('ReadIndex: a round needs no heartbeat when an Append goes out with it; the AppendResponse\'s readSeq completes it', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  n.propose(enc('w'));
  n.readIndex(enc('r'));
  const out = drainMsgs(n);
  assert.equal(ofType(out, MessageType.Heartbeat).length, 0);
  const apps = ofType(out, MessageType.Append);
  assert.equal(apps.length, 2);
  assert.ok(apps.every((m) => m.readSeq > 0), 'every Append carries the round');
  // An acknowledgement without the stamp (sent before the follower saw the round) proves nothing.
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 1 }));
  assert.equal(drain(n).readStates.length, 0);
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 2, readSeq: apps[0]!.readSeq }));
  assert.deepEqual(drain(n).readStates.map((r) => [dec(r.requestCtx), r.index]), [['r', 1]]);
});

test('ReadIndex: in a 5-voter cluster a follower\'s round with no carrier heartbeats every other voter', () => {
  const n = newNode(1, [1, 2, 3, 4, 5], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3, 4, 5]);
  n.step(msg({ type: MessageType.ReadIndex, from: 2, to: 1, term: 1, context: enc('f') }));
  const out = drainMsgs(n);
  assert.deepEqual(ofType(out, MessageType.Heartbeat).map((m) => m.to).sort(), [2, 3, 4, 5]);
  // Leader + requester + one acknowledgement = 3 of 5.
  n.step(msg({ type: MessageType.ReadAck, from: 5, to: 1, term: 1, readSeq: out[0]!.readSeq }));
  assert.deepEqual(ofType(drainMsgs(n), MessageType.ReadIndexResponse).map((m) => m.to), [2]);
});

test('ReadIndex: a follower hands the leader\'s stamp back on its next message, or on a ReadAck one Ready later', () => {
  const f = newNode(2, [1, 2, 3], { preVote: false });
  f.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1 }));
  drainMsgs(f);
  f.step(msg({ type: MessageType.ReadIndexResponse, from: 1, to: 2, term: 1, index: 0, context: enc('x'), readSeq: 7 }));
  // First Ready: nothing to carry the stamp yet (the app may still issue a ReadIndex).
  assert.equal(f.hasReady(), true);
  assert.deepEqual(drain(f).messages, []);
  // Second Ready: the ReadAck.
  const ack = drain(f).messages;
  assert.deepEqual(ack.map((m) => [m.type, m.to, m.readSeq]), [[MessageType.ReadAck, 1, 7]]);
  assert.equal(f.hasReady(), false);
  // A newer stamp rides on the app's next ReadIndex instead.
  f.step(msg({ type: MessageType.ReadIndexResponse, from: 1, to: 2, term: 1, index: 0, context: enc('y'), readSeq: 9 }));
  drain(f);
  f.readIndex(enc('z'));
  const next = drainMsgs(f);
  assert.deepEqual(next.map((m) => [m.type, m.readSeq]), [[MessageType.ReadIndex, 9]]);
});

test('ReadIndex: a follower forgets the stamp when its term changes (it must never vouch across terms)', () => {
  const f = newNode(2, [1, 2, 3], { preVote: false });
  f.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1, readSeq: 5 }));
  const hbr = drainMsgs(f);
  assert.deepEqual(hbr.map((m) => [m.type, m.readSeq]), [[MessageType.HeartbeatResponse, 5]]);
  f.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1, readSeq: 6 }));
  f.step(msg({ type: MessageType.Heartbeat, from: 3, to: 2, term: 2 }));
  const out = drainMsgs(f);
  assert.ok(out.every((m) => m.readSeq === 0), `no stamp crosses into term 2: ${JSON.stringify(out.map((m) => [m.type, m.to, m.term, m.readSeq]))}`);
});
