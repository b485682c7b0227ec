// PlacementNode: one member of a Placement Center cluster in this process. It owns the Raft core
// (raft/), durable storage (storage/: WAL, snapshot files, state machine), the peer transport and
// the client services, and runs the driver loop:
//
//   tick timer / inbound messages / proposals / reads  ->  RaftNode
//   while hasReady():  rd = ready()
//     1. persist  snapshot marker + entries + hard state: one WAL save = one group-committed fsync
//                 (the leader's own Appends/Heartbeats go out before its fsync, as in etcd: the
//                 leader counts itself for commit only once its entries are stable)
//     2. send     every other message, only after step 1 completed
//     3. apply    install a received snapshot, then committed entries as one state-machine batch
//                 (those already on disk from an earlier Ready are queued before step 1 instead,
//                 to apply while this Ready syncs: durable-commits.ts)
//     4. reads    ReadStates complete once the applied index reaches them
//     advance(rd)
//
// Everything that arrives while a Ready is being processed is stepped into the core right away
// and comes out batched in the next Ready: proposals arriving together become one entry batch,
// one fsync and one Append per peer.
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
// Resolves from an immediate queued now, after the immediates node:http2 has queued to write.
import { setImmediate as nextImmediate } from 'node:timers/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { RaftNode, decodeConfChange, ConfChangeType, EntryType, MessageType, Role, type Entry } from '../../raft/index.js';
import type { Message, Ready, SnapshotMeta, RaftStatus } from '../../raft/index.js';
import { SnapshotStore, StateMachine, Wal, type KeyEvent } from '../../storage/index.js';
import { fsyncDir } from '../../storage/util/fs.js';
import { Command, type CommandCaller, type CommandResult, type ConfigEntry, type Lease, type User } from '../../proto/gen/placement/v1/command.js';
import type { KeyValue, ResponseHeader } from '../../proto/gen/placement/v1/kv.js';
import type { AuthSnapshot } from '../../storage/index.js';
import type { ForwardReply, ForwardRequest } from '../../proto/gen/placement/v1/peer.js';
import type {
  AdminBackend,
  ClusterStatus,
  HealthCheck,
  ListOptions,
  ListPage,
  MemberInfo,
  ReadOptions,
} from '../http/backend.js';
import { PlacementError, invalidArgument, toGrpcStatus, type LeaderUnreachableError } from '../errors.js';
import { commandProblem } from '../validation/command.js';
import { compactKeyspace } from '../compaction/compact.js';
import type { NodeConfig } from '../config/index.js';
import { dialAddress } from '../config/index.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics/metrics.js';
import { PeerTransport, type SnapshotSink, type SnapshotSource } from '../transport/index.js';
import type { ServingNode } from '../grpc/services.js';
import { ProposalTable, ReadTable } from './waiters.js';
import { markRejoining, openDurableState, rejoinMarkerPath } from './durable-state.js';
import { checkIdentity, compareMembership, type Identity } from './identity.js';
import { backupsDir, sweepBackups } from '../maintenance/backup-stream.js';
import { StartupRefusal } from './refusal.js';
import { StateMachineHealth, isStateMachineDamage } from './sm-health.js';
import { LeaseKeeper } from '../lease/keeper.js';
import { LeaseMetrics } from '../lease/metrics.js';
import { encodeMessage } from '../../proto/codec.js';
import type { MembershipRequest } from '../../proto/gen/placement/v1/peer.js';
import { AddressBook } from '../membership/address-book.js';
import { MembershipOps, type MembershipHost } from '../membership/ops.js';
import { withRecentContact } from '../membership/policy.js';
import { RemovalWatch, tellRemoved } from '../membership/removal.js';
import { splitCommitted } from './durable-commits.js';
import { LateTicks } from './late-ticks.js';
import { ForwardOutcomes } from './forward-outcomes.js';
import { errorOfReply, forwardCommand, type ForwardHost } from './forward-command.js';
import { LeaderWait } from './leader-wait.js';
import { compactionPoint, SnapshotBytes } from './compaction-hold.js';
import { rankOf, snapshotDue, type Rank } from './snapshot-schedule.js';
import { clusterStatusOf, readinessChecks } from './status-view.js';

/** The log kept after a snapshot on its way to a member is bounded by this many --snapshot-bytes... */
const COMPACTION_HOLD_SNAPSHOTS = 4;
/** ...and never below this: with small --snapshot-bytes a tight bound would release every hold
 *  before the stream ends, and the member would never catch up. */
const COMPACTION_HOLD_MIN_BYTES = 64 * 1024 * 1024;

/** Hears about every applied batch once it is visible to reads (the watch hub, src/watch). */
export interface ApplyListener {
  /** Whether the next batch's keyspace events are wanted (asked as it starts executing). */
  wantsEvents(): boolean;
  /** A batch is written and the applied index moved: its events (null: not collected) up to `revision`. */
  applied(events: readonly KeyEvent[] | null, revision: number): void;
  /** A snapshot replaced the state machine; its keyspace is at `revision`. */
  reset(revision: number): void;
}

export interface NodeDeps {
  log: Logger;
  metrics?: Metrics;
}

/** Leader reads wait for a follower's ReadIndex to carry their round only while followers are
 *  reading (one arrived this recently), and only this long. */
const READ_CARRIER_WINDOW_MS = 2;
const READ_CARRIER_WAIT_MS = 1;
/** How often expired proposals and reads are failed and a deferred hard state is flushed. */
const HOUSEKEEPING_MS = 100;
/**
 * How long a hard state that only moved the commit index may wait for a save to carry it before
 * housekeeping writes it alone. Nothing depends on it being on disk (after a crash the commit
 * index comes back from the applied index and the leader); flushing it 100 ms after every entry
 * cost each member a second fsync per entry at low write rates (10,000 sessions' renewals: 5
 * entries and 10 fsyncs a second).
 */
const DEFERRED_HARD_STATE_FLUSH_MS = 1000;

export class PlacementNode implements AdminBackend, ServingNode {
  readonly cfg: NodeConfig;
  readonly log: Logger;
  readonly metrics?: Metrics;
  readonly limits: ServingNode['limits'];

  private wal!: Wal;
  private store!: SnapshotStore;
  private sm!: StateMachine;
  private raft!: RaftNode;
  readonly transport: PeerTransport;
  /** Leases: table, keep-alive batching, expiry on the leader (src/lease/). */
  readonly leases: LeaseKeeper;

  private role: Role = Role.Follower;
  private leaderId = 0;
  private term = 0;
  private appliedIndex = 0;
  private lastSnapIndex = 0;
  /** Size of the newest snapshot file taken or installed (the schedule waits longer after a large one). */
  private lastSnapSize = 0;
  private pendingCompact = 0;
  private snapshotting = false;

  private readonly proposals = new ProposalTable();
  /** Writes this member forwarded to the leader, answered from its own log when a reply is lost. */
  private readonly forwards: ForwardOutcomes;
  /**
   * When this member, leading, last asked Raft to hand leadership to a caught-up peer (0: never).
   * Raft tells the peer to campaign only once it holds every entry, so stepping down right after
   * leaves every pending write in the new leader's log: they are answered when applied here.
   */
  private transferAskedAt = 0;
  private readonly reads: ReadTable;
  private readonly leaderWait: LeaderWait;
  private readonly forwardHost: ForwardHost;

  private tickTimer: NodeJS.Timeout | null = null;
  private readonly lateTicks: LateTicks;
  private loopRunning = false;
  private loopScheduled = false;
  /** Leader: a follower's ReadIndex arrived since the last driver pass (its answer leaves in the next). */
  private readCarriers = false;
  private lastReadIndexAt = -Infinity;
  /** Leader: when queued reads started waiting for a carrier (0: not waiting). */
  private readDeferredAt = 0;
  private loopIdle: (() => void)[] = [];
  private stopped = false;
  private accepting_ = false;
  private readonly rttProbes = new Map<number, number>();
  /** Bytes of entries applied since the last snapshot started (the --snapshot-bytes trigger). */
  private bytesSinceSnapshot = 0;
  private readonly snapshotBytes = new SnapshotBytes();
  /** Client requests in flight (graceful shutdown lets them finish), and who waits for zero. */
  private inflight = 0;
  private drainWaiters: Array<() => void> = [];
  private inboundSinceReady = 0;
  private inboundWaiters: (() => void)[] = [];
  private storageError: Error | null = null;
  private members_ = { voters: [] as number[], learners: [] as number[] };
  /** The membership `rank` (the snapshot schedule's) was computed from. */
  private rankFor: { voters: number[]; learners: number[] } | null = null;
  private rank: Rank = { rank: 0, of: 1 };
  private applyChain: Promise<void> = Promise.resolve();
  /** An applied batch's results were answered and its LevelDB write has not completed yet. */
  private unpersistedApply = false;
  private persistWaiters: (() => void)[] = [];
  private applyBacklog = 0;
  private deferredHardState: import('../../raft/index.js').HardState | undefined;
  /** Date.now() when deferredHardState started waiting for a save. */
  private deferredSince = 0;
  private dbSizeCache = { at: 0, bytes: 0 };
  /** When each peer's last message arrived (performance.now()): membership changes' liveness check. */
  private readonly heardAt = new Map<number, number>();
  /** Damage found in the state machine, and its rebuild. */
  readonly smHealth = new StateMachineHealth();
  /** Raft is not driven (the state machine is being rebuilt): messages are dropped, nothing ticks. */
  private paused = false;
  /** Started with --rejoin (or its marker) and not caught up yet. */
  private rejoining = false;
  private identity!: Identity;
  /** Take a snapshot as soon as possible (the newest one's file is missing). */
  private snapshotWanted = false;
  private verifyTimer: NodeJS.Timeout | null = null;
  private applyListener: ApplyListener | null = null;
  /** Addresses of members added at run time (src/membership/address-book.ts). */
  private addresses!: AddressBook;
  readonly membership: MembershipOps;
  /** This member's own removal (its `onRemoved` stops the process). */
  readonly removal: RemovalWatch;

