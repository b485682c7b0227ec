// The checks a membership change passes before the leader proposes it (src/membership/policy.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { assignId, checkAdd, checkPromote, checkRemove, quorum, withRecentContact, type LeaderView } from '../../src/membership/policy.js';
import { REMOVAL_EVIDENCE_MS, RemovalDetector } from '../../src/membership/removal.js';

function view(voters: number[], learners: number[], active: number[], match: Record<number, number> = {}, lastIndex = 100): LeaderView {
  return {
    selfId: voters[0]!,
    conf: { voters, learners },
    progress: [...voters, ...learners].map((id) => ({ id, isLearner: learners.includes(id), match: match[id] ?? lastIndex, recentActive: active.includes(id) })),
    lastIndex,
  };
}

describe('membership policy', () => {
  test('quorum', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map(quorum), [1, 2, 2, 3, 3]);
  });

  test('a learner may always be added; a voter only while the new quorum of started voters exists', () => {
    assert.equal(checkAdd(view([1, 2, 3], [], [2]), 9, true), null);
    // 4 voters need 3 started; the new one is not started yet.
    assert.equal(checkAdd(view([1, 2, 3], [], [2, 3]), 9, false), null);
    assert.match(checkAdd(view([1, 2, 3], [], [2]), 9, false) ?? '', /would leave 2 started voters of 4, fewer than the quorum of 3 \(strict reconfiguration check\)/);
    assert.match(checkAdd(view([1, 2, 3], [4], [2, 3]), 4, true) ?? '', /already in the cluster/);
  });

  test('a leader elected a moment ago counts the members it heard from as started', () => {
    // Fresh leader 1 of [1..5], member 5 down: the core has no recent-activity flag set yet.
    const v = view([1, 2, 3, 4, 5], [], []);
    assert.match(checkRemove(v, 2) ?? '', /would leave 1 started voters of 4/);
    const heardAt = new Map([[2, 1_000], [3, 1_400], [4, 1_450], [5, 100]]);
    const fresh = { ...v, progress: withRecentContact(v.progress, heardAt, 1_500, 1_000) };
    assert.deepEqual(fresh.progress.map((p) => p.recentActive), [false, true, true, true, false]);
    assert.equal(checkRemove(fresh, 2), null, '1, 3 and 4 are started: a quorum of the 4 left');
    // Nor is the check gone: with 4 and 5 silent, removing 2 would leave 1 and 3 of 4 voters.
    const twoDown = { ...v, progress: withRecentContact(v.progress, new Map([[2, 1_000], [3, 1_400]]), 1_500, 1_000) };
    assert.match(checkRemove(twoDown, 2) ?? '', /would leave 2 started voters of 4/);
    // Heard from too long ago: not started; a flag the core already set is kept.
    const stale = withRecentContact(v.progress, heardAt, 3_000, 1_000);
    assert.deepEqual(stale.map((p) => p.recentActive), [false, false, false, false, false]);
    const flagged = view([1, 2, 3], [], [2]);
    assert.deepEqual(withRecentContact(flagged.progress, new Map(), 0, 1_000).map((p) => p.recentActive), [false, true, false]);
  });

  test('removal keeps a quorum of started voters; a learner or the leader itself may go', () => {
    assert.equal(checkRemove(view([1, 2, 3], [4], []), 4), null);
    assert.equal(checkRemove(view([1, 2, 3], [], [2, 3]), 1), null, 'the leader (self) removing itself, the others up');
    // 3 voters, member 3 down: removing 2 leaves {1, 3} with only 1 started.
    assert.match(checkRemove(view([1, 2, 3], [], [2]), 2) ?? '', /would leave 1 started voters of 2, fewer than the quorum of 2/);
    // Removing the stopped one is fine: {1, 2} both started.
    assert.equal(checkRemove(view([1, 2, 3], [], [2]), 3), null);
    assert.match(checkRemove(view([1], [], []), 1) ?? '', /only voter/);
    assert.match(checkRemove(view([1, 2, 3], [], [2, 3]), 7) ?? '', /not in the cluster/);
  });

  test('a learner is promoted only once caught up (90% of the leader log) and active', () => {
    assert.equal(checkPromote(view([1, 2, 3], [4], [2, 3, 4], { 4: 90 }), 4), null);
    assert.match(checkPromote(view([1, 2, 3], [4], [2, 3, 4], { 4: 89 }), 4) ?? '', /learner 4 has not caught up with the leader \(its log reaches index 89, the leader's 100; promotion needs 90\)/);
    assert.match(checkPromote(view([1, 2, 3], [4], [2, 3], { 4: 100 }), 4) ?? '', /has not answered the leader recently/);
    assert.match(checkPromote(view([1, 2, 3], [4], [2, 3, 4], { 4: 0 }, 0), 4) ?? '', /has not caught up/, 'match 0 is never caught up');
    assert.match(checkPromote(view([1, 2, 3], [], [2, 3]), 2) ?? '', /already a voter/);
    assert.match(checkPromote(view([1, 2, 3], [], [2, 3]), 8) ?? '', /not in the cluster/);
    // Caught up, but with two voters down the 4-voter configuration would have no quorum.
    assert.match(checkPromote(view([1, 2, 3], [4], [4], { 4: 100 }), 4) ?? '', /strict reconfiguration check/);
  });

  test('new ids are never an id in use or one this member has known', () => {
    assert.equal(assignId(view([1, 2, 3], [], [], {}, 2), []), 4);
    assert.equal(assignId(view([1, 2, 3], [], [], {}, 500), []), 501);
    assert.equal(assignId(view([1, 2, 3], [700], [], {}, 500), [900]), 901);
  });

  test('a member concludes it was removed only when a quorum of the other voters keeps refusing it', () => {
    const d = new RemovalDetector();
    const voters = [1, 2, 3];
    assert.equal(d.refused(1, voters, 3, 0), false, 'one refusal is no evidence');
    assert.equal(d.refused(1, voters, 3, REMOVAL_EVIDENCE_MS), false, 'one of the two others, however long');
    d.refused(2, voters, 3, REMOVAL_EVIDENCE_MS);
    assert.equal(d.refused(2, voters, 3, REMOVAL_EVIDENCE_MS + 10), false, 'member 2 only just started refusing');
    d.heardFrom(2);
    assert.equal(d.refused(2, voters, 3, 2 * REMOVAL_EVIDENCE_MS), false, 'a message from 2 reset its evidence');
    assert.equal(d.refused(2, voters, 3, 3 * REMOVAL_EVIDENCE_MS), true);
    assert.equal(new RemovalDetector().refused(1, [1, 2], 9, 0), false, 'a member that is no voter in its own view never concludes');
    const two = new RemovalDetector();
    two.refused(1, [1, 2], 2, 0);
    assert.equal(two.refused(1, [1, 2], 2, REMOVAL_EVIDENCE_MS), true, 'with one other voter, its refusal is the quorum');
  });
});
