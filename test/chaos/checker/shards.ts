// The shard-leader check of a chaos run with brokers. Two records are checked:
// - the committed history of every shard's placement record (replicas, leader, epoch), read
//   afterwards by a watch: per shard the epoch never goes back, the leader changes only with a
//   higher epoch (losing its leader, leader 0, needs none), a leader is one of the replicas, and no epoch ever names two leaders;
// - what the brokers were told: every `leader` event a BrokerAgent raised names a (shard, epoch)
//   whose committed leader is that broker — so no two brokers ever led one shard at one epoch.

export interface ShardVersion {
  revision: number;
  shard: string;
  leader: number;
  epoch: number;
  replicas: number[];
}

export interface LeaderClaim {
  broker: number;
  shard: string;
  epoch: number;
}

export interface ShardCheckResult {
  ok: boolean;
  message: string;
  /** Shard placement versions checked. */
  versions: number;
  /** Leader events raised by the brokers. */
  claims: number;
}

/** `versions` in revision order. */
export function checkShardLeaders(versions: readonly ShardVersion[], claims: readonly LeaderClaim[]): ShardCheckResult {
  const bad = (message: string): ShardCheckResult => ({ ok: false, message, versions: versions.length, claims: claims.length });
  const last = new Map<string, ShardVersion>();
  /** `${shard}@${epoch}` → its leader. */
  const leaderAt = new Map<string, number>();
  for (const v of versions) {
    const prev = last.get(v.shard);
    if (prev) {
      if (v.revision < prev.revision) return bad(`${v.shard}: history out of order at revision ${v.revision}`);
      if (v.epoch < prev.epoch) return bad(`${v.shard}: epoch went back from ${prev.epoch} to ${v.epoch} at revision ${v.revision}`);
      if (v.epoch === prev.epoch && v.leader !== prev.leader && prev.leader !== 0 && v.leader !== 0) {
        return bad(`${v.shard}: leader changed from ${prev.leader} to ${v.leader} at revision ${v.revision} without a new epoch (${v.epoch})`);
      }
    }
    if (v.leader !== 0 && !v.replicas.includes(v.leader)) return bad(`${v.shard}: leader ${v.leader} at revision ${v.revision} is not one of its replicas [${v.replicas.join(',')}]`);
    if (v.leader !== 0) {
      const k = `${v.shard}@${v.epoch}`;
      const had = leaderAt.get(k);
      if (had !== undefined && had !== v.leader) return bad(`${v.shard}: epoch ${v.epoch} names two leaders, ${had} and then ${v.leader} (revision ${v.revision})`);
      leaderAt.set(k, v.leader);
    }
    last.set(v.shard, v);
  }
  for (const c of claims) {
    const committed = leaderAt.get(`${c.shard}@${c.epoch}`);
    if (committed !== c.broker) {
      return bad(`broker ${c.broker} was told it leads ${c.shard} at epoch ${c.epoch}, but the committed leader at that epoch is ${committed ?? 'nobody'}`);
    }
  }
  return { ok: true, message: `${versions.length} placement versions of ${last.size} shards: epochs only rise, one leader per epoch; ${claims.length} leader events each match it`, versions: versions.length, claims: claims.length };
}
