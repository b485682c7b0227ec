// Brokers during a chaos run, and their nemesis. Simulated brokers (SDK BrokerAgents, each on its
// own client) join one broker cluster that holds a few shards; while the Placement Center nemesis
// runs, the broker nemesis crashes a random broker now and then — its client is cut off, so its
// lease runs out as a dead process's would — and brings it back once that lease is surely gone.
// Every `leader` event a broker is given is recorded. After the run, the committed history of the
// shards' placement records is read by a watch and checked (checker/shards.ts), and every shard
// must end up fully placed on live brokers.
import { BrokerAgent, PlacementClient, type PlacementClientOptions } from '../../src/client/index.js';
import { nodesPrefix, shardsPrefix } from '../../src/registry/layout.js';
import { checkShardLeaders, type LeaderClaim, type ShardCheckResult, type ShardVersion } from './checker/shards.js';

export interface BrokerCheckResult extends ShardCheckResult {
  brokers: number;
  crashes: number;
}

const CLUSTER = 'chaos';
const SHARD_PREFIX = shardsPrefix(CLUSTER);
/** Every key the brokers and their check touch: the broker cluster's registry and shard map. */
export const BROKER_PREFIXES = [nodesPrefix(CLUSTER), SHARD_PREFIX];
const TTL_MS = 3000;
/** A crashed broker comes back after its lease surely expired (TTL + the expiry bound + margin). */
const DOWN_MS: [number, number] = [TTL_MS + 3000, TTL_MS + 6000];
const CRASH_EVERY_MS: [number, number] = [4000, 9000];

interface Broker {
  id: number;
  client: PlacementClient | null;
  agent: BrokerAgent | null;
}

export class ChaosBrokers {
  private readonly brokers: Broker[];
  private readonly claims: LeaderClaim[] = [];
  private crashes = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly pending = new Set<Promise<void>>();
  private readonly endpoints: string[];

  constructor(
    addresses: ReadonlyArray<{ grpcAddress: string }>,
    private readonly rnd: () => number,
    private readonly log: (line: string) => void,
    count: number,
    private readonly shards: number,
    /** Added to every client's options (TLS and credentials in a secure run). */
    private readonly sdk: Partial<PlacementClientOptions> = {},
    /**
     * When the membership changes during the run: the members of now, which a (re)started broker
     * is configured with (as an operator updates its endpoints); its client then follows the
     * membership with the SDK's discovery.
     */
    private readonly current?: () => string[],
  ) {
    this.endpoints = addresses.map((a) => a.grpcAddress);
    this.brokers = Array.from({ length: count }, (_, i) => ({ id: i + 1, client: null, agent: null }));
  }

  /** Brokers join, the shards are created (2 replicas each), and the broker nemesis starts. */
  async start(): Promise<void> {
    await Promise.all(this.brokers.map((b) => this.up(b)));
    const admin = this.client(0);
    try {
      for (let s = 0; s < this.shards; s++) await admin.placement.createShard(CLUSTER, `shard-${s}`, 2, { deadlineMs: 30_000 });
    } finally {
      admin.close();
    }
    this.schedule();
  }

  private client(i: number): PlacementClient {
    const eps = this.current?.() ?? this.endpoints;
    const n = eps.length;
    return new PlacementClient({ ...this.sdk, endpoints: [...eps.slice(i % n), ...eps.slice(0, i % n)], discoverMembers: this.current !== undefined, deadlineMs: 5000 });
  }

