// A member that lost state it had acknowledged (issue 16, item 4): the restart check that
// refuses it, the leader that recovers a follower whose log fell below its recorded match, and
// the rejoin mode in which such a member catches up before it votes again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LostLogError, MessageType, ProgressState, Role, checkRestartState } from '../../raft/index.js';
import type { Message, RaftNode } from '../../raft/index.js';
import { ackAll, drainMsgs, ent, makeLeader, msg, newNode, ofType } from './helpers.js';
import { Network, enc } from './network.js';

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

test('idle leader: a follower answering a heartbeat with "I hold less than that" is probed from its hint', () => {
  for (const bugs of [{}, { noProbeReset: true }]) {
    const n = leaderWithFollowerAt6({ bugs });
    // Nothing new to send: the follower (back with 1..2 only) learns of its gap from a heartbeat.
    n.tick();
    const hb = ofType(drainMsgs(n), MessageType.Heartbeat)[0]!;
    const f = newNode(2, [1, 2], {}, { hardState: { term: 1, vote: 1, commit: 2 }, entries: [ent(1, 1), ent(2, 1)], applied: 2 });
    f.step(hb);
    const resp = ofType(drainMsgs(f), MessageType.HeartbeatResponse)[0]!;
    assert.equal(resp.reject, true);
    assert.equal(resp.rejectHint, 2);
    n.step(resp);
    const apps = ofType(drainMsgs(n), MessageType.Append);
    if ('noProbeReset' in bugs) assert.equal(apps.length, 0, 'old behaviour: the leader believes it is up to date');
    else assert.equal(apps[0]!.index, 2, 'probes right after the hint');
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

const REJOINING = new Uint8Array([0x52, 0x4a]);
const REJOIN_SEEN = new Uint8Array([0x52, 0x53]);

test('rejoin: every acknowledgement says "do not count me", heartbeat answers vouch for no read round, no ReadIndex', () => {
  const n = rejoiner({ commit: 2 });
  n.step(msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index: 2, logTerm: 1, entries: [ent(3, 2)], commit: 2, readSeq: 5 }));
  n.step(msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index: 9, logTerm: 2, entries: [], commit: 2 }));
  n.step(msg({ type: MessageType.Heartbeat, from: 1, to: 3, term: 2, commit: 2, logTerm: 1, context: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]) }));
  const out = drainMsgs(n);
  const resps = out.filter((m) => m.type === MessageType.AppendResponse || m.type === MessageType.HeartbeatResponse);
  assert.equal(resps.length, 3);
  for (const r of resps) {
    assert.deepEqual([...r.context], [...REJOINING]);
    assert.equal(r.readSeq, 0, 'no read-round acknowledgement');
  }
  assert.equal(ofType(out, MessageType.ReadAck).length, 0);
  assert.equal(n.readIndex(new Uint8Array([9])), false);
});

test('rejoin: the target is the leader commit of its first message marking us uncounted; passing it ends the rejoin', () => {
  const n = rejoiner();
  const app = (index: number, logTerm: number, ents: ReturnType<typeof ent>[], commit: number, marked: boolean): Message =>
    msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index, logTerm, entries: ents, commit, context: marked ? REJOIN_SEEN : new Uint8Array(0) });
  // Unmarked (the leader has not seen our REJOINING yet): teaches nothing, even when accepted.
  n.step(app(2, 1, [ent(3, 1), ent(4, 1)], 4, false));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, 4);
  assert.equal(n.status().rejoining, true);
  // Marked: target = 5 (the leader's commit). Reaching it is not enough...
  n.step(app(4, 1, [ent(5, 1)], 5, true));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, 5);
  assert.equal(n.status().rejoining, true);
  // ...the leader must commit beyond it without us.
  n.step(app(5, 1, [ent(6, 2)], 6, true));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, 6);
  assert.equal(n.status().rejoining, false);
  n.step(msg({ type: MessageType.Vote, from: 2, to: 3, term: 3, index: 6, logTerm: 2 }));
  assert.equal(ofType(drainMsgs(n), MessageType.VoteResponse)[0]!.reject, false);
  // Caught up: acknowledgements are plain again.
  n.step(msg({ type: MessageType.Append, from: 2, to: 3, term: 3, index: 6, logTerm: 2, entries: [ent(7, 3)], commit: 6 }));
  const r = ofType(drainMsgs(n), MessageType.AppendResponse)[0]!;
  assert.equal(r.context.length, 0);
});

