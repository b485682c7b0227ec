// The reassignment controller: runs on every member, acts only while that member is the Raft
// leader. Each pass reads the registry and the shard map (after a ReadIndex, so a new leader sees
// everything its predecessor committed), computes each shard's next state with the pure
// reassign() step, and writes it as a compare-and-set on the shard's mod revision. A pass that a
// deposed leader started either lands before the new leader's reads or fails its compare, so a
// step is applied once; a new leader simply finishes what is left. Moves are rate-limited (a
// token bucket) so a flapping broker cannot churn the cluster.
import type { Logger } from '../log.js';
import { REGISTRY_ROOT, SHARDS_ROOT, parseNodeKey, parseShardKey, shardKey } from '../registry/layout.js';
import { candidateOf, nodeFromKv, type Registry } from '../registry/registry.js';
import type { Candidate } from './choose.js';
import { reassign, encodeShard, parseShard, type ShardRecord } from './shard.js';
import { loadOf } from './shards.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';

export interface ControllerOptions {
  /** How often the leader checks for work (a pass runs only when the keyspace moved). */
  intervalMs?: number;
  /** Shard moves per second, sustained. */
  movesPerSecond?: number;
  /** Moves allowed in a burst. */
  burst?: number;
  log?: Logger;
  /** Called after each applied move (tests and metrics). */
  onMove?: (m: { cluster: string; shard: string; from: ShardRecord; to: ShardRecord }) => void;
}

export interface ControllerHost {
  isLeader(): boolean;
  readonly keyspace: { readonly revision: number };
  readonly cfg: { readonly requestTimeoutMs: number };
}

export class PlacementController {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** Keyspace revision of the last complete pass with nothing left to do (0: run). */
  private settledAt = 0;
  private tokens: number;
  private lastRefill = Date.now();
  private readonly intervalMs: number;
  private readonly rate: number;
  private readonly burst: number;
  /** Moves applied by this member (tests and the metrics line in the log). */
  moves = 0;

  constructor(
    private readonly host: ControllerHost,
    private readonly registry: Registry,
    private readonly opts: ControllerOptions = {},
  ) {
    this.intervalMs = opts.intervalMs ?? 200;
    this.rate = opts.movesPerSecond ?? 100;
    this.burst = opts.burst ?? 200;
    this.tokens = this.burst;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private refill(): void {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.rate);
    this.lastRefill = now;
  }

  /** One pass if this member leads and something changed since the last settled pass. */
  async tick(): Promise<void> {
    if (this.running) return;
    if (!this.host.isLeader()) {
      this.settledAt = 0;
      return;
    }
    if (this.settledAt !== 0 && this.host.keyspace.revision === this.settledAt) return;
    this.running = true;
    try {
      const settled = await this.pass();
      this.settledAt = settled ? this.host.keyspace.revision : 0;
    } catch (err) {
      this.settledAt = 0;
      if (this.host.isLeader()) this.opts.log?.warn({ err: (err as Error).message }, 'placement controller pass failed; retrying');
    } finally {
      this.running = false;
    }
  }

  /** True when nothing was left to move (false: rate-limited or lost a compare; run again). */
  private async pass(): Promise<boolean> {
    const deadline = Date.now() + this.host.cfg.requestTimeoutMs;
    const kv = this.registry.kv;
    const regs = await kv.list(REGISTRY_ROOT, deadline);
    const shardKvs = await kv.list(SHARDS_ROOT, deadline, true);
    const nodes = new Map<string, Candidate[]>();
    for (const r of regs.kvs) {
      const k = parseNodeKey(Buffer.from(r.key).toString('utf8'));
      if (!k) continue;
      let list = nodes.get(k.cluster);
      if (!list) nodes.set(k.cluster, (list = []));
      list.push(candidateOf(nodeFromKv(k.cluster, k.nodeId, r)));
    }
    const shards = new Map<string, Array<{ name: string; rec: ShardRecord; kv: KeyValue }>>();
    for (const s of shardKvs.kvs) {
      const k = parseShardKey(Buffer.from(s.key).toString('utf8'));
      if (!k) continue;
      let list = shards.get(k.cluster);
      if (!list) shards.set(k.cluster, (list = []));
      list.push({ name: k.shard, rec: parseShard(s.value), kv: s });
    }
    let settled = true;
    for (const [cluster, list] of shards) {
      const live = nodes.get(cluster) ?? [];
      const { held } = loadOf(list.map((s) => s.rec));
      for (const s of list) {
        if (!this.host.isLeader()) return false;
        const next = reassign({ shard: s.rec, nodes: live, load: held });
        if (!next) continue;
        this.refill();
        if (this.tokens < 1) return false;
        this.tokens -= 1;
        const w = await kv.put(shardKey(cluster, s.name), encodeShard(next), 0, { modRevision: s.kv.modRevision }, deadline);
        if (!w.succeeded) {
          settled = false;
          continue;
        }
        for (const r of s.rec.replicas) held.set(r, (held.get(r) ?? 1) - 1);
        for (const r of next.replicas) held.set(r, (held.get(r) ?? 0) + 1);
        this.moves++;
        this.opts.log?.info({ cluster, shard: s.name, replicas: next.replicas, leader: next.leader, epoch: next.epoch, was: { replicas: s.rec.replicas, leader: s.rec.leader, epoch: s.rec.epoch } }, 'shard reassigned');
        this.opts.onMove?.({ cluster, shard: s.name, from: s.rec, to: next });
      }
    }
    return settled;
  }
}
