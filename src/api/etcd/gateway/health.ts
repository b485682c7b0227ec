// etcd's /health: healthy while no alarm is raised, a leader is known and a linearizable read
// completes within a second (etcd 3.4 reads a key through Raft the same way).
import type { Alarm } from '../../../../storage/index.js';

export interface HealthNode {
  readonly knownLeader: number;
  readBarrier(serializable: boolean, deadline: number): Promise<void>;
  readonly keyspace: { alarms(): Promise<Alarm[]> };
}

const READ_TIMEOUT_MS = 1000;

export async function etcdHealthy(node: HealthNode): Promise<boolean> {
  if ((await node.keyspace.alarms()).length > 0) return false;
  if (!node.knownLeader) return false;
  try {
    await node.readBarrier(false, Date.now() + READ_TIMEOUT_MS);
    return true;
  } catch {
    return false;
  }
}
