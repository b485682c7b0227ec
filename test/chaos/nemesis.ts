// Nemeses: the faults injected while the clients run. The schedule is time-based by nature
// (quiet period, fault held for a while, recovery), driven by the seeded PRNG.
//
//   kill       SIGKILL a node (the leader, a follower or a random one), then restart it
//   pause      SIGSTOP a node (leader/follower/random) for longer than the election timeout, SIGCONT
//   partition  isolate the leader / a random node, minority|majority split, bridge, random halves
//   partition-leader  always isolate the current leader (the stale-leader case)
//   delay      slow, jittery links everywhere
//   mixed      any of the above, chosen at random each round
// A run takes a list; rounds rotate through it.

import type { ChaosCluster } from './cluster.js';
import type { PartitionFault } from './proxy.js';

export const NEMESES = ['kill', 'pause', 'partition', 'partition-leader', 'delay', 'mixed'] as const;
export type NemesisKind = (typeof NEMESES)[number];

export interface FaultRecord {
  /** Which nemesis produced it. */
  nemesis: Exclude<NemesisKind, 'mixed'>;
  /** Human-readable description, e.g. "kill leader 2", "isolate 1". */
  what: string;
  /** Nodes directly affected (killed, paused, or on the minority side). */
  nodes: number[];
  start: number;
  /** When the fault was healed (undefined while active). */
  end?: number;
  /** Partition groups, when it is one. */
  groups?: number[][];
}

export interface NemesisOptions {
  kinds: NemesisKind[];
  rnd: () => number;
  clock: () => number;
  /** Quiet time between faults (ms), uniform in [min, max]. */
  quietMs?: [number, number];
  /** How long a fault is held (ms), uniform in [min, max]. */
  holdMs?: [number, number];
  /** Election timeout upper bound (ms): pauses last longer than this. */
  electionTimeoutMs: number;
  log?: (line: string) => void;
}

type Target = 'leader' | 'follower' | 'random';

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private round = 0;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly o: NemesisOptions,
  ) {}

  start(): void {
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Stops scheduling, heals whatever is active, and waits for recovery actions to finish. */
  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loopDone;
    await this.healAll();
  }

  private uniform([a, b]: [number, number]): number {
    return a + this.o.rnd() * (b - a);
  }

  /** Time-based wait that stop() can cut short. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = null;
        resolve();
      };
    });
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.o.rnd() * xs.length)]!;
  }

  private async target(kind: Target): Promise<{ id: number; role: string }> {
    const serving = this.cluster.ids.filter((id) => this.cluster.isServing(id));
    const leader = await this.cluster.currentLeader();
    if (kind === 'leader' && leader !== null) return { id: leader, role: 'leader' };
    if (kind === 'follower') {
      const fs = serving.filter((id) => id !== leader);
      if (fs.length > 0) return { id: this.pick(fs), role: 'follower' };
    }
    const id = this.pick(serving.length > 0 ? serving : this.cluster.ids);
    return { id, role: id === leader ? 'leader' : 'node' };
  }

  private async loop(): Promise<void> {
    const quiet = this.o.quietMs ?? [1500, 3000];
    while (this.running) {
      await this.sleep(this.uniform(quiet));
      if (!this.running) break;
      const kinds = this.o.kinds;
      let kind = kinds[this.round++ % kinds.length]!;
      if (kind === 'mixed') kind = this.pick(['kill', 'pause', 'partition', 'partition-leader', 'delay'] as const);
      try {
        await this.inject(kind);
      } catch (err) {
        this.o.log?.(`nemesis ${kind} failed: ${(err as Error).message}`);
        await this.healAll();
      }
    }
  }

  private begin(rec: Omit<FaultRecord, 'start'>): FaultRecord {
    const r: FaultRecord = { ...rec, start: this.o.clock() };
    this.faults.push(r);
    this.o.log?.(`[${(r.start / 1000).toFixed(1)}s] nemesis: ${r.what}`);
    return r;
  }

  private end(r: FaultRecord): void {
    r.end = this.o.clock();
    this.o.log?.(`[${(r.end / 1000).toFixed(1)}s] nemesis: healed ${r.what}`);
  }

  private async inject(kind: Exclude<NemesisKind, 'mixed'>): Promise<void> {
    const holdRange = this.o.holdMs ?? [2500, 5000];
    const c = this.cluster;
    switch (kind) {
      case 'kill': {
        const t = await this.target(this.pick(['leader', 'follower', 'random'] as const));
        const r = this.begin({ nemesis: 'kill', what: `kill -9 ${t.role} ${t.id}`, nodes: [t.id] });
        await c.kill(t.id);
        await this.sleep(this.uniform(holdRange));
        await c.startNode(t.id);
        this.end(r);
        return;
      }
      case 'pause': {
        const t = await this.target(this.pick(['leader', 'follower', 'random'] as const));
        // Longer than the election timeout, so the others elect a new leader meanwhile.
        const hold = Math.max(this.uniform(holdRange), 2 * this.o.electionTimeoutMs);
        const r = this.begin({ nemesis: 'pause', what: `SIGSTOP ${t.role} ${t.id}`, nodes: [t.id] });
        c.pause(t.id);
        await this.sleep(hold);
        c.resume(t.id);
        this.end(r);
        return;
      }
      case 'partition':
      case 'partition-leader': {
        let f: PartitionFault;
        let nodes: number[];
        const shape = kind === 'partition-leader' ? 'leader' : this.pick(['leader', 'random', 'minority', 'bridge', 'halves'] as const);
        if (shape === 'leader' || shape === 'random') {
          const t = await this.target(shape === 'leader' ? 'leader' : 'random');
          f = c.network.isolate(t.id);
          f.shape = `isolate ${t.role} ${t.id}`;
          nodes = [t.id];
        } else if (shape === 'minority') {
          const leader = await c.currentLeader();
          f = c.network.majorityMinority(this.o.rnd() < 0.5 && leader !== null ? leader : undefined);
          nodes = f.groups[0]!;
        } else if (shape === 'bridge') {
          f = c.network.bridge();
          nodes = f.groups[0]!.filter((n) => f.groups[1]!.includes(n));
        } else {
          f = c.network.randomHalves();
          nodes = [...f.groups].sort((a, b) => a.length - b.length)[0]!;
        }
        const r = this.begin({ nemesis: kind, what: `partition: ${f.shape}`, nodes, groups: f.groups });
        await this.sleep(this.uniform(holdRange));
        c.network.heal();
        this.end(r);
        return;
      }
      case 'delay': {
        const d = Math.round(this.uniform([20, 120]));
        const j = Math.round(this.uniform([10, 100]));
        const r = this.begin({ nemesis: 'delay', what: `delay ${d}±${j} ms on every link`, nodes: [] });
        c.network.setDelayAll(d, j);
        await this.sleep(this.uniform(holdRange));
        c.network.heal();
        this.end(r);
        return;
      }
    }
  }

  /** Undo every fault: heal links, SIGCONT paused nodes, restart killed ones. */
  async healAll(): Promise<void> {
    const c = this.cluster;
    c.network.heal();
    for (const id of c.ids) if (c.node(id).paused) c.resume(id);
    for (const id of c.ids) if (!c.isRunning(id)) await c.startNode(id);
    const now = this.o.clock();
    for (const f of this.faults) {
      if (f.end === undefined) {
        f.end = now;
        this.o.log?.(`[${(now / 1000).toFixed(1)}s] nemesis: healed ${f.what} (final heal)`);
      }
    }
  }
}
