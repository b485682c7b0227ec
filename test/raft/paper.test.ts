// One test per rule of Figure 2 of the Raft paper (and its §5 text), named after the rule.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, Role } from '../../raft/index.js';
import { newNode, msg, ent, drain, drainMsgs, makeLeader, ackAll, ofType } from './helpers.js';
import { Network, enc } from './network.js';

const noPreVote = { preVote: false };

test('All servers: if a message carries term T > currentTerm, set currentTerm = T and convert to follower (§5.1)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  makeLeader(n);
  assert.equal(n.status().hardState.term, 1);
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 5 }));
  const st = n.status();
  assert.equal(st.softState.role, Role.Follower);
  assert.equal(st.hardState.term, 5);
  assert.equal(st.hardState.vote, 0);
});

test('All servers: if commitIndex > lastApplied, apply log[lastApplied+1] in order (§5.3)', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [ent(1, 1, 'a'), ent(2, 1, 'b'), ent(3, 1, 'c')], commit: 2 }));
  const rd = drain(n);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [1, 2]);
  assert.equal(n.status().applied, 2);
  n.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 1, commit: 3, logTerm: 1 }));
  assert.deepEqual(drain(n).committedEntries.map((e) => e.index), [3]);
});

test('Follower: respond to RPCs from candidates and leaders (§5.2)', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 1 }));
  n.step(msg({ type: MessageType.Append, from: 3, to: 2, term: 1, entries: [ent(1, 1)] }));
  const msgs = drainMsgs(n);
  assert.equal(ofType(msgs, MessageType.VoteResponse).length, 1);
  assert.equal(ofType(msgs, MessageType.AppendResponse).length, 1);
});

test('Follower: convert to candidate if the election timeout elapses without hearing from a leader (§5.2)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  for (let i = 0; i < 20; i++) n.tick();
  assert.equal(n.status().softState.role, Role.Candidate);
});

test('Follower: a heartbeat from the leader resets the election timer (§5.2)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  for (let i = 0; i < 100; i++) {
    n.tick();
    n.step(msg({ type: MessageType.Heartbeat, from: 2, to: 1, term: 1 }));
  }
  assert.equal(n.status().softState.role, Role.Follower);
  assert.equal(n.status().softState.leader, 2);
});

test('Follower: the election timeout is randomized in [electionTick, 2*electionTick) (§5.2)', () => {
  const seen = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const n = newNode(seed, [seed, 1000, 1001], { ...noPreVote, random: mulberry(seed) });
    let t = 0;
    while (n.status().softState.role === Role.Follower) {
      n.tick();
      t++;
    }
    assert.ok(t >= 10 && t < 20, `timeout ${t}`);
    seen.add(t);
  }
  assert.ok(seen.size > 3, 'timeouts should vary');
});

function mulberry(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('Candidate: votes for itself and sends RequestVote on election timeout (§5.2)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote, {
    hardState: { term: 2, vote: 0, commit: 0 },
    entries: [ent(1, 1), ent(2, 2)],
  });
  for (let i = 0; i < 20 && n.status().softState.role === Role.Follower; i++) n.tick();
  const rd = n.ready();
  assert.deepEqual(rd.hardState, { term: 3, vote: 1, commit: 0 });
  assert.equal(rd.mustSync, true, 'the self-vote must be durable before RequestVote goes out');
  const votes = ofType(rd.messages, MessageType.Vote);
  assert.deepEqual(votes.map((m) => m.to).sort(), [2, 3]);
  for (const v of votes) {
    assert.equal(v.term, 3);
    assert.equal(v.index, 2);
    assert.equal(v.logTerm, 2);
  }
});

test('Candidate: becomes leader on receiving votes from a majority (§5.2)', () => {
  const n = newNode(1, [1, 2, 3, 4, 5], noPreVote);
  n.campaign();
  drainMsgs(n);
  n.step(msg({ type: MessageType.VoteResponse, from: 2, to: 1, term: 1 }));
  assert.equal(n.status().softState.role, Role.Candidate);
  n.step(msg({ type: MessageType.VoteResponse, from: 3, to: 1, term: 1 }));
  assert.equal(n.status().softState.role, Role.Leader);
});

test('Candidate: reverts to follower on AppendEntries from the new leader of the same term (§5.2)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  n.campaign();
  drainMsgs(n);
  n.step(msg({ type: MessageType.Append, from: 2, to: 1, term: 1 }));
  assert.equal(n.status().softState.role, Role.Follower);
  assert.equal(n.status().softState.leader, 2);
  assert.equal(n.status().hardState.vote, 1, 'the vote of the term is kept');
});

