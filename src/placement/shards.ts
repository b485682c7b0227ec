// The shard map's operations (transport-free): create with a deterministic replica choice,
// read, list, delete, status compare-and-set, leader reports and operator moves. Every write is
// a compare-and-set on the shard key's mod revision (or its absence), replicated through Raft.
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { CreateShardRequest, MoveShardRequest, ShardConstraints, ShardInfo } from '../../proto/gen/placement/v1/placement.js';
import { PlacementError, invalidArgument } from '../errors.js';
import { checkClusterName, checkNodeId, checkShardName, shardKey, shardsPrefix } from '../registry/layout.js';
import { candidateOf, type Registry } from '../registry/registry.js';
import { chooseLeader, chooseReplicas, type Candidate, type Constraints } from './choose.js';
import { encodeShard, parseShard, type ShardRecord } from './shard.js';

const MAX_REPLICAS = 16;
const STATUS = /^[A-Za-z0-9._-]{1,64}$/;
const CAS_ROUNDS = 8;

export function shardInfo(cluster: string, shard: string, rec: ShardRecord, kv: KeyValue): ShardInfo {
  return {
    clusterName: cluster,
    shardName: shard,
    replicas: rec.replicas,
    leader: rec.leader,
    epoch: rec.epoch,
    status: rec.status,
    replicationFactor: rec.replicationFactor,
    constraints: { zones: [...(rec.constraints.zones ?? [])], excludeNodes: [...(rec.constraints.excludeNodes ?? [])], nodeType: rec.constraints.nodeType ?? '' },
    modRevision: kv.modRevision,
  };
}

function constraintsOf(c: ShardConstraints | undefined): Constraints {
  if (!c) return {};
  for (const z of c.zones) if (z.length === 0 || z.length > 256) throw invalidArgument('a zone constraint must be 1..256 characters');
  for (const id of c.excludeNodes) checkNodeId(id);
  const out: Constraints = {};
  if (c.zones.length) out.zones = [...c.zones];
  if (c.excludeNodes.length) out.excludeNodes = [...c.excludeNodes];
  if (c.nodeType) out.nodeType = c.nodeType;
  return out;
}

function checkStatus(what: string, s: string): void {
  if (!STATUS.test(s)) throw invalidArgument(`${what} must be 1..64 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(s)}`);
}

/** Shards held and led per node, over a cluster's shard list. */
export function loadOf(shards: Iterable<ShardRecord>): { held: Map<number, number>; led: Map<number, number> } {
  const held = new Map<number, number>();
  const led = new Map<number, number>();
  for (const s of shards) {
    for (const r of s.replicas) held.set(r, (held.get(r) ?? 0) + 1);
    if (s.leader) led.set(s.leader, (led.get(s.leader) ?? 0) + 1);
  }
  return { held, led };
}

export class Shards {
  constructor(private readonly registry: Registry) {}

  private get kv() {
    return this.registry.kv;
  }

  async listRecords(cluster: string, deadline: number, local = false): Promise<{ shards: Array<{ name: string; rec: ShardRecord; kv: KeyValue }>; revision: number }> {
    const prefix = shardsPrefix(cluster);
    const { kvs, revision } = await this.kv.list(prefix, deadline, local);
    return { shards: kvs.map((kv) => ({ name: Buffer.from(kv.key).toString('utf8').slice(prefix.length), rec: parseShard(kv.value), kv })), revision };
  }

  private async liveCandidates(cluster: string, deadline: number): Promise<Candidate[]> {
    return (await this.registry.list(cluster, '', deadline)).nodes.map(candidateOf);
  }

  async create(req: CreateShardRequest, deadline: number, by: CommandCaller | undefined): Promise<ShardInfo> {
    checkClusterName(req.clusterName);
    checkShardName(req.shardName);
    if (req.replicas < 1 || req.replicas > MAX_REPLICAS) throw invalidArgument(`replicas must be 1..${MAX_REPLICAS}, got ${req.replicas}`);
    const status = req.status || 'active';
    checkStatus('status', status);
    const constraints = constraintsOf(req.constraints);
    const key = shardKey(req.clusterName, req.shardName);
    const nodes = await this.liveCandidates(req.clusterName, deadline);
    const { shards } = await this.listRecords(req.clusterName, deadline);
    if (shards.some((s) => s.name === req.shardName)) throw new PlacementError('ALREADY_EXISTS', `shard ${req.shardName} already exists in cluster ${req.clusterName}`);
    const { held, led } = loadOf(shards.map((s) => s.rec));
    const replicas = chooseReplicas({ nodes, load: held, count: req.replicas, constraints });
    const rec: ShardRecord = { replicas, leader: chooseLeader(replicas, led), epoch: 1, status, replicationFactor: req.replicas, constraints };
    const w = await this.kv.put(key, encodeShard(rec), 0, { absent: true }, deadline, by);
    if (!w.succeeded) throw new PlacementError('ALREADY_EXISTS', `shard ${req.shardName} already exists in cluster ${req.clusterName}`);
    return this.get(req.clusterName, req.shardName, deadline);
  }

  async get(cluster: string, shard: string, deadline: number): Promise<ShardInfo> {
    const { rec, kv } = await this.read(cluster, shard, deadline);
    return shardInfo(cluster, shard, rec, kv);
  }

  private async read(cluster: string, shard: string, deadline: number): Promise<{ rec: ShardRecord; kv: KeyValue }> {
    checkClusterName(cluster);
    checkShardName(shard);
    const { kv } = await this.kv.get(shardKey(cluster, shard), deadline);
    if (!kv) throw new PlacementError('NOT_FOUND', `shard ${shard} does not exist in cluster ${cluster}`);
    return { rec: parseShard(kv.value), kv };
  }

