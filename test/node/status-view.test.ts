import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressState, Role, type PeerProgress, type RaftStatus } from '../../raft/index.js';
import { clusterStatusOf, readinessChecks, READY_APPLY_LAG } from '../../src/node/status-view.js';

const cfg = {
  clusterId: 'c1',
  id: 1,
  peers: new Map([
    [1, '10.0.0.1:1228'],
    [2, '10.0.0.2:1228'],
    [3, '10.0.0.3:1228'],
    [4, '10.0.0.4:1228'],
  ]),
  peerHttp: new Map([[2, '10.0.0.2:1227']]),
  http: '10.0.0.1:1227',
};

const peer = (id: number, match: number, recentActive: boolean, isLearner = false): PeerProgress => ({
  id,
  isLearner,
  match,
  next: match + 1,
  state: ProgressState.Replicate,
  recentActive,
  inflight: 0,
});

function raftStatus(over: Partial<RaftStatus>): RaftStatus {
  return {
    id: 1,
    hardState: { term: 7, vote: 1, commit: 90 },
    softState: { leader: 1, role: Role.Leader },
    applied: 90,
    firstIndex: 1,
    lastIndex: 100,
    confState: { voters: [1, 2, 3], learners: [4] },
    leadTransferee: 0,
    rejoining: false,
    progress: [],
    ...over,
  };
}

test('a leader lists voters then learners with their lag and liveness; its own entry is active', () => {
  const st = raftStatus({ progress: [peer(1, 100, false), peer(2, 95, true), peer(3, 40, false), peer(4, 100, true, true)] });
  const s = clusterStatusOf(st, cfg, { appliedIndex: 88, snapshotIndex: 50, revision: 61 });
  assert.deepEqual(
    { id: s.id, clusterId: s.clusterId, leaderId: s.leaderId, term: s.term, role: s.role, commit: s.commitIndex, applied: s.appliedIndex, last: s.lastIndex, snap: s.snapshotIndex, rev: s.revision },
    { id: 1, clusterId: 'c1', leaderId: 1, term: 7, role: 'leader', commit: 90, applied: 88, last: 100, snap: 50, rev: 61 },
  );
  assert.deepEqual(
    s.members.map((m) => [m.id, m.role, m.isLeader, m.matchIndex, m.lag, m.active, m.address, m.httpAddress]),
    [
      [1, 'voter', true, 100, 0, true, '10.0.0.1:1228', '10.0.0.1:1227'],
      [2, 'voter', false, 95, 5, true, '10.0.0.2:1228', '10.0.0.2:1227'],
      [3, 'voter', false, 40, 60, false, '10.0.0.3:1228', ''],
      [4, 'learner', false, 100, 0, true, '10.0.0.4:1228', ''],
    ],
  );
});

test('a follower knows no progress: match, lag and liveness are unknown (null), not zero', () => {
  const st = raftStatus({ id: 2, softState: { leader: 3, role: Role.Follower } });
  const s = clusterStatusOf(st, { ...cfg, id: 2 }, { appliedIndex: 90, snapshotIndex: 0, revision: 1 });
  assert.equal(s.role, 'follower');
  assert.equal(s.leaderId, 3);
  assert.deepEqual(s.members.map((m) => [m.id, m.isLeader, m.matchIndex, m.lag, m.active]), [
    [1, false, null, null, null],
    [2, false, null, null, null],
    [3, true, null, null, null],
    [4, false, null, null, null],
  ]);
});

test('a learner reports itself as a learner whatever its Raft role', () => {
  const st = raftStatus({ id: 4, softState: { leader: 1, role: Role.Follower } });
  assert.equal(clusterStatusOf(st, { ...cfg, id: 4 }, { appliedIndex: 0, snapshotIndex: 0, revision: 1 }).role, 'learner');
});

test('readiness: every check passes on a healthy member, and each failing input fails its own check', () => {
  const ok = { stateMachine: { name: 'state-machine', ok: true, detail: 'verified' }, appliedIndex: 90, storageError: null, stopped: false, accepting: true };
  const failing = (checks: { name: string; ok: boolean }[]) => checks.filter((c) => !c.ok).map((c) => c.name);
  const healthy = readinessChecks(raftStatus({}), ok);
  assert.deepEqual(healthy.map((c) => c.name), ['state-machine', 'rejoin', 'leader', 'applied', 'storage', 'accepting']);
  assert.deepEqual(failing(healthy), []);

  assert.deepEqual(failing(readinessChecks(raftStatus({ rejoining: true }), ok)), ['rejoin']);
  assert.deepEqual(failing(readinessChecks(raftStatus({ softState: { leader: 0, role: Role.Candidate } }), ok)), ['leader']);
  const lagging = raftStatus({ hardState: { term: 7, vote: 1, commit: 90 + READY_APPLY_LAG + 1 } });
  assert.deepEqual(failing(readinessChecks(lagging, ok)), ['applied']);
  assert.deepEqual(failing(readinessChecks(raftStatus({ hardState: { term: 7, vote: 1, commit: 90 + READY_APPLY_LAG } }), ok)), []);
  const broken = readinessChecks(raftStatus({}), { ...ok, storageError: new Error('EIO: fdatasync') });
  assert.deepEqual(failing(broken), ['storage']);
  assert.equal(broken.find((c) => c.name === 'storage')!.detail, 'EIO: fdatasync');
  assert.deepEqual(failing(readinessChecks(raftStatus({}), { ...ok, stopped: true, accepting: false })), ['storage', 'accepting']);
  assert.deepEqual(failing(readinessChecks(raftStatus({}), { ...ok, stateMachine: { name: 'state-machine', ok: false, detail: 'damaged' } })), ['state-machine']);
});