test('rejoin: a new term starts the wait over', () => {
  const n = rejoiner({ commit: 2 });
  n.step(msg({ type: MessageType.Append, from: 1, to: 3, term: 2, index: 2, logTerm: 1, entries: [ent(3, 2)], commit: 2, context: REJOIN_SEEN }));
  drainMsgs(n);
  assert.equal(n.status().rejoining, true);
  // Leader 2 of term 3: commit 3 is beyond the old target 2, but the new leader has not said it leaves us out.
  n.step(msg({ type: MessageType.Append, from: 2, to: 3, term: 3, index: 3, logTerm: 2, entries: [ent(4, 3)], commit: 3 }));
  drainMsgs(n);
  assert.equal(n.status().rejoining, true);
  n.step(msg({ type: MessageType.Append, from: 2, to: 3, term: 3, index: 4, logTerm: 3, entries: [], commit: 3, context: REJOIN_SEEN }));
  n.step(msg({ type: MessageType.Append, from: 2, to: 3, term: 3, index: 4, logTerm: 3, entries: [ent(5, 3)], commit: 5, context: REJOIN_SEEN }));
  drainMsgs(n);
  assert.equal(n.status().rejoining, false);
});

test('leader: a member that says it is rejoining counts towards no commit and no read round for the rest of the term', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  const c0 = n.status().hardState.commit;
  n.propose(enc('z'));
  drainMsgs(n);
  const last = n.status().lastIndex;
  // 3 acknowledges, marked: no commit (1 + an uncounted 3).
  n.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: 1, index: last, context: REJOINING }));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, c0);
  // Later unmarked acknowledgements from 3 do not count either (they could be stale ones).
  n.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: 1, index: last }));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, c0);
  // Appends to it now say so.
  n.propose(enc('w'));
  const apps = ofType(drainMsgs(n), MessageType.Append);
  assert.deepEqual([...apps.find((m) => m.to === 3)!.context], [...REJOIN_SEEN]);
  assert.equal(apps.find((m) => m.to === 2)!.context.length, 0);
  // 2 acknowledges: committed.
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: n.status().lastIndex }));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, n.status().lastIndex);
  // A read round cannot be completed by 3's heartbeat answers.
  assert.equal(n.readIndex(enc('r1')), true);
  const hbs = ofType(drainMsgs(n), MessageType.Heartbeat);
  const to3 = hbs.find((m) => m.to === 3);
  if (to3) n.step(msg({ type: MessageType.HeartbeatResponse, from: 3, to: 1, term: 1, context: to3.context }));
  assert.equal(n.ready().readStates.length, 0, 'no quorum: 1 + an uncounted 3');
});

test('leader: a rejoining member is counted again once it answers REJOINED, in the same term', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  n.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: 1, index: 1, context: REJOINING }));
  n.propose(enc('a'));
  drainMsgs(n);
  const last = n.status().lastIndex;
  n.step(msg({ type: MessageType.AppendResponse, from: 3, to: 1, term: 1, index: last, context: new Uint8Array([0x52, 0x44]) }));
  drainMsgs(n);
  assert.equal(n.status().hardState.commit, last, '1 + 3 are a quorum again');
});

test('rejoin, end to end on two cores: the follower marks, the leader leaves it out, the follower catches up and says so', () => {
  const leader = newNode(1, [1, 2], { preVote: false, checkQuorum: false });
  makeLeader(leader);
  ackAll(leader, [2]);
  for (let i = 0; i < 4; i++) leader.propose(enc('e' + i));
  drainMsgs(leader);
  leader.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 5 }));
  drainMsgs(leader);
  assert.equal(leader.status().hardState.commit, 5);
  // 2 comes back from an old copy holding 1..2 only, in rejoin mode.
  const f = newNode(2, [1, 2], { preVote: false, checkQuorum: false }, { hardState: { term: 1, vote: 1, commit: 2 }, entries: [ent(1, 1), ent(2, 1)], applied: 2, rejoin: true });
  let toF = ofType(drainMsgs(leader), MessageType.Append);
  leader.propose(enc('x'));
  toF = toF.concat(ofType(drainMsgs(leader), MessageType.Append));
  for (let round = 0; round < 20 && toF.length > 0; round++) {
    for (const m of toF) f.step(m);
    const back = drainMsgs(f);
    for (const m of back) leader.step(m);
    toF = drainMsgs(leader).filter((m) => m.to === 2 && m.type === MessageType.Append);
    if (toF.length === 0 && f.status().rejoining) {
      leader.propose(enc('more' + round)); // a 2-voter cluster commits only with 2: stuck while it rejoins
      toF = drainMsgs(leader).filter((m) => m.to === 2);
    }
  }
  // With only two voters the leader cannot commit beyond the target without 2: 2 stays rejoining.
  assert.equal(f.status().rejoining, true, 'no commit without us: we cannot tell this leader is current');
  assert.equal(leader.status().hardState.commit, 5, 'and the leader commits nothing on our word');
});

/**
 * The hazard itself, scripted on three cores: X is committed on {1, 3} while 2 is cut off; 3 is
 * then restored from an old copy of its data (taken before X) and 1 goes down. Who can lead,
 * and does X survive?
 */