  constructor(cfg: NodeConfig, deps: NodeDeps) {
    this.cfg = cfg;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.limits = {
      maxKeyBytes: cfg.maxKeyBytes,
      maxValueBytes: cfg.maxValueBytes,
      maxListLimit: cfg.maxListLimit,
      requestTimeoutMs: cfg.requestTimeoutMs,
    };
    this.leases = new LeaseKeeper(cfg, {
      propose: (cmd, deadline, by) => this.propose(cmd, deadline, by),
      log: deps.log,
      metrics: deps.metrics ? new LeaseMetrics(deps.metrics.registry) : undefined,
    });
    this.reads = new ReadTable();
    this.reads.onOutcome = (failure, n) => this.metrics?.readIndex(failure, n);
    const metrics = deps.metrics;
    this.transport = new PeerTransport({
      clusterId: cfg.clusterId,
      selfId: cfg.id,
      log: deps.log,
      handler: {
        isMember: (id) => this.isMember(id),
        onMessages: (msgs) => this.onMessages(msgs),
        receiveSnapshot: (meta) => this.receiveSnapshot(meta),
        onSnapshotMessage: (m) => this.onMessages([m]),
        openSnapshot: (meta) => this.openSnapshot(meta),
        reportUnreachable: (id) => {
          this.metrics?.peerSendFailed(id);
          if (this.raft) this.raft.reportUnreachable(id);
        },
        reportSnapshot: (id, ok) => {
          this.raft.reportSnapshot(id, ok);
          this.schedule();
        },
        snapshotProgress: (id) => this.raft.reportSnapshotProgress(id),
        forward: (req, deadline) => this.onForward(req, deadline),
        refusedAsNonMember: (peer) => this.removal.refused(peer, this.members_.voters),
      },
      traffic: metrics && { sent: (peer, n) => metrics.peerBytesSent(peer, n), received: (peer, n) => metrics.peerBytesReceived(peer, n) },
    });
    this.membership = new MembershipOps(this.membershipHost());
    this.removal = new RemovalWatch(cfg.id, this.log);
    this.forwards = new ForwardOutcomes(cfg.id);
    this.leaderWait = new LeaderWait({ leaderId: () => this.leaderId, stopped: () => this.stopped, noLeader: () => this.noLeader() }, cfg.leaderWaitMs);
    this.forwardHost = {
      term: () => this.term,
      forward: (to, req, deadline) => this.transport.forward(to, req, deadline),
      forwards: this.forwards,
      addressOf: (id) => this.addressOf(id),
      log: this.log,
    };
    // Late from a quarter of the election timeout: well before followers give up on a leader.
    this.lateTicks = new LateTicks(cfg.tickMs, Math.max(5 * cfg.tickMs, (cfg.tickMs * cfg.electionTicks) / 4), (gap) => this.onLateTick(gap));
  }

  /** For log lines: current term and role. */
  view(): { term: number; role: string } {
    return { term: this.term, role: this.role };
  }

  // ------------------------------------------------------------------ lifecycle

  async open(): Promise<void> {
    const dir = this.cfg.dataDir;
    mkdirSync(dir, { recursive: true });
    const id = await checkIdentity(dir, this.cfg.clusterId, this.cfg.id, this.cfg.peers, this.cfg.join);
    this.identity = id.identity;
    if (id.recorded !== 'existing') this.log.info({ clusterId: this.cfg.clusterId, id: this.cfg.id, how: id.recorded }, 'data directory identity recorded');
    if (this.cfg.rejoin) await markRejoining(dir);
    this.rejoining = existsSync(rejoinMarkerPath(dir));
    if (this.rejoining && this.foundingVoters().length <= 1) {
      throw new StartupRefusal(
        `member ${this.cfg.id} is asked to rejoin (--rejoin, or ${rejoinMarkerPath(dir)} from an unfinished rejoin) but it is the cluster's only voter: there is no leader to catch up from`,
        `restore its data directory from a copy, or remove ${rejoinMarkerPath(dir)} to start it on the data it has`,
      );
    }
    this.addresses = new AddressBook(dir);
    for (const r of this.addresses.fill(this.cfg.peers)) {
      this.log.warn({ member: r.id, peersFlag: r.flag, recorded: r.recorded }, `--peers gives member ${r.id} the address ${r.flag}, but the cluster moved it to ${r.recorded} (member update): using ${r.recorded}`);
    }
    await this.openStorage();
    // After openStorage: LevelDB's lock now says this process owns the data dir.
    const swept = await sweepBackups(dir);
    if (swept.length > 0) this.log.warn({ removed: swept, dir: backupsDir(dir) }, 'removed backup copies left by a process that stopped while sending them');
    const metrics = this.metrics;
    metrics?.bindRaftStatus(() => {
      const s = this.raft.status();
      return {
        term: s.hardState.term,
        leaderId: s.softState.leader,
        isLeader: s.softState.role === Role.Leader,
        commitIndex: s.hardState.commit,
        appliedIndex: this.appliedIndex,
        lastIndex: s.lastIndex,
        snapshotIndex: this.lastSnapIndex,
        proposalsPending: this.proposals.size,
        logMemoryBytes: this.raft.logMemory().bytes,
        peers: s.progress.filter((p) => p.id !== this.cfg.id).map((p) => ({ id: p.id, matchIndex: p.match, lag: Math.max(0, s.lastIndex - p.match) })),
      };
    });
    metrics?.bindStorageStatus(() => ({ walSegments: this.wal.segmentCount, dbSizeBytes: this.dbSize(), revisionIndexEntries: this.sm.revisionIndexSize.entries, currentKeys: this.sm.currentKeyCount, pastListKeys: this.sm.pastListStats.keys }));
  }

  /** The membership a brand-new cluster starts with: as recorded when the data directory was created. */
  private foundingVoters(): number[] {
    // A member that joined a running cluster founded nothing: its membership comes from the leader.
    if (this.identity?.joined) return [];
    const recorded = this.identity?.peers ? Object.keys(this.identity.peers).map(Number) : [];
    return (recorded.length > 0 ? recorded : [...this.cfg.peers.keys()]).sort((a, b) => a - b);
  }