  private async up(b: Broker): Promise<void> {
    const client = this.client(b.id);
    // Joining retries through faults: the Placement Center nemesis may be running.
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const agent = await BrokerAgent.start(client, { cluster: CLUSTER, nodeId: b.id, zone: `zone-${b.id % 2}`, ttlMs: TTL_MS });
        agent.on('error', () => {});
        agent.on('leader', (s) => this.claims.push({ broker: b.id, shard: s.shard, epoch: s.epoch }));
        b.client = client;
        b.agent = agent;
        return;
      } catch (err) {
        if (attempt > 50) throw err;
        await new Promise((r) => setTimeout(r, 300));
      }
    }
    client.close();
  }

  /** A crash: the broker's connection is gone, nothing unregisters, its lease runs out. */
  private async crash(b: Broker): Promise<void> {
    const { client, agent } = b;
    b.client = null;
    b.agent = null;
    client?.close();
    await agent?.close().catch(() => {});
  }

  private schedule(): void {
    if (this.stopped) return;
    const [lo, hi] = CRASH_EVERY_MS;
    this.timer = setTimeout(() => {
      const live = this.brokers.filter((b) => b.agent !== null);
      // Keep at least three brokers, so every shard can be placed again.
      if (live.length > 3) {
        const b = live[Math.floor(this.rnd() * live.length)]!;
        this.crashes++;
        this.log(`broker nemesis: crash broker ${b.id}`);
        const [dlo, dhi] = DOWN_MS;
        const p = this.crash(b)
          .then(() => new Promise((r) => setTimeout(r, dlo + this.rnd() * (dhi - dlo))))
          .then(() => {
            if (this.stopped) return;
            this.log(`broker nemesis: broker ${b.id} back`);
            return this.up(b);
          })
          .catch((err: unknown) => this.log(`broker nemesis: broker ${b.id}: ${(err as Error).message}`));
        this.pending.add(p);
        void p.finally(() => this.pending.delete(p));
      }
      this.schedule();
    }, lo + this.rnd() * (hi - lo));
  }

  /** Stops crashing; crashed brokers come back (the end state is checked with every broker up). */
  async heal(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([...this.pending]);
    await Promise.all(this.brokers.filter((b) => b.agent === null).map((b) => this.up(b)));
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const b of this.brokers) await this.crash(b);
  }

  /** After the cluster converged: every shard fully placed on live brokers, and the leader history checked. */
  async check(startRevision: number, timeoutMs: number, endpoints = this.endpoints): Promise<BrokerCheckResult> {
    const counts = { brokers: this.brokers.length, crashes: this.crashes };
    const client = new PlacementClient({ ...this.sdk, endpoints, discoverMembers: false, deadlineMs: 10_000 });
    try {
      const live = new Set(this.brokers.map((b) => b.id));
      // Placement settles once every broker is back: each shard on two live brokers, one leading.
      const until = Date.now() + timeoutMs;
      let unsettled = '';
      for (;;) {
        const list = await client.placement.listShards(CLUSTER);
        const off = list.shards.filter((s) => s.replicas.length !== 2 || !s.replicas.every((r) => live.has(r)) || !s.replicas.includes(s.leader));
        unsettled = off.map((s) => `${s.shardName} replicas [${s.replicas.join(',')}] leader ${s.leader}`).join('; ');
        if (list.shards.length === this.shards && off.length === 0) break;
        if (Date.now() > until) return { ok: false, message: `placement did not settle: ${list.shards.length} of ${this.shards} shards, unsettled: ${unsettled}`, versions: 0, claims: this.claims.length, ...counts };
        await new Promise((r) => setTimeout(r, 250));
      }
      // The shard records' committed history, up to the newest of them.
      const now = await client.etcd.range(SHARD_PREFIX, { prefix: true });
      const end = Math.max(...now.kvs.map((kv) => kv.modRevision));
      const versions: ShardVersion[] = [];
      const watch = client.watch(SHARD_PREFIX, { prefix: true, startRevision });
      const timer = setTimeout(() => watch.close(), timeoutMs);
      let last = 0;
      try {
        for await (const b of watch) {
          for (const e of b.events) {
            if (e.type !== 'put') continue;
            const j = JSON.parse(e.kv.value.toString('utf8')) as { replicas?: number[]; leader?: number; epoch?: number };
            versions.push({ revision: b.revision, shard: e.kv.key.slice(SHARD_PREFIX.length), leader: Number(j.leader ?? 0), epoch: Number(j.epoch ?? 0), replicas: (j.replicas ?? []).map(Number) });
          }
          last = b.revision;
          if (last >= end) break;
        }
      } finally {
        clearTimeout(timer);
        watch.close();
      }
      if (last < end) return { ok: false, message: `the shard history was read only up to revision ${last} of ${end}`, versions: versions.length, claims: this.claims.length, ...counts };
      const r = checkShardLeaders(versions, this.claims);
      return { ...r, ...counts, message: `${r.message}; ${this.brokers.length} brokers, ${this.crashes} crashes` };
    } finally {
      client.close();
    }
  }
}
