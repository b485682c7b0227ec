// The deterministic cluster simulator: 3 or 5 (and, through membership changes, more) Raft
// cores in one process, driven by a virtual clock, a faulty network and a per-node disk that
// loses whatever was not synced when the node crashes. Every random choice comes from one
// seeded Rng, so a run is a pure function of its options and replays exactly.
//
// One simulation step is one virtual tick: faults and client operations are injected, every
// live node ticks, then messages that are due are delivered (several rounds per tick, so a
// round trip with zero delay fits into one tick), and Ready batches are processed.
// Safety properties are checked on every observation (see checker.ts); liveness is checked
// after each chaos phase heals and at the end of the run.

import { LostLogError, RaftNode, decodeConfChange, entrySize } from '../../raft/index.js';
import { ConfChangeType, EntryType, MessageType, Role } from '../../raft/types.js';
import type { ConfChange, ConfState, Entry, HardState, Message, RaftConfig, Ready, Snapshot } from '../../raft/types.js';
import { SafetyChecker, Violation } from './checker.js';
import { LogView } from './logview.js';
import { Hasher, Rng } from './rng.js';
import { KEYS, KvState, encodeWrite } from './sm.js';

export type CoreBug =
  | 'voteWithoutLogCheck'
  | 'commitPriorTermByCount'
  | 'noConflictTruncate'
  | 'readWithoutQuorum'
  | 'acceptLostLog'
  | 'rejoinVotes'
  | 'noProbeReset';
export type DriverBug = 'ackBeforeDurable';
export type BugName = CoreBug | DriverBug;
export const BUG_NAMES: readonly BugName[] = [
  'voteWithoutLogCheck',
  'commitPriorTermByCount',
  'noConflictTruncate',
  'readWithoutQuorum',
  'acceptLostLog',
  'rejoinVotes',
  'noProbeReset',
  'ackBeforeDurable',
];

export interface SimOptions {
  seed: number;
  /** Virtual ticks of the main run (the final heal-and-converge phase comes on top). */
  steps: number;
  /** Initial voters: 3 or 5. */
  nodes: number;
  /** A planted bug: one of the core's PlantedBugs, or the driver's ackBeforeDurable. */
  bug?: BugName;
  /** Trace lines kept for the report (default 40). */
  traceTail?: number;
  /** Also trace every send and drop (debugging). */
  traceSends?: boolean;
  /** Turn off the direct check of the leader commit rule (§5.4.2), to see whether its
   *  consequences (lost committed entries) are caught by the other checks too. */
  noCommitRuleCheck?: boolean;
}

export interface SimStats {
  ticks: number;
  finalTicks: number;
  delivered: number;
  dropped: number;
  proposals: number;
  acked: number;
  reads: number;
  readsServed: number;
  crashes: number;
  partitions: number;
  transfers: number;
  compactions: number;
  snapshotsInstalled: number;
  confChanges: number;
  /** Restarts from an older copy of the disk (see staleRestart). */
  staleRestarts: number;
  /** ...of which the restart check refused (the operator then rejoined the member). */
  staleRefused: number;
  leaderTerms: number;
  heals: number;
  maxRecoveryTicks: number;
  maxTerm: number;
  maxCommit: number;
}

export interface SimResult {
  seed: number;
  nodes: number;
  steps: number;
  bug?: BugName;
  violation?: { property: string; detail: string; tick: number };
  trace: string[];
  traceHash: string;
  stats: SimStats;
}

const ELECTION_TICK = 10;
/** Ticks after healing within which a leader must be elected and a new write committed. */
const LIVENESS_BOUND = 40 * ELECTION_TICK;
/** Ticks the final phase may take to converge. */
const FINAL_BOUND = 60 * ELECTION_TICK;
const MAX_EXTRA_NODES = 6;
const MAX_IN_FLIGHT = 5000;
const MAX_MEMBERS = 7;
const EMPTY = new Uint8Array(0);

interface Disk {
  hs: HardState;
  log: LogView;
  snap: Snapshot | undefined;
  /** State machine as of some applied index (written atomically with that index). */
  checkpoint: KvState | undefined;
  /** Unsynced writes (only ever non-empty with the ackBeforeDurable driver bug). */
  pending: (() => void)[];
  /** The member was started in rejoin mode and has not caught up yet (persisted, as the node does). */
  rejoin: boolean;
}

function copyDisk(d: Disk): Disk {
  return { hs: { ...d.hs }, log: d.log.clone(), snap: d.snap, checkpoint: d.checkpoint?.clone(), pending: [], rejoin: d.rejoin };
}

function emptyDisk(): Disk {
  return { hs: { term: 0, vote: 0, commit: 0 }, log: new LogView(), snap: undefined, checkpoint: undefined, pending: [], rejoin: false };
}

interface Proposal {
  term: number;
  writeId: number;
  probe: boolean;
}

interface PendingRead {
  floor: number;
  start: number;
}

interface WaitingRead {
  ctxId: number;
  index: number;
  floor: number;
  start: number;
}

interface SimNode {
  id: number;
  state: 'up' | 'down' | 'removed';
  raft: RaftNode | undefined;
  incarnation: number;
  downUntil: number;
  disk: Disk;
  /** The log as the core asked us to persist it (equals the core's log by the Ready contract). */
  view: LogView;
  sm: KvState;
  hs: HardState;
  role: Role;
  leader: number;
  proposals: Map<number, Proposal>;
  reads: Map<number, PendingRead>;
  waiting: WaitingRead[];
  /** State-machine snapshots this node can ship, by index. */
  /** Snapshots this node can send, by index. */
  snaps: Map<number, Snapshot>;
  /** An older copy of the disk (taken at some earlier start), for the stale-restart fault. */
  backup: Disk | undefined;
  /** Lost state in a stale restart and has not caught up since. */
  stale: boolean;
}

interface InFlight {
  m: Message;
  /** Incarnation of the sender, for snapshot status reports. */
  inc: number;
}

interface FaultProfile {
  drop: number;
  dup: number;
  maxDelay: number;
  crash: number;
  /** Chance that a newly elected leader crashes a few message deliveries later. */
  flap: number;
  partition: number;
  transfer: number;
  conf: number;
  /** Chance that a crashed node comes back with an older copy of its disk. */
  stale: number;
}

const MSG_NAMES: Record<number, string> = {
  [MessageType.Append]: 'App',
  [MessageType.AppendResponse]: 'AppResp',
  [MessageType.Vote]: 'Vote',
  [MessageType.VoteResponse]: 'VoteResp',
  [MessageType.PreVote]: 'PreVote',
  [MessageType.PreVoteResponse]: 'PreVoteResp',
  [MessageType.Snapshot]: 'Snap',
  [MessageType.Heartbeat]: 'HB',
  [MessageType.HeartbeatResponse]: 'HBResp',
  [MessageType.TimeoutNow]: 'TimeoutNow',
  [MessageType.ReadIndex]: 'ReadIndex',
  [MessageType.ReadIndexResponse]: 'ReadIndexResp',
  [MessageType.ReadAck]: 'ReadAck',
};

