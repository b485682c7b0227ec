// Nemeses: the faults injected while the clients run. The schedule is time-based by nature
// (quiet period, fault held for a while, recovery), driven by the seeded PRNG.
//
//   kill       SIGKILL a node (the leader, a follower or a random one), then restart it
//   pause      SIGSTOP a node (leader/follower/random) for longer than the election timeout, SIGCONT
//   partition  isolate the leader / a random node, minority|majority split, bridge, random halves
//   partition-leader  always isolate the current leader (the stale-leader case)
//   delay      slow, jittery links everywhere
//   restore-old-copy  a member's data directory replaced by an older copy of it (taken at an
//              earlier crash): either all of it, which the operator knows and starts with
//              --rejoin (the procedure for a restore), or only its wal/, which the member must
//              refuse at start (exit 78: its state machine is ahead of its log); the operator
//              then starts it with --rejoin
//   corrupt-sm one state-machine file damaged (a flipped byte in a LevelDB table or log, garbage
//              in CURRENT or a MANIFEST): in a running member (found by the background checksum
//              check) or while it is down (found at start); either way the member must rebuild
//              its state machine from its own snapshot and log and rejoin the run
//   member-replace  a member's disk is lost (the leader, a follower or a random one): kill it,
//              delete its data directory, remove it through the API, add a brand-new member (new
//              id, fresh ports) as a learner, start it with --join, wait until it caught up,
//              promote it; the cluster keeps its size (membership.ts). Not part of `mixed`.
//   member-grow-shrink  turn by turn: grow by one new member (learner, --join, caught up,
//              promoted), then remove a different one (the leader, a follower or a random one),
//              which must exit by itself with code 0; the rounds of the other nemeses in
//              between act on the grown configuration. Not part of `mixed`.
//   mixed      any of kill, pause, partition, partition-leader, delay, chosen at random each round
// A run takes a list; rounds rotate through it.

import { cpSync, existsSync, lstatSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor, type ChaosCluster } from './cluster.js';
import type { PartitionFault } from './proxy.js';
import { MembershipDriver } from './membership.js';

export const NEMESES = ['kill', 'pause', 'partition', 'partition-leader', 'delay', 'restore-old-copy', 'corrupt-sm', 'member-replace', 'member-grow-shrink', 'mixed'] as const;
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

