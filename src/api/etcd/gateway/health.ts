// etcd's /health: healthy while a leader is known, a linearizable read completes within a second
// (etcd 3.4 reads through Raft the same way) and no alarm is raised (but those named by ?exclude=).
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
  if (!node.knownLeader) return false;
  try {
    await node.readBarrier(false, Date.now() + READ_TIMEOUT_MS);
  } catch {
    return false;
  }
  // The alarms after the read: a member answers an alarm change once it computed the result, before
  // its batch is written (and a follower may not have applied it yet), so read before the barrier
  // they could still show an alarm it had already acknowledged clearing. etcd's alarm store is
  // updated by the apply that answers the change.
  const alarms = await node.keyspace.alarms();
  return !alarms.some((a) => !excluded.includes(AlarmType[a.alarm]));
}