test('Candidate: starts a new election when the election timeout elapses (split vote) (§5.2)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  n.campaign();
  drainMsgs(n);
  for (let i = 0; i < 20; i++) n.tick();
  assert.equal(n.status().softState.role, Role.Candidate);
  assert.equal(n.status().hardState.term, 2);
});

test('Candidate: steps down when a majority rejects it', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  n.campaign();
  n.step(msg({ type: MessageType.VoteResponse, from: 2, to: 1, term: 1, reject: true }));
  n.step(msg({ type: MessageType.VoteResponse, from: 3, to: 1, term: 1, reject: true }));
  assert.equal(n.status().softState.role, Role.Follower);
});

test('Leader: appends a no-op entry of its own term on election (§8)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote, { hardState: { term: 1, vote: 0, commit: 0 }, entries: [ent(1, 1)] });
  const msgs = makeLeader(n);
  const st = n.status();
  assert.equal(st.hardState.term, 2);
  assert.equal(st.lastIndex, 2);
  const app = ofType(msgs, MessageType.Append)[0]!;
  assert.deepEqual(app.entries.map((e) => [e.index, e.term, e.data.length]), [[2, 2, 0]]);
});

test('Leader: sends heartbeats to all followers every heartbeatTick (§5.2)', () => {
  const n = newNode(1, [1, 2, 3], { ...noPreVote, heartbeatTick: 3 });
  makeLeader(n);
  drainMsgs(n);
  n.tick();
  n.tick();
  assert.equal(ofType(drainMsgs(n), MessageType.Heartbeat).length, 0);
  n.tick();
  const hb = ofType(drainMsgs(n), MessageType.Heartbeat);
  assert.deepEqual(hb.map((m) => m.to).sort(), [2, 3]);
});

test('Leader: heartbeats carry commit = min(match, commit) so followers never commit past what they hold', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 5; i++) net.node(1).propose(enc('v' + i));
  net.deliverAll();
  net.heal();
  net.node(1).tick();
  const hbs = ofType(net.node(1).ready().messages, MessageType.Heartbeat);
  const to2 = hbs.find((m) => m.to === 2)!;
  const to3 = hbs.find((m) => m.to === 3)!;
  assert.equal(to2.commit, 6);
  assert.equal(to3.commit, 1, 'node 3 only matched the no-op');
});

test('Leader: appends a client command to its log and replicates it in AppendEntries (§5.3)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  makeLeader(n);
  ackAll(n, [2, 3]);
  const r = n.propose(enc('x'));
  assert.deepEqual(r, { ok: true, index: 2, term: 1 });
  const rd = n.ready();
  assert.deepEqual(rd.entries.map((e) => e.index), [2]);
  const apps = ofType(rd.messages, MessageType.Append);
  assert.equal(apps.length, 2);
});

test('Leader: commits an entry once a majority stores it, and tells followers the new commit index (§5.3)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  makeLeader(n);
  ackAll(n, [3]);
  assert.equal(n.status().hardState.commit, 1);
  n.propose(enc('x'));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, 1);
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 2 }));
  assert.equal(n.status().hardState.commit, 2);
  const rd = drain(n);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [2]);
  const apps = ofType(rd.messages, MessageType.Append);
  assert.ok(apps.some((m) => m.to === 3 && m.commit === 2));
});

test('Leader: only commits entries from its current term by counting replicas (§5.4.2)', () => {
  for (const bug of [false, true]) {
    const n = newNode(1, [1, 2, 3], { ...noPreVote, bugs: { commitPriorTermByCount: bug } }, {
      hardState: { term: 1, vote: 1, commit: 0 },
      entries: [ent(1, 1), ent(2, 1)],
    });
    makeLeader(n); // term 2, no-op at 3
    drainMsgs(n);
    n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 2, index: 2 }));
    assert.equal(n.status().hardState.commit, bug ? 2 : 0);
    n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 2, index: 3 }));
    assert.equal(n.status().hardState.commit, 3, 'the current-term entry commits, and with it all before');
  }
});

test('Leader: the leader counts its own entry toward a majority only once it is durable', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  makeLeader(n);
  ackAll(n, [2, 3]);
  assert.equal(n.status().hardState.commit, 1);
  n.propose(enc('x'));
  const rd = n.ready(); // handed out, not yet persisted
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 2 }));
  assert.equal(n.status().hardState.commit, 1, 'leader (not durable) + one follower is not a durable majority');
  n.advance(rd);
  assert.equal(n.status().hardState.commit, 2);
});