/** Nemeses whose failure fails the run (see loop()). */
const REPORTED_FAILURES = new Set<string>(['member-replace', 'member-grow-shrink', 'restore-old-copy', 'corrupt-sm']);

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  private round = 0;
  /** Per node: a copy of its data directory taken at an earlier crash (restore-old-copy). */
  private readonly backups = new Map<number, string>();
  private backupSeq = 0;
  /** Membership changes made through the cluster's API (member-replace). */
  readonly membership: MembershipDriver;
  /**
   * Membership faults that could not be carried out (a change the cluster never accepted, a new
   * member that never caught up): the run fails on them.
   */
  readonly problems: string[] = [];
  /** member-grow-shrink: the member it added last (not the one it removes next), while grown. */
  private grown: number | null = null;

  constructor(
    private readonly cluster: ChaosCluster,
    private readonly o: NemesisOptions,
  ) {
    this.membership = new MembershipDriver(cluster, o.clock, o.log);
  }

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
        // These change what is on disk or who is a member: one that fails left its fault out
        // (and maybe the cluster in a state no run should pass with), so the run fails too.
        if (REPORTED_FAILURES.has(kind)) this.problems.push(`${kind}: ${(err as Error).message}`);
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
      case 'restore-old-copy':
        await this.restoreOldCopy(holdRange);
        return;
      case 'corrupt-sm':
        await this.corruptStateMachine(holdRange);
        return;
      case 'member-replace': {
        const t = await this.target(this.pick(['leader', 'follower', 'random'] as const));
        const r = this.begin({ nemesis: 'member-replace', what: `replace ${t.role} ${t.id} (disk lost)`, nodes: [t.id] });
        const id = await this.membership.replace(t.id, (step) => {
          r.what = `replace ${t.role} ${t.id} (disk lost): ${step}`;
        });
        r.nodes.push(id);
        r.what = `replace ${t.role} ${t.id} (disk lost): removed, new member ${id} added as a learner, caught up, promoted`;
        this.end(r);
        return;
      }
      case 'member-grow-shrink': {
        if (this.grown === null) {
          const r = this.begin({ nemesis: 'member-grow-shrink', what: `grow: add a member`, nodes: [] });
          const id = await this.membership.grow((step) => {
            r.what = `grow: ${step}`;
          });
          this.grown = id;
          r.nodes.push(id);
          r.what = `grow: new member ${id} added as a learner, caught up, promoted (${c.ids.length} members)`;
          this.end(r);
          return;
        }
        const added = this.grown;
        const leader = await c.currentLeader();
        const pool = c.ids.filter((id) => id !== added && c.isServing(id));
        const how = this.pick(['leader', 'follower', 'random'] as const);
        const followers = pool.filter((id) => id !== leader);
        const victim = how === 'leader' && leader !== null && leader !== added ? leader : this.pick(how === 'follower' && followers.length > 0 ? followers : pool);
        const role = victim === leader ? 'leader' : 'follower';
        const r = this.begin({ nemesis: 'member-grow-shrink', what: `shrink: remove ${role} ${victim}`, nodes: [victim] });
        await this.membership.shrink(victim);
        this.grown = null;
        r.what = `shrink: ${role} ${victim} removed, exited with code 0 (${c.ids.length} members)`;
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

  /**
   * A member's data directory, as an operator would restore it from a backup. The backup is
   * taken at a crash (kill -9, copy, restart: a crash-consistent copy, like a disk snapshot) the
   * first time a member is picked; a later round restores it over whatever came since.
   */
  private async restoreOldCopy(holdRange: [number, number]): Promise<void> {
    const c = this.cluster;
    const withBackup = [...this.backups.keys()].filter((id) => c.isServing(id));
    const leader = await c.currentLeader();
    const t = withBackup.length > 0 ? ((id) => ({ id, role: id === leader ? 'leader' : 'follower' }))(this.pick(withBackup)) : await this.target('follower');
    const backup = this.backups.get(t.id);
    if (backup === undefined) {
      const r = this.begin({ nemesis: 'restore-old-copy', what: `kill -9 ${t.role} ${t.id} and copy its data directory (backup for a later round)`, nodes: [t.id] });
      await c.kill(t.id);
      const dir = join(c.node(t.id).dataDir, `..`, `backup-${t.id}-${++this.backupSeq}`);
      // A disk snapshot's copy of a socket is dead anyway: the member makes its gateway socket anew.
      cpSync(c.node(t.id).dataDir, dir, { recursive: true, filter: (path) => !lstatSync(path).isSocket() });
      this.backups.set(t.id, dir);
      await c.startNode(t.id);
      this.end(r);
      return;
    }
    this.backups.delete(t.id);
    const whole = this.o.rnd() < 0.5;
    const r = this.begin({
      nemesis: 'restore-old-copy',
      what: whole ? `restore ${t.role} ${t.id} from an old copy of its data directory, start it with --rejoin` : `restore the wal/ of ${t.role} ${t.id} from an old copy (state machine kept)`,
      nodes: [t.id],
    });
    await c.kill(t.id);
    const dataDir = c.node(t.id).dataDir;
    if (whole) {
      rmSync(dataDir, { recursive: true, force: true });
      cpSync(backup, dataDir, { recursive: true });
      await c.startNode(t.id, ['--rejoin']);
    } else {
      rmSync(join(dataDir, 'wal'), { recursive: true, force: true });
      cpSync(join(backup, 'wal'), join(dataDir, 'wal'), { recursive: true });
      let refused = false;
      try {
        await c.startNode(t.id);
      } catch {
        refused = c.node(t.id).lastExitCode === 78;
        if (!refused) throw new Error(`node ${t.id} failed to start on an old wal/ without refusing (exit ${c.node(t.id).lastExitCode}):\n${c.logTail(t.id)}`);
      }
      if (refused) {
        this.o.log?.(`[${(this.o.clock() / 1000).toFixed(1)}s] nemesis: node ${t.id} refused to start (exit 78); operator starts it with --rejoin`);
        r.what += ': refused at start, restarted with --rejoin';
        await c.startNode(t.id, ['--rejoin']);
      } else {
        // Nothing was lost (no write reached it since the copy): nothing to refuse.
        r.what += ': started (the copy was not older than its state)';
      }
    }
    await this.sleep(this.uniform(holdRange));
    await this.waitRejoined(t.id);
    this.end(r);
  }

  /** A rejoining member is caught up once its marker is gone. */
  private async waitRejoined(id: number): Promise<void> {
    const marker = join(this.cluster.node(id).dataDir, 'REJOINING');
    await waitFor(async () => !existsSync(marker), `node ${id} to finish rejoining`, 60_000, 200);
  }

  /** Damages one file of a member's live state-machine database. */
  private async corruptStateMachine(holdRange: [number, number]): Promise<void> {
    const c = this.cluster;
    const t = await this.target(this.pick(['follower', 'random'] as const));
    const smDir = join(c.node(t.id).dataDir, 'sm');
    const db = join(smDir, readFileSync(join(smDir, 'CURRENT_DB'), 'utf8').trim());
    const tables = readdirSync(db).filter((n) => n.endsWith('.ldb'));
    // A running member's settled table (the background check finds it), or a file of a stopped one.
    const running = tables.length > 0 && this.o.rnd() < 0.5;
    if (!running) await c.kill(t.id);
    const files = readdirSync(db);
    const candidates = running ? tables : files.filter((n) => /\.(ldb|log)$/.test(n) || n.startsWith('MANIFEST-') || n === 'CURRENT');
    const name = this.pick(candidates);
    const path = join(db, name);
    const b = readFileSync(path);
    let how: string;
    if (name === 'CURRENT' || b.length < 16) {
      writeFileSync(path, 'garbage\n');
      how = 'garbage in';
    } else {
      // Away from the end: a damaged last record of a log is a torn write LevelDB skips anyway.
      const at = Math.floor(this.o.rnd() * Math.max(1, b.length - 64));
      b[at] ^= 1 << Math.floor(this.o.rnd() * 8);
      writeFileSync(path, b);
      how = `flipped a bit at offset ${at} of`;
    }
    if (running) {
      const old = new Date(Date.now() - 3_600_000);
      utimesSync(path, old, old); // "settled": the check skips files LevelDB may still be writing
    }
    const r = this.begin({ nemesis: 'corrupt-sm', what: `${how} ${running ? 'running' : 'stopped'} ${t.role} ${t.id}'s sm file ${name}`, nodes: [t.id] });
    const logBefore = existsSync(c.node(t.id).logFile) ? readFileSync(c.node(t.id).logFile, 'utf8').length : 0;
    if (!running) await c.startNode(t.id);
    try {
      await waitFor(
        async () => /state machine: damaged database (moved aside|kept aside)/.test(readFileSync(c.node(t.id).logFile, 'utf8').slice(logBefore)),
        `node ${t.id} to find the damage and rebuild its state machine`,
        20_000,
        200,
      );
      r.what += ': found, rebuilt';
    } catch {
      // A bit in bytes nothing reads (block padding, a table compacted away meanwhile): harmless,
      // and the final state-hash comparison would show it otherwise.
      r.what += ': not reported (unused bytes?)';
    }
    await this.sleep(this.uniform(holdRange));
    this.end(r);
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
