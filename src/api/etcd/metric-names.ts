// etcd's metric names on this member's /metrics (src/metrics/etcd-names.ts), labelled with the
// member ids and the API level etcd clients see on this member.
import type { NodeConfig } from '../../config/index.js';
import type { Metrics } from '../../metrics/metrics.js';
import { exposeEtcdNames } from '../../metrics/etcd-names.js';
import { ETCD_API_VERSION } from './version.js';
import { etcdMemberId } from './ids.js';
import type { EtcdNode } from './node.js';

export function exposeEtcdMetricNames(metrics: Metrics, node: Pick<EtcdNode, 'keyspace' | 'isLearner'>, cfg: Pick<NodeConfig, 'id' | 'clusterId' | 'quotaBackendBytes'>): void {
  exposeEtcdNames(metrics, {
    memberIdHex: (id) => etcdMemberId(cfg.clusterId, id).toString(16),
    selfId: cfg.id,
    serverVersion: ETCD_API_VERSION,
    // etcd labels its cluster version major.minor.
    clusterVersion: ETCD_API_VERSION.split('.').slice(0, 2).join('.'),
    quotaBackendBytes: cfg.quotaBackendBytes,
    isLearner: () => node.isLearner,
    revision: () => node.keyspace.revision,
    compactRevision: () => node.keyspace.compactRevision,
  });
}
