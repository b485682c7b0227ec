// A member that lost state it had acknowledged (issue 16, item 4): the restart check that
// refuses it, the leader that recovers a follower whose log fell below its recorded match, and
// the rejoin mode in which such a member catches up before it votes again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LostLogError, MessageType, ProgressState, Role, checkRestartState } from '../../raft/index.js';
import type { Message, RaftNode } from '../../raft/index.js';
import { ackAll, drainMsgs, ent, makeLeader, msg, newNode, ofType } from './helpers.js';
import { enc } from './network.js';

const entries = (n: number, term = 1) => Array.from({ length: n }, (_, i) => ent(i + 1, term));

test('restart: a hard state committing beyond the log is refused, as etcd does', () => {
  const init = { hardState: { term: 2, vote: 1, commit: 9 }, entries: entries(5), confState: { voters: [1, 2, 3], learners: [] }, applied: 3 };
  const err = checkRestartState(init);
  assert.ok(err instanceof LostLogError);
  assert.equal(err.message, 'commit 9 is out of range [lastIndex 5]: the log lost entries this member acknowledged');
  assert.throws(() => newNode(1, [1, 2, 3], {}, init), /commit 9 is out of range \[lastIndex 5\]/);
  // The old behaviour (planted): clamp and carry on.
  assert.equal(newNode(1, [1, 2, 3], { bugs: { acceptLostLog: true } }, init).status().hardState.commit, 5);
});

test('restart: a state machine ahead of the log is refused, even when rejoining', () => {
  const init = { hardState: { term: 2, vote: 1, commit: 5 }, entries: entries(5), confState: { voters: [1, 2, 3], learners: [] }, applied: 8 };
  assert.throws(() => newNode(1, [1, 2, 3], {}, init), /applied 8 is out of range \[lastIndex 5\]/);
  assert.throws(() => newNode(1, [1, 2, 3], {}, { ...init, rejoin: true }), LostLogError);
});

test('restart: a consistent state passes the check (commit and applied at the snapshot, no entries)', () => {
  const init = {
    hardState: { term: 3, vote: 0, commit: 7 },
    snapshot: { index: 7, term: 3, confState: { voters: [1, 2, 3], learners: [] } },
    entries: [],
    confState: { voters: [1, 2, 3], learners: [] },
    applied: 7,
  };
  assert.equal(checkRestartState(init), undefined);
  assert.equal(newNode(1, [1, 2, 3], {}, init).status().hardState.commit, 7);
});

/** Leader 1 of [1, 2] with 2 in Replicate at match = 6 (no-op + 5 proposals). */
function leaderWithFollowerAt6(cfg = {}): RaftNode {
  const n = newNode(1, [1, 2], { preVote: false, ...cfg });
  makeLeader(n);
  ackAll(n, [2]);
  for (let i = 0; i < 5; i++) n.propose(enc('x' + i));
  drainMsgs(n);
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 6 }));
  drainMsgs(n);
  const pr = n.status().progress.find((p) => p.id === 2)!;
  assert.equal(pr.match, 6);
  assert.equal(pr.state, ProgressState.Replicate);
  return n;
}

/** The follower's answer to `m` if its log holds indexes 1..last, all of term 1. */
function followerAnswer(m: Message, last: number): Message {
  if (m.index <= last) return msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: m.term, index: m.index + m.entries.length });
  return msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: m.term, index: m.index, reject: true, rejectHint: last, logTerm: 1 });
}

/** Runs leader 1 against a follower 2 whose log ends at `last`; returns the Appends exchanged. */
function converse(n: RaftNode, last: number, rounds: number): { appends: number; last: number } {
  let appends = 0;
  for (let r = 0; r < rounds; r++) {
    // A heartbeat answer makes the leader probe a follower it believes behind.
    n.step(msg({ type: MessageType.HeartbeatResponse, from: 2, to: 1, term: 1 }));
    for (const m of ofType(drainMsgs(n), MessageType.Append)) {
      appends++;
      const a = followerAnswer(m, last);
      if (!a.reject) last = Math.max(last, a.index);
      n.step(a);
    }
  }
  return { appends, last };
}