export function formatMessage(m: Message): string {
  let s = `${MSG_NAMES[m.type] ?? m.type} ${m.from}->${m.to} t${m.term}`;
  if (m.readSeq > 0) s += ` rs=${m.readSeq}`;
  switch (m.type) {
    case MessageType.Append:
      s += ` prev=${m.index}/${m.logTerm} n=${m.entries.length}`;
      if (m.entries.length > 0) s += `[${m.entries[0]!.index}..${m.entries[m.entries.length - 1]!.index}]`;
      s += ` commit=${m.commit}`;
      break;
    case MessageType.AppendResponse:
      s += m.reject ? ` REJECT idx=${m.index} hint=${m.rejectHint}/${m.logTerm}` : ` idx=${m.index}`;
      break;
    case MessageType.Vote:
    case MessageType.PreVote:
      s += ` last=${m.index}/${m.logTerm}`;
      break;
    case MessageType.VoteResponse:
    case MessageType.PreVoteResponse:
      s += m.reject ? ' REJECT' : ' GRANT';
      break;
    case MessageType.Heartbeat:
      s += ` commit=${m.commit}`;
      break;
    case MessageType.Snapshot:
      s += ` snap=${m.snapshot?.meta.index}/${m.snapshot?.meta.term}`;
      break;
    case MessageType.ReadIndexResponse:
      s += ` idx=${m.index}`;
      break;
    default:
      break;
  }
  return s;
}

function encodeCtx(id: number): Uint8Array {
  return new Uint8Array([0x52, id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]);
}

function decodeCtx(b: Uint8Array): number {
  if (b.length !== 5 || b[0] !== 0x52) return -1;
  return ((b[1]! << 24) | (b[2]! << 16) | (b[3]! << 8) | b[4]!) >>> 0;
}

export class Simulation {
  readonly opts: SimOptions;
  private readonly rng: Rng;
  /** Decisions of the stale-restart fault: a separate stream, so that runs in which the fault
   *  never fires are the same as before it existed. */
  private readonly staleRng: Rng;
  /**
   * Entry data each core keeps in memory (RaftNode.evictLog after every Ready; Infinity: none is
   * evicted); the rest is read back from the simulated disk. From its own stream, so that the
   * runs of every other seed stay as they were.
   */
  private readonly logMemory: number;
  private readonly checker = new SafetyChecker();
  private readonly hash = new Hasher();
  private readonly nodes: SimNode[] = [];
  private readonly byId = new Map<number, SimNode>();
  private readonly bootstrap: ConfState;
  private readonly coreBugs: RaftConfig['bugs'];
  private readonly ackBeforeDurable: boolean;
  private readonly cfg: {
    heartbeatTick: number;
    preVote: boolean;
    checkQuorum: boolean;
    maxSizePerMsg: number;
    maxInflightMsgs: number;
    maxInflightBytes: number;
    readyEager: number;
    flushRate: number;
  };

  private now = 0;
  /** In-flight messages bucketed by the tick they are due. */
  private readonly net = new Map<number, InFlight[]>();
  private inFlight = 0;
  private blocked = new Set<number>();
  private partitionUntil = 0;
  private phase: 'chaos' | 'calm' | 'final' = 'calm';
  private phaseEnd = 0;
  private healedAt = 0;
  private probeDone = true;
  private probeNode = 0;
  private probe: { node: number; index: number; term: number } | undefined;
  private profile: FaultProfile;
  private nextId: number;
  private writeSeq = 0;
  private readSeq = 0;
  private ackedMax = 0;
  private toRemove: number[] = [];
  /** Crashes scheduled at a delivery count: a node can fail between any two messages. */
  private crashPlan: { node: number; inc: number; atDelivery: number }[] = [];
  private reports: (() => void)[] = [];
  private inReady = false;
  private readonly traceCap: number;
  private readonly traceRec: (string | Message)[] = [];
  private readonly traceTick: number[] = [];
  private tracePos = 0;
  private traceLen = 0;
  readonly stats: SimStats = {
    ticks: 0,
    finalTicks: 0,
    delivered: 0,
    dropped: 0,
    proposals: 0,
    acked: 0,
    reads: 0,
    readsServed: 0,
    crashes: 0,
    partitions: 0,
    transfers: 0,
    compactions: 0,
    snapshotsInstalled: 0,
    confChanges: 0,
    staleRestarts: 0,
    staleRefused: 0,
    leaderTerms: 0,
    heals: 0,
    maxRecoveryTicks: 0,
    maxTerm: 0,
    maxCommit: 0,
  };

  constructor(opts: SimOptions) {
    this.opts = opts;
    if (opts.nodes < 1 || opts.nodes > 7) throw new Error(`nodes must be 1..7, got ${opts.nodes}`);
    this.rng = new Rng(opts.seed);
    this.staleRng = new Rng(opts.seed ^ 0x57a1e5);
    this.logMemory = new Rng(opts.seed ^ 0xe71c7).pick([Infinity, 0, 0, 200, 4096]);
    this.traceCap = opts.traceTail ?? 40;
    const r = this.rng;
    this.cfg = {
      heartbeatTick: r.pick([1, 1, 2, 3]),
      preVote: r.chance(0.8),
      checkQuorum: r.chance(0.85),
      maxSizePerMsg: r.pick([1, 64, 1024, 1 << 20]),
      maxInflightMsgs: 0,
      maxInflightBytes: r.pick([0, 0, 0, 200]),
      readyEager: r.pick([0.5, 0.9, 1]),
      flushRate: r.pick([0.05, 0.2, 0.5]),
    };
    // One entry per message with one message in flight cannot keep up with the client load.
    this.cfg.maxInflightMsgs = this.cfg.maxSizePerMsg < 64 ? r.pick([8, 256]) : r.pick([1, 2, 8, 256]);
    const bug = opts.bug;
    this.ackBeforeDurable = bug === 'ackBeforeDurable';
    this.coreBugs = bug !== undefined && bug !== 'ackBeforeDurable' ? { [bug]: true } : undefined;
    const voters: number[] = [];
    for (let i = 1; i <= opts.nodes; i++) voters.push(i);
    this.bootstrap = { voters, learners: [] };
    this.nextId = opts.nodes + 1;
    this.profile = this.calmProfile();
    for (const id of voters) this.addNode(id);
  }

  // ------------------------------------------------------------------ running

  run(): SimResult {
    let violation: SimResult['violation'];
    try {
      this.enterChaos();
      for (let s = 0; s < this.opts.steps; s++) this.step();
      this.finalPhase();
    } catch (e) {
      if (this.inReady) this.inReady = false;
      if (e instanceof Violation) violation = { property: e.property, detail: e.detail, tick: this.now };
      else {
        const err = e as Error;
        violation = {
          property: 'exception',
          detail: `${err?.message ?? String(e)}\n${(err?.stack ?? '').split('\n').slice(1, 6).join('\n')}`,
          tick: this.now,
        };
      }
    }
    return {
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      steps: this.opts.steps,
      bug: this.opts.bug,
      violation,
      trace: this.traceLines(),
      traceHash: this.hash.hex(),
      stats: this.stats,
    };
  }

