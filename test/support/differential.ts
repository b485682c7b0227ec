// The pair a differential test runs against: a real 3-member etcd 3.4 and a 3-node Placement
// Center, started together before the suite's tests and stopped (every process killed by pid)
// after them.
import { after, before } from 'node:test';
import { startCluster, type Cluster } from './cluster.js';
import { startEtcdCluster, type EtcdCluster } from './etcd.js';

export interface ClusterPair {
  readonly etcd: EtcdCluster;
  readonly ours: Cluster;
}

/** Call inside a describe(): registers the hooks; the getters work inside its tests. */
export function etcdAndOurs(onStop?: () => Promise<unknown>): ClusterPair {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  before(async () => {
    [etcd, ours] = await Promise.all([startEtcdCluster(), startCluster({ nodes: 3 })]);
    await ours.waitForLeader();
  });
  after(async () => {
    await onStop?.();
    await Promise.all([etcd?.stop(), ours?.stop()]);
  });
  return {
    get etcd(): EtcdCluster {
      if (!etcd) throw new Error('etcd is not started (used outside the describe?)');
      return etcd;
    },
    get ours(): Cluster {
      if (!ours) throw new Error('Placement Center is not started (used outside the describe?)');
      return ours;
    },
  };
}

/**
 * `run` against etcd's leader and ours at once, given each one's gRPC address (and the system's
 * name): [etcd's result, ours].
 */
export async function onBoth<T>(pair: ClusterPair, run: (grpcAddress: string, system: 'etcd' | 'ours') => Promise<T>): Promise<[T, T]> {
  const etcdLeader = await pair.etcd.leader();
  const ours = pair.ours.node(await pair.ours.waitForLeader());
  return Promise.all([run(etcdLeader.grpcAddress, 'etcd'), run(ours.grpcAddress, 'ours')]);
}
