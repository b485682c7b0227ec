// A member's own maintenance view, shared by etcd's Maintenance.Status and the admin HTTP
// GET /v1/maintenance/status (each renders member ids its own way: etcd's ids on the wire, ours
// over HTTP).
import type { Alarm, StateMachine } from '../../storage/index.js';
import { VERSION } from '../version.js';

export interface StatusHost {
  readonly keyspace: Pick<StateMachine, 'dbSize' | 'alarms'>;
  clusterStatus(): { leaderId: number; commitIndex: number; term: number; appliedIndex: number; role: string };
}

export interface MemberMaintenanceStatus {
  version: string;
  dbSize: number;
  /** 0 when no leader is known. */
  leaderId: number;
  /** The commit index (what etcd reports as raftIndex). */
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  isLearner: boolean;
  /** The alarms raised in the cluster (each names its member). */
  alarms: Alarm[];
}

export async function memberStatus(host: StatusHost): Promise<MemberMaintenanceStatus> {
  const st = host.clusterStatus();
  const dbSize = await host.keyspace.dbSize();
  return {
    version: VERSION,
    dbSize,
    leaderId: st.leaderId,
    raftIndex: st.commitIndex,
    raftTerm: st.term,
    raftAppliedIndex: st.appliedIndex,
    isLearner: st.role === 'learner',
    alarms: await host.keyspace.alarms(),
  };
}
