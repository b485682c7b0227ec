// BrokerAgent: what a broker needs to join a Placement Center cluster, in a dozen lines.
//
//   const agent = await BrokerAgent.start(client, { cluster: 'mq1', nodeId: 7, zone: 'eu-1a', addresses: ['10.0.0.7:9092'] });
//   agent.on('assigned', (s) => openReplica(s.shard));
//   agent.on('leader', (s) => lead(s.shard, s.epoch));      // act as leader only at this epoch
//   agent.on('follower', (s) => follow(s.shard, s.leader));
//   agent.on('revoked', (shard) => closeReplica(shard));
//   ...
//   await agent.close();                                   // unregisters (its shards move off)
//
// Liveness is the session's lease (kept alive in the background): the registration is attached
// to it, so the cluster drops it — and reassigns the broker's shards — only when the lease expires.
// If the session expires anyway (a long pause), the agent opens a new one and registers again.
// Assignments come from one listing and then a watch of the cluster's shard keys, resumed from the
// listing's revision, so no change is missed; a compacted watch lists again.
import { EventEmitter } from 'node:events';
import type { PlacementClient } from './client.js';
import type { Session } from './lease.js';
import type { NodeLoad } from './placement.js';
import { WatchCompactedError, type Watch } from './watch.js';

export interface BrokerAgentOptions {
  cluster: string;
  nodeId: number;
  nodeType?: string;
  addresses?: string[];
  zone?: string;
  capacity?: number;
  extendInfo?: string;
  /** Session lease TTL; default 10 s (raised by the cluster to its minimum). */
  ttlMs?: number;
  /** Reports load with a heartbeat this often (0: never); default 0. */
  loadIntervalMs?: number;
  load?: () => NodeLoad;
}

export interface ShardAssignment {
  shard: string;
  replicas: number[];
  leader: number;
  epoch: number;
  status: string;
}

type Events = {
  assigned: [ShardAssignment];
  leader: [ShardAssignment];
  follower: [ShardAssignment];
  revoked: [shard: string];
  registered: [leaseId: number];
  error: [Error];
};

const SHARDS = (cluster: string): string => `/placement/shards/${cluster}/`;

function parse(shard: string, value: Buffer): ShardAssignment {
  const j = JSON.parse(value.toString('utf8')) as { replicas?: number[]; leader?: number; epoch?: number; status?: string };
  return { shard, replicas: (j.replicas ?? []).map(Number), leader: Number(j.leader ?? 0), epoch: Number(j.epoch ?? 0), status: String(j.status ?? '') };
}

export class BrokerAgent extends EventEmitter<Events> {
  private session: Session | undefined;
  private watch: Watch | undefined;
  private closed = false;
  private loadTimer: NodeJS.Timeout | undefined;
  private readonly held = new Map<string, ShardAssignment>();

  private constructor(
    private readonly c: PlacementClient,
    readonly options: BrokerAgentOptions,
  ) {
    super();
  }

  /** Registers the broker and starts following its assignments; resolves once registered. */
  static async start(c: PlacementClient, options: BrokerAgentOptions): Promise<BrokerAgent> {
    const a = new BrokerAgent(c, options);
    await a.register();
    void a.follow();
    if (options.loadIntervalMs && options.load) {
      a.loadTimer = setInterval(() => {
        a.c.registry.heartbeat(options.cluster, options.nodeId, options.load!()).catch((err: unknown) => a.fail(err));
      }, options.loadIntervalMs);
      a.loadTimer.unref();
    }
    return a;
  }

  get nodeId(): number {
    return this.options.nodeId;
  }

  /** The shards this broker holds now. */
  assignments(): ShardAssignment[] {
    return [...this.held.values()];
  }

  get leaseId(): number {
    return this.session?.leaseId ?? 0;
  }

  private async register(): Promise<void> {
    const o = this.options;
    const session = await this.c.session({ ttlMs: o.ttlMs ?? 10_000 });
    this.session = session;
    await this.c.registry.register(o.cluster, o.nodeId, {
      nodeType: o.nodeType,
      addresses: o.addresses,
      zone: o.zone,
      capacity: o.capacity,
      extendInfo: o.extendInfo,
      leaseId: session.leaseId,
    });
    this.emit('registered', session.leaseId);
    session.on('state', (s) => {
      if (s !== 'expired' || this.closed || this.session !== session) return;
      // The cluster dropped the registration: join again under a new lease.
      this.register().catch((err: unknown) => this.fail(err));
    });
  }

  private async follow(): Promise<void> {
    const prefix = SHARDS(this.options.cluster);
    while (!this.closed) {
      try {
        const list = await this.c.placement.listShards(this.options.cluster);
        const seen = new Set<string>();
        for (const s of list.shards) {
          seen.add(s.shardName);
          this.apply(s.shardName, { shard: s.shardName, replicas: s.replicas, leader: s.leader, epoch: s.epoch, status: s.status });
        }
        for (const name of [...this.held.keys()]) if (!seen.has(name)) this.apply(name, null);
        if (this.closed) return;
        this.watch = this.c.watch(prefix, { prefix: true, startRevision: list.revision + 1 });
        for await (const batch of this.watch) {
          for (const e of batch.events) {
            const name = e.kv.key.slice(prefix.length);
            this.apply(name, e.type === 'put' ? parse(name, e.kv.value) : null);
          }
        }
      } catch (err) {
        if (this.closed) return;
        if (!(err instanceof WatchCompactedError)) this.fail(err);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private apply(name: string, s: ShardAssignment | null): void {
    const me = this.options.nodeId;
    const had = this.held.get(name);
    if (!s || !s.replicas.includes(me)) {
      if (had) {
        this.held.delete(name);
        this.emit('revoked', name);
      }
      return;
    }
    this.held.set(name, s);
    if (!had) this.emit('assigned', s);
    const wasLeader = had !== undefined && had.leader === me;
    if (s.leader === me && (!wasLeader || had!.epoch !== s.epoch)) this.emit('leader', s);
    else if (s.leader !== me && (!had || wasLeader || had.leader !== s.leader)) this.emit('follower', s);
  }

  /** An 'error' event only when someone listens (an unheard 'error' would throw). */
  private fail(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  /** Stops following, unregisters and ends the session (the shards move to other brokers). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.loadTimer) clearInterval(this.loadTimer);
    this.watch?.close();
    try {
      await this.c.registry.unregister(this.options.cluster, this.options.nodeId);
    } catch {
      // The session's end removes the registration anyway.
    }
    await this.session?.close();
  }
}
