// Elections beyond Figure 2: pre-vote, check-quorum and leases (thesis §9.6, §6.2).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Role } from '../../raft/index.js';
import { newNode, msg, drainMsgs, ofType } from './helpers.js';
import { Network, enc } from './network.js';

test('Pre-vote: a pre-candidate asks with term+1 but does not bump its own term or vote (§9.6)', () => {
  const n = newNode(1, [1, 2, 3], {}, { hardState: { term: 4, vote: 2, commit: 0 } });
  for (let i = 0; i < 20 && n.status().softState.role === Role.Follower; i++) n.tick();
  assert.equal(n.status().softState.role, Role.PreCandidate);
  const rd = n.ready();
  assert.equal(rd.hardState, undefined, 'nothing to persist: term and vote unchanged');
  const pv = ofType(rd.messages, MessageType.PreVote);
  assert.equal(pv.length, 2);
  assert.ok(pv.every((m) => m.term === 5));
  assert.equal(n.status().hardState.term, 4);
  assert.equal(n.status().hardState.vote, 2);
});

test('Pre-vote: granting a pre-vote changes neither term nor vote of the voter', () => {
  const n = newNode(2, [1, 2, 3], {}, { hardState: { term: 4, vote: 3, commit: 0 } });
  n.step(msg({ type: MessageType.PreVote, from: 1, to: 2, term: 5 }));
  const rd = n.ready();
  assert.equal(rd.hardState, undefined);
  const r = ofType(rd.messages, MessageType.PreVoteResponse)[0]!;
  assert.equal(r.reject, false);
  assert.equal(r.term, 5);
});

test('Pre-vote: a pre-candidate becomes a candidate only with a majority of pre-votes', () => {
  const n = newNode(1, [1, 2, 3]);
  n.campaign();
  drainMsgs(n);
  assert.equal(n.status().hardState.term, 0);
  n.step(msg({ type: MessageType.PreVoteResponse, from: 2, to: 1, term: 1 }));
  assert.equal(n.status().softState.role, Role.Candidate);
  assert.equal(n.status().hardState.term, 1);
  assert.equal(ofType(drainMsgs(n), MessageType.Vote).length, 2);
});

test('Pre-vote: a partitioned node rejoining does not disrupt the leader or raise the term', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.tickAll(100);
  assert.equal(net.node(3).status().hardState.term, 1, 'pre-vote keeps the isolated node at its term');
  net.heal();
  net.tickAll(5);
  assert.equal(net.leader(), 1);
  assert.equal(net.node(1).status().hardState.term, 1);
});

test('Check-quorum: a leader that hears from no quorum within an election timeout steps down', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(1);
  for (let i = 0; i < 25; i++) net.tick(1);
  assert.equal(net.node(1).status().softState.role, Role.Follower);
  assert.equal(net.node(1).propose(enc('x')).ok, false);
});

test('Check-quorum: a leader hearing from a quorum keeps leading', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.tickAll(50);
  assert.equal(net.node(1).status().softState.role, Role.Leader);
});

test('Check-quorum: a follower that heard from the leader within the lease ignores vote requests', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1 }));
  drainMsgs(n);
  n.step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 2 }));
  n.step(msg({ type: MessageType.PreVote, from: 3, to: 2, term: 2 }));
  assert.equal(drainMsgs(n).length, 0);
  assert.equal(n.status().hardState.term, 1);
  for (let i = 0; i < 10; i++) n.tick();
  n.step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 2 }));
  const r = ofType(drainMsgs(n), MessageType.VoteResponse)[0]!;
  assert.equal(r.reject, false, 'once the lease expired the vote is granted');
});

test('Election: a new leader is elected after the leader crashes, and committed entries survive', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  net.crash(1);
  for (let i = 0; i < 40 && net.leader() === 0; i++) net.tickAll();
  const l = net.leader();
  assert.ok(l === 2 || l === 3);
  net.node(l).propose(enc('b'));
  net.deliverAll();
  assert.deepEqual(net.members.get(2)!.state, ['a', 'b']);
  assert.deepEqual(net.members.get(3)!.state, ['a', 'b']);
});

test('Election: a candidate with a stale log cannot win (leader completeness, §5.4.1)', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  net.heal();
  net.crash(1);
  net.node(3).campaign();
  net.deliverAll();
  // 2 refuses 3 (stale log); eventually 2 wins.
  for (let i = 0; i < 60 && net.leader() !== 2; i++) net.tickAll();
  assert.equal(net.leader(), 2);
  net.deliverAll();
  assert.deepEqual(net.members.get(3)!.state, ['a']);
});

test('A proposal that names a term is accepted only while leading in that term (forwarded writes)', () => {
  const net = new Network([1, 2, 3]);
  net.elect(2);
  net.node(2).transferLeadership(1);
  net.deliverAll();
  assert.equal(net.leader(), 1);
  const term = net.node(1).status().hardState.term;
  assert.ok(term >= 2);
  const inTerm = net.node(1).propose(enc('x'), term);
  assert.equal(inTerm.ok, true);
  assert.equal(inTerm.ok && inTerm.term, term);
  assert.equal(net.node(1).propose(enc('y'), term - 1).ok, false, 'a term it no longer leads');
  assert.equal(net.node(1).propose(enc('y'), term + 1).ok, false, 'a term it does not lead yet');
  assert.equal(net.node(1).propose(enc('z')).ok, true, 'no term named: any');
});