  async list(cluster: string, nodeId: number, deadline: number): Promise<{ shards: ShardInfo[]; revision: number }> {
    checkClusterName(cluster);
    if (nodeId !== 0) checkNodeId(nodeId);
    const { shards, revision } = await this.listRecords(cluster, deadline);
    return {
      shards: shards.filter((s) => nodeId === 0 || s.rec.replicas.includes(nodeId)).map((s) => shardInfo(cluster, s.name, s.rec, s.kv)),
      revision,
    };
  }

  async delete(cluster: string, shard: string, deadline: number, by: CommandCaller | undefined): Promise<boolean> {
    checkClusterName(cluster);
    checkShardName(shard);
    return (await this.kv.delete(shardKey(cluster, shard), undefined, deadline, by)).deleted > 0;
  }

  /** Compare-and-set on the status: false (and the current shard) when it is not `expected`. */
  async updateStatus(cluster: string, shard: string, expected: string, next: string, deadline: number, by: CommandCaller | undefined): Promise<{ succeeded: boolean; shard: ShardInfo }> {
    checkStatus('expected_status', expected);
    checkStatus('next_status', next);
    return this.cas(cluster, shard, deadline, by, (rec) => (rec.status !== expected ? null : { ...rec, status: next }));
  }

  /**
   * A broker reports it now leads the shard, having seen `epoch`: it becomes leader at epoch + 1.
   * A stale epoch (another change came first) changes nothing, so two brokers never both get
   * the same epoch.
   */
  async reportLeader(cluster: string, shard: string, nodeId: number, epoch: number, deadline: number, by: CommandCaller | undefined): Promise<{ succeeded: boolean; shard: ShardInfo }> {
    checkNodeId(nodeId);
    const live = new Map((await this.liveCandidates(cluster, deadline)).map((c) => [c.nodeId, c]));
    return this.cas(cluster, shard, deadline, by, (rec) => {
      if (rec.epoch !== epoch) return null;
      if (!rec.replicas.includes(nodeId)) throw new PlacementError('FAILED_PRECONDITION', `node ${nodeId} is not a replica of shard ${shard} (replicas ${rec.replicas.join(',') || 'none'})`);
      if (!live.has(nodeId)) throw new PlacementError('FAILED_PRECONDITION', `node ${nodeId} is not registered (its lease expired): it cannot lead shard ${shard}`);
      return { ...rec, leader: nodeId, epoch: rec.epoch + 1 };
    });
  }

  /** An operator's move: `from` replaced by `to` (or by the placement choice); a moved leader hands over at epoch + 1. */
  async move(req: MoveShardRequest, deadline: number, by: CommandCaller | undefined): Promise<ShardInfo> {
    checkNodeId(req.fromNode);
    if (req.toNode !== 0) checkNodeId(req.toNode);
    const nodes = await this.liveCandidates(req.clusterName, deadline);
    const live = new Map(nodes.map((c) => [c.nodeId, c]));
    const r = await this.cas(req.clusterName, req.shardName, deadline, by, (rec, all) => {
      if (!rec.replicas.includes(req.fromNode)) throw new PlacementError('FAILED_PRECONDITION', `node ${req.fromNode} is not a replica of shard ${req.shardName} (replicas ${rec.replicas.join(',')})`);
      let to = req.toNode;
      if (to !== 0) {
        const c = live.get(to);
        if (!c) throw new PlacementError('FAILED_PRECONDITION', `node ${to} is not registered in cluster ${req.clusterName}`);
        if (c.draining) throw new PlacementError('FAILED_PRECONDITION', `node ${to} is draining`);
        if (rec.replicas.includes(to)) throw new PlacementError('FAILED_PRECONDITION', `node ${to} is already a replica of shard ${req.shardName}`);
      } else {
        to = chooseReplicas({ nodes, load: loadOf(all).held, keep: rec.replicas, count: 1, constraints: rec.constraints })[0]!;
      }
      const replicas = rec.replicas.map((x) => (x === req.fromNode ? to : x));
      if (rec.leader !== req.fromNode) return { ...rec, replicas };
      const leader = replicas.find((x) => x !== to && live.has(x) && !live.get(x)!.draining) ?? to;
      return { ...rec, replicas, leader, epoch: rec.epoch + 1 };
    });
    return r.shard;
  }

  /** Read, decide, write if unchanged; retried a few rounds when another write came first. */
  private async cas(
    cluster: string,
    shard: string,
    deadline: number,
    by: CommandCaller | undefined,
    decide: (rec: ShardRecord, all: ShardRecord[]) => ShardRecord | null,
  ): Promise<{ succeeded: boolean; shard: ShardInfo }> {
    for (let round = 0; round < CAS_ROUNDS; round++) {
      const { rec, kv } = await this.read(cluster, shard, deadline);
      const all = decide.length > 1 ? (await this.listRecords(cluster, deadline, true)).shards.map((s) => s.rec) : [];
      const next = decide(rec, all);
      if (!next) return { succeeded: false, shard: shardInfo(cluster, shard, rec, kv) };
      const w = await this.kv.put(shardKey(cluster, shard), encodeShard(next), 0, { modRevision: kv.modRevision }, deadline, by);
      if (w.succeeded) return { succeeded: true, shard: await this.get(cluster, shard, deadline) };
    }
    throw new PlacementError('ABORTED', `shard ${shard} changed concurrently ${CAS_ROUNDS} times; retry`);
  }
}