  private step(): void {
    this.now++;
    this.stats.ticks++;
    this.hash.add(this.now);
    const r = this.rng;

    // Phase transitions.
    if (this.phase === 'chaos' && this.now >= this.phaseEnd) this.heal();
    else if (this.phase === 'calm' && this.probeDone && this.now >= this.phaseEnd) this.enterChaos();

    if (this.phase === 'chaos') {
      for (const n of this.nodes) if (n.state === 'down' && n.downUntil <= this.now) this.restart(n);
      if (this.partitionUntil > 0 && this.now >= this.partitionUntil) this.healPartition();
      const p = this.profile;
      if (r.chance(p.crash)) this.crashRandom();
      if (this.partitionUntil === 0 && r.chance(p.partition)) this.partitionRandom();
      if (r.chance(p.transfer)) this.transferRandom();
      if (r.chance(p.conf)) this.confChangeRandom();
    }
    if (r.chance(this.phase === 'chaos' ? 0.45 : 0.25)) this.proposeRandom(r.range(1, this.phase === 'chaos' ? 4 : 2));
    if (r.chance(0.15)) this.readRandom();
    if (r.chance(0.02)) this.compactRandom();
    if (this.phase === 'calm') this.livenessProbe();

    this.tickAll();
    if (this.ackBeforeDurable) {
      for (const n of this.nodes) if (n.disk.pending.length > 0 && r.chance(this.cfg.flushRate)) this.sync(n);
    }
  }

  /** Ticks every live node, delivers due messages, processes Readies. */
  private tickAll(): void {
    const order = this.rng.shuffle(this.nodes.filter((n) => n.state === 'up'));
    for (const n of order) {
      if (n.state !== 'up') continue;
      n.raft!.tick();
      this.maybeReady(n);
    }
    for (let round = 0; round < 16; round++) {
      if (!this.deliverDue()) break;
    }
    for (const n of order) if (n.state === 'up' && this.rng.chance(0.95)) this.drainReady(n);
    this.runReports();
    this.carryOver();
  }

  private heal(): void {
    this.phase = 'calm';
    this.stats.heals++;
    this.healPartition();
    for (const n of this.nodes) if (n.state === 'down') this.restart(n);
    this.profile = this.calmProfile();
    this.healedAt = this.now;
    this.probeDone = false;
    this.probeNode = 0;
    this.probe = undefined;
    this.phaseEnd = this.now + this.rng.range(10, 40);
    this.tr(`heal: all partitions healed, all nodes up`);
  }

  private enterChaos(): void {
    const r = this.rng;
    this.phase = 'chaos';
    this.phaseEnd = this.now + r.range(100, 400);
    this.profile = {
      drop: r.pick([0, 0.01, 0.05, 0.15, 0.3]),
      dup: r.pick([0, 0.01, 0.05, 0.15]),
      maxDelay: r.pick([1, 2, 4, 10]),
      crash: r.pick([0.002, 0.005, 0.01, 0.02]),
      flap: r.pick([0, 0, 0.1, 0.3]),
      partition: r.pick([0.005, 0.01, 0.03]),
      transfer: r.pick([0, 0.005, 0.02]),
      conf: r.pick([0, 0.005, 0.02]),
      stale: this.staleRng.pick([0, 0.1, 0.3]),
    };
    const p = this.profile;
    this.tr(`chaos until t${this.phaseEnd}: drop=${p.drop} dup=${p.dup} delay<=${p.maxDelay} crash=${p.crash} part=${p.partition}`);
  }

  private calmProfile(): FaultProfile {
    return { drop: 0, dup: 0, maxDelay: 2, crash: 0, flap: 0, partition: 0, transfer: 0, conf: 0, stale: 0 };
  }

  /** After healing: a leader must emerge and commit a fresh write within LIVENESS_BOUND. */
  private livenessProbe(): void {
    if (this.probeDone) return;
    if (this.now - this.healedAt > LIVENESS_BOUND) {
      throw new Violation('liveness', `no leader committed a new write within ${LIVENESS_BOUND} ticks after healing at t${this.healedAt}; ${this.describe()}`);
    }
    const pr = this.probe;
    if (pr !== undefined) {
      const cur = this.byId.get(pr.node);
      if (cur !== undefined && cur.state === 'up' && cur.role === Role.Leader && cur.hs.term === pr.term && cur.proposals.has(pr.index)) return;
    }
    const l = this.currentLeader();
    if (l === undefined) return;
    this.propose(l, true);
  }

  private finalPhase(): void {
    this.heal();
    this.phase = 'final';
    const start = this.now;
    for (;;) {
      if (this.now - start > FINAL_BOUND) {
        throw new Violation('liveness', `cluster did not converge within ${FINAL_BOUND} ticks of the final heal; ${this.describe()}`);
      }
      this.now++;
      this.stats.finalTicks++;
      this.hash.add(this.now);
      this.livenessProbe();
      this.tickAll();
      if (this.probeDone && this.converged()) break;
    }
    // Every write acknowledged to a client is applied, identically, on every member.
    const l = this.currentLeader()!;
    for (const n of this.members(l)) {
      if (n.sm.applied < this.ackedMax) {
        throw new Violation('acked-write-durability', `node ${n.id} applied only up to ${n.sm.applied}, below acknowledged write at ${this.ackedMax}`);
      }
    }
  }

  private members(l: SimNode): SimNode[] {
    const cs = l.raft!.status().confState;
    const out: SimNode[] = [];
    for (const id of [...cs.voters, ...cs.learners]) {
      const n = this.byId.get(id);
      if (n !== undefined) out.push(n);
    }
    return out;
  }

  private converged(): boolean {
    const l = this.currentLeader();
    if (l === undefined) return false;
    const st = l.raft!.status();
    if (st.hardState.commit !== st.lastIndex || l.sm.applied !== st.lastIndex) return false;
    for (const n of this.members(l)) {
      if (n.state !== 'up') return false;
      if (n.sm.applied !== l.sm.applied) return false;
      if (n.sm.chain !== l.sm.chain) {
        throw new Violation('state-machine-safety', `nodes ${l.id} and ${n.id} applied up to ${n.sm.applied} with different state`);
      }
    }
    return true;
  }

