// The shard record as stored under /placement/shards/<cluster>/<shard> (JSON), and the pure
// reassignment step the controller applies to it. Each step is one compare-and-set on the key's
// mod revision, so a step computed twice (a new Raft leader redoing it) is applied once.
import { chooseReplicas, type Candidate, type Constraints } from './choose.js';

export type ShardStatus = string;

export interface ShardRecord {
  replicas: number[];
  /** 0 when no replica is alive to lead. */
  leader: number;
  /** Raised whenever the leader changes: a broker acts as leader only at the epoch it was given. */
  epoch: number;
  status: ShardStatus;
  replicationFactor: number;
  constraints: Constraints;
}

export function parseShard(value: Uint8Array | Buffer): ShardRecord {
  const j = JSON.parse(Buffer.from(value).toString('utf8')) as Partial<ShardRecord>;
  return {
    replicas: Array.isArray(j.replicas) ? j.replicas.map(Number) : [],
    leader: Number(j.leader ?? 0),
    epoch: Number(j.epoch ?? 0),
    status: String(j.status ?? ''),
    replicationFactor: Number(j.replicationFactor ?? (j.replicas?.length ?? 0)),
    constraints: j.constraints ?? {},
  };
}

export function encodeShard(s: ShardRecord): Buffer {
  return Buffer.from(JSON.stringify(s), 'utf8');
}

export interface ReassignInput {
  shard: ShardRecord;
  /** Live registrations of the shard's cluster. */
  nodes: readonly Candidate[];
  /** Shards held per node over the cluster (this shard included). */
  load: ReadonlyMap<number, number>;
}

/**
 * The shard after one reassignment step, or null when nothing needs to move: every replica that
 * is dead (no registration) or draining is replaced where an eligible broker exists (dropped
 * otherwise, when dead), and a new leader — the first surviving live replica — is named with
 * epoch + 1 if the leader was among them. A draining replica stays until its replacement exists,
 * so the shard never loses a live copy to a graceful drain.
 */
export function reassign({ shard, nodes, load }: ReassignInput): ShardRecord | null {
  const live = new Map(nodes.map((n) => [n.nodeId, n]));
  const dead = shard.replicas.filter((r) => !live.has(r));
  const draining = shard.replicas.filter((r) => live.get(r)?.draining === true);
  const leaderGone = shard.leader !== 0 && (!live.has(shard.leader) || live.get(shard.leader)!.draining);
  const noLeader = shard.leader === 0 && shard.replicas.some((r) => live.has(r) && !live.get(r)!.draining);
  const healthy = shard.replicas.filter((r) => live.has(r) && !live.get(r)!.draining);
  // Short of its replication factor (an earlier step found too few brokers): top it up when one joins.
  const short = healthy.length < shard.replicationFactor;
  if (dead.length === 0 && draining.length === 0 && !noLeader && !short) return null;

  const want = Math.max(0, shard.replicationFactor - healthy.length);
  // As many replacements as brokers allow (a shard short of brokers keeps what it has).
  let added: number[] = [];
  for (let n = want; n > 0; n--) {
    try {
      added = chooseReplicas({ nodes, load, keep: shard.replicas, count: n, constraints: shard.constraints });
      break;
    } catch {
      // too few: try one fewer
    }
  }
  const stillDraining = draining.slice(0, Math.max(0, want - added.length));
  const replicas = [...healthy, ...stillDraining, ...added];
  let leader = shard.leader;
  let epoch = shard.epoch;
  // A leaderless shard that has a replica again (one survived, or a broker joined) gets a leader.
  if (leaderGone || (shard.leader === 0 && replicas.length > 0)) {
    // A draining leader with nobody to hand over to keeps leading (it is alive).
    const keepDraining = live.has(shard.leader) ? shard.leader : 0;
    leader = healthy[0] ?? added[0] ?? keepDraining;
    if (leader !== shard.leader) epoch = shard.epoch + 1;
  }
  const next: ShardRecord = { ...shard, replicas, leader, epoch };
  if (sameShard(shard, next)) return null;
  return next;
}

function sameShard(a: ShardRecord, b: ShardRecord): boolean {
  return a.leader === b.leader && a.epoch === b.epoch && a.replicas.length === b.replicas.length && a.replicas.every((r, i) => r === b.replicas[i]);
}
