// etcd names a cluster and each member by a uint64; ours have a name (--cluster-id) and a member
// number (--id). The etcd API reports ids derived from them: stable across restarts, the same on
// every member, below 2^53 so they survive JavaScript numbers and JSON.
import { createHash } from 'node:crypto';

function id53(text: string): number {
  const h = createHash('sha256').update(text).digest();
  const n = (h.readUInt32BE(0) & 0x1fffff) * 2 ** 32 + h.readUInt32BE(4);
  return n === 0 ? 1 : n;
}

export function etcdIds(clusterId: string, memberId: number): { clusterId: number; memberId: number } {
  return { clusterId: id53(`placement-center/cluster/${clusterId}`), memberId: id53(`placement-center/member/${clusterId}/${memberId}`) };
}