test('leader: a follower rejecting the index it acknowledged is probed from its hint, not at match + 1 forever', () => {
  const n = leaderWithFollowerAt6();
  // Follower 2 comes back with only 1..2 (an old copy of its data): it rejects prev = 6.
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 6, reject: true, rejectHint: 2, logTerm: 1 }));
  const pr = n.status().progress.find((p) => p.id === 2)!;
  assert.equal(pr.state, ProgressState.Probe);
  assert.equal(pr.match, 0, 'the lost acknowledgement no longer counts');
  assert.equal(pr.next, 3);
  const apps = ofType(drainMsgs(n), MessageType.Append);
  assert.equal(apps.length, 1);
  assert.equal(apps[0]!.index, 2, 'probes right after the hint');
  assert.deepEqual(apps[0]!.entries.map((e) => e.index), [3, 4, 5, 6]);
});

test('leader: the regressed follower catches up in a few exchanges; without the fix it never does', () => {
  for (const [bugs, rounds] of [[{}, 5], [{ noProbeReset: true }, 50]] as const) {
    const n = leaderWithFollowerAt6({ bugs });
    // A new write: its Append (prev = 6) is what the follower, back with 1..2 only, rejects.
    n.propose(enc('new'));
    const r = converse(n, 2, rounds);
    if (bugs.noProbeReset === undefined) {
      assert.equal(r.last, 7, 'caught up to the leader');
      assert.ok(r.appends <= 4, `${r.appends} Appends`);
    } else {
      assert.equal(r.last, 2, 'old behaviour: stuck');
      assert.ok(r.appends >= rounds, 'and every exchange sends another doomed Append');
    }
  }
});

test('leader: a rejection of an index below match is stale and changes nothing', () => {
  const n = leaderWithFollowerAt6();
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 4, reject: true, rejectHint: 2, logTerm: 1 }));
  const pr = n.status().progress.find((p) => p.id === 2)!;
  assert.equal(pr.match, 6);
  assert.equal(pr.state, ProgressState.Replicate);
  assert.equal(ofType(drainMsgs(n), MessageType.Append).length, 0);
});

test('leader: the forgotten acknowledgement no longer counts towards commit', () => {
  // Five voters: 2 acknowledged up to 4, then lost it; 3 acknowledges 4 later.
  const run = (bugs: object): number => {
    const n = newNode(1, [1, 2, 3, 4, 5], { preVote: false, bugs });
    makeLeader(n);
    for (let i = 0; i < 3; i++) n.propose(enc('y' + i));
    drainMsgs(n);
    n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 4 }));
    drainMsgs(n);
    assert.equal(n.status().hardState.commit, 0, 'leader + 2 are no quorum of 5');
    n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 4, reject: true, rejectHint: 0, logTerm: 0 }));
    drainMsgs(n);
    n.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: 1, index: 4 }));
    drainMsgs(n);
    return n.status().hardState.commit;
  };
  assert.equal(run({}), 0, 'leader + 3 are no quorum: 2 holds nothing any more');
  assert.equal(run({ noProbeReset: true }), 4, 'old behaviour: committed on an acknowledgement that was lost');
});

function rejoiner(init: { commit?: number; last?: number; term?: number } = {}): RaftNode {
  const last = init.last ?? 2;
  // checkQuorum off: a vote request right after hearing from the leader is not ignored.
  return newNode(3, [1, 2, 3], { preVote: false, checkQuorum: false }, {
    hardState: { term: init.term ?? 1, vote: 1, commit: init.commit ?? 6 },
    entries: entries(last),
    applied: 0,
    rejoin: true,
  });
}

test('rejoin: a commit index beyond the log is accepted (clamped), and the member reports rejoining', () => {
  const n = rejoiner();
  const st = n.status();
  assert.equal(st.hardState.commit, 2);
  assert.equal(st.rejoining, true);
});

