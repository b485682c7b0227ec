// The reassignment controller: runs on every member, acts only while that member is the Raft
// leader. Each pass reads the registry and the shard map (after a ReadIndex, so a new leader sees
// everything its predecessor committed), computes each shard's next state with the pure
// reassign() step, and writes it as a compare-and-set on the shard's mod revision. A pass that a
// deposed leader started either lands before the new leader's reads or fails its compare, so a
// step is applied once; a new leader simply finishes what is left. Moves are rate-limited (a
// token bucket) so a flapping broker cannot churn the cluster.
//
// Between passes the leader only asks the stored history whether anything under the registry or
// the shard map changed since the last settled pass: writes to other keys move the revision on
// every tick of a busy cluster, and re-reading both maps (two ReadIndex'd lists) 5× a second for
// them was measurable on the leader (issue 24).
import type { Logger } from '../log.js';
import { REGISTRY_ROOT, SHARDS_ROOT, parseNodeKey, parseShardKey, shardKey } from '../registry/layout.js';
import { candidateOf, nodeFromKv, type Registry } from '../registry/registry.js';
import type { Candidate } from './choose.js';
import { reassign, encodeShard, parseShard, type ShardRecord } from './shard.js';
import { loadOf } from './shards.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';

export interface ControllerOptions {
  /** How often the leader checks for work (a pass runs only when the registry or shard map moved). */
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
  readonly keyspace: {
    readonly revision: number;
    changedUnder(prefixes: readonly string[], afterRevision: number, max: number): Promise<{ changed: boolean; revision: number }>;
  };
  readonly cfg: { readonly requestTimeoutMs: number };
}

const WATCHED = [REGISTRY_ROOT, SHARDS_ROOT];
/** History (revisions or events) a tick looks through before it simply runs a pass. */
const MAX_SCAN = 10_000;

export class PlacementController {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  /** Revision through which nothing is left to do: a complete pass read it, or nothing watched changed since (0: run). */
  private settledAt = 0;
  private tokens: number;
  private lastRefill = Date.now();
  private readonly intervalMs: number;
  private readonly rate: number;
  private readonly burst: number;
  /** Moves applied by this member (tests and the metrics line in the log). */
  moves = 0;
  /** Passes started (tests: an idle leader runs none). */
  passes = 0;

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
      if (await this.quiet()) return;
      this.passes++;
      this.settledAt = await this.pass();
    } catch (err) {
      this.settledAt = 0;
      if (this.host.isLeader()) this.opts.log?.warn({ err: (err as Error).message }, 'placement controller pass failed; retrying');
    } finally {
      this.running = false;
    }
  }

  /**
   * True when the history shows no change under the registry or the shard map since the settled
   * revision, which then moves up to the current one. Any doubt (never settled, a long or
   * compacted gap, an error reading) answers false: a pass is always safe.
   */
  private async quiet(): Promise<boolean> {
    if (this.settledAt === 0) return false;
    try {
      const since = await this.host.keyspace.changedUnder(WATCHED, this.settledAt, MAX_SCAN);
      if (since.changed) return false;
      this.settledAt = since.revision;
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The revision the pass read the maps at when nothing was left to move; 0 (run again) when
   * rate-limited or a compare was lost. Settling at that read's revision, not the one after the
   * pass, keeps a change that lands during the pass for the next check (the pass's own moves show
   * up there too: one more pass then confirms there is nothing left).
   */
  private async pass(): Promise<number> {
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
        if (!this.host.isLeader()) return 0;
        const next = reassign({ shard: s.rec, nodes: live, load: held });
        if (!next) continue;
        this.refill();
        if (this.tokens < 1) return 0;
        this.tokens -= 1;
        // The cluster's own write (the leader's controller), not a request's.
        const w = await kv.put(shardKey(cluster, s.name), encodeShard(next), 0, { modRevision: s.kv.modRevision }, deadline, undefined);
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
    // The older of the two reads (the shard map is read after the registry).
    return settled ? Math.min(regs.revision, shardKvs.revision) : 0;
  }
}
