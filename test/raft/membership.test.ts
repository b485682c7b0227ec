// Membership changes (thesis ch. 4) and leadership transfer (thesis §3.10).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfChangeType, EntryType, MessageType, Role, encodeConfChange, decodeConfChange } from '../../raft/index.js';
import type { ConfChange } from '../../raft/index.js';
import { newNode, msg, drainMsgs, makeLeader, ackAll } from './helpers.js';
import { Network, enc } from './network.js';

const cc = (type: ConfChangeType, nodeId: number): ConfChange => ({ type, nodeId, context: new Uint8Array(0) });

test('ConfChange: encode/decode round-trips', () => {
  const c: ConfChange = { type: ConfChangeType.AddLearner, nodeId: 123456789012, context: enc('10.0.0.1:7000') };
  assert.deepEqual(decodeConfChange(encodeConfChange(c)), c);
  assert.throws(() => decodeConfChange(new Uint8Array([9, 9])));
});

test('Membership: a learner receives the log but neither votes in the quorum nor campaigns', () => {
  const net = new Network([1, 2, 3, 4], {}, { voters: [1, 2, 3], learners: [4] });
  net.elect(1);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  assert.deepEqual(net.members.get(4)!.state, ['a']);
  // Quorum is 2 of {1,2,3}: the learner's ack alone cannot commit.
  net.isolate(2);
  net.isolate(3);
  net.node(1).propose(enc('b'));
  net.deliverAll();
  assert.equal(net.node(1).status().hardState.commit, 2);
  // The learner never campaigns.
  net.heal();
  net.crash(1);
  net.crash(2);
  net.crash(3);
  for (let i = 0; i < 50; i++) net.tick(4);
  assert.equal(net.node(4).status().softState.role, Role.Follower);
  assert.equal(net.node(4).status().hardState.term, 1);
});

test('Membership: adding a voter grows the quorum as soon as the entry is in the log (thesis §4.1)', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.start(4);
  const r = net.node(1).proposeConfChange(cc(ConfChangeType.AddVoter, 4));
  assert.equal(r.ok, true);
  assert.deepEqual(net.node(1).status().confState.voters, [1, 2, 3, 4]);
  net.deliverAll();
  for (const id of [1, 2, 3, 4]) assert.deepEqual(net.node(id).status().confState.voters, [1, 2, 3, 4]);
  // Quorum of 4 is 3: leader + one follower is not enough any more.
  net.isolate(3);
  net.isolate(4);
  net.node(1).propose(enc('x'));
  net.deliverAll();
  const st = net.node(1).status();
  assert.equal(st.hardState.commit, st.lastIndex - 1);
});

test('Membership: AddVoter on a learner promotes it', () => {
  const net = new Network([1, 2, 3], {}, { voters: [1, 2], learners: [3] });
  net.elect(1);
  net.node(1).proposeConfChange(cc(ConfChangeType.AddVoter, 3));
  net.deliverAll();
  assert.deepEqual(net.node(3).status().confState, { voters: [1, 2, 3], learners: [] });
});

test('Membership: at most one configuration change in flight', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  assert.equal(n.proposeConfChange(cc(ConfChangeType.AddLearner, 4)).ok, false, 'not before an entry of this term commits');
  ackAll(n, [2, 3]);
  assert.equal(n.proposeConfChange(cc(ConfChangeType.AddLearner, 4)).ok, true);
  const second = n.proposeConfChange(cc(ConfChangeType.AddLearner, 5));
  assert.deepEqual(second, { ok: false, reason: 'conf-change-pending', leader: 1 });
  drainMsgs(n);
  ackAll(n, [2, 3]);
  assert.equal(n.proposeConfChange(cc(ConfChangeType.AddLearner, 5)).ok, true);
});

test('Membership: a change that leaves no voter is refused', () => {
  const n = newNode(1, [1], { preVote: false });
  n.campaign();
  drainMsgs(n);
  assert.deepEqual(n.proposeConfChange(cc(ConfChangeType.RemoveNode, 1)), { ok: false, reason: 'invalid', leader: 1 });
});

test('Membership: removing the leader steps it down once the change commits', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  const r = net.node(1).proposeConfChange(cc(ConfChangeType.RemoveNode, 1));
  assert.equal(r.ok, true);
  net.deliverAll();
  assert.equal(net.node(1).status().softState.role, Role.Follower);
  for (let i = 0; i < 40 && net.leader() === 0; i++) net.tickAll();
  const l = net.leader();
  assert.ok(l === 2 || l === 3, `new leader ${l}`);
  assert.deepEqual(net.node(l).status().confState.voters, [2, 3]);
  net.node(l).propose(enc('after'));
  net.deliverAll();
  assert.deepEqual(net.members.get(2)!.state, ['after']);
  // The removed node never campaigns.
  for (let i = 0; i < 50; i++) net.tick(1);
  assert.notEqual(net.node(1).status().softState.role, Role.Candidate);
});

