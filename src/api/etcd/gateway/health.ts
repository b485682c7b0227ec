// etcd's /health: healthy while no alarm is raised (but those named by ?exclude=), a leader is
// known and a linearizable read completes within a second (etcd 3.4 reads through Raft the same
// way).
import type { Alarm } from '../../../../storage/index.js';
import { AlarmType } from '../../../../proto/gen/etcd/etcdserverpb/rpc.js';

export interface HealthNode {
  readonly knownLeader: number;
  readBarrier(serializable: boolean, deadline: number): Promise<void>;
  readonly keyspace: { alarms(): Promise<Alarm[]> };
}

const READ_TIMEOUT_MS = 1000;

/** `excluded`: alarm names (NOSPACE, CORRUPT) that do not count, as etcd's ?exclude= asks. */
export async function etcdHealthy(node: HealthNode, excluded: readonly string[] = []): Promise<boolean> {
  const alarms = await node.keyspace.alarms();
  if (alarms.some((a) => !excluded.includes(AlarmType[a.alarm]))) return false;
  if (!node.knownLeader) return false;
  try {
    await node.readBarrier(false, Date.now() + READ_TIMEOUT_MS);
    return true;
  } catch {
    return false;
  }
}