test('Leader: after a rejection, decrement nextIndex and retry (§5.3)', () => {
  const n = newNode(1, [1, 2], noPreVote, {
    hardState: { term: 3, vote: 1, commit: 0 },
    entries: [ent(1, 1), ent(2, 2), ent(3, 3)],
  });
  let apps = ofType(makeLeader(n), MessageType.Append).filter((m) => m.to === 2); // term 4, no-op at 4
  assert.equal(apps[0]!.index, 3);
  // Follower has only [1:1]: rejects index 3 hinting index 1 term 1.
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 4, index: 3, reject: true, rejectHint: 1, logTerm: 1 }));
  apps = ofType(drainMsgs(n), MessageType.Append).filter((m) => m.to === 2);
  assert.equal(apps.length, 1);
  assert.equal(apps[0]!.index, 1, 'probe restarts right after the hinted match');
  assert.equal(apps[0]!.logTerm, 1);
  assert.deepEqual(apps[0]!.entries.map((e) => e.index), [2, 3, 4]);
});

test('Leader: fast back-off skips a whole conflicting term using the follower hint', () => {
  // Leader log: terms 1,1,1,4,4,5; follower log: 1,1,1,2,2,2,3,3 (conflicting terms 2 and 3).
  const leaderEnts = [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 4), ent(5, 4), ent(6, 5)];
  const n = newNode(1, [1, 2], noPreVote, { hardState: { term: 5, vote: 1, commit: 0 }, entries: leaderEnts });
  makeLeader(n);
  drainMsgs(n);
  const f = newNode(2, [1, 2], noPreVote, {
    hardState: { term: 3, vote: 0, commit: 0 },
    entries: [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 2), ent(5, 2), ent(6, 2), ent(7, 3), ent(8, 3)],
  });
  // Leader probes at its last index (7, the no-op's predecessor is 6 term 5).
  f.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 6, index: 6, logTerm: 5 }));
  const rej = ofType(drainMsgs(f), MessageType.AppendResponse)[0]!;
  assert.equal(rej.reject, true);
  assert.equal(rej.rejectHint, 6);
  assert.equal(rej.logTerm, 2);
  n.step(rej);
  const next = ofType(drainMsgs(n), MessageType.Append)[0]!;
  assert.equal(next.index, 3, 'leader jumps over its own term-4 entries to its last index with term <= 2');
  f.step(next);
  const ok = ofType(drainMsgs(f), MessageType.AppendResponse)[0]!;
  assert.equal(ok.reject, false);
  assert.equal(ok.index, 7);
});

test('Receiver: reply false if term < currentTerm (§5.1)', () => {
  const n = newNode(2, [1, 2, 3], {}, { hardState: { term: 5, vote: 0, commit: 0 } });
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 4, entries: [ent(1, 4)] }));
  n.step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 4 }));
  const msgs = drainMsgs(n);
  const ar = ofType(msgs, MessageType.AppendResponse)[0]!;
  assert.equal(ar.reject, true);
  assert.equal(ar.term, 5);
  const vr = ofType(msgs, MessageType.VoteResponse)[0]!;
  assert.equal(vr.reject, true);
  assert.equal(vr.term, 5);
  assert.equal(n.status().lastIndex, 0);
});

test("Receiver: reply false if the log doesn't contain an entry at prevLogIndex whose term matches prevLogTerm (§5.3)", () => {
  const n = newNode(2, [1, 2, 3], {}, { hardState: { term: 2, vote: 0, commit: 0 }, entries: [ent(1, 1), ent(2, 1)] });
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 2, logTerm: 2, entries: [ent(3, 2)] }));
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 5, logTerm: 2, entries: [ent(6, 2)] }));
  const rs = ofType(drainMsgs(n), MessageType.AppendResponse);
  assert.deepEqual(rs.map((r) => [r.reject, r.index, r.rejectHint]), [
    [true, 2, 2],
    [true, 5, 2],
  ]);
  assert.equal(n.status().lastIndex, 2);
});

test('Follower: delete a conflicting entry and all that follow it (§5.3)', () => {
  const n = newNode(2, [1, 2, 3], {}, {
    hardState: { term: 2, vote: 0, commit: 1 },
    entries: [ent(1, 1), ent(2, 1, 'old2'), ent(3, 1, 'old3'), ent(4, 1, 'old4')],
  });
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 1, logTerm: 1, entries: [ent(2, 2, 'new2')] }));
  const rd = drain(n);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[2, 2]], 'the Ready rewrites the suffix from index 2');
  assert.equal(n.status().lastIndex, 2);
  const r = ofType(rd.messages, MessageType.AppendResponse)[0]!;
  assert.equal(r.index, 2);
});

test('Follower (planted bug noConflictTruncate): the conflicting suffix survives, breaking log matching', () => {
  const n = newNode(2, [1, 2, 3], { bugs: { noConflictTruncate: true } }, {
    hardState: { term: 2, vote: 0, commit: 1 },
    entries: [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1)],
  });
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 1, logTerm: 1, entries: [ent(2, 2)] }));
  drain(n);
  assert.equal(n.status().lastIndex, 4);
});

