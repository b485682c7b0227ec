// What a member reports about itself and the cluster (GET /v1/cluster/status, placement-ctl
// status, the dashboard) and whether it is ready to serve (GET /readyz), computed from a Raft
// status and a few numbers the node tracks. Pure: the driver loop owns the state, this only
// words it, so the wording can be tested without a running member.
import type { RaftStatus } from '../../raft/index.js';
import type { ClusterStatus, HealthCheck } from '../http/backend.js';
import type { NodeConfig } from '../config/index.js';

/** The parts of the configuration a status names (this member's own `http` is its entry's fallback). */
export type StatusConfig = Pick<NodeConfig, 'clusterId' | 'id' | 'peers' | 'peerHttp' | 'http'>;

/** What the node tracks beside Raft. */
export interface StatusCounters {
  appliedIndex: number;
  snapshotIndex: number;
  revision: number;
}

/**
 * `st` should already count peers heard from recently as active (membership's withRecentContact),
 * so that the status and the membership checks judge liveness alike.
 */
export function clusterStatusOf(st: RaftStatus, cfg: StatusConfig, at: StatusCounters): ClusterStatus {
  const isLearner = st.confState.learners.includes(cfg.id);
  const role: ClusterStatus['role'] = isLearner ? 'learner' : (st.softState.role as ClusterStatus['role']);
  const progress = new Map(st.progress.map((p) => [p.id, p]));
  const ids = [...st.confState.voters.map((id) => [id, 'voter'] as const), ...st.confState.learners.map((id) => [id, 'learner'] as const)];
  return {
    clusterId: cfg.clusterId,
    id: cfg.id,
    leaderId: st.softState.leader,
    term: st.hardState.term,
    role,
    commitIndex: st.hardState.commit,
    appliedIndex: at.appliedIndex,
    lastIndex: st.lastIndex,
    snapshotIndex: at.snapshotIndex,
    revision: at.revision,
    members: ids.map(([id, r]) => {
      const p = progress.get(id);
      return {
        id,
        address: cfg.peers.get(id) ?? '',
        httpAddress: cfg.peerHttp.get(id) ?? (id === cfg.id ? cfg.http : ''),
        role: r,
        isLeader: id === st.softState.leader,
        // Only a leader tracks its peers' progress: elsewhere these are unknown, not zero.
        matchIndex: p ? p.match : null,
        lag: p ? Math.max(0, st.lastIndex - p.match) : null,
        active: p ? id === cfg.id || p.recentActive : null,
      };
    }),
  };
}

/** Past this many committed entries not yet applied, a member is not ready: its reads would wait. */
export const READY_APPLY_LAG = 1000;

export interface ReadinessInputs {
  stateMachine: HealthCheck;
  appliedIndex: number;
  storageError: Error | null;
  stopped: boolean;
  accepting: boolean;
}

/** The checks of GET /readyz, in the order it lists them; the member is ready when all pass. */
export function readinessChecks(st: RaftStatus, at: ReadinessInputs): HealthCheck[] {
  const lag = st.hardState.commit - at.appliedIndex;
  return [
    at.stateMachine,
    {
      name: 'rejoin',
      ok: !st.rejoining,
      detail: st.rejoining ? 'rejoining after lost state: catching up from the leader before it votes or counts towards a quorum' : 'not rejoining',
    },
    { name: 'leader', ok: st.softState.leader !== 0, detail: st.softState.leader ? `leader ${st.softState.leader}` : 'no leader known' },
    { name: 'applied', ok: lag <= READY_APPLY_LAG, detail: `applied ${at.appliedIndex} of committed ${st.hardState.commit}` },
    { name: 'storage', ok: at.storageError === null && !at.stopped, detail: at.storageError ? at.storageError.message : at.stopped ? 'closed' : 'writable' },
    { name: 'accepting', ok: at.accepting, detail: at.accepting ? 'serving' : 'shutting down' },
  ];
}