  /**
   * Opens the WAL, snapshot files and state machine, checks them (durable-state.ts) and builds
   * the Raft core from them. Also how the state machine is rebuilt in place: `rebuild` names
   * the damage that made the caller close everything first.
   */
  private async openStorage(rebuild?: string): Promise<void> {
    const metrics = this.metrics;
    const st = await openDurableState({
      dataDir: this.cfg.dataDir,
      bootstrap: { voters: this.foundingVoters(), learners: [] },
      rejoin: this.rejoining,
      log: this.log,
      rebuildStateMachine: rebuild,
      walPreallocateBytes: this.cfg.walPreallocateBytes,
      walObserver: {
        onSync: (seconds, bytes) => {
          metrics?.observeWalSync(seconds);
          metrics?.walBytesWritten(bytes);
        },
        onTailTruncated: (file, offset, dropped, reason) =>
          this.log.warn({ file, offset, dropped, reason }, 'WAL: truncated an unacknowledged tail during recovery'),
      },
    });
    this.wal = st.wal;
    this.store = st.store;
    this.sm = st.sm;
    this.snapshotWanted = st.snapshotFileMissing;
    this.appliedIndex = this.sm.appliedIndex;
    await this.leases.open(this.sm);
    this.lastSnapIndex = this.store.latest()?.meta.index ?? 0;
    this.lastSnapSize = this.store.latest()?.size ?? 0;
    this.raft = new RaftNode(
      {
        id: this.cfg.id,
        electionTick: this.cfg.electionTicks,
        heartbeatTick: this.cfg.heartbeatTicks,
        random: Math.random,
        preVote: true,
        checkQuorum: true,
        maxSizePerMsg: 4 * 1024 * 1024,
        maxInflightMsgs: 256,
        logger: (level, msg) => this.log[level](msg),
        loadEntries: (lo, hi, maxBytes) => {
          const got = this.wal.entriesFromDisk(lo, hi, maxBytes);
          if (got) this.metrics?.raftEntriesReadBack.inc(got.length);
          return got;
        },
      },
      st.initial,
    );
    const status = this.raft.status();
    this.term = status.hardState.term;
    this.role = Role.Follower;
    this.leaderId = 0;
    this.members_ = { voters: [...status.confState.voters], learners: [...status.confState.learners] };
    for (const id of [...this.members_.voters, ...this.members_.learners, ...this.cfg.peers.keys()]) {
      const addr = dialAddress(this.cfg, id);
      if (addr && id !== this.cfg.id) this.transport.setPeer(id, addr);
    }
    this.log.info(
      {
        term: status.hardState.term,
        commit: status.hardState.commit,
        applied: this.appliedIndex,
        firstIndex: status.firstIndex,
        lastIndex: status.lastIndex,
        snapshot: st.initial.snapshot?.index ?? 0,
        voters: this.members_.voters,
        rejoining: status.rejoining,
      },
      'recovered',
    );
    // A member that has just joined has no membership yet to compare --peers with.
    const joining = this.members_.voters.length === 0 && this.members_.learners.length === 0 && this.identity?.joined;
    if (rebuild === undefined && !joining) {
      for (const n of compareMembership(this.members_, this.cfg.peers, this.identity, this.cfg.id)) {
        this.log.warn({ member: n.id, peersAddress: n.peersAddress || undefined, recordedAddress: n.recordedAddress || undefined }, `--peers disagrees with the stored membership: ${n.problem}`);
      }
    }
  }

  /** Starts ticking. Call after the gRPC server listens. */
  start(): void {
    this.accepting_ = true;
    this.startTicking();
    this.verifyTimer = setInterval(() => void this.verifyStateMachine(), this.cfg.smCheckIntervalMs);
    this.verifyTimer.unref();
    this.schedule();
  }

  accepting(): boolean {
    return this.accepting_ && !this.stopped;
  }

  /** Counts a client request in flight until `requestFinished()`: shutdown waits for it. */
  requestStarted(): void {
    this.inflight++;
  }

  requestFinished(): void {
    if (--this.inflight > 0) return;
    this.inflight = 0;
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  /** requestStarted(), then requestFinished() when `p` settles. */
  track<T>(p: Promise<T>): Promise<T> {
    this.requestStarted();
    const done = (): void => this.requestFinished();
    p.then(done, done);
    return p;
  }

  /**
   * Hands leadership to a caught-up peer when leading (the first step of a graceful stop, taken
   * while this member still serves: a request that reaches it meanwhile is forwarded to the new
   * leader, as on any follower). Returns when done or after `ms`.
   */
  async handOff(ms = 3000): Promise<void> {
    if (this.stopped || this.role !== Role.Leader || this.members_.voters.length <= 1) return;
    await this.handOffLeadership(ms);
  }

  /**
   * Graceful stop: refuse new requests, let in-flight ones finish, hand leadership to a caught-up
   * peer when still leading, then stop the loop and sync/close storage.
   */
  async shutdown(opts: { drainMs?: number; transferMs?: number } = {}): Promise<void> {
    if (this.stopped) return;
    this.accepting_ = false;
    const drainUntil = Date.now() + (opts.drainMs ?? 5000);
    if (this.inflight > 0) {
      const drained = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
      await Promise.race([drained, sleep(Math.max(1, drainUntil - Date.now()))]);
    }
    await this.handOff(opts.transferMs);
    this.stopped = true;
    this.leases.close();
    if (this.tickTimer) clearInterval(this.tickTimer);
    if (this.verifyTimer) clearInterval(this.verifyTimer);
    await this.loopDone();
    await this.applyChain;
    const stopping = (): PlacementError => new PlacementError('UNAVAILABLE', 'node is shutting down');
    this.proposals.failAll(stopping);
    this.reads.failAll(stopping);
    this.leaderWait.wake();
    this.transport.close();
    if (this.deferredHardState) await this.wal.save({ hardState: this.deferredHardState });
    await this.wal.close();
    await this.sm.close().catch((err: Error) => this.log.warn({ err: err.message }, 'closing the state machine failed'));
    this.log.info({ applied: this.appliedIndex }, 'storage synced and closed');
  }

  private async handOffLeadership(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && this.role === Role.Leader) {
      const st = this.raft.status();
      const target = st.progress
        .filter((p) => p.id !== this.cfg.id && !p.isLearner && p.recentActive)
        .sort((a, b) => b.match - a.match)[0];
      if (!target) {
        this.log.warn('no active peer to hand leadership to');
        return;
      }
      if (st.leadTransferee !== target.id) {
        this.log.info({ to: target.id, match: target.match, lastIndex: st.lastIndex }, 'transferring leadership before shutdown');
        this.transferAskedAt = Date.now();
        this.raft.transferLeadership(target.id);
        this.schedule();
      }
      await sleep(this.cfg.tickMs);
    }
    if (this.role === Role.Leader) this.log.warn('leadership transfer did not complete in time');
    else this.log.info({ leader: this.leaderId }, 'leadership handed off');
  }

  private loopDone(): Promise<void> {
    if (!this.loopRunning) return Promise.resolve();
    return new Promise((r) => this.loopIdle.push(r));
  }

  // ------------------------------------------------------------------ driver loop

  private schedule(): void {
    if (this.loopScheduled || this.stopped || this.paused) return;
    this.loopScheduled = true;
    setImmediate(() => {
      this.loopScheduled = false;
      void this.runLoop();
    });
  }

  private async runLoop(): Promise<void> {
    if (this.loopRunning || this.stopped || this.paused) return;
    this.loopRunning = true;
    try {
      while (!this.stopped && !this.paused) {
        this.issueReadRound();
        if (!this.raft.hasReady()) break;
        const rd = this.raft.ready();
        this.releaseInbound();
        await this.handleReady(rd);
        this.raft.advance(rd);
        this.afterAdvance();
      }
    } catch (err) {
      this.fatal(err as Error);
    } finally {
      this.loopRunning = false;
      for (const r of this.loopIdle.splice(0)) r();
    }
  }

  private fatal(err: Error): void {
    this.storageError = err;
    this.log.fatal({ err: err.message, stack: err.stack }, 'driver loop failed: storage is unusable, exiting');
    // A node that cannot persist must not keep participating. Exit without acknowledging anything more.
    process.exit(70);
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
    if (rd.hardState) this.term = rd.hardState.term;

    // Leader: Appends and Heartbeats may go out before its own fsync.
    let late: Message[] = rd.messages;
    let sentToPeers = false;
    if (this.role === Role.Leader && rd.messages.length > 0) {
      const early: Message[] = [];
      late = [];
      for (const m of rd.messages) {
        if (m.type === MessageType.Append || m.type === MessageType.Heartbeat) early.push(m);
        else late.push(m);
      }
      sentToPeers = this.send(early);
    }

    // Committed entries already on this member's disk are applied while this Ready's are synced
    // (durable-commits.ts); a snapshot, installed after the sync, goes before any of them.
    let committed = rd.committedEntries;
    if (!rd.snapshot) {
      const split = splitCommitted(committed, rd.entries);
      if (split.durable.length > 0) this.queueApply(split.durable, sentToPeers);
      committed = split.afterSync;
    }

    // 1. persist. A hard state that only moves the commit index (term and vote unchanged) needs no
    // fsync of its own: it rides along with the next save (or housekeeping's flush once it has
    // waited DEFERRED_HARD_STATE_FLUSH_MS).
    // After a crash the commit index is recovered from the applied index and the leader.
    if (!rd.mustSync && !rd.snapshot && rd.entries.length === 0 && rd.hardState) {
      if (!this.deferredHardState) this.deferredSince = Date.now();
      this.deferredHardState = rd.hardState;
    } else if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
      // (A deferred hard state alone is no reason to save: a Ready with only messages or
      // committed entries used to write it at once, with an fdatasync, right after deferring it.)
      const hardState = rd.hardState ?? this.deferredHardState;
      this.deferredHardState = undefined;
      const p = this.wal.save({ snapshot: rd.snapshot?.meta, entries: rd.entries, hardState });
      if (rd.mustSync) await p;
      else p.catch((err: Error) => this.fatal(err));
    }

    // 2. send
    if (this.send(late)) sentToPeers = true;