test('Follower: do not truncate when entries already match (duplicate/delayed append)', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [ent(1, 1), ent(2, 1), ent(3, 1)] }));
  drain(n);
  // A delayed copy of an earlier, shorter append arrives.
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [ent(1, 1)] }));
  const rd = drain(n);
  assert.equal(rd.entries.length, 0, 'nothing is rewritten');
  assert.equal(n.status().lastIndex, 3);
  assert.equal(ofType(rd.messages, MessageType.AppendResponse)[0]!.index, 1);
});

test('Receiver: append any new entries not already in the log (§5.3)', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [ent(1, 1), ent(2, 1)] }));
  drain(n);
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [ent(1, 1), ent(2, 1), ent(3, 1)] }));
  const rd = drain(n);
  assert.deepEqual(rd.entries.map((e) => e.index), [3]);
});

test('Receiver: if leaderCommit > commitIndex, set commitIndex = min(leaderCommit, index of last new entry) (§5.3)', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [ent(1, 1), ent(2, 1)], commit: 9 }));
  assert.equal(n.status().hardState.commit, 2);
});

test('Vote: reply false if term < currentTerm (§5.1)', () => {
  const n = newNode(2, [1, 2, 3], {}, { hardState: { term: 3, vote: 0, commit: 0 } });
  n.step(msg({ type: MessageType.Vote, from: 1, to: 2, term: 2 }));
  const r = ofType(drainMsgs(n), MessageType.VoteResponse)[0]!;
  assert.equal(r.reject, true);
  assert.equal(n.status().hardState.vote, 0);
});

test('Vote: grant at most one vote per term, first come first served (§5.2)', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Vote, from: 1, to: 2, term: 1 }));
  n.step(msg({ type: MessageType.Vote, from: 3, to: 2, term: 1 }));
  n.step(msg({ type: MessageType.Vote, from: 1, to: 2, term: 1 }));
  const rd = n.ready();
  assert.deepEqual(rd.hardState, { term: 1, vote: 1, commit: 0 });
  assert.equal(rd.mustSync, true, 'a vote must be durable before the grant is sent');
  assert.deepEqual(ofType(rd.messages, MessageType.VoteResponse).map((r) => [r.to, r.reject]), [
    [1, false],
    [3, true],
    [1, false],
  ]);
});

test('Vote: compare last log term first, then index (§5.4.1)', () => {
  const cases: [number, number, boolean][] = [
    // [candidate lastIndex, candidate lastTerm, granted] against a voter log [1:1, 2:2, 3:2]
    [1, 3, true], // higher last term wins even with a shorter log
    [3, 2, true], // same term, same length
    [4, 2, true], // same term, longer
    [2, 2, false], // same term, shorter
    [9, 1, false], // lower term loses however long
  ];
  for (const [idx, term, granted] of cases) {
    for (const bug of [false, true]) {
      const n = newNode(2, [1, 2, 3], { bugs: { voteWithoutLogCheck: bug } }, {
        hardState: { term: 2, vote: 0, commit: 0 },
        entries: [ent(1, 1), ent(2, 2), ent(3, 2)],
      });
      n.step(msg({ type: MessageType.Vote, from: 1, to: 2, term: 3, index: idx, logTerm: term }));
      const r = ofType(drainMsgs(n), MessageType.VoteResponse)[0]!;
      assert.equal(!r.reject, bug || granted, `candidate ${idx}/${term} bug=${bug}`);
    }
  }
});

test('Persistence: a follower acknowledges an append in the same Ready that persists the entries', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, index: 0, logTerm: 0, entries: [ent(1, 1)] }));
  const rd = n.ready();
  assert.equal(rd.mustSync, true);
  assert.deepEqual(rd.entries.map((e) => e.index), [1]);
  assert.equal(ofType(rd.messages, MessageType.AppendResponse)[0]!.index, 1);
  assert.ok(rd.hardState && rd.hardState.term === 1);
});

test('Leader: an Append lost in transit is resent without waiting for a new proposal', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(enc('a'));
  net.deliverAll(); // 2 and 3 are in Replicate now
  net.filters.push((m) => !(m.type === MessageType.Append && m.to === 2));
  net.node(1).propose(enc('b'));
  net.deliverAll();
  net.heal();
  net.tickAll(3);
  assert.deepEqual(net.members.get(2)!.state, ['a', 'b']);
});

test('Leader: keeps votedFor when it becomes leader (the vote of the term is never cleared)', () => {
  const n = newNode(1, [1, 2, 3], noPreVote);
  makeLeader(n);
  assert.deepEqual(n.status().hardState, { term: 1, vote: 1, commit: 0 });
  for (let i = 0; i < 5; i++) n.tick();
  assert.equal(n.status().hardState.vote, 1);
});