test('Membership: an uncommitted configuration entry is reverted when truncated', () => {
  const f = newNode(2, [1, 2, 3]);
  const ccEnt = { index: 2, term: 1, type: EntryType.ConfChange, data: encodeConfChange(cc(ConfChangeType.AddVoter, 4)) };
  f.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, entries: [{ index: 1, term: 1, type: EntryType.Normal, data: new Uint8Array(0) }, ccEnt], commit: 1 }));
  drainMsgs(f);
  assert.deepEqual(f.status().confState.voters, [1, 2, 3, 4]);
  // A new leader of term 2 overwrites index 2.
  f.step(msg({ type: MessageType.Append, from: 3, to: 2, term: 2, index: 1, logTerm: 1, entries: [{ index: 2, term: 2, type: EntryType.Normal, data: new Uint8Array(0) }] }));
  drainMsgs(f);
  assert.deepEqual(f.status().confState.voters, [1, 2, 3]);
});

test('Transfer: catches the target up, then sends TimeoutNow; the target wins at once', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  net.heal();
  net.node(1).transferLeadership(3);
  assert.deepEqual(net.node(1).propose(enc('b')), { ok: false, reason: 'transferring', leader: 1 });
  net.deliverAll(); // 3 is still in probe: wait for a heartbeat round
  net.tickAll(2);
  assert.equal(net.leader(), 3);
  assert.ok(net.sent.some((m) => m.type === MessageType.TimeoutNow && m.to === 3));
  assert.equal(net.node(3).status().hardState.term, 2);
  assert.deepEqual(net.members.get(3)!.state, ['a']);
});

test('Transfer: aborted after an election timeout if the target does not take over', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.node(1).transferLeadership(3);
  assert.equal(net.node(1).status().leadTransferee, 3);
  net.tickAll(12);
  assert.equal(net.leader(), 1);
  assert.equal(net.node(1).status().leadTransferee, 0);
  assert.equal(net.node(1).propose(enc('c')).ok, true);
});

test('Transfer: the target campaigns even inside the voters\' lease', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).transferLeadership(2);
  net.deliverAll();
  assert.equal(net.leader(), 2);
});

test('Membership: no promiscuous peers — votes and acks from non-members do not count', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  n.campaign();
  drainMsgs(n);
  n.step(msg({ type: MessageType.VoteResponse, from: 9, to: 1, term: 1 }));
  assert.equal(n.status().softState.role, Role.Candidate, 'a stranger\'s vote does not make a majority');
  n.step(msg({ type: MessageType.VoteResponse, from: 2, to: 1, term: 1 }));
  assert.equal(n.status().softState.role, Role.Leader);
  drainMsgs(n);
  n.step(msg({ type: MessageType.AppendResponse, from: 9, to: 1, term: 1, index: 1 }));
  assert.equal(n.status().hardState.commit, 0, 'a stranger\'s ack does not commit');
  assert.deepEqual(n.status().progress.map((p) => p.id).sort(), [1, 2, 3]);
});

test('Membership: a member that joined after the log began gets a snapshot, never the log from index 1 (the founding configuration is in no entry)', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  n.propose(enc('a'));
  drainMsgs(n);
  ackAll(n, [2, 3]);
  assert.equal(n.proposeConfChange(cc(ConfChangeType.AddLearner, 4)).ok, true);
  drainMsgs(n);
  ackAll(n, [2, 3]);
  const { lastIndex, hardState } = n.status();
  // 4 has an empty log: it refuses the first probe, which sends the leader back to index 1.
  n.step(msg({ type: MessageType.AppendResponse, from: 4, to: 1, term: hardState.term, index: lastIndex, reject: true, rejectHint: 0 }));
  const to4 = drainMsgs(n).filter((m) => m.to === 4);
  assert.equal(to4.some((m) => m.type === MessageType.Append && m.index === 0), false, `no Append from index 1: ${JSON.stringify(to4.map((m) => [m.type, m.index]))}`);
  const snap = to4.find((m) => m.type === MessageType.Snapshot);
  assert.ok(snap?.snapshot, 'a Snapshot instead');
  assert.deepEqual(snap.snapshot.meta.confState.voters, [1, 2, 3]);

  // A founding member that is as far behind still gets the log: it started from that configuration.
  n.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: hardState.term, index: lastIndex, reject: true, rejectHint: 0 }));
  const to3 = drainMsgs(n).filter((m) => m.to === 3);
  assert.ok(to3.some((m) => m.type === MessageType.Append && m.index === 0), `the log from index 1 for a founder: ${JSON.stringify(to3.map((m) => [m.type, m.index]))}`);
  assert.equal(to3.some((m) => m.type === MessageType.Snapshot), false);
});
