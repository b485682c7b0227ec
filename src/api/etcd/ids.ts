// etcd identifies a cluster and each member by a uint64; ours have a name (--cluster-id) and a
// small member number (--id). The etcd API reports ids derived from those: stable across
// restarts, the same on every member, distinct between clusters. 53 bits, so they survive
// JavaScript numbers and JSON unchanged (etcd's own are random 64-bit values).
import { createHash } from 'node:crypto';

function id53(text: string): number {
  const h = createHash('sha256').update(text).digest();
  const n = (h.readUInt32BE(0) & 0x1fffff) * 2 ** 32 + h.readUInt32BE(4);
  // Neither 0 (no member) nor 2^53-1: requests name every larger id (etcd's) as that (wire.ts).
  return n === 0 ? 1 : n === Number.MAX_SAFE_INTEGER ? n - 1 : n;
}

/** etcd's cluster_id of the cluster named `clusterId`. */
export function etcdClusterId(clusterId: string): number {
  return id53(`placement-center/cluster/${clusterId}`);
}

/** etcd's member_id of member `id` of the cluster named `clusterId`. */
export function etcdMemberId(clusterId: string, id: number): number {
  return id53(`placement-center/member/${clusterId}/${id}`);
}