function lostAckScenario(rejoin: boolean): { leaderWithout1: number; xSurvives: boolean } {
  const net = new Network([1, 2, 3], { preVote: false, checkQuorum: false });
  net.elect(1);
  net.node(1).propose(enc('before'));
  net.deliverAll();
  const oldCopyOf3 = structuredClone(net.members.get(3)!.disk);
  net.isolate(2);
  net.node(1).propose(enc('X'));
  net.deliverAll();
  net.tickAll(2); // heartbeats carry the commit index
  const x = net.node(1).status().lastIndex;
  assert.equal(net.node(1).status().hardState.commit, x, 'X is committed (on 1 and 3)');
  net.crash(3);
  net.start(3, oldCopyOf3, { rejoin });
  const disk1 = net.crash(1); // its disk (holding X) survives; the process is down for now
  net.heal();
  for (let i = 0; i < 60 && net.leader() === 0; i++) net.tickAll(1);
  const leaderWithout1 = net.leader();
  if (leaderWithout1 === 0) net.start(1, disk1);
  for (let i = 0; i < 200 && (net.leader() === 0 || !net.members.has(1)); i++) {
    if (!net.members.has(1)) net.start(1, disk1);
    net.tickAll(1);
  }
  for (let i = 0; i < 20; i++) net.tickAll(1);
  const xSurvives = [...net.members.values()].every((m) => m.state.includes('X'));
  return { leaderWithout1, xSurvives };
}

test('scenario: a member restored from an old copy that votes at once elects a leader without a committed entry', () => {
  const r = lostAckScenario(false);
  assert.equal(r.leaderWithout1, 2, '3 voted for 2, whose log lacks X');
  assert.equal(r.xSurvives, false, 'the committed entry X is gone');
});

test('scenario: the same member started in rejoin mode withholds its vote; X survives once 1 is back', () => {
  const r = lostAckScenario(true);
  assert.equal(r.leaderWithout1, 0, 'no leader without 1: 2 alone is no majority');
  assert.equal(r.xSurvives, true);
});

test('heartbeat: the commit index counts only if the follower holds the leader entry at it', () => {
  // A follower restored from an old copy holds 1..3 of term 1, where the leader has term-2
  // entries at 2..3, and the leader's stale match makes its heartbeat say commit 3.
  const n = newNode(2, [1, 2, 3], {}, { hardState: { term: 1, vote: 0, commit: 1 }, entries: [ent(1, 1), ent(2, 1), ent(3, 1)], applied: 1 });
  n.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 2, commit: 3, logTerm: 2 }));
  assert.equal(n.status().hardState.commit, 1, 'entry 3 of term 1 is not the leader entry 3 of term 2');
  n.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 2, commit: 3, logTerm: 1 }));
  assert.equal(n.status().hardState.commit, 3);
  // Beyond the follower's log: nothing to vouch for.
  n.step(msg({ type: MessageType.Heartbeat, from: 1, to: 2, term: 2, commit: 9, logTerm: 2 }));
  assert.equal(n.status().hardState.commit, 3);
});

test('heartbeat: the leader names the term of the entry at the commit index it sends', () => {
  const n = newNode(1, [1, 2], { preVote: false });
  makeLeader(n);
  ackAll(n, [2]);
  n.tick();
  const hb = ofType(drainMsgs(n), MessageType.Heartbeat)[0]!;
  assert.equal(hb.commit, 1);
  assert.equal(hb.logTerm, 1);
});

test('rejoin: a member whose REJOINED answers were lost and that restarted intact in the same term is counted again', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 5; i++) {
    net.node(1).propose(enc(`a${i}`));
    net.deliverAll();
  }
  const disk = net.crash(3);
  const rejoined = (m: Message): boolean => m.from === 3 && m.to === 1 && m.context.length === 2 && m.context[0] === 0x52 && m.context[1] === 0x44;
  net.filters.push((m) => !rejoined(m));
  net.start(3, disk, { rejoin: true });
  net.tickAll(5);
  for (let i = 0; i < 3; i++) {
    net.node(1).propose(enc(`b${i}`));
    net.deliverAll();
  }
  assert.equal(net.node(3).status().rejoining, false, 'node 3 caught up; the leader never heard it');
  net.heal();
  net.restart(3); // intact, not rejoining, same term
  net.isolate(2);
  const term = net.node(1).status().hardState.term;
  net.node(1).propose(enc('c'));
  net.deliverAll();
  // Only node 3 can complete the quorum: its answers must count again.
  assert.equal(net.node(1).status().hardState.term, term);
  assert.deepEqual(net.members.get(1)!.state.slice(-1), ['c']);
  assert.deepEqual(net.members.get(3)!.state, net.members.get(1)!.state);
});