    // 3. apply: queued in order on the apply chain, so that persisting and replicating the next
    // batch overlaps applying this one. The backlog is bounded: past it, the loop waits.
    if (rd.snapshot) {
      const meta = rd.snapshot.meta;
      this.enqueueApply(() => this.installSnapshot(meta));
    }
    if (committed.length > 0) this.queueApply(committed, sentToPeers);

    // 4. reads: a ReadState completes once the applied index reaches it (see apply()).
    for (const rs of rd.readStates) this.reads.onReadState(rs.requestCtx, rs.index);
    this.reads.onApplied(this.appliedIndex);
    if (rd.readStates.length > 0) this.kickReads();
    if (this.applyBacklog > 8192) await this.applyChain;
  }

  private queueApply(entries: Entry[], sentToPeers: boolean): void {
    this.applyBacklog += entries.length;
    // node:http2 hands a session's frames to the kernel from an immediate, after the JS that
    // queued them has run: applying first would hold this Ready's messages (the commit the
    // followers apply and serve watchers from, the acks the leader waits for) behind the
    // apply's CPU work and the replies it makes. So they go first: a watcher on a follower got
    // its event 8% sooner at the median (200 writes/s, 4 interleaved pairs); writes/s are the
    // same (bench:ab put@1 and put@64: 1.00x).
    this.enqueueApply(sentToPeers ? () => nextImmediate().then(() => this.apply(entries)) : () => this.apply(entries));
  }

  private enqueueApply(fn: () => Promise<void>): void {
    this.applyChain = this.applyChain.then(fn).catch((err: Error) => this.onApplyFailed(err));
  }

  /**
   * Applying committed entries failed. LevelDB may report damage as such, or hand back damaged
   * bytes that fail to decode (it does not verify block checksums on reads): either way the
   * state machine is not to be trusted, and is rebuilt. The same failure at the same place
   * after a rebuild is a bug, not damage: exit rather than loop.
   */
  private onApplyFailed(err: Error): void {
    if (this.stopped) return;
    const where = `${this.appliedIndex}: ${err.message}`;
    if (this.smHealth.lastApplyFailure === where) {
      this.fatal(err);
      return;
    }
    this.smHealth.lastApplyFailure = where;
    this.onStateMachineDamage(new Error(`applying committed entries after ${this.appliedIndex} failed: ${err.message}`));
  }

  /** Sends, to peers or to this member's core; true when something went to a peer. */
  private send(msgs: Message[]): boolean {
    if (msgs.length === 0) return false;
    const local: Message[] = [];
    const remote: Message[] = [];
    for (const m of msgs) (m.to === this.cfg.id ? local : remote).push(m);
    if (this.metrics) {
      const now = performance.now();
      for (const m of remote) {
        this.metrics.messageSent(MessageType[m.type] ?? String(m.type));
        if (m.type === MessageType.Heartbeat) this.startRttProbe(m.to, now);
      }
    }
    this.transport.send(remote.some((m) => m.type === MessageType.Snapshot) ? remote.flatMap((m) => this.withSnapshotFile(m)) : remote);
    if (local.length > 0) for (const m of local) this.raft.step(m);
    return remote.length > 0;
  }

  /**
   * A Snapshot message names the core's compaction point. That point is usually no snapshot of
   * ours (the log is compacted to --snapshot-catchup-entries behind one), or its file may be gone
   * (deleted by hand, a damaged disk): send the newest snapshot instead (the core allows a newer
   * one); with none new enough, take one now and let the core retry, instead of failing to open
   * the file ten times a second.
   */
  private withSnapshotFile(m: Message): Message[] {
    if (m.type !== MessageType.Snapshot || !m.snapshot) return [m];
    const info = this.store.find(m.snapshot.meta);
    if (info && existsSync(info.path)) return [m];
    if (info) void this.store.forgetMissing();
    const latest = this.store.list().reverse().find((s) => existsSync(s.path));
    if (latest && latest.meta.index >= m.snapshot.meta.index) {
      if (info) this.log.warn({ to: m.to, wanted: m.snapshot.meta.index, sending: latest.meta.index }, 'snapshot file missing: sending the newest snapshot instead');
      else this.log.info({ to: m.to, compactedTo: m.snapshot.meta.index, sending: latest.meta.index }, 'member behind the compacted log: sending the newest snapshot');
      return [{ ...m, snapshot: { meta: latest.meta, data: m.snapshot.data } }];
    }
    this.log.error({ to: m.to, wanted: m.snapshot.meta.index, dir: this.store.dir }, 'no file for the snapshot a follower needs: taking a new one');
    this.snapshotWanted = true;
    const to = m.to;
    setImmediate(() => {
      if (!this.paused && !this.stopped) this.raft.reportSnapshot(to, false);
      this.schedule();
    });
    return [];
  }

  private afterAdvance(): void {
    if (this.pendingCompact > 0) {
      const idx = this.pendingCompact;
      this.pendingCompact = 0;
      this.raft.compact(idx);
    }
    if (this.rejoining && !this.raft.status().rejoining) this.finishRejoin();
    this.maybeStartSnapshot();
    this.trimLogMemory();
  }

  /**
   * Past --raft-log-memory-bytes of entry data in memory, the oldest entries (durable, applied,
   * on disk) give up theirs down to half of it, so this runs once per half-budget of writes rather
   * than after every batch. A member behind gets them read back from the WAL.
   */
  private trimLogMemory(): void {
    const budget = this.cfg.raftLogMemoryBytes;
    const mem = this.raft.logMemory();
    if (mem.bytes <= budget) return;
    this.raft.evictLog(Math.floor(budget / 2), this.wal.onDiskThrough(mem.evictedThrough + 1, this.appliedIndex));
  }

  /** This member's turn in the snapshot schedule: ranked again only when the membership changed. */
  private snapshotRank(): Rank {
    const m = this.members_;
    if (this.rankFor !== m) {
      this.rankFor = m;
      this.rank = rankOf(this.cfg.id, [...m.voters, ...m.learners]);
    }
    return this.rank;
  }

  private maybeStartSnapshot(): void {
    // Not from a state machine found damaged (or being rebuilt): its view is not to be trusted.
    if (this.snapshotting || this.stopped || this.paused || this.smHealth.fault !== null) return;
    const due =
      this.snapshotWanted ||
      snapshotDue({
        applied: this.appliedIndex,
        lastSnapshot: this.lastSnapIndex,
        bytesSince: this.bytesSinceSnapshot,
        every: this.cfg.snapshotEvery,
        bytes: this.cfg.snapshotBytes,
        lastSize: this.lastSnapSize,
        rank: this.snapshotRank(),
      });
    if (!due) return;
    this.snapshotting = true;
    // Started from the apply chain, so that no apply batch is in flight when the state
    // machine's view is taken; the snapshot is written while applying continues.
    this.enqueueApply(async () => {
      void this.takeSnapshot().then((taken) => {
        this.snapshotting = false;
        // The entries applied while this one was written may have made the next one due. Check
        // now: on an idle member no further Ready would come to check it (a single member has
        // no heartbeats), and its log would stay uncompacted until the next write. Not after a
        // failure: that would retry at once, in a loop; the next Ready retries it.
        if (taken) this.maybeStartSnapshot();
      });
    });
  }

  private onSoftState(leader: number, role: Role): void {
    const wasLeader = this.role === Role.Leader;
    const leaderChanged = leader !== this.leaderId;
    this.role = role;
    this.leaderId = leader;
    if (leaderChanged) {
      this.metrics?.recordLeader(leader);
      this.log.info({ leader, role }, leader ? 'leader changed' : 'leader lost');
      this.reads.requeueInflight();
    }
    // After a handover this member asked for, pending writes stay: they are in the new leader's
    // log and are answered when applied here (or rejected if a later leader replaced them).
    const handedOver = wasLeader && role !== Role.Leader && Date.now() - this.transferAskedAt <= 2 * this.cfg.tickMs * this.cfg.electionTicks;
    if (wasLeader && role !== Role.Leader && !handedOver) {
      const n = this.proposals.size;
      this.proposals.failAll(
        () => new PlacementError('UNAVAILABLE', 'leadership lost before the write was applied; its outcome is unknown, retry with the same client_id/seq', leader, this.addressOf(leader)),
      );
      if (n > 0) this.metrics?.proposalFailed('leadership-lost', n);
    }
    if (leader) {
      this.leaderWait.wake();
      this.kickReads();
    }
    // A new leader ends leases once it applied its own first entry (the no-op at lastIndex).
    const st = this.raft.status();
    this.leases.leadership(role === Role.Leader ? st.lastIndex : 0, st.hardState.term);
  }

  private async apply(entries: Entry[]): Promise<void> {
    // A damaged state machine applies nothing: the rebuild replays these from the log.
    if (this.smHealth.fault !== null) return;
    const t0 = process.hrtime.bigint();
    let answered = false;
    const answer = (results: CommandResult[]): void => {
      answered = true;
      this.answerProposals(entries, results);
      if (this.forwards.size > 0) for (let i = 0; i < entries.length; i++) this.forwards.applied(entries[i]!.data, entries[i]!.term, results[i] ?? null);
    };
    // Writers are answered as soon as their results are computed, while the batch is still being
    // written to LevelDB: the entries are committed, so the outcome is final and survives a
    // crash (the WAL replays them). Until the write completes, reads that skip the ReadIndex
    // round wait for it (serializableBarrier), so a client always reads its acknowledged writes;
    // linearizable reads wait for appliedIndex, which moves only after the write.
    for (const e of entries) if (e.type === EntryType.ConfChange) await this.addresses.recordChange(e.data);
    const listener = this.applyListener;
    const { results, events, revision } = await this.sm.applyWithEvents(entries, {
      onExecuted: (r) => {
        this.unpersistedApply = true;
        answer(r);
      },
      collectEvents: listener ? () => listener.wantsEvents() : undefined,
    });
    if (!answered) answer(results);
    for (const e of entries) {
      this.bytesSinceSnapshot += e.data.length;
      this.snapshotBytes.add(e.data.length);
      if (e.type === EntryType.ConfChange) this.onConfChangeApplied(e.data);
    }
    this.metrics?.observeApply(Number(process.hrtime.bigint() - t0) / 1e9, entries.length);
    this.appliedIndex = entries[entries.length - 1]!.index;
    this.applyBacklog -= entries.length;
    this.unpersistedApply = false;
    if (this.persistWaiters.length > 0) for (const w of this.persistWaiters.splice(0)) w();
    this.reads.onApplied(this.appliedIndex);
    this.leases.applied(this.appliedIndex);
    listener?.applied(events, revision);
    // Applying runs behind the driver loop: the batch that makes a snapshot due may finish after
    // the loop's last check, and an idle member has no next Ready to check again.
    this.maybeStartSnapshot();
  }

  /** The one listener of applied batches (the watch hub). */
  setApplyListener(l: ApplyListener | null): void {
    this.applyListener = l;
  }

  private answerProposals(entries: import('../../raft/index.js').Entry[], results: CommandResult[]): void {
    if (this.proposals.size === 0) return;
    let committed = 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const before = this.proposals.size;
      this.proposals.applied(e.index, e.term, results[i] ?? null);
      if (this.proposals.size < before) committed++;
    }
    if (committed > 0) this.metrics?.proposalCommitted(committed);
  }

  /**
   * Resolves once every result already answered is visible in the state machine: at once
   * unless an applied batch is still being written (see apply()).
   */
  serializableBarrier(): Promise<void> {
    if (!this.unpersistedApply) return RESOLVED;
    return new Promise((resolve) => this.persistWaiters.push(resolve));
  }

  /** True when a serializable read may be served synchronously, without serializableBarrier(). */
  readsCurrent(): boolean {
    return !this.unpersistedApply;
  }

  private onConfChangeApplied(data: Uint8Array): void {
    try {
      const cc = decodeConfChange(data);
      const addr = Buffer.from(cc.context).toString('utf8');
      if (cc.type === ConfChangeType.RemoveNode) {
        if (cc.nodeId === this.cfg.id) this.removal.learned('its removal was applied');
        else if (this.role === Role.Leader) tellRemoved(this.transport, cc.nodeId);
        else this.transport.removePeer(cc.nodeId);
      } else if (cc.nodeId !== this.cfg.id) {
        // The address a change carries is the member's from then on (an update moves it).
        if (addr && this.cfg.peers.get(cc.nodeId) !== addr) {
          if (this.cfg.peers.has(cc.nodeId)) this.log.info({ node: cc.nodeId, from: this.cfg.peers.get(cc.nodeId), to: addr }, 'member address changed');
          this.cfg.peers.set(cc.nodeId, addr);
        }
        const dial = dialAddress(this.cfg, cc.nodeId);
        if (dial) this.transport.setPeer(cc.nodeId, dial);
      }
      const st = this.raft.status();
      this.members_ = { voters: [...st.confState.voters], learners: [...st.confState.learners] };
      this.log.info({ change: ConfChangeType[cc.type], node: cc.nodeId, voters: this.members_.voters, learners: this.members_.learners }, 'membership changed');
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'cannot decode conf change');
    }
  }

  // ------------------------------------------------------------------ inbound

  private isMember(id: number): boolean {
    if (this.members_.voters.includes(id) || this.members_.learners.includes(id)) return true;
    // A member that has just joined knows no configuration yet: it takes the leader's word for
    // it, and the leader is among the members its --peers names.
    return this.members_.voters.length === 0 && this.members_.learners.length === 0 && (this.cfg.join || !!this.identity?.joined) && this.cfg.peers.has(id);
  }

  /** What src/membership/ops.ts needs from this node. */
  private membershipHost(): MembershipHost {
    return {
      selfId: this.cfg.id,
      isLeader: () => this.role === Role.Leader,
      leaderId: () => this.leaderId,
      raftStatus: () => this.livenessStatus(),
      knownIds: () => [...this.cfg.peers.keys(), ...(this.identity?.peers ? Object.keys(this.identity.peers).map(Number) : [])],
      addressOf: (id) => this.addressOf(id),
      propose: (cc) => {
        const r = this.raft.proposeConfChange(cc);
        if (r.ok) this.schedule();
        return r;
      },
      applied: (index, term, deadline) => this.track(this.proposals.add(index, term, deadline)),
      confAfter: async (index, deadline) => {
        while (this.appliedIndex < index && Date.now() < deadline && !this.stopped) await sleep(this.cfg.tickMs);
        return this.appliedIndex >= index ? this.members_ : null;
      },
      batchDone: () => this.serializableBarrier(),
      transferLeadership: (to) => {
        if (this.role === Role.Leader) this.transferAskedAt = Date.now();
        this.raft.transferLeadership(to);
        this.schedule();
      },
      leaderChangeOrTimeout: (ms) => this.leaderWait.changeOrTimeout(ms),
      forward: (leader, req, deadline) => this.transport.forward(leader, { kind: { $case: 'membership', value: req } }, deadline),
      caughtUpWithLeader: (deadline) => this.readBarrier(false, deadline),
      errorFromReply: (reply) => errorOfReply(reply, (id) => this.addressOf(id)),
    };
  }

  /** An operator's membership change or leader move (src/membership/ops.ts), from any member. */
  changeMembership(req: MembershipRequest, deadline = this.deadline()): Promise<number> {
    this.guard();
    return this.track(this.membership.execute(req, deadline));
  }

  /**
   * Heartbeat round trips feed placement_raft_peer_round_trip_seconds. One probe per peer at a
   * time (heartbeats carry no id to match replies with); a probe whose reply was lost is dropped
   * after a second, so it cannot turn into a huge bogus sample.
   */
  private startRttProbe(peer: number, now: number): void {
    const sent = this.rttProbes.get(peer);
    if (sent === undefined || now - sent > 1000) this.rttProbes.set(peer, now);
  }

  private endRttProbe(peer: number): void {
    const sent = this.rttProbes.get(peer);
    if (sent === undefined) return;
    this.rttProbes.delete(peer);
    this.metrics?.observePeerRtt(peer, (performance.now() - sent) / 1000);
  }

  private onMessages(msgs: Message[]): void | Promise<void> {
    if (this.stopped || this.paused || !this.raft) return;
    const now = performance.now();
    for (const m of msgs) {
      this.metrics?.messageReceived(MessageType[m.type] ?? String(m.type));
      this.removal.heardFrom(m.from);
      this.heardAt.set(m.from, now);
      if (m.type === MessageType.HeartbeatResponse) this.endRttProbe(m.from);
      else if (m.type === MessageType.ReadIndex) {
        this.readCarriers = true;
        this.lastReadIndexAt = performance.now();
      }
      try {
        this.raft.step(m);
      } catch (err) {
        this.log.error({ err: (err as Error).message, from: m.from, type: m.type }, 'raft rejected a malformed message');
      }
    }
    this.inboundSinceReady += msgs.length;
    this.schedule();
    if (this.inboundSinceReady > 20_000) return new Promise((r) => this.inboundWaiters.push(r));
  }

  private releaseInbound(): void {
    this.inboundSinceReady = 0;
    for (const w of this.inboundWaiters.splice(0)) w();
  }

  // ------------------------------------------------------------------ snapshots

  /** Must be called when no apply batch is in flight (from the apply chain): the state machine's
   *  view is taken synchronously, at exactly `appliedIndex`. */
  private async takeSnapshot(): Promise<boolean> {
    const index = this.appliedIndex;
    this.bytesSinceSnapshot = 0;
    this.snapshotWanted = false;
    const t0 = Date.now();
    try {
      const meta = this.raft.snapshotMetaAt(index);
      const info = await this.sm.createSnapshot(this.store, { confState: meta.confState, index });
      await this.wal.save({ snapshot: info.meta });
      const prev = this.lastSnapIndex;
      this.lastSnapIndex = info.meta.index;
      this.lastSnapSize = info.size;
      this.metrics?.snapshotTaken((Date.now() - t0) / 1000, info.size);
      // Keep at most --snapshot-catchup-entries behind this snapshot (fewer when the previous one
      // is closer): members slightly behind still catch up from the log, and the log held in memory
      // (every entry of it surviving garbage collections until then) stays near one snapshot
      // interval instead of two. A member behind the compaction point is sent the newest
      // snapshot (withSnapshotFile). Never past a snapshot still on its way to a member: it
      // needs the entries after it.
      this.snapshotBytes.mark(index);
      const wanted = Math.max(prev, info.meta.index - this.cfg.snapshotCatchupEntries);
      const floor = this.raft.compactionFloor();
      const limit = Math.max(COMPACTION_HOLD_SNAPSHOTS * this.cfg.snapshotBytes, COMPACTION_HOLD_MIN_BYTES);
      const held = Number.isFinite(floor) ? this.snapshotBytes.since(floor) : 0;
      const choice = compactionPoint(wanted, floor, held, limit);
      const compactTo = choice.to;
      if (choice.heldBack) this.log.info({ wanted, floor, heldBytes: held }, 'log compaction held back: a snapshot is on its way to a member');
      if (choice.released) this.log.warn({ floor, heldBytes: held, limitBytes: limit }, 'log compaction no longer held back for a snapshot still on its way: the log after it is over the bound; that member will need a newer snapshot');
      if (compactTo > 0) {
        this.pendingCompact = compactTo;
        this.schedule();
        await this.wal.compact(compactTo);
      }
      this.log.info({ index: info.meta.index, bytes: info.size, ms: Date.now() - t0, compactedTo: compactTo }, 'snapshot taken');
      return true;
    } catch (err) {
      this.log.error({ err: (err as Error).message, index }, 'snapshot failed');
      return false;
    }
  }

  private async installSnapshot(meta: SnapshotMeta): Promise<void> {
    const t0 = Date.now();
    const info = this.store.find(meta);
    if (!info) throw new Error(`snapshot ${meta.index}/${meta.term} to install is not in the store`);
    await this.sm.installSnapshot(this.store.openReader(meta));
    this.forwards.gap();
    await this.leases.snapshotInstalled();
    this.appliedIndex = meta.index;
    this.reads.onApplied(this.appliedIndex);
    this.applyListener?.reset(this.sm.revision);
    this.lastSnapIndex = Math.max(this.lastSnapIndex, meta.index);
    this.lastSnapSize = info.size;
    this.members_ = { voters: [...meta.confState.voters], learners: [...meta.confState.learners] };
    this.metrics?.snapshotInstalled((Date.now() - t0) / 1000, info.size);
    this.log.info({ index: meta.index, term: meta.term, bytes: info.size, ms: Date.now() - t0 }, 'snapshot installed');
  }

  private async receiveSnapshot(meta: SnapshotMeta): Promise<SnapshotSink> {
    const existing = this.store.find(meta);
    if (existing) {
      // Already have it: swallow the bytes.
      return { write: async () => {}, commit: async () => {}, abort: async () => {} };
    }
    const rx = await this.store.beginReceive(meta);
    return {
      write: (chunk) => rx.write(chunk),
      commit: async () => {
        await rx.commit();
      },
      abort: () => rx.abort(),
    };
  }

  private async openSnapshot(meta: SnapshotMeta): Promise<SnapshotSource> {
    const r = this.store.openReader(meta, { chunkSize: 256 * 1024 });
    return { size: r.size, chunks: r.chunks() };
  }

  // ------------------------------------------------------------------ damage and rejoin

  /**
   * Checks the state machine's table files against their checksums (in slices, between which
   * the event loop runs). Runs every --sm-check-interval-ms; damage starts a rebuild. Resolves with
   * the problems found.
   */
  async verifyStateMachine(): Promise<string[]> {
    if (this.smHealth.fault !== null || this.paused || this.stopped) return [];
    const sm = this.sm;
    const problems = await sm.verifyTables();
    if (sm !== this.sm) return []; // replaced meanwhile
    const out = problems.map((p) => `${p.file}${p.offset !== undefined ? ` at offset ${p.offset}` : ''}: ${p.reason}`);
    if (out.length > 0) this.onStateMachineDamage(new Error(out.join('; ')));
    else this.smHealth.lastCheck = `checksums verified ${new Date().toISOString()}`;
    return out;
  }

  /**
   * The state machine can no longer be trusted: stop serving reads and applying, then rebuild it
   * from the newest snapshot and the log, in place (durable-state.ts moves the damaged database
   * aside; nothing is deleted). Needs nothing from the other members: the log holds every entry
   * after the newest snapshot. When that cannot be done (no usable snapshot file), the node stays
   * up and not ready, with the way back in /readyz.
   */
  private onStateMachineDamage(err: Error): void {
    if (this.smHealth.fault !== null || this.stopped) return;
    this.smHealth.fault = err.message;
    this.log.error({ err: err.message }, 'state machine damaged: not ready, reads refused, nothing applied; rebuilding it from the snapshot and the log');
    void this.rebuildStateMachine(err.message);
  }

  private async rebuildStateMachine(reason: string): Promise<void> {
    this.smHealth.rebuilding = true;
    this.paused = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    await this.loopDone();
    await this.applyChain;
    const gone = (): PlacementError => new PlacementError('UNAVAILABLE', 'this member is rebuilding its state machine; the outcome is unknown, retry with the same client_id/seq', this.leaderId, this.addressOf(this.leaderId));
    this.proposals.failAll(gone);
    this.reads.failAll(gone);
    this.unpersistedApply = false;
    for (const w of this.persistWaiters.splice(0)) w();
    this.applyBacklog = 0;
    const t0 = Date.now();
    try {
      if (this.deferredHardState) await this.wal.save({ hardState: this.deferredHardState });
      this.deferredHardState = undefined;
      await this.wal.close();
      await this.sm.close().catch(() => undefined);
      await this.openStorage(reason);
      this.forwards.gap();
      // Watchers read history from the new state machine; the log replay re-applies revisions
      // they were already sent, which the hub does not send again.
      this.applyListener?.reset(this.sm.revision);
    } catch (e) {
      const why = e instanceof StartupRefusal ? `${e.what}. Way back: ${e.wayBack}` : (e as Error).message;
      this.smHealth.stuck = why;
      this.smHealth.rebuilding = false;
      this.log.fatal({ err: why }, 'state machine rebuild failed: this member stays out of the cluster (not ready) until an operator acts');
      return;
    }
    this.smHealth.rebuilds++;
    this.smHealth.fault = null;
    this.smHealth.rebuilding = false;
    this.smHealth.lastCheck = `rebuilt ${new Date().toISOString()} (${reason})`;
    this.log.warn({ ms: Date.now() - t0, applied: this.appliedIndex }, 'state machine rebuilt; replaying the log');
    this.paused = false;
    if (this.stopped) return;
    this.startTicking();
    this.schedule();
  }

  /**
   * One timer drives the core's ticks and the housekeeping (every HOUSEKEEPING_MS): an idle member
   * wakes up as seldom as it can, and each wakeup costs ~150 µs of CPU on a small VM. The driver
   * loop runs only when the tick gave the core something to do (or reads wait for a round).
   */
  private startTicking(): void {
    this.lateTicks.reset();
    let housekeptAt = performance.now();
    this.tickTimer = setInterval(() => {
      const now = performance.now();
      this.lateTicks.tick(now);
      this.raft.tick();
      if (now - housekeptAt >= HOUSEKEEPING_MS) {
        housekeptAt = now;
        this.housekeeping();
      }
      if (this.raft.hasReady() || this.reads.hasQueued()) this.schedule();
    }, this.cfg.tickMs);
  }

  private onLateTick(gapMs: number): void {
    this.metrics?.lateTick();
    const electionMs = this.cfg.tickMs * this.cfg.electionTicks;
    const fields = { gapMs: Math.round(gapMs), tickMs: this.cfg.tickMs, electionTimeoutMs: electionMs, role: this.role };
    if (this.role === Role.Leader) this.log.warn(fields, 'leader ticked late: the event loop was blocked and heartbeats went out late (an overloaded node or a slow disk)');
    else this.log.info(fields, 'ticked late: the event loop was blocked');
  }

  /** The core caught up with the leader after a rejoin: forget the marker (the log is durable by now). */
  private finishRejoin(): void {
    this.rejoining = false;
    const path = rejoinMarkerPath(this.cfg.dataDir);
    void unlink(path)
      .then(() => fsyncDir(this.cfg.dataDir))
      .then(
        () => this.log.info('rejoin complete: caught up with the leader, voting again'),
        (err: Error) => this.log.error({ err: err.message, path }, 'rejoin complete, but its marker could not be removed (the next start rejoins again)'),
      );
  }

  /** A damaged state machine serves no reads. */
  private readable(): void {
    this.smHealth.guardRead();
  }

  /** A read of stored state failed: damage (or damaged bytes that did not decode). */
  private smReadFailed(err: unknown): never {
    const code = (err as { code?: string }).code;
    if (!(err instanceof PlacementError) && code !== 'LEVEL_DATABASE_NOT_OPEN' && code !== 'LEVEL_ITERATOR_NOT_OPEN') {
      this.onStateMachineDamage(isStateMachineDamage(err) ? (err as Error) : new Error(`reading stored state failed: ${(err as Error).message}`));
      this.smHealth.guardRead();
    }
    throw err;
  }

  // ------------------------------------------------------------------ housekeeping

  private housekeeping(): void {
    const now = Date.now();
    this.flushDeferredHardState(now);
    this.proposals.expire(now);
    this.reads.expire(now);
    if (this.reads.stale(now, this.cfg.tickMs * this.cfg.electionTicks)) {
      this.reads.unissue();
      this.kickReads();
    }
  }

  private flushDeferredHardState(now: number): void {
    if (!this.deferredHardState || this.loopRunning || this.stopped || now - this.deferredSince < DEFERRED_HARD_STATE_FLUSH_MS) return;
    const hardState = this.deferredHardState;
    this.deferredHardState = undefined;
    this.wal.save({ hardState }).catch((err: Error) => this.fatal(err));
  }

  /** Bytes of log entries applied since start (paces the space-quota check). */
  appliedBytes(): number {
    return this.snapshotBytes.total;
  }

  private dbSize(): number {
    const now = Date.now();
    if (now - this.dbSizeCache.at > 10_000) {
      this.dbSizeCache = { at: now, bytes: dirSize(join(this.cfg.dataDir, 'sm')) };
    }
    return this.dbSizeCache.bytes;
  }

  // ------------------------------------------------------------------ leadership helpers

  addressOf(id: number): string {
    return id ? (this.cfg.peers.get(id) ?? '') : '';
  }

  private noLeader(): PlacementError {
    return new PlacementError('UNAVAILABLE', `no leader (member ${this.cfg.id} is ${this.role} in term ${this.term}); retry later`, this.leaderId, this.addressOf(this.leaderId));
  }

  // ------------------------------------------------------------------ writes

  /**
   * Proposes locally (leader) or forwards to the leader; resolves with the applied result. `by`:
   * the caller of the request it serves (src/auth/context.ts: callerOf), recorded on the command
   * for the apply-time re-check, or undefined for the cluster's own work. Required, so that every
   * proposer says which. `deadline` undefined: the request timeout from now.
   */
  propose(cmd: Command, deadline: number | undefined, by: CommandCaller | undefined): Promise<CommandResult> {
    if (!this.accepting()) return Promise.reject(new PlacementError('UNAVAILABLE', 'node is shutting down'));
    cmd.caller ??= by;
    deadline ??= this.deadline();
    if (this.leaderId === this.cfg.id) {
      // Fast path on the leader: propose right away (no async retry loop per request).
      let r: Promise<CommandResult> | null;
      try {
        r = this.proposeLocal(cmd, deadline);
      } catch (err) {
        return Promise.reject(err);
      }
      if (r) return this.track(r);
    }
    return this.track(this.proposeLoop(cmd, deadline));
  }

  private async proposeLoop(cmd: Command, deadline: number): Promise<CommandResult> {
    const giveUp = Math.min(deadline, Date.now() + this.cfg.leaderWaitMs + this.cfg.requestTimeoutMs);
    // Why the last forward did not reach the leader: the error if the wait for another runs out.
    let unreachable: LeaderUnreachableError | null = null;
    for (;;) {
      if (this.stopped) throw new PlacementError('UNAVAILABLE', 'node is shutting down');
      const leader = await this.leaderWait.leader(deadline);
      if (leader === this.cfg.id) {
        const r = this.proposeLocal(cmd, deadline);
        if (r) return r;
      } else {
        const r = await forwardCommand(this.forwardHost, leader, cmd, deadline);
        if (r instanceof PlacementError) {
          // Once one attempt's outcome is unknown (a command with a client id is sent again),
          // the request's stays unknown, whatever later attempts say.
          if (unreachable === null || unreachable.fate !== 'unknown') unreachable = r;
        } else if (r) return r;
      }
      // Nothing was proposed (not leader / transferring / leader unreachable): wait for the next
      // leader and retry.
      if (Date.now() >= giveUp) throw unreachable ?? this.noLeader();
      await this.leaderWait.changeOrTimeout(Math.min(this.cfg.tickMs * 2, Math.max(1, giveUp - Date.now())));
    }
  }

  /** Null when this node cannot propose right now (nothing was proposed). */
  private proposeLocal(cmd: Command, deadline: number, inTerm = 0): Promise<CommandResult> | null {
    // Every proposal, a forwarded one included, meets the limits followers check entries against.
    const problem = commandProblem(cmd, this.cfg);
    if (problem !== null) throw invalidArgument(problem);
    // `cmd` is this request's own object (built by the handler or decoded from a forward): stamp
    // the leader's time in place instead of copying it on every write.
    cmd.leaderTimeMs = Date.now();
    const data = encodeMessage(Command, cmd);
    const r = this.raft.propose(data, inTerm);
    if (!r.ok) {
      if (r.reason === 'too-large') throw new PlacementError('INVALID_ARGUMENT', 'command too large for one Raft entry');
      return null;
    }
    this.schedule();
    return this.proposals.add(r.index, r.term, deadline);
  }

  /** Leader side of Forward. Never forwards again (no multi-hop). */
  private async onForward(req: ForwardRequest, deadline: number): Promise<ForwardReply> {
    const base: ForwardReply = { errorCode: 0, errorMessage: '', leaderId: this.leaderId, result: undefined, term: this.term, members: [], leaderLastIndex: 0, memberId: 0 };
    // Nothing is proposed: the forwarder waits for the next leader, as on "not leader".
    if (!this.accepting()) return { ...base, errorCode: grpc.status.FAILED_PRECONDITION, errorMessage: `not leader (member ${this.cfg.id} is shutting down)` };
    const kind = req.kind;
    if (!kind) return { ...base, errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: 'empty forward request' };
    if (kind.$case === 'membership' && kind.value.op === 'removed') {
      const refused = this.removal.notice(kind.value.id, req.from);
      return refused === null ? base : { ...base, errorCode: grpc.status.INVALID_ARGUMENT, errorMessage: refused };
    }
    if (this.role !== Role.Leader) return { ...base, errorCode: grpc.status.FAILED_PRECONDITION, errorMessage: `not leader (member ${this.cfg.id})` };
    try {
      if (kind.$case === 'command') {
        const p = this.proposeLocal(kind.value, deadline, req.term);
        if (!p) return { ...base, errorCode: grpc.status.FAILED_PRECONDITION, errorMessage: `not leader (member ${this.cfg.id} cannot propose now in term ${req.term || this.term})` };
        const result = await this.track(p);
        return { ...base, result };
      }
      if (kind.$case === 'membership') return { ...base, memberId: await this.track(this.membership.onLeader(kind.value, deadline)) };
      const st = this.raft.status();
      return {
        ...base,
        leaderLastIndex: st.lastIndex,
        members: st.progress.map((p) => ({ id: p.id, isLearner: p.isLearner, matchIndex: p.match, lag: Math.max(0, st.lastIndex - p.match) })),
      };
    } catch (err) {
      const pe = err instanceof PlacementError ? err : new PlacementError('INTERNAL', (err as Error).message);
      return { ...base, errorCode: toGrpcStatus(pe.code), errorMessage: pe.message, leaderId: pe.leaderId || this.leaderId };
    }
  }

  // ------------------------------------------------------------------ reads

  readBarrier(serializable: boolean, deadline: number): Promise<void> {
    if (serializable) return this.serializableBarrier();
    if (this.cfg.plantedBug === 'local-reads') return RESOLVED; // PLANTED BUG (test-only): no ReadIndex
    if (!this.leaderId) return this.readBarrierSlow(deadline);
    // Fast path (a leader is known): join the next ReadIndex round without extra awaits. The
    // table counts outcomes for the metrics (onOutcome).
    const p = this.reads.add(deadline);
    this.kickReads();
    return p;
  }

  private async readBarrierSlow(deadline: number): Promise<void> {
    try {
      await this.leaderWait.leader(deadline);
    } catch (err) {
      this.metrics?.readIndex((err as PlacementError).code ?? 'error');
      throw err;
    }
    const p = this.reads.add(deadline);
    this.kickReads();
    return p;
  }

  /** Queued reads start their round from the driver loop (see issueReadRound). */
  private kickReads(): void {
    this.schedule();
  }

  /**
   * Starts a ReadIndex round for the queued reads, if none is in flight. Called at the top of
   * every driver-loop pass: the reads that arrived in this turn of the event loop share one
   * round, and the round leaves in the same Ready as whatever else this pass sends. That is
   * what lets rounds ride on other traffic: a follower's ReadIndex carries its acknowledgement
   * of the leader's read rounds (readSeq), and a leader's round needs no heartbeat of its own
   * when its ReadIndexResponses and Appends go out in the same Ready (raft/README.md).
   */
  private issueReadRound(): void {
    const carriers = this.readCarriers;
    this.readCarriers = false;
    if (!this.reads.hasQueued() || !this.leaderId) return;
    if (this.role === Role.Leader && !carriers) {
      // No follower's ReadIndex arrived for this pass, so no ReadIndexResponse would carry the
      // round. If followers are reading (one arrived within READ_CARRIER_WINDOW_MS), wait up to
      // READ_CARRIER_WAIT_MS for the next; otherwise go alone, with heartbeats.
      const now = performance.now();
      if (now - this.lastReadIndexAt < READ_CARRIER_WINDOW_MS) {
        if (this.readDeferredAt === 0) {
          this.readDeferredAt = now;
          setTimeout(() => this.schedule(), READ_CARRIER_WAIT_MS).unref();
          return;
        }
        if (now - this.readDeferredAt < READ_CARRIER_WAIT_MS) return;
      }
    }
    this.readDeferredAt = 0;
    const ctx = this.reads.nextRound(Date.now());
    if (!ctx) return;
    if (!this.raft.readIndex(ctx)) this.reads.unissue();
  }

  async getKv(key: string): Promise<KeyValue | null> {
    const v = this.getKvSync(key);
    if (v !== undefined) return v;
    try {
      return (await this.sm.get(key)) ?? null;
    } catch (err) {
      return this.smReadFailed(err);
    }
  }

  /**
   * The key's current value read synchronously (classic-level getSync: no thread-pool round
   * trip). `undefined` means "could not read synchronously" (the database is being swapped by a
   * snapshot install): use getKv(). Same view as getKv: the last applied batch.
   */
  getKvSync(key: string): KeyValue | null | undefined {
    this.readable();
    try {
      return this.sm.getSync(key) ?? null;
    } catch (err) {
      if ((err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN') return undefined;
      return this.smReadFailed(err);
    }
  }

  async listKv(prefix: string, startAfter: string, limit: number, keysOnly: boolean): Promise<ListPage> {
    this.readable();
    // Bounded by bytes as well as count: a page of big values stops early and says how to continue.
    try {
      const r = await this.sm.list(prefix, { startAfter: startAfter || undefined, limit, keysOnly, maxBytes: this.cfg.maxResponseBytes });
      return { kvs: r.kvs, more: r.more, nextKey: r.nextKey };
    } catch (err) {
      return this.smReadFailed(err);
    }
  }

  /** Users, roles and the auth flag as of the last applied batch (storage/auth). */
  authState(): AuthSnapshot {
    return this.sm.auth;
  }

  /** The replicated keyspace, for the API modules that read it directly (src/api/etcd, src/compaction). */
  get keyspace(): StateMachine {
    return this.sm;
  }

  /** The leader this member knows of; 0 when it knows none (cheaper than raftStatus()). */
  get knownLeader(): number {
    return this.leaderId;
  }

  /** Whether this member is a learner in the membership it has applied. */
  get isLearner(): boolean {
    return this.members_.learners.includes(this.cfg.id);
  }

  /** The Raft term this node last saw. */
  get raftTerm(): number {
    return this.term;
  }

  isLeader(): boolean {
    return this.role === Role.Leader;
  }

  compact(revision: number, physical: boolean, by: CommandCaller | undefined): Promise<{ revision: number; compactRevision: number }> {
    this.guard();
    return compactKeyspace(this, revision, physical, this.deadline(), by);
  }

  header(): ResponseHeader {
    return { clusterId: this.cfg.clusterId, memberId: this.cfg.id, raftTerm: this.term, revision: this.sm.revision };
  }

  // ------------------------------------------------------------------ status

  raftStatus(): RaftStatus {
    return this.raft.status();
  }

  /**
   * The Raft status with a peer heard from within the election timeout counted as recently active
   * (withRecentContact): what membership changes judge liveness by, and what status shows, so
   * that the two agree.
   */
  private livenessStatus(): RaftStatus {
    const st = this.raft.status();
    return { ...st, progress: withRecentContact(st.progress, this.heardAt, performance.now(), this.cfg.electionTicks * this.cfg.tickMs) };
  }

  clusterStatus(): ClusterStatus {
    return clusterStatusOf(this.livenessStatus(), this.cfg, { appliedIndex: this.appliedIndex, snapshotIndex: this.lastSnapIndex, revision: this.sm.revision });
  }

  // ------------------------------------------------------------------ AdminBackend

  async status(): Promise<ClusterStatus> {
    return this.clusterStatus();
  }

  async members(deadline = Date.now() + this.cfg.requestTimeoutMs): Promise<MemberInfo[]> {
    const local = this.clusterStatus();
    if (this.role === Role.Leader || !this.leaderId || this.leaderId === this.cfg.id) return local.members;
    try {
      const reply = await this.transport.forward(this.leaderId, { kind: { $case: 'members', value: true } }, Math.min(deadline, Date.now() + 2000));
      if (reply.errorCode !== 0) return local.members;
      const byId = new Map(reply.members.map((m) => [m.id, m]));
      return local.members.map((m) => {
        const r = byId.get(m.id);
        return r ? { ...m, matchIndex: r.matchIndex, lag: r.lag } : m;
      });
    } catch {
      return local.members;
    }
  }

  private deadline(): number {
    return Date.now() + this.cfg.requestTimeoutMs;
  }

  private guard(): void {
    if (!this.accepting()) throw new PlacementError('UNAVAILABLE', 'node is shutting down');
  }

  async get(key: string, opts?: ReadOptions): Promise<KeyValue | null> {
    this.guard();
    await this.readBarrier(!!opts?.serializable, this.deadline());
    return this.getKv(key);
  }

  async list(opts: ListOptions, read?: ReadOptions): Promise<ListPage> {
    this.guard();
    await this.readBarrier(!!read?.serializable, this.deadline());
    return this.listKv(opts.prefix, opts.startAfter, opts.limit, opts.keysOnly);
  }

  async getUser(name: string, opts?: ReadOptions): Promise<User | null> {
    this.guard();
    await this.readBarrier(!!opts?.serializable, this.deadline());
    this.readable();
    return (await this.sm.getUser(name)) ?? null;
  }

  async listUsers(opts?: ReadOptions): Promise<User[]> {
    this.guard();
    await this.readBarrier(!!opts?.serializable, this.deadline());
    this.readable();
    return this.sm.listUsers();
  }

  async getConfig(name: string, opts?: ReadOptions): Promise<ConfigEntry | null> {
    this.guard();
    await this.readBarrier(!!opts?.serializable, this.deadline());
    this.readable();
    return (await this.sm.getConfig(name)) ?? null;
  }

  async listConfig(opts?: ReadOptions): Promise<ConfigEntry[]> {
    this.guard();
    await this.readBarrier(!!opts?.serializable, this.deadline());
    this.readable();
    return this.sm.listConfig();
  }

  /** Keys attached to a lease, as stored (the last applied batch). */
  leaseKeys(id: number): Promise<Buffer[]> {
    return this.sm.leaseKeysRaw(id);
  }

  revokeLease(id: number, by: CommandCaller | undefined): Promise<CommandResult> {
    this.guard();
    return this.leases.revoke(id, this.deadline(), by);
  }

  async listLeases(opts?: ReadOptions): Promise<Lease[]> {
    this.guard();
    await this.readBarrier(!!opts?.serializable, this.deadline());
    this.readable();
    return this.sm.listLeases();
  }

  stateHash(): Promise<{ appliedIndex: number; revision: number; hash: string }> {
    return this.sm.digest();
  }

  async livez(): Promise<HealthCheck[]> {
    return [{ name: 'process', ok: true, detail: `pid ${process.pid}` }];
  }

  async readyz(): Promise<HealthCheck[]> {
    return readinessChecks(this.raft.status(), {
      stateMachine: this.smHealth.readyCheck(),
      appliedIndex: this.appliedIndex,
      storageError: this.storageError,
      stopped: this.stopped,
      accepting: this.accepting(),
    });
  }
}

const RESOLVED: Promise<void> = Promise.resolve();

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function dirSize(dir: string): number {
  let total = 0;
  try {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      const s = statSync(p);
      total += s.isDirectory() ? dirSize(p) : s.size;
    }
  } catch {
    // racing with a snapshot install
  }
  return total;
}