  private describe(): string {
    return this.nodes
      .filter((n) => n.state !== 'removed')
      .map((n) => {
        if (n.state === 'down') return `${n.id}:down`;
        const st = n.raft!.status();
        return `${n.id}:${st.softState.role}/t${st.hardState.term}/commit${st.hardState.commit}/last${st.lastIndex}/applied${n.sm.applied}/voters[${st.confState.voters}]`;
      })
      .join(' ');
  }

  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes) {
      if (n.state !== 'up' || n.role !== Role.Leader) continue;
      if (best === undefined || n.hs.term > best.hs.term) best = n;
    }
    return best;
  }

  // ------------------------------------------------------------------ nodes and disks

  private addNode(id: number): SimNode {
    const n: SimNode = {
      id,
      state: 'down',
      raft: undefined,
      incarnation: 0,
      downUntil: 0,
      disk: emptyDisk(),
      view: new LogView(),
      sm: new KvState(),
      hs: { term: 0, vote: 0, commit: 0 },
      role: Role.Follower,
      leader: 0,
      proposals: new Map(),
      reads: new Map(),
      waiting: [],
      snaps: new Map(),
      backup: undefined,
      stale: false,
    };
    this.nodes.push(n);
    this.byId.set(id, n);
    this.restart(n);
    return n;
  }

  /** (Re)start a node from its durable disk. */
  private restart(n: SimNode): void {
    let raft: RaftNode;
    try {
      raft = this.startCore(n);
    } catch (e) {
      if (!(e instanceof LostLogError)) throw e;
      // The restart check refused a disk that lost acknowledged entries. The operator's way
      // back (docs: storage/README.md): start the member in rejoin mode, keeping its data when
      // only the commit index is beyond the log, on an empty data directory when its state
      // machine is ahead of the log.
      this.stats.staleRefused++;
      this.tr(`start ${n.id} refused: ${e.message}; operator rejoins it${e.what === 'applied' ? ' on an empty disk' : ''}`);
      if (e.what === 'applied') n.disk = emptyDisk();
      n.disk.rejoin = true;
      raft = this.startCore(n);
    }
    n.raft = raft;
    if (n.disk.rejoin) n.hs = { ...raft.status().hardState };
    else n.stale = false; // (only with the planted bug acceptLostLog: it runs on as if nothing was lost)
    n.state = 'up';
    const d = n.disk;
    this.tr(
      `start ${n.id} (incarnation ${n.incarnation}): term=${d.hs.term} vote=${d.hs.vote} commit=${d.hs.commit} snap=${d.snap?.meta.index ?? 0} ` +
        `last=${d.log.lastIndex()} applied=${n.sm.applied}${d.rejoin ? ' REJOINING' : ''}`,
    );
    this.hash.add(0x5157).add(n.id);
    // The backup an operator could restore later: this start's disk, now and then.
    if (n.backup === undefined || this.staleRng.chance(0.3)) n.backup = copyDisk(d);
  }

  /** Some member lost state and has not caught up yet. */
  private recovering(): boolean {
    return this.nodes.some((x) => x.state !== 'removed' && (x.stale || x.disk.rejoin));
  }

  /**
   * Some log holds a ConfChange above every commit index. While one member rejoins (grants no
   * vote) the others must elect a leader without it, as if it were down; a voter whose own log
   * removes it cannot campaign, and with the longest log it votes for nobody else. So the
   * stale fault waits for membership changes to settle, and none is started during a rejoin.
   */
  private confChangeInFlight(): boolean {
    let commit = 0;
    for (const x of this.nodes) if (x.state !== 'removed') commit = Math.max(commit, x.state === 'up' ? x.hs.commit : x.disk.hs.commit);
    for (const x of this.nodes) {
      if (x.state === 'removed') continue;
      const log = x.state === 'up' ? x.view : x.disk.log;
      for (let i = Math.max(commit, log.snapIndex) + 1; i <= log.lastIndex(); i++) {
        if (log.entry(i)!.type === EntryType.ConfChange) return true;
      }
    }
    return false;
  }

  private startCore(n: SimNode): RaftNode {
    const d = n.disk;
    const snapMeta = d.snap?.meta;
    if (d.log.snapIndex !== (snapMeta?.index ?? 0)) throw new Error(`driver: disk log of ${n.id} does not start at its snapshot`);
    let sm: KvState;
    if (d.checkpoint !== undefined) sm = d.checkpoint.clone();
    else if (d.snap !== undefined) sm = KvState.deserialize(d.snap.data);
    else sm = new KvState();
    n.sm = sm;
    n.view = d.log.clone();
    n.hs = { ...d.hs };
    n.role = Role.Follower;
    n.leader = 0;
    n.proposals.clear();
    n.reads.clear();
    n.waiting = [];
    n.snaps.clear();
    if (d.snap !== undefined) n.snaps.set(d.snap.meta.index, d.snap);
    n.incarnation++;
    const rng = this.rng.fork();
    return new RaftNode(
      {
        id: n.id,
        electionTick: ELECTION_TICK,
        heartbeatTick: this.cfg.heartbeatTick,
        random: () => rng.next(),
        preVote: this.cfg.preVote,
        checkQuorum: this.cfg.checkQuorum,
        maxSizePerMsg: this.cfg.maxSizePerMsg,
        maxInflightMsgs: this.cfg.maxInflightMsgs,
        maxInflightBytes: this.cfg.maxInflightBytes,
        bugs: this.coreBugs,
        loadEntries: (lo, hi, maxBytes) => readBack(n.disk.log, lo, hi, maxBytes),
      },
      {
        hardState: { ...d.hs },
        snapshot: snapMeta,
        entries: d.log.entries(),
        // A member added later starts as a real joiner does: knowing no configuration; it learns
        // one from a snapshot.
        confState: n.id <= this.opts.nodes ? this.bootstrap : { voters: [], learners: [] },
        applied: sm.applied,
        rejoin: d.rejoin,
      },
    );
  }

  /**
   * The crashed node comes back with an older copy of its durable state, in one of two ways:
   * - its log lost its end, including entries below the durable commit index (a disk that
   *   dropped writes, or an old copy of the log under a newer hard state and state machine):
   *   the restart check refuses it (restart());
   * - an operator restored an older backup of the whole disk. No check can tell it from a
   *   member that was merely down, so the procedure for a restore is to start it in rejoin mode.
   * Only one member at a time: with two members having lost the same entries, a committed entry
   * can be gone from every disk, which no protocol can undo.
   */
  private staleRestart(n: SimNode): void {
    if (this.recovering() || this.confChangeInFlight()) return;
    const d = n.disk;
    const r = this.staleRng;
    if (n.backup !== undefined && r.chance(0.5)) {
      n.disk = copyDisk(n.backup);
      n.disk.rejoin = true;
      this.tr(`stale: ${n.id} restored from a backup (commit ${n.disk.hs.commit}, last ${n.disk.log.lastIndex()}; was ${d.hs.commit}/${d.log.lastIndex()})`);
    } else {
      if (d.hs.commit <= d.log.snapIndex) return;
      const keep = r.range(d.log.snapIndex, d.hs.commit - 1);
      d.log.truncateAfter(keep);
      this.tr(`stale: ${n.id} lost its log after ${keep} (commit ${d.hs.commit}, applied ${d.checkpoint?.applied ?? d.snap?.meta.index ?? 0})`);
    }
    n.stale = true;
    this.stats.staleRestarts++;
    this.hash.add(0x57a1).add(n.id);
  }

  private crash(n: SimNode, downFor: number): void {
    n.state = 'down';
    n.raft = undefined;
    n.downUntil = this.now + downFor;
    const lost = n.disk.pending.length;
    n.disk.pending = [];
    this.stats.crashes++;
    this.tr(`crash ${n.id} for ${downFor} ticks${lost > 0 ? ` (lost ${lost} unsynced writes)` : ''}`);
    this.hash.add(0xc2a5).add(n.id);
    if (this.phase === 'chaos' && this.staleRng.chance(this.profile.stale)) this.staleRestart(n);
  }

  /** Run (or, with ackBeforeDurable, queue) a durable write. */
  private write(n: SimNode, op: () => void): void {
    if (this.ackBeforeDurable) n.disk.pending.push(op);
    else op();
  }

  private sync(n: SimNode): void {
    const ops = n.disk.pending;
    n.disk.pending = [];
    for (const op of ops) op();
  }

  // ------------------------------------------------------------------ Ready processing

  private maybeReady(n: SimNode): void {
    if (this.rng.chance(this.cfg.readyEager)) this.drainReady(n);
  }

  private drainReady(n: SimNode): void {
    for (let k = 0; k < 4 && n.state === 'up' && n.raft!.hasReady(); k++) this.handleReady(n);
    this.applyRemovals();
  }

  private handleReady(n: SimNode): void {
    const raft = n.raft!;
    const rd = raft.ready();
    this.inReady = true;
    if (this.ackBeforeDurable) {
      // Planted bug: the node answers before its log and vote are on disk.
      this.sendAll(n, rd);
      this.persist(n, rd);
    } else {
      this.persist(n, rd);
      this.sendAll(n, rd);
    }
    this.apply(n, rd);
    raft.advance(rd);
    if (this.logMemory !== Infinity) raft.evictLog(this.logMemory, n.disk.log.lastIndex());
    this.inReady = false;
    if (n.disk.rejoin && !raft.status().rejoining) {
      // Caught up (its log is durable by now): the member votes again after a restart too.
      const d = n.disk;
      this.write(n, () => {
        d.rejoin = false;
      });
      n.stale = false;
      this.tr(`node ${n.id} caught up with the leader: rejoin complete`);
    }
    this.serveReads(n);
  }

  private persist(n: SimNode, rd: Ready): void {
    const d = n.disk;
    if (rd.snapshot !== undefined) {
      const s = rd.snapshot;
      n.view.reset(s.meta.index, s.meta.term);
      this.write(n, () => {
        d.snap = s;
        d.log.reset(s.meta.index, s.meta.term);
        d.checkpoint = KvState.deserialize(s.data);
      });
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0]!.index;
      this.checker.observeEntries(`node ${n.id} persisting`, first - 1, n.view.term(first - 1), rd.entries);
      const err = n.view.append(rd.entries);
      if (err !== undefined) throw new Violation('ready-contract', `node ${n.id}: ${err}`);
      const ents = rd.entries;
      this.write(n, () => {
        const e2 = d.log.append(ents);
        if (e2 !== undefined) throw new Error(`driver: disk append on ${n.id}: ${e2}`);
      });
      this.hash.add(0xe7).add(n.id).add(first).add(ents.length);
    }
    if (rd.hardState !== undefined) {
      const hs = rd.hardState;
      const prev = n.hs;
      if (hs.term < prev.term) throw new Violation('hard-state', `node ${n.id} term went back from ${prev.term} to ${hs.term}`);
      if (hs.term === prev.term && prev.vote !== 0 && hs.vote !== prev.vote) {
        throw new Violation('single-vote-per-term', `node ${n.id} changed its vote in term ${hs.term} from ${prev.vote} to ${hs.vote}`);
      }
      if (hs.commit < prev.commit) throw new Violation('hard-state', `node ${n.id} commit went back from ${prev.commit} to ${hs.commit}`);
      if (!this.opts.noCommitRuleCheck && n.role === Role.Leader && hs.term === prev.term && hs.commit > prev.commit && n.view.term(hs.commit) !== hs.term) {
        // Figure 2 / §5.4.2: a leader commits by counting replicas only entries of its own term.
        throw new Violation(
          'leader-commit-rule',
          `leader ${n.id} of term ${hs.term} advanced its commit index to ${hs.commit}, an entry of term ${n.view.term(hs.commit)}`,
        );
      }
      if (hs.commit > n.view.lastIndex()) {
        throw new Violation('hard-state', `node ${n.id} commit ${hs.commit} beyond its last index ${n.view.lastIndex()}`);
      }
      n.hs = { ...hs };
      const copy = n.hs;
      this.write(n, () => {
        d.hs = copy;
      });
      if (hs.term > this.stats.maxTerm) this.stats.maxTerm = hs.term;
      if (hs.commit > this.stats.maxCommit) this.stats.maxCommit = hs.commit;
      this.hash.add(0x45).add(hs.term).add(hs.vote).add(hs.commit);
    }
    if (rd.softState !== undefined) {
      const wasLeader = n.role === Role.Leader;
      n.role = rd.softState.role;
      n.leader = rd.softState.leader;
      if (n.role === Role.Leader && !wasLeader) {
        const term = n.raft!.status().hardState.term;
        if (term !== n.hs.term) throw new Error(`driver: leader ${n.id} term ${term} differs from its hard state ${n.hs.term}`);
        this.checker.observeLeader(n.id, term, n.view);
        this.stats.leaderTerms++;
        if (this.phase === 'chaos' && this.rng.chance(this.profile.flap)) {
          this.crashPlan.push({ node: n.id, inc: n.incarnation, atDelivery: this.stats.delivered + this.rng.range(1, 30) });
        }
        this.tr(`node ${n.id} is leader of term ${term} (last=${n.view.lastIndex()})`);
      }
    }
  }

  private sendAll(n: SimNode, rd: Ready): void {
    for (const m of rd.messages) {
      switch (m.type) {
        case MessageType.VoteResponse:
          if (!m.reject) this.checker.observeVoteGranted(n.id, m.term, m.to);
          break;
        case MessageType.Append:
          this.leaderMessage(n, m.term);
          if (m.entries.length > 0) this.checker.observeEntries(`node ${n.id} sending to ${m.to}`, m.index, m.logTerm, m.entries);
          break;
        case MessageType.Heartbeat:
        case MessageType.TimeoutNow:
          this.leaderMessage(n, m.term);
          break;
        case MessageType.Snapshot: {
          this.leaderMessage(n, m.term);
          // As the node's driver: the snapshot at the core's compaction point, else the newest one
          // (the core accepts a newer one), else none yet — take one and let the core retry.
          const newest = Math.max(-1, ...n.snaps.keys());
          const snap = n.snaps.get(m.snapshot!.meta.index) ?? (newest >= m.snapshot!.meta.index ? n.snaps.get(newest) : undefined);
          if (snap === undefined) {
            const inc = n.incarnation;
            this.tr(`node ${n.id} has no snapshot at ${m.snapshot!.meta.index} for ${m.to}: takes one`);
            this.reports.push(() => {
              if (n.state === 'up' && n.incarnation === inc) this.snapshotNow(n);
            });
            this.dropped(inc, m, false);
            continue;
          }
          const { meta, data } = snap;
          const sm = KvState.deserialize(data);
          if (sm.applied !== meta.index || sm.appliedTerm !== meta.term) {
            throw new Violation('snapshot', `node ${n.id} sends snapshot ${meta.index}/${meta.term}, but its state is at ${sm.applied}/${sm.appliedTerm}`);
          }
          this.send(n, { ...m, snapshot: { meta, data } });
          continue;
        }
        default:
          break;
      }
      this.send(n, m);
    }
  }

  /** Only a leader sends Append/Heartbeat/Snapshot/TimeoutNow: election safety on every one. */
  private leaderMessage(n: SimNode, term: number): void {
    const l = this.checker.leaders.get(term);
    if (l !== undefined && l !== n.id) {
      throw new Violation('election-safety', `node ${n.id} acts as leader of term ${term}, whose leader is ${l}`);
    }
  }

  private apply(n: SimNode, rd: Ready): void {
    const d = n.disk;
    let changed = false;
    if (rd.snapshot !== undefined) {
      const s = rd.snapshot;
      const sm = KvState.deserialize(s.data);
      if (sm.applied !== s.meta.index || sm.appliedTerm !== s.meta.term) {
        throw new Violation('snapshot', `node ${n.id} got snapshot ${s.meta.index}/${s.meta.term} holding state at ${sm.applied}/${sm.appliedTerm}`);
      }
      if (s.meta.index < n.sm.applied) {
        throw new Violation('snapshot', `node ${n.id} asked to install snapshot ${s.meta.index} below its applied index ${n.sm.applied}`);
      }
      this.checker.observeSnapshot(n.id, s.meta.index, s.meta.term, sm.chain);
      n.sm = sm;
      n.snaps.set(s.meta.index, s);
      this.trimSnapData(n);
      for (const idx of Array.from(n.proposals.keys())) if (idx <= s.meta.index) n.proposals.delete(idx);
      this.stats.snapshotsInstalled++;
      this.tr(`node ${n.id} installs snapshot ${s.meta.index}/${s.meta.term}`);
      this.hash.add(0x5a).add(n.id).add(s.meta.index);
    }
    for (const e of rd.committedEntries) {
      if (e.index !== n.sm.applied + 1) {
        throw new Violation('apply-order', `node ${n.id} asked to apply ${e.index} after ${n.sm.applied}`);
      }
      if (e.index > n.hs.commit) {
        throw new Violation('apply-order', `node ${n.id} asked to apply ${e.index} beyond its commit index ${n.hs.commit}`);
      }
      const isConf = e.type === EntryType.ConfChange;
      const dh = n.sm.apply(e.index, e.term, e.data, isConf);
      this.checker.observeApply(n.id, n.hs.term, e, dh, n.sm.chain);
      changed = true;
      if (isConf) {
        const cc = decodeConfChange(e.data);
        if (cc.type === ConfChangeType.RemoveNode) this.toRemove.push(cc.nodeId);
      }
      const p = n.proposals.get(e.index);
      if (p !== undefined) {
        n.proposals.delete(e.index);
        if (p.term === e.term) {
          // Acknowledge to the client: the write is committed.
          this.stats.acked++;
          if (e.index > this.ackedMax) this.ackedMax = e.index;
          if (p.probe && n.id === this.probeNode && !this.probeDone) {
            this.probeDone = true;
            const rec = this.now - this.healedAt;
            if (rec > this.stats.maxRecoveryTicks) this.stats.maxRecoveryTicks = rec;
            this.tr(`liveness: write ${p.writeId} committed at ${e.index} by leader ${n.id}, ${rec} ticks after healing`);
          }
        }
      }
    }
    if (rd.committedEntries.length > 0) this.hash.add(0xa9).add(n.id).add(n.sm.applied).add(n.sm.chain);
    if (changed && this.rng.chance(0.1)) {
      const cp = n.sm.clone();
      this.write(n, () => {
        d.checkpoint = cp;
      });
    }
    for (const rs of rd.readStates) {
      const id = decodeCtx(rs.requestCtx);
      const pr = n.reads.get(id);
      if (pr === undefined) continue;
      n.reads.delete(id);
      n.waiting.push({ ctxId: id, index: rs.index, floor: pr.floor, start: pr.start });
    }
  }

  private serveReads(n: SimNode): void {
    if (n.waiting.length === 0) return;
    const keep: WaitingRead[] = [];
    for (const w of n.waiting) {
      if (w.index > n.sm.applied) {
        keep.push(w);
        continue;
      }
      this.stats.readsServed++;
      if (n.sm.applied < w.floor) {
        throw new Violation(
          'linearizable-read',
          `read ${w.ctxId} on node ${n.id} (started t${w.start}, read index ${w.index}) sees state at ${n.sm.applied}, older than write at ${w.floor} acknowledged before it began`,
        );
      }
      this.hash.add(0x4ead).add(n.id).add(w.ctxId).add(n.sm.applied);
    }
    n.waiting = keep;
  }

  private applyRemovals(): void {
    while (this.toRemove.length > 0) {
      const id = this.toRemove.pop()!;
      const n = this.byId.get(id);
      if (n === undefined || n.state === 'removed') continue;
      n.state = 'removed';
      n.raft = undefined;
      n.disk.pending = [];
      this.tr(`node ${id} removed from the cluster and stopped`);
      this.hash.add(0x7e).add(id);
    }
  }

  private trimSnapData(n: SimNode): void {
    if (n.snaps.size <= 3) return;
    const keys = Array.from(n.snaps.keys()).sort((a, b) => a - b);
    for (let k = 0; k < keys.length - 3; k++) n.snaps.delete(keys[k]!);
  }

  // ------------------------------------------------------------------ network

  private linkBlocked(a: number, b: number): boolean {
    return this.blocked.size > 0 && this.blocked.has(a * 1024 + b);
  }

  private send(n: SimNode, m: Message): void {
    const p = this.profile;
    const r = this.rng;
    const to = this.byId.get(m.to);
    if (this.opts.traceSends) this.tr(`send ${formatMessage(m)}`);
    // A bounded network buffer: a message storm (possible only with a broken node) is shed.
    const full = this.inFlight >= MAX_IN_FLIGHT;
    if (to === undefined || to.state === 'removed' || full || this.linkBlocked(m.from, m.to) || r.chance(p.drop)) {
      if (this.opts.traceSends) this.tr(`drop ${formatMessage(m)}`);
      this.stats.dropped++;
      this.dropped(n.incarnation, m, to !== undefined && to.state !== 'up');
      return;
    }
    const copies = r.chance(p.dup) ? 2 : 1;
    for (let c = 0; c < copies; c++) {
      const at = this.now + (r.chance(0.5) ? 0 : r.range(0, p.maxDelay));
      const f: InFlight = { m: c === 0 ? m : { ...m }, inc: n.incarnation };
      const b = this.net.get(at);
      if (b === undefined) this.net.set(at, [f]);
      else b.push(f);
      this.inFlight++;
    }
  }

  /** The transport tells the sender about failed snapshots and unreachable peers. */
  private dropped(inc: number, m: Message, unreachable: boolean): void {
    if (m.type === MessageType.Snapshot) {
      this.report(m.from, inc, (raft) => raft.reportSnapshot(m.to, false));
    } else if (m.type === MessageType.Append && unreachable && this.rng.chance(0.5)) {
      this.report(m.from, inc, (raft) => raft.reportUnreachable(m.to));
    }
  }

  private report(from: number, inc: number, f: (raft: RaftNode) => void): void {
    this.reports.push(() => {
      const s = this.byId.get(from);
      if (s !== undefined && s.state === 'up' && s.incarnation === inc) {
        f(s.raft!);
        this.maybeReady(s);
      }
    });
  }

  private runReports(): void {
    while (this.reports.length > 0) {
      const rs = this.reports;
      this.reports = [];
      for (const f of rs) f();
    }
  }

  /** Deliver every message that is due, in random order. Returns false when none was due. */
  private deliverDue(): boolean {
    const due = this.net.get(this.now);
    if (due === undefined) return false;
    this.net.delete(this.now);
    this.inFlight -= due.length;
    this.rng.shuffle(due);
    for (const f of due) {
      const m = f.m;
      const to = this.byId.get(m.to);
      if (to === undefined || to.state !== 'up' || this.linkBlocked(m.from, m.to)) {
        if (this.opts.traceSends) this.tr(`drop ${formatMessage(m)}`);
        this.stats.dropped++;
        this.dropped(f.inc, m, true);
        continue;
      }
      if (this.crashPlan.length > 0 && this.dueCrash()) {
        if (to.state !== 'up') {
          this.stats.dropped++;
          this.dropped(f.inc, m, true);
          continue;
        }
      }
      this.stats.delivered++;
      this.hash.add(m.type).add(m.from).add(m.to).add(m.term).add(m.index).add(m.entries.length).add(m.commit);
      this.trm(m);
      to.raft!.step(m);
      if (m.type === MessageType.Snapshot) this.report(m.from, f.inc, (raft) => raft.reportSnapshot(m.to, true));
      this.maybeReady(to);
    }
    this.runReports();
    return true;
  }

  /** Carries out scheduled crashes whose delivery count has come; true if any happened. */
  private dueCrash(): boolean {
    let any = false;
    const keep: typeof this.crashPlan = [];
    for (const c of this.crashPlan) {
      if (c.atDelivery > this.stats.delivered) {
        keep.push(c);
        continue;
      }
      const n = this.byId.get(c.node);
      if (this.phase === 'chaos' && n !== undefined && n.state === 'up' && n.incarnation === c.inc) {
        this.crash(n, this.rng.range(1, 40));
        any = true;
      }
    }
    this.crashPlan = keep;
    return any;
  }

  /** Messages still due after the last delivery round of a tick wait for the next tick. */
  private carryOver(): void {
    const left = this.net.get(this.now);
    if (left === undefined) return;
    this.net.delete(this.now);
    // (stays counted in inFlight)
    const next = this.net.get(this.now + 1);
    if (next === undefined) this.net.set(this.now + 1, left);
    else for (const f of left) next.push(f);
  }

  // ------------------------------------------------------------------ faults

  private liveNodes(): SimNode[] {
    return this.nodes.filter((n) => n.state === 'up');
  }

  private crashRandom(): void {
    const up = this.liveNodes();
    if (up.length === 0) return;
    const leader = this.currentLeader();
    const n = leader !== undefined && this.rng.chance(0.3) ? leader : this.rng.pick(up);
    this.crash(n, this.rng.range(1, 60));
  }

  private partitionRandom(): void {
    const r = this.rng;
    const ids = this.nodes.filter((n) => n.state !== 'removed').map((n) => n.id);
    if (ids.length < 2) return;
    const kind = r.int(4);
    const side = new Map<number, number>();
    let desc: string;
    const leader = this.currentLeader();
    if (kind === 0 && leader !== undefined) {
      for (const id of ids) side.set(id, id === leader.id ? 1 : 0);
      desc = `isolate leader ${leader.id}`;
    } else if (kind === 1 && ids.length >= 3) {
      // Bridge: two groups that only talk through one node.
      r.shuffle(ids);
      const bridge = ids[0]!;
      for (let k = 1; k < ids.length; k++) side.set(ids[k]!, k % 2 === 0 ? 1 : 0);
      for (const a of ids) {
        for (const b of ids) {
          if (a === b || a === bridge || b === bridge) continue;
          if (side.get(a) !== side.get(b)) this.blocked.add(a * 1024 + b);
        }
      }
      this.partitionUntil = this.now + r.range(20, 150);
      this.stats.partitions++;
      this.tr(`partition: bridge ${bridge} between [${ids.filter((i) => side.get(i) === 0 && i !== bridge)}] and [${ids.filter((i) => side.get(i) === 1)}]`);
      return;
    } else {
      // Random split: a minority against a majority (or an even split).
      r.shuffle(ids);
      const k = r.range(1, Math.floor(ids.length / 2));
      ids.forEach((id, i) => side.set(id, i < k ? 1 : 0));
      desc = `split [${ids.slice(0, k)}] | [${ids.slice(k)}]`;
    }
    if (kind === 3) {
      // One-way: the minority can hear the majority but not be heard (asymmetric link failure).
      for (const a of ids) for (const b of ids) if (side.get(a) === 1 && side.get(b) === 0) this.blocked.add(a * 1024 + b);
      desc = `one-way ${desc}`;
    } else {
      for (const a of ids) for (const b of ids) if (side.get(a) !== side.get(b)) this.blocked.add(a * 1024 + b);
    }
    this.partitionUntil = this.now + r.range(20, 150);
    this.stats.partitions++;
    this.tr(`partition: ${desc} until t${this.partitionUntil}`);
  }

  private healPartition(): void {
    if (this.blocked.size > 0) this.tr('partition healed');
    this.blocked.clear();
    this.partitionUntil = 0;
  }

  // ------------------------------------------------------------------ client operations

  private pickLeaderish(): SimNode | undefined {
    const l = this.currentLeader();
    if (l !== undefined && this.rng.chance(0.9)) return l;
    const up = this.liveNodes();
    return up.length > 0 ? this.rng.pick(up) : undefined;
  }

  private proposeRandom(count: number): void {
    const n = this.pickLeaderish();
    if (n === undefined) return;
    let at: SimNode | undefined;
    for (let k = 0; k < count; k++) {
      at = this.propose(n, false);
      if (at === undefined) break;
    }
    if (at !== undefined) this.maybeReady(at);
  }

  /** Propose one write at n (following a leader hint once); returns the node that took it. */
  private propose(n: SimNode, probe: boolean): SimNode | undefined {
    const writeId = ++this.writeSeq;
    const key = this.rng.int(KEYS);
    let res = n.raft!.propose(encodeWrite(key, writeId));
    if (!res.ok && res.leader !== 0 && res.leader !== n.id) {
      const l = this.byId.get(res.leader);
      if (l === undefined || l.state !== 'up') return undefined;
      n = l;
      res = n.raft!.propose(encodeWrite(key, writeId));
    }
    if (!res.ok) return undefined;
    this.stats.proposals++;
    n.proposals.set(res.index, { term: res.term, writeId, probe });
    this.hash.add(0x9e).add(n.id).add(res.index);
    if (probe) {
      this.probe = { node: n.id, index: res.index, term: res.term };
      this.probeNode = n.id;
    }
    if (probe) this.tr(`liveness probe: write ${writeId} proposed at ${n.id} as ${res.index}/${res.term}`);
    return n;
  }

  private readRandom(): void {
    const up = this.liveNodes();
    if (up.length === 0) return;
    // Half of the reads go to a node that believes it leads (possibly a deposed one).
    const leaders = up.filter((x) => x.role === Role.Leader);
    const n = leaders.length > 0 && this.rng.chance(0.5) ? this.rng.pick(leaders) : this.rng.pick(up);
    const id = ++this.readSeq;
    if (!n.raft!.readIndex(encodeCtx(id))) return;
    this.stats.reads++;
    n.reads.set(id, { floor: this.ackedMax, start: this.now });
    this.maybeReady(n);
  }

  private transferRandom(): void {
    const l = this.currentLeader();
    if (l === undefined) return;
    const voters = l.raft!.status().confState.voters.filter((v) => v !== l.id);
    if (voters.length === 0) return;
    const to = this.rng.pick(voters);
    this.stats.transfers++;
    this.tr(`transfer leadership ${l.id} -> ${to}`);
    l.raft!.transferLeadership(to);
    this.maybeReady(l);
  }

  private compactRandom(): void {
    const up = this.liveNodes();
    if (up.length === 0) return;
    const n = this.rng.pick(up);
    const raft = n.raft!;
    const applied = n.sm.applied;
    if (applied - n.view.snapIndex < this.rng.range(1, 30)) return;
    this.snapshotNow(n);
  }

  /** The application takes a snapshot at its applied index and compacts the log. */
  private snapshotNow(n: SimNode): void {
    const raft = n.raft!;
    const applied = n.sm.applied;
    if (applied <= n.view.snapIndex) return;
    if (raft.status().applied !== applied) {
      // A member whose disk lost entries its state machine had applied started on as if nothing
      // was lost (the restart check refuses that): it would apply them a second time.
      throw new Violation('applied-ahead-of-log', `node ${n.id} state machine applied ${applied} but its core has applied ${raft.status().applied}`);
    }
    const meta = raft.snapshotMetaAt(applied);
    if (meta.term !== n.sm.appliedTerm) {
      throw new Violation('snapshot', `node ${n.id} snapshot meta ${meta.index}/${meta.term} but applied term is ${n.sm.appliedTerm}`);
    }
    const data = n.sm.serialize();
    const cp = n.sm.clone();
    this.checker.observeSnapshot(n.id, applied, meta.term, n.sm.chain);
    // The snapshot is durable before the log is compacted.
    const d = n.disk;
    this.write(n, () => {
      d.snap = { meta, data };
      d.log.compact(meta.index);
      d.checkpoint = cp;
    });
    raft.compact(applied);
    n.view.compact(applied);
    n.snaps.set(applied, { meta, data });
    this.trimSnapData(n);
    this.stats.compactions++;
    this.tr(`node ${n.id} snapshots at ${applied}/${meta.term} and compacts`);
    this.hash.add(0xc0).add(n.id).add(applied);
  }

  private confChangeRandom(): void {
    const l = this.currentLeader();
    if (l === undefined || this.recovering()) return;
    const r = this.rng;
    const cs = l.raft!.status().confState;
    const members = cs.voters.length + cs.learners.length;
    const choice = r.next();
    let cc: ConfChange;
    let fresh = false;
    if ((choice < 0.35 || (cs.learners.length === 0 && cs.voters.length <= 3)) && members < MAX_MEMBERS && this.nextId <= this.opts.nodes + MAX_EXTRA_NODES) {
      cc = { type: ConfChangeType.AddLearner, nodeId: this.nextId, context: EMPTY };
      fresh = true;
    } else if (choice < 0.7 && cs.learners.length > 0 && cs.voters.length < 5) {
      cc = { type: ConfChangeType.AddVoter, nodeId: r.pick(cs.learners), context: EMPTY };
    } else if (cs.voters.length > 3) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: r.pick(cs.voters), context: EMPTY };
    } else if (cs.learners.length > 0) {
      cc = { type: ConfChangeType.RemoveNode, nodeId: r.pick(cs.learners), context: EMPTY };
    } else return;
    const res = l.raft!.proposeConfChange(cc);
    if (!res.ok) return;
    this.stats.confChanges++;
    const what = cc.type === ConfChangeType.AddLearner ? 'add learner' : cc.type === ConfChangeType.AddVoter ? 'promote' : 'remove';
    this.tr(`leader ${l.id} proposes conf change: ${what} ${cc.nodeId} at ${res.index}`);
    this.hash.add(0xcc).add(cc.type).add(cc.nodeId);
    if (fresh) {
      this.nextId++;
      this.addNode(cc.nodeId);
    }
    this.maybeReady(l);
  }

  // ------------------------------------------------------------------ trace

  private tr(s: string): void {
    this.pushTrace(s);
  }

  private trm(m: Message): void {
    this.pushTrace(m);
  }

  private pushTrace(rec: string | Message): void {
    const cap = this.traceCap;
    if (cap <= 0) return;
    const p = this.tracePos;
    this.traceRec[p] = rec;
    this.traceTick[p] = this.now;
    this.tracePos = p + 1 === cap ? 0 : p + 1;
    if (this.traceLen < cap) this.traceLen++;
  }

  private traceLines(): string[] {
    const out: string[] = [];
    const cap = this.traceCap;
    for (let k = this.traceLen; k > 0; k--) {
      const p = (this.tracePos - k + cap) % cap;
      const r = this.traceRec[p]!;
      out.push(`t${this.traceTick[p]} ${typeof r === 'string' ? r : `deliver ${formatMessage(r)}`}`);
    }
    return out;
  }
}

export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

/** Default node count for a seed when the caller does not fix it: mixed 3 and 5. */
export function nodesForSeed(seed: number): number {
  return seed % 2 === 0 ? 3 : 5;
}

/** Entries lo..hi from a simulated disk as the WAL reads them back (entriesFromDisk). */
function readBack(log: LogView, lo: number, hi: number, maxBytes: number): Entry[] | undefined {
  const out: Entry[] = [];
  let bytes = 0;
  for (let i = lo; i <= hi; i++) {
    const e = log.entry(i);
    if (!e) break;
    const s = entrySize(e);
    if (out.length > 0 && bytes + s > maxBytes) break;
    out.push(e);
    bytes += s;
  }
  return out.length > 0 ? out : undefined;
}
