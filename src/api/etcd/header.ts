// The ResponseHeader of every etcd reply, filled as etcd's v3rpc does: this cluster's and this
// member's ids, the member's current Raft term, and the revision the reply reflects (the
// keyspace's current revision when the operation gave none).
import type { ResponseHeader } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { etcdClusterId, etcdMemberId } from './ids.js';
import type { EtcdNode } from './node.js';

export type HeaderFiller = (revision?: number) => ResponseHeader;

export function headerFiller(node: EtcdNode): HeaderFiller {
  const clusterId = etcdClusterId(node.cfg.clusterId);
  const memberId = etcdMemberId(node.cfg.clusterId, node.cfg.id);
  return (revision) => ({ clusterId, memberId, revision: revision || node.keyspace.revision, raftTerm: node.raftTerm });
}