test('rejoin: grants no vote and never campaigns until caught up', () => {
  const n = rejoiner();
  n.step(msg({ type: MessageType.Vote, from: 2, to: 3, term: 2, index: 2, logTerm: 1 }));
  const resp = ofType(drainMsgs(n), MessageType.VoteResponse);
  assert.equal(resp.length, 1);
  assert.equal(resp[0]!.reject, true);
  for (let i = 0; i < 100; i++) n.tick();
  assert.equal(ofType(drainMsgs(n), MessageType.Vote).length, 0);
  assert.notEqual(n.status().softState.role, Role.Candidate);
  // TimeoutNow does not make it campaign either.
  n.step(msg({ type: MessageType.TimeoutNow, from: 1, to: 3, term: 2 }));
  assert.equal(ofType(drainMsgs(n), MessageType.Vote).length, 0);
  // The planted bug votes.
  const b = newNode(3, [1, 2, 3], { preVote: false, bugs: { rejoinVotes: true } }, { hardState: { term: 1, vote: 1, commit: 2 }, entries: entries(2), applied: 0, rejoin: true });
  b.step(msg({ type: MessageType.Vote, from: 2, to: 3, term: 2, index: 2, logTerm: 1 }));
  assert.equal(ofType(drainMsgs(b), MessageType.VoteResponse)[0]!.reject, false);
});

test('rejoin: rejected Appends teach nothing; it votes again once its commit reaches the leader commit of the first accepted Append and an entry of the leader term', () => {
  const n = rejoiner();
  const app = (index: number, logTerm: number, ents: ReturnType<typeof ent>[], commit: number): Message =>
    msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index, logTerm, entries: ents, commit });
  // The leader still believes it holds 6: rejected, no target yet.
  n.step(app(6, 1, [ent(7, 2)], 7));
  assert.equal(ofType(drainMsgs(n), MessageType.AppendResponse)[0]!.reject, true);
  assert.equal(n.status().rejoining, true);
  // After the probe reset: accepted, target = 7. Up to 4 only: still rejoining.
  n.step(app(2, 1, [ent(3, 1), ent(4, 1)], 7));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, 4);
  assert.equal(n.status().rejoining, true);
  // 5..7 arrive; commit 7 is the leader's no-op of term 2.
  n.step(app(4, 1, [ent(5, 1), ent(6, 1), ent(7, 2)], 7));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, 7);
  assert.equal(n.status().rejoining, false);
  n.step(msg({ type: MessageType.Vote, from: 2, to: 3, term: 3, index: 7, logTerm: 2 }));
  assert.equal(ofType(drainMsgs(n), MessageType.VoteResponse)[0]!.reject, false);
});

test('rejoin: reaching the target is not enough while the commit index sits on an older term', () => {
  const n = rejoiner({ commit: 2 });
  n.step(msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index: 2, logTerm: 1, entries: [ent(3, 1)], commit: 3 }));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, 3);
  assert.equal(n.status().rejoining, true, 'entry 3 is of term 1, the leader is of term 2');
  n.step(msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index: 3, logTerm: 1, entries: [ent(4, 2)], commit: 4 }));
  drainMsgs(n);
  assert.equal(n.status().rejoining, false);
});

test('rejoin: a new term starts the wait over', () => {
  const n = rejoiner({ commit: 2 });
  n.step(msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index: 2, logTerm: 1, entries: [ent(3, 2)], commit: 9 }));
  drainMsgs(n);
  assert.equal(n.status().rejoining, true);
  // Leader 2 of term 3: its first accepted Append sets the target anew (commit 4, its own entry).
  n.step(msg({ type: MessageType.Append, from: 2, to: 3, term: 3, index: 3, logTerm: 2, entries: [ent(4, 3)], commit: 4 }));
  drainMsgs(n);
  assert.equal(n.status().rejoining, false);
});
