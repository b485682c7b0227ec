// RaftNode: the whole consensus state machine behind a small imperative API. Inputs are
// tick(), step(message) and the client calls; outputs accumulate until the application takes
// them with ready() and acknowledges them with advance(). See raft/README.md for the contract.

import { applyConfChange, cloneConfState, decodeConfChange, encodeConfChange, isMember, isVoter } from './conf-change.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import { committedIndex, quorumSize, voteResult, VoteResult } from './quorum.js';
import { ReadOnly, decodeReadSeq, decodeSentAt, encodeReadSeq } from './read-only.js';
import { checkRestartState } from './restart.js';
import { EntryType, MessageType, NONE, ProgressState, Role } from './types.js';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  PeerProgress,
  PlantedBugs,
  ProposeResult,
  RaftConfig,
  RaftInitialState,
  RaftStatus,
  ReadState,
  Ready,
  Snapshot,
  SnapshotMeta,
  SoftState,
} from './types.js';

// Local aliases: under loaders that compile ESM to CommonJS (tsx), every access to an imported
// binding is a getter call; on the hot path that cost more than the Raft logic itself.
const MT = MessageType;
const R = Role;
const PS = ProgressState;
const ET = EntryType;

const NO_ENTRIES: Entry[] = Object.freeze([]) as unknown as Entry[];
const NO_BYTES = new Uint8Array(0);
/** Vote context marking a campaign forced by leadership transfer: voters skip the lease check. */
const CAMPAIGN_TRANSFER = new Uint8Array([0x54]);

function isTransferCtx(ctx: Uint8Array): boolean {
  return ctx.length === 1 && ctx[0] === 0x54;
}

/** Context of a rejoining member's AppendResponse/HeartbeatResponse: "do not count me". */
const REJOINING = new Uint8Array([0x52, 0x4a]);
/** Context of a leader's Append/Snapshot to a member it counts towards nothing any more. */
const REJOIN_SEEN = new Uint8Array([0x52, 0x53]);
/** Context of a member's AppendResponses for the rest of the term in which it caught up. */
const REJOINED = new Uint8Array([0x52, 0x44]);
/**
 * Context of an Append that only broadcasts a new commit index to a member in steady replication:
 * the entries before it went out earlier, and their own acceptances answer for them, so accepting
 * this one would tell the leader nothing. The member does not answer it. At one write at a time
 * that was two of the leader's ~8 wake-ups per write and a send by each follower. A rejection, a
 * read round's echo and a rejoin marker are still answered; check-quorum and the recovery from a
 * lost acceptance rest on heartbeats, whose follow-up Appends are never marked.
 */
const COMMIT_ONLY = new Uint8Array([0x43, 0x4f]);

function isCtx(ctx: Uint8Array, marker: Uint8Array): boolean {
  return ctx.length === 2 && ctx[0] === marker[0] && ctx[1] === marker[1];
}

interface ConfRecord {
  /** Index of the ConfChange entry. */
  index: number;
  /** Configuration from that entry on. */
  conf: ConfState;
}

export class RaftNode {
  readonly id: NodeId;
  private readonly electionTick: number;
  private readonly heartbeatTick: number;
  private readonly random: () => number;
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;
  private readonly maxInflightBytes: number;
  private readonly leaseRead: boolean;
  private readonly bugs: PlantedBugs;
  private readonly logger: RaftConfig['logger'];

  private term: number;
  private vote: NodeId;
  private lead: NodeId = NONE;
  private role: Role = R.Follower;
  private readonly log: RaftLog;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  /** Ticks since the current leadership transfer began (its own timer: see transferLeadership). */
  private transferElapsed = 0;
  /** Ticks over the node's lifetime; the leader's lease is measured on it. */
  private clock = 0;
  /** This leader sent TimeoutNow in its term: its target may win without waiting out any lease. */
  private timeoutNowSent = false;
  /** Lease mode, restarted member: it may have acknowledged a leader's heartbeat just before the
   *  crash, so it ignores campaigns for its first electionTick ticks as if it were in a lease. */
  private readonly restartLease: boolean;
  private randomizedElectionTimeout = 0;
  /** Started with `rejoin` and not yet caught up with a leader (see RaftInitialState.rejoin). */
  private rejoining: boolean;
  /** Rejoining: the leader's commit index in its first message of this term that said it no
   *  longer counts us (-1: none yet). Our commit index passing it ends the rejoin. */
  private rejoinTarget = -1;
  /** The term in which the rejoin ended (its AppendResponses say REJOINED until it ends). */
  private rejoinedTerm = -1;

  /** Configuration as of the snapshot, then one record per ConfChange entry still in the log. */
  private baseConf: ConfState;
  private confLog: ConfRecord[] = [];
  private conf: ConfState;
  private promotable = false;

  private prs = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private leadTransferee: NodeId = NONE;
  private readonly readOnly = new ReadOnly();
  /** Reads that arrived before this leader committed an entry of its own term. */
  private pendingReads: { ctx: Uint8Array; from: NodeId }[] = [];

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  /** Work deferred to the next hasReady()/ready() so that many proposals share one Append. */
  private bcastPending = false;
  private sendPending = false;
  private heartbeatPending = false;
  /** Follower: the highest readSeq this term's leader has sent us (0 after any term or role change). */
  private readSeqSeen = 0;
  /** Follower: readSeqSeen still has to go back to the leader. 1: owed; 2: owed, and a Ready went
   *  by without a message to the leader to carry it, so the next Ready sends a ReadAck. The one
   *  Ready of grace lets the app's next ReadIndex (issued as the last round completes) carry it. */
  private readEcho: 0 | 1 | 2 = 0;

  private prevSoft: SoftState;
  private prevHard: HardState;
  private snapshotHandedOut = false;
  /** Meta of the state the application has applied (index, term, membership), and of the last
   *  committed entry handed out for applying. A snapshot received from the leader drops the
   *  log before the application installs it; meanwhile its state machine still sits at
   *  `applied`, and snapshotMetaAt(applied) must keep working. */
  private appliedMeta: SnapshotMeta | undefined;
  private applyingMeta: SnapshotMeta | undefined;

  constructor(config: RaftConfig, initial: RaftInitialState) {
    if (config.id === NONE) throw new Error('raft: id must be non-zero');
    if (config.heartbeatTick <= 0 || config.electionTick <= config.heartbeatTick) {
      throw new Error('raft: need 0 < heartbeatTick < electionTick');
    }
    this.id = config.id;
    this.electionTick = config.electionTick;
    this.heartbeatTick = config.heartbeatTick;
    this.random = config.random;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.maxSizePerMsg = config.maxSizePerMsg ?? 1 << 20;
    this.maxInflightMsgs = Math.max(1, config.maxInflightMsgs ?? 256);
    this.maxInflightBytes = config.maxInflightBytes ?? 0;
    this.leaseRead = config.readOnlyOption === 'lease';
    if (this.leaseRead && !this.checkQuorum) throw new Error('raft: lease-based reads need checkQuorum');
    this.bugs = config.bugs ?? {};
    this.restartLease = this.leaseRead && initial.hardState.term > 0;
    this.logger = config.logger;

    const lost = checkRestartState(initial);
    if (lost !== undefined && this.bugs.acceptLostLog !== true && (lost.what === 'applied' || initial.rejoin !== true)) {
      throw lost;
    }
    this.rejoining = initial.rejoin === true;
    const snap = initial.snapshot;
    this.log = new RaftLog(snap?.index ?? 0, snap?.term ?? 0, initial.entries);
    this.log.loader = config.loadEntries;
    const hs = initial.hardState;
    this.term = hs.term;
    this.vote = hs.vote;
    // The applied index is durable with the state machine, and whatever was applied was
    // committed, so it is a safe floor for commit even if the hard state lagged behind.
    const commit = Math.min(Math.max(hs.commit, initial.applied, this.log.snapIndex), this.log.lastIndex());
    this.log.committed = commit;
    this.log.applied = Math.min(Math.max(initial.applied, this.log.snapIndex), commit);
    this.log.applying = this.log.applied;

    this.baseConf = cloneConfState(snap?.confState ?? initial.confState);
    this.conf = this.baseConf;
    for (const e of initial.entries) if (e.type === ET.ConfChange) this.recordConf(e);
    this.promotable = isVoter(this.conf, this.id);
    const appliedTerm = this.log.term(this.log.applied);
    if (appliedTerm >= 0) {
      this.appliedMeta = { index: this.log.applied, term: appliedTerm, confState: this.confAt(this.log.applied) };
    }

    this.prevHard = { term: this.term, vote: this.vote, commit: this.log.committed };
    this.prevSoft = { leader: NONE, role: R.Follower };
    this.resetRandomizedElectionTimeout();
  }

  // ---------------------------------------------------------------- public API

  tick(): void {
    this.clock++;
    if (this.role === R.Leader) this.tickHeartbeat();
    else this.tickElection();
  }

  campaign(): void {
    this.hup(false);
  }

  /**
   * `inTerm` (when not 0): propose only while leading in that term. A member that forwards a write
   * names the term it believes the leader leads; the entry then carries exactly that term, which
   * lets the member tell from its own log whether the write can still commit (src/node/forward-outcomes.ts).
   */
  propose(data: Uint8Array, inTerm = 0): ProposeResult {
    if (this.role !== R.Leader || (inTerm !== 0 && inTerm !== this.term)) return { ok: false, reason: 'not-leader', leader: this.lead };
    if (this.leadTransferee !== NONE) return { ok: false, reason: 'transferring', leader: this.lead };
    const index = this.log.lastIndex() + 1;
    this.log.push({ term: this.term, index, type: ET.Normal, data });
    this.bcastPending = true;
    return { ok: true, index, term: this.term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    if (this.role !== R.Leader) return { ok: false, reason: 'not-leader', leader: this.lead };
    if (this.leadTransferee !== NONE) return { ok: false, reason: 'transferring', leader: this.lead };
    // One change at a time, and only after this leader committed an entry of its own term:
    // without the latter, single-server changes can yield two disjoint majorities (Ongaro 2015).
    const latest = this.confLog.length > 0 ? this.confLog[this.confLog.length - 1]!.index : 0;
    if (latest > this.log.committed || this.log.term(this.log.committed) !== this.term) {
      return { ok: false, reason: 'conf-change-pending', leader: this.lead };
    }
    if (cc.nodeId === NONE) return { ok: false, reason: 'invalid', leader: this.lead };
    const next = applyConfChange(this.conf, cc);
    if (next.voters.length === 0) return { ok: false, reason: 'invalid', leader: this.lead };
    const index = this.log.lastIndex() + 1;
    const e: Entry = { term: this.term, index, type: ET.ConfChange, data: encodeConfChange(cc) };
    this.log.push(e);
    this.recordConf(e);
    this.onConfChanged();
    this.bcastPending = true;
    return { ok: true, index, term: this.term };
  }

  readIndex(ctx: Uint8Array): boolean {
    // A rejoining member may be following a deposed leader of a term it forgot it had left;
    // its request would vouch for that leader (see readVouchers).
    if (this.lead === NONE || this.rejoining) return false;
    if (this.role === R.Leader) {
      this.handleReadIndex(ctx, this.id);
      return true;
    }
    this.send(MT.ReadIndex, this.lead, 0, 0, NO_ENTRIES, 0, false, 0, ctx);
    return true;
  }

  transferLeadership(to: NodeId): void {
    if (this.role !== R.Leader) return;
    if (to === this.id) {
      this.leadTransferee = NONE;
      return;
    }
    const pr = this.prs.get(to);
    if (pr === undefined || pr.isLearner || to === this.leadTransferee) return;
    this.leadTransferee = to;
    // The transfer is given one election timeout from now before it is abandoned. It has its
    // own timer: resetting electionElapsed (as etcd does) would postpone the check-quorum, so
    // repeated transfers could keep an isolated leader (and its lease) alive forever.
    this.transferElapsed = 0;
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(to);
    else this.wantSend(pr, false);
  }

  snapshotMetaAt(index: number): SnapshotMeta {
    if (index > this.log.applied) throw new Error(`raft: snapshotMetaAt(${index}) beyond applied ${this.log.applied}`);
    const term = this.log.term(index);
    const am = this.appliedMeta;
    if (term < 0 && am !== undefined && am.index === index) {
      return { index, term: am.term, confState: cloneConfState(am.confState) };
    }
    if (term < 0) throw new Error(`raft: snapshotMetaAt(${index}) is compacted (first index ${this.log.firstIndex()})`);
    return { index, term, confState: cloneConfState(this.confAt(index)) };
  }

  compact(index: number): void {
    if (index <= this.log.snapIndex) return;
    const conf = this.confAt(index);
    this.log.compact(index);
    this.baseConf = conf;
    let k = 0;
    while (k < this.confLog.length && this.confLog[k]!.index <= index) k++;
    if (k > 0) this.confLog = this.confLog.slice(k);
  }

  /**
   * Lets go of the data of the oldest durable, applied entries until at most keepBytes of entry
   * data are held in memory, never past `upTo` (the last index the app can read back through
   * config.loadEntries; without a loader nothing is evicted). A member behind then gets them read
   * back from storage. Returns the number of entries evicted.
   */
  evictLog(keepBytes: number, upTo: number): number {
    if (!this.log.loader) return 0;
    return this.log.evict(keepBytes, upTo);
  }

  /** Bytes of entry data the log holds in memory, and the last index evicted from it. */
  logMemory(): { bytes: number; evictedThrough: number } {
    return { bytes: this.log.hotBytes, evictedThrough: this.log.evictedThrough };
  }

  /**
   * The app is still streaming the snapshot to `id` (call it every tick or so while it is): the
   * leader keeps waiting instead of assuming it lost and sending another. A large snapshot
   * takes far longer to stream than the fallback's two election timeouts.
   */
  reportSnapshotProgress(id: NodeId): void {
    if (this.role !== R.Leader) return;
    const pr = this.prs.get(id);
    if (pr !== undefined && pr.state === PS.Snapshot) pr.snapshotTicks = 0;
  }

  /**
   * The lowest index the log may be compacted to without taking away the entries right after a
   * snapshot some member is being sent (or was sent and has not acknowledged yet); Infinity when
   * no snapshot is out. The app caps its compaction with it.
   */
  compactionFloor(): number {
    let floor = Infinity;
    if (this.role !== R.Leader) return floor;
    for (const pr of this.prs.values()) if (pr.id !== this.id && pr.snapshotFloor > 0) floor = Math.min(floor, pr.snapshotFloor);
    return floor;
  }

  reportUnreachable(id: NodeId): void {
    if (this.role !== R.Leader) return;
    const pr = this.prs.get(id);
    if (pr !== undefined && pr.state === PS.Replicate) pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.role !== R.Leader) return;
    const pr = this.prs.get(id);
    if (pr === undefined || pr.state !== PS.Snapshot) return;
    if (!ok) {
      pr.pendingSnapshot = 0;
      pr.dropSnapshotFloor();
    }
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing, as the follower may be busy installing.
    pr.probeSent = true;
  }

  step(m: Message): void {
    if (m.term > this.term) {
      if (m.type === MT.Vote || m.type === MT.PreVote) {
        // A member that heard from a live leader within the election timeout ignores
        // campaigns, so a partitioned or removed server cannot depose a healthy leader.
        const inLease =
          this.checkQuorum &&
          ((this.lead !== NONE && this.electionElapsed < this.electionTick) ||
            (this.restartLease && this.clock < this.electionTick));
        if (inLease && !isTransferCtx(m.context)) return;
      }
      if (m.type === MT.PreVote) {
        // Pre-votes never change our term.
      } else if (m.type === MT.PreVoteResponse && !m.reject) {
        // A granted pre-vote echoes the future term we asked about; we only adopt it by campaigning.
      } else if (m.type === MT.Append || m.type === MT.Heartbeat || m.type === MT.Snapshot) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.term) {
      switch (m.type) {
        case MT.Append:
        case MT.Heartbeat:
        case MT.Snapshot:
          // Reply false (§5.1): our higher term tells a stale leader to step down.
          this.send(MT.AppendResponse, m.from, 0, 0, NO_ENTRIES, 0, true, 0, NO_BYTES);
          return;
        case MT.Vote:
          this.send(MT.VoteResponse, m.from, 0, 0, NO_ENTRIES, 0, true, 0, NO_BYTES);
          return;
        case MT.PreVote:
          this.send(MT.PreVoteResponse, m.from, 0, 0, NO_ENTRIES, 0, true, 0, NO_BYTES);
          return;
        default:
          return;
      }
    }

    if (m.type === MT.Vote || m.type === MT.PreVote) {
      this.handleVote(m);
      return;
    }

    switch (this.role) {
      case R.Leader:
        this.stepLeader(m);
        break;
      case R.Candidate:
      case R.PreCandidate:
        this.stepCandidate(m);
        break;
      case R.Follower:
        this.stepFollower(m);
        break;
    }
  }

  hasReady(): boolean {
    this.flush();
    if (this.msgs.length > 0 || this.readStates.length > 0 || this.readEcho !== 0) return true;
    if (this.lead !== this.prevSoft.leader || this.role !== this.prevSoft.role) return true;
    const p = this.prevHard;
    if (this.term !== p.term || this.vote !== p.vote || this.log.committed !== p.commit) return true;
    if (this.log.pendingSnapshot !== undefined && !this.snapshotHandedOut) return true;
    return this.log.hasToPersist() || this.log.hasToApply();
  }

  ready(): Ready {
    this.flush();
    if (this.role === R.Leader) this.stampReadSeq();
    else if (this.readEcho !== 0) this.echoReadSeq();
    const p = this.prevHard;
    const termOrVoteChanged = this.term !== p.term || this.vote !== p.vote;
    const rd: Ready = {
      entries: this.log.toPersist(),
      committedEntries: NO_ENTRIES,
      messages: this.msgs,
      readStates: this.readStates,
      mustSync: false,
    };
    if (this.lead !== this.prevSoft.leader || this.role !== this.prevSoft.role) {
      this.prevSoft = { leader: this.lead, role: this.role };
      rd.softState = { leader: this.lead, role: this.role };
    }
    if (termOrVoteChanged || this.log.committed !== p.commit) {
      this.prevHard = { term: this.term, vote: this.vote, commit: this.log.committed };
      rd.hardState = { term: this.term, vote: this.vote, commit: this.log.committed };
    }
    const snap = this.log.pendingSnapshot;
    if (snap !== undefined && !this.snapshotHandedOut) {
      rd.snapshot = snap;
      this.snapshotHandedOut = true;
      if (this.log.applying < snap.meta.index) this.log.applying = snap.meta.index;
    }
    const ce = this.log.toApply();
    if (ce.length > 0) {
      rd.committedEntries = ce;
      const last = ce[ce.length - 1]!;
      this.log.applying = last.index;
      this.applyingMeta = { index: last.index, term: last.term, confState: this.confAt(last.index) };
    }
    if (rd.entries.length > 0) this.log.persisting = rd.entries[rd.entries.length - 1]!.index;
    rd.mustSync = rd.entries.length > 0 || termOrVoteChanged || rd.snapshot !== undefined;
    this.msgs = [];
    this.readStates = [];
    return rd;
  }

  advance(rd: Ready): void {
    const log = this.log;
    const stableBefore = log.stable;
    if (rd.snapshot !== undefined) {
      const idx = rd.snapshot.meta.index;
      if (log.pendingSnapshot === rd.snapshot) {
        log.pendingSnapshot = undefined;
        this.snapshotHandedOut = false;
      }
      if (log.stable < idx) log.stable = idx;
      if (log.persisting < log.stable) log.persisting = log.stable;
      if (log.applied < idx) {
        log.applied = idx;
        this.appliedMeta = rd.snapshot.meta;
      }
    }
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1]!;
      log.stableTo(last.index, last.term);
    }
    if (rd.committedEntries.length > 0) {
      const idx = rd.committedEntries[rd.committedEntries.length - 1]!.index;
      if (log.applied < idx) {
        log.applied = idx;
        const am = this.applyingMeta;
        this.appliedMeta = am !== undefined && am.index === idx ? am : undefined;
      }
    }
    if (log.applying < log.applied) log.applying = log.applied;
    // The leader counts its own log towards a majority only once it is durable.
    if (this.role === R.Leader && log.stable !== stableBefore) {
      const self = this.prs.get(this.id);
      if (self !== undefined) self.maybeUpdate(log.stable);
      if (this.maybeCommit()) this.bcastPending = true;
    }
  }

  status(): RaftStatus {
    const progress: PeerProgress[] = [];
    if (this.role === R.Leader) {
      for (const pr of this.prs.values()) {
        progress.push({
          id: pr.id,
          isLearner: pr.isLearner,
          match: pr.id === this.id ? this.log.stable : pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          inflight: pr.inflights.count,
        });
      }
    }
    return {
      id: this.id,
      hardState: { term: this.term, vote: this.vote, commit: this.log.committed },
      softState: { leader: this.lead, role: this.role },
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      confState: cloneConfState(this.conf),
      leadTransferee: this.leadTransferee,
      rejoining: this.rejoining,
      progress,
    };
  }

  // ---------------------------------------------------------------- roles

  private resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTick + Math.floor(this.random() * this.electionTick);
    if (this.randomizedElectionTimeout >= 2 * this.electionTick) this.randomizedElectionTimeout = 2 * this.electionTick - 1;
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
      this.rejoinTarget = -1;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.votes.clear();
    this.leadTransferee = NONE;
    this.transferElapsed = 0;
    this.timeoutNowSent = false;
    this.readOnly.reset();
    this.pendingReads = [];
    this.bcastPending = false;
    this.sendPending = false;
    this.heartbeatPending = false;
    this.readSeqSeen = 0;
    this.readEcho = 0;
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = R.Follower;
  }

  private becomePreCandidate(): void {
    // Term and vote stay as they are: a pre-campaign must leave no trace if it fails.
    this.reset(this.term);
    this.role = R.PreCandidate;
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = R.Candidate;
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.role = R.Leader;
    this.lead = this.id;
    this.prs.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) this.addProgress(id, next, false);
    for (const id of this.conf.learners) this.addProgress(id, next, true);
    const self = this.prs.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.maybeUpdate(this.log.stable);
      self.recentActive = true;
    }
    // The no-op lets the new leader commit (and so learn the commit index) in its own term.
    this.log.push({ term: this.term, index: next, type: ET.Normal, data: NO_BYTES });
    this.bcastPending = true;
    this.logger?.('info', `raft ${this.id}: became leader at term ${this.term}`);
  }

  private addProgress(id: NodeId, next: number, learner: boolean): void {
    this.prs.set(id, new Progress(id, next, learner, this.maxInflightMsgs, this.maxInflightBytes));
  }

  private hup(transfer: boolean): void {
    if (this.role === R.Leader || !this.promotable || this.rejoining) return;
    if (this.preVote && !transfer) this.startCampaign(true, false);
    else this.startCampaign(false, transfer);
  }

  private startCampaign(pre: boolean, transfer: boolean): void {
    let term: number;
    let type: MessageType;
    if (pre) {
      this.becomePreCandidate();
      term = this.term + 1;
      type = MT.PreVote;
    } else {
      this.becomeCandidate();
      term = this.term;
      type = MT.Vote;
    }
    this.votes.set(this.id, true);
    if (this.tally() !== VoteResult.Pending) return;
    const lastIndex = this.log.lastIndex();
    const lastTerm = this.log.lastTerm();
    const ctx = transfer ? CAMPAIGN_TRANSFER : NO_BYTES;
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.msgs.push({
        type,
        from: this.id,
        to: id,
        term,
        logTerm: lastTerm,
        index: lastIndex,
        entries: NO_ENTRIES,
        commit: 0,
        reject: false,
        rejectHint: 0,
        context: ctx,
        readSeq: 0,
      });
    }
  }

  /** Act on the votes gathered so far; returns the outcome. */
  private tally(): VoteResult {
    const res = voteResult(this.conf.voters, this.votes);
    if (res === VoteResult.Won) {
      if (this.role === R.PreCandidate) this.startCampaign(false, false);
      else this.becomeLeader();
    } else if (res === VoteResult.Lost) {
      this.becomeFollower(this.term, NONE);
    }
    return res;
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTick) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        if (!this.quorumActive()) {
          this.logger?.('info', `raft ${this.id}: stepping down at term ${this.term}, no quorum active`);
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const pr of this.prs.values()) if (pr.id !== this.id) pr.recentActive = false;
      }
    }
    // A transfer that has not completed within an election timeout is abandoned.
    if (this.leadTransferee !== NONE && ++this.transferElapsed >= this.electionTick) {
      this.leadTransferee = NONE;
      this.transferElapsed = 0;
    }
    for (const pr of this.prs.values()) {
      if (pr.state === PS.Snapshot && ++pr.snapshotTicks > 2 * this.electionTick) {
        // The application stopped reporting progress and never reported the snapshot's fate;
        // assume it was lost and retry.
        pr.dropSnapshotFloor();
        pr.becomeProbe();
        this.wantSend(pr, false);
      } else if (pr.state !== PS.Snapshot && pr.snapshotFloor > 0 && ++pr.floorTicks > 2 * this.electionTick) {
        // Sent, but the member has not acknowledged reaching it: it may be gone; free the log.
        pr.dropSnapshotFloor();
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private quorumActive(): boolean {
    const voters = this.conf.voters;
    let active = 0;
    for (const id of voters) {
      if (id === this.id) active++;
      else if (this.prs.get(id)?.recentActive === true && this.prs.get(id)?.rejoining !== true) active++;
    }
    return active >= quorumSize(voters.length);
  }

  // ---------------------------------------------------------------- membership

  private recordConf(e: Entry): void {
    let cc: ConfChange;
    try {
      cc = decodeConfChange(e.data);
    } catch (err) {
      this.logger?.('warn', `raft ${this.id}: ignoring malformed ConfChange at ${e.index}: ${String(err)}`);
      return;
    }
    this.conf = applyConfChange(this.conf, cc);
    this.confLog.push({ index: e.index, conf: this.conf });
  }

  /** Forget configurations whose entries were truncated away; true if the config changed. */
  private revertConfFrom(index: number): boolean {
    let changed = false;
    while (this.confLog.length > 0 && this.confLog[this.confLog.length - 1]!.index >= index) {
      this.confLog.pop();
      changed = true;
    }
    if (changed) this.conf = this.confLog.length > 0 ? this.confLog[this.confLog.length - 1]!.conf : this.baseConf;
    return changed;
  }

  private confAt(index: number): ConfState {
    for (let k = this.confLog.length - 1; k >= 0; k--) {
      if (this.confLog[k]!.index <= index) return this.confLog[k]!.conf;
    }
    return this.baseConf;
  }

  private latestConfIndex(): number {
    return this.confLog.length > 0 ? this.confLog[this.confLog.length - 1]!.index : this.log.snapIndex;
  }

  /** A new configuration takes effect as soon as it is in the log (thesis §4.1). */
  private onConfChanged(): void {
    this.promotable = isVoter(this.conf, this.id);
    if (this.role !== R.Leader) return;
    const next = this.log.lastIndex() + 1;
    for (const id of Array.from(this.prs.keys())) {
      if (!isMember(this.conf, id)) this.prs.delete(id);
    }
    for (const id of this.conf.voters) {
      const pr = this.prs.get(id);
      if (pr === undefined) this.addProgress(id, next, false);
      else pr.isLearner = false;
    }
    for (const id of this.conf.learners) {
      const pr = this.prs.get(id);
      if (pr === undefined) this.addProgress(id, next, true);
      else pr.isLearner = true;
    }
    const self = this.prs.get(this.id);
    if (self !== undefined && self.match < this.log.stable) self.maybeUpdate(this.log.stable);
    if (this.leadTransferee !== NONE && !isVoter(this.conf, this.leadTransferee)) this.leadTransferee = NONE;
    if (this.maybeCommit()) this.bcastPending = true;
  }

  // ---------------------------------------------------------------- votes

  private handleVote(m: Message): void {
    const pre = m.type === MT.PreVote;
    const respType = pre ? MT.PreVoteResponse : MT.VoteResponse;
    const canVote =
      this.vote === m.from || (this.vote === NONE && this.lead === NONE) || (pre && m.term > this.term);
    // §5.4.1: grant only to a candidate whose log is at least as up-to-date as ours.
    const logOk = this.bugs.voteWithoutLogCheck === true || this.log.isUpToDate(m.index, m.logTerm);
    // A rejoining member may have forgotten entries it acknowledged (and votes it cast): its
    // grant could elect a leader lacking committed entries.
    const mayVote = !this.rejoining || this.bugs.rejoinVotes === true;
    if (canVote && logOk && mayVote) {
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
      // The grant reaches the candidate only after this Ready's hard state (our vote) is durable.
      this.msgs.push(this.mkMsg(respType, m.from, m.term, false));
    } else {
      this.msgs.push(this.mkMsg(respType, m.from, this.term, true));
    }
  }

  private mkMsg(type: MessageType, to: NodeId, term: number, reject: boolean): Message {
    return {
      type,
      from: this.id,
      to,
      term,
      logTerm: 0,
      index: 0,
      entries: NO_ENTRIES,
      commit: 0,
      reject,
      rejectHint: 0,
      context: NO_BYTES,
      readSeq: 0,
    };
  }

  private send(
    type: MessageType,
    to: NodeId,
    logTerm: number,
    index: number,
    entries: Entry[],
    commit: number,
    reject: boolean,
    rejectHint: number,
    context: Uint8Array,
  ): void {
    this.msgs.push({ type, from: this.id, to, term: this.term, logTerm, index, entries, commit, reject, rejectHint, context, readSeq: 0 });
  }

  // ---------------------------------------------------------------- follower / candidate

  private stepFollower(m: Message): void {
    switch (m.type) {
      case MT.Append:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        break;
      case MT.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        break;
      case MT.Snapshot:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        break;
      case MT.TimeoutNow:
        this.logger?.('info', `raft ${this.id}: TimeoutNow from ${m.from}, campaigning`);
        this.hup(true);
        break;
      case MT.ReadIndexResponse:
        this.readStates.push({ index: m.index, requestCtx: m.context });
        break;
      default:
        break;
    }
    // step() dropped older terms and a newer term reset us, so this is our term's leader.
    if (m.readSeq > this.readSeqSeen && m.from === this.lead && this.role === R.Follower && !this.rejoining) {
      this.readSeqSeen = m.readSeq;
      if (this.readEcho === 0) this.readEcho = 1;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case MT.Append:
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        break;
      case MT.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        break;
      case MT.Snapshot:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        break;
      case MT.VoteResponse:
      case MT.PreVoteResponse: {
        const mine = this.role === R.PreCandidate ? MT.PreVoteResponse : MT.VoteResponse;
        if (m.type !== mine) return;
        if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
        this.tally();
        break;
      }
      default:
        break;
    }
  }

  private handleAppend(m: Message): void {
    const log = this.log;
    this.rejoinSeen(m);
    if (m.index < log.committed) {
      this.send(MT.AppendResponse, m.from, 0, log.committed, NO_ENTRIES, 0, false, 0, this.ackCtx(m));
      return;
    }
    if (!log.matchTerm(m.index, m.logTerm)) {
      // Reply false (§5.3) with a hint: the last index at or below the probe whose term is
      // no newer than the leader's, so the leader can skip a whole conflicting term at once.
      const hint = log.findConflictByTerm(Math.min(m.index, log.lastIndex()), m.logTerm);
      this.send(MT.AppendResponse, m.from, hint.term, m.index, NO_ENTRIES, 0, true, hint.index, this.ackCtx(m));
      return;
    }
    const ents = m.entries;
    const lastNew = m.index + ents.length;
    let ci = -1;
    for (let k = 0; k < ents.length; k++) {
      const e = ents[k]!;
      if (log.term(e.index) !== e.term) {
        ci = k;
        break;
      }
    }
    if (ci >= 0) {
      const first = ents[ci]!.index;
      if (first <= log.committed) {
        throw new Error(`raft ${this.id}: entry ${first} conflicts with committed entry (commit ${log.committed})`);
      }
      let confChanged = false;
      if (this.bugs.noConflictTruncate === true && first <= log.lastIndex()) {
        log.overwriteInPlace(ents, ci);
        confChanged = this.revertConfFrom(first);
      } else {
        // §5.3: delete the conflicting entry and all that follow it, then append.
        if (first <= log.lastIndex()) confChanged = this.revertConfFrom(first);
        log.truncateAndAppend(ents, ci);
      }
      for (let k = ci; k < ents.length; k++) {
        if (ents[k]!.type === ET.ConfChange) {
          this.recordConf(ents[k]!);
          confChanged = true;
        }
      }
      if (confChanged) this.onConfChanged();
    }
    log.commitTo(Math.min(m.commit, lastNew));
    if (this.rejoining) this.maybeEndRejoin();
    const ctx = this.ackCtx(m);
    if (ents.length === 0 && ctx === NO_BYTES && isCtx(m.context, COMMIT_ONLY) && m.readSeq <= this.readSeqSeen) return;
    // Sent only after this Ready's entries are durable (Ready contract).
    this.send(MT.AppendResponse, m.from, 0, lastNew, NO_ENTRIES, 0, false, 0, ctx);
  }

  private handleHeartbeat(m: Message): void {
    // The leader's commit index is capped at its recorded match for us, which is only right
    // while we still hold what we acknowledged. It names the term of its entry there: by log
    // matching, holding that (index, term) means holding the leader's log up to it. A member
    // that lost entries (an old copy restored) may have other, never committed entries at
    // those indexes, and must not commit them on the word of a stale match.
    const log = this.log;
    const c = m.commit;
    // Not holding what the leader's match says we hold (c <= match): we lost entries we
    // acknowledged. Say so (a rejection with a hint), or an idle leader never probes us again.
    let lost: { index: number; term: number } | undefined;
    if (c > log.committed) {
      if (c > log.lastIndex()) lost = { index: log.lastIndex(), term: log.lastTerm() };
      else if (log.term(c) !== m.logTerm) lost = log.findConflictByTerm(c, m.logTerm);
      else log.commitTo(c);
    }
    if (this.rejoining) this.maybeEndRejoin();
    // Rejoining: no read-round or lease acknowledgement (the context), only "do not count me".
    const ctx = this.rejoining ? REJOINING : m.context;
    if (lost) this.send(MT.HeartbeatResponse, m.from, lost.term, 0, NO_ENTRIES, 0, true, lost.index, ctx);
    else this.send(MT.HeartbeatResponse, m.from, 0, 0, NO_ENTRIES, 0, false, 0, ctx);
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot;
    if (s === undefined) return;
    const log = this.log;
    const { index, term } = s.meta;
    this.rejoinSeen(m);
    if (index <= log.committed) {
      this.send(MT.AppendResponse, m.from, 0, log.committed, NO_ENTRIES, 0, false, 0, this.ackCtx(m));
      return;
    }
    if (log.matchTerm(index, term)) {
      // We already hold that prefix; committing it is all the snapshot can teach us.
      log.commitTo(index);
      if (this.rejoining) this.maybeEndRejoin();
      this.send(MT.AppendResponse, m.from, 0, log.committed, NO_ENTRIES, 0, false, 0, this.ackCtx(m));
      return;
    }
    this.logger?.('info', `raft ${this.id}: restoring snapshot at ${index}/${term}`);
    log.restore({ meta: { index, term, confState: cloneConfState(s.meta.confState) }, data: s.data });
    this.snapshotHandedOut = false;
    this.baseConf = cloneConfState(s.meta.confState);
    this.confLog = [];
    this.conf = this.baseConf;
    this.onConfChanged();
    if (this.rejoining) this.maybeEndRejoin();
    this.send(MT.AppendResponse, m.from, 0, index, NO_ENTRIES, 0, false, 0, this.ackCtx(m));
  }

  /**
   * Context of our AppendResponses: while rejoining, ask the leader not to count them; once
   * caught up, say so for the rest of the term. Also when the leader still treats us as rejoining
   * (REJOIN_SEEN) though we are not: our REJOINED answers were lost and we restarted, intact and
   * not rejoining, in the same term. Unmarked, our answers would be ignored for the rest of the
   * term, and a leader probing below our commit index would never hear where we are (found by the
   * simulator, seed 90227 at 6,000 steps). Answering REJOIN_SEEN takes a live incarnation: the
   * leader sends it only after a rejoining one announced itself, so a copy that lost its state
   * cannot have answered it before it went down.
   */
  private ackCtx(m: Message): Uint8Array {
    if (this.rejoining) return REJOINING;
    return this.term === this.rejoinedTerm || isCtx(m.context, REJOIN_SEEN) ? REJOINED : NO_BYTES;
  }

  /**
   * Rejoining: the leader of our term says it counts us towards nothing (no commit, no read
   * round, no lease, no check-quorum) since it saw a REJOINING response; its commit index in
   * that message is the target. Everything committed by counting an acknowledgement we lost
   * (a stale match, the same leader's or, via leader completeness, an earlier one's) is at or
   * below it.
   */
  private rejoinSeen(m: Message): void {
    if (this.rejoining && this.rejoinTarget < 0 && isCtx(m.context, REJOIN_SEEN)) this.rejoinTarget = m.commit;
  }

  /**
   * Caught up once our commit index passes the target. We then hold everything up to the
   * target, and the leader has committed an entry beyond it without us: a quorum of the other
   * voters accepted it in the leader's term after we restarted, so no newer term exists that a
   * quorum entered before (we may have forgotten being in one: a deposed leader of an older
   * term cannot commit without us). Entries committed with our lost acknowledgements are on
   * that quorum or in our log.
   */
  private maybeEndRejoin(): void {
    if (this.rejoinTarget < 0 || this.log.committed <= this.rejoinTarget) return;
    this.rejoining = false;
    this.rejoinedTerm = this.term;
    this.logger?.('info', `raft ${this.id}: caught up with leader ${this.lead} (commit ${this.log.committed}, term ${this.term}); voting again`);
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (pr !== undefined && (m.type === MT.AppendResponse || m.type === MT.HeartbeatResponse)) {
      if (isCtx(m.context, REJOINING)) {
        if (!pr.rejoining) {
          // Until it says it caught up (REJOINED), it counts towards nothing.
          pr.rejoining = true;
          pr.readAck = 0;
          pr.leaseAck = -1;
          this.logger?.('info', `raft ${this.id}: member ${pr.id} is rejoining after losing state: not counted until it catches up`);
          // It catches up once we commit beyond what we had committed when we left it out;
          // an idle cluster would never do so: commit an empty entry.
          this.log.push({ term: this.term, index: this.log.lastIndex() + 1, type: ET.Normal, data: NO_BYTES });
          this.bcastPending = true;
        }
      } else if (pr.rejoining && m.type === MT.AppendResponse) {
        // A rejoining member marks every answer: an unmarked one was sent before it lost its
        // state (a delayed message) and acknowledges what it may no longer hold.
        if (!isCtx(m.context, REJOINED)) return;
        pr.rejoining = false;
        this.logger?.('info', `raft ${this.id}: member ${pr.id} caught up after rejoining: counted again`);
      }
    }
    if (pr !== undefined && !pr.rejoining && m.readSeq > pr.readAck) {
      // A follower in our term heard from us after reads up to readSeq were registered.
      pr.readAck = m.readSeq;
      pr.recentActive = true;
      if (this.readOnly.pending() > 0) this.releaseReads();
    }
    switch (m.type) {
      case MT.AppendResponse:
        if (pr !== undefined) this.handleAppendResponse(m, pr);
        break;
      case MT.HeartbeatResponse:
        if (pr !== undefined) this.handleHeartbeatResponse(m, pr);
        break;
      case MT.ReadIndex:
        if (pr !== undefined) this.handleReadIndex(m.context, m.from);
        break;
      default:
        break;
    }
  }

  private handleAppendResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    const log = this.log;
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (m.index === pr.match && hint < pr.match && pr.state !== PS.Snapshot && (pr.state === PS.Replicate || pr.next - 1 === m.index) && this.bugs.noProbeReset !== true) {
        // The follower rejected the very index it acknowledged: its log lost entries (an old
        // copy restored, a disk that dropped writes) - or this is a reordered rejection of an
        // Append sent before its ack. Probing on at match + 1 would be rejected forever; its
        // recorded match no longer tells anything, so forget it and probe from its hint.
        this.forgetMatch(pr, m.index, hint);
        return;
      }
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === PS.Replicate) pr.becomeProbe();
        this.wantSend(pr, false);
      }
      return;
    }
    // Only possible if safety is already broken (e.g. a planted bug elected a leader lacking
    // committed entries); ignoring it keeps the core from indexing past its own log.
    if (m.index > log.lastIndex()) return;
    const wasPaused = pr.isPaused();
    if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === PS.Probe)) {
      if (pr.state === PS.Probe) {
        pr.becomeReplicate();
      } else if (pr.state === PS.Snapshot && pr.match + 1 >= log.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      } else if (pr.state === PS.Replicate) {
        pr.inflights.freeLE(m.index);
      }
      if (this.maybeCommit()) this.bcastPending = true;
      if (this.role !== R.Leader) return;
      if (wasPaused || pr.next <= log.lastIndex()) this.wantSend(pr, false);
      if (m.from === this.leadTransferee && pr.match === log.lastIndex()) this.sendTimeoutNow(m.from);
    }
  }

  private forgetMatch(pr: Progress, rejected: number, hint: number): void {
    this.logger?.(
      'warn',
      `raft ${this.id}: member ${pr.id} rejected index ${rejected}, which it had acknowledged (its log matches at most up to ${hint}); ` +
        `it lost acknowledged entries or the rejection was reordered: probing from ${hint + 1}`,
    );
    pr.lostMatch(hint);
    this.wantSend(pr, false);
  }

  private handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;
    // If every in-flight Append was lost, free a slot so the follower can be reached again.
    if (pr.state === PS.Replicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    // Even with nothing new to send, an empty Append at `next` exposes a gap left by lost
    // messages: the follower rejects it and the leader falls back to probing.
    if (pr.match < this.log.lastIndex()) this.wantSend(pr, true);
    if (m.reject && pr.state !== PS.Snapshot && this.bugs.noProbeReset !== true) {
      // It holds less than its match says (see handleHeartbeat): probe it from its hint.
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
      if (hint < pr.match) this.forgetMatch(pr, pr.match, hint);
    }
    if (pr.rejoining) return;
    if (this.leaseRead) {
      const sentAt = decodeSentAt(m.context);
      if (sentAt > pr.leaseAck) pr.leaseAck = sentAt;
    }
    if (m.context.length > 0 && this.readOnly.pending() > 0) {
      const seq = decodeReadSeq(m.context);
      if (seq > pr.readAck) pr.readAck = seq;
      this.releaseReads();
    }
  }

  private handleReadIndex(ctx: Uint8Array, from: NodeId): void {
    // The commit index is only known to be current once this leader committed in its term.
    if (this.log.term(this.log.committed) !== this.term) {
      this.pendingReads.push({ ctx, from });
      return;
    }
    if (this.readVouchers(from, 0) >= quorumSize(this.conf.voters.length) || (this.leaseRead && this.leaseValid()) || this.bugs.readWithoutQuorum === true) {
      this.respondRead(this.log.committed, ctx, from);
      return;
    }
    this.readOnly.add(this.log.committed, ctx, from);
    this.heartbeatPending = true;
  }

  /**
   * Voters known not to have moved past this term since a read's index was recorded: this
   * leader; the voter that asked (`from`), because it accepts our ReadIndexResponse only while
   * still in this term (a message from an older term is dropped in step()), so it cannot have
   * voted for a newer leader before the index was recorded; and every voter that acknowledged a
   * heartbeat round >= `seq` (0: none yet). A quorum of them rules out a newer leader having
   * committed anything the index misses (thesis §6.4, with the requester's own term check
   * standing in for its heartbeat acknowledgement). In a 3-voter cluster a follower's read
   * therefore needs no heartbeat round at all.
   */
  private readVouchers(from: NodeId, seq: number): number {
    let n = 0;
    for (const id of this.conf.voters) {
      const pr = this.prs.get(id);
      if (pr?.rejoining === true) continue;
      if (id === this.id || id === from) n++;
      else if (seq > 0 && (pr?.readAck ?? 0) >= seq) n++;
    }
    return n;
  }

  /**
   * Lease mode: a quorum of voters acknowledged a heartbeat sent at clock s, so each of them
   * ignores campaigns until electionTick ticks after receiving it (>= s): no other leader can
   * exist before s + electionTick. One tick of margin covers the order in which nodes tick.
   * (Bounded clock drift and no app-forced campaign() are still assumed; see README.)
   */
  private leaseValid(): boolean {
    if (this.timeoutNowSent) return false;
    const self = this.id;
    const now = this.clock;
    const prs = this.prs;
    const s = committedIndex(this.conf.voters, (id) => (id === self ? now : prs.get(id)?.rejoining === true ? -1 : (prs.get(id)?.leaseAck ?? -1)));
    return s >= 0 && now - s < this.electionTick - 1;
  }

  private respondRead(index: number, ctx: Uint8Array, from: NodeId): void {
    if (from === this.id) this.readStates.push({ index, requestCtx: ctx });
    else this.send(MT.ReadIndexResponse, from, 0, index, NO_ENTRIES, 0, false, 0, ctx);
  }

  private releaseReads(): void {
    const q = quorumSize(this.conf.voters.length);
    for (const r of this.readOnly.releaseWhile((r) => this.readVouchers(r.from, r.seq) >= q)) this.respondRead(r.index, r.ctx, r.from);
  }

  /** The leader's own log counts only as far as it is durable. Bound once: hot path. */
  private readonly matchOf = (id: NodeId): number => {
    if (id === this.id) return this.log.stable;
    const pr = this.prs.get(id);
    return pr === undefined || pr.rejoining ? 0 : pr.match;
  };

  private maybeCommit(): boolean {
    const mci = committedIndex(this.conf.voters, this.matchOf);
    if (mci <= this.log.committed) return false;
    // §5.4.2: only an entry of the current term is committed by counting replicas.
    if (this.log.term(mci) !== this.term && this.bugs.commitPriorTermByCount !== true) return false;
    this.log.commitTo(mci);
    this.afterLeaderCommit();
    return true;
  }

  private afterLeaderCommit(): void {
    if (this.pendingReads.length > 0 && this.log.term(this.log.committed) === this.term) {
      const reads = this.pendingReads;
      this.pendingReads = [];
      for (const r of reads) this.handleReadIndex(r.ctx, r.from);
    }
    if (!isVoter(this.conf, this.id) && this.log.committed >= this.latestConfIndex()) {
      // Our removal is committed: tell everyone, hand over to the most caught-up voter, leave.
      this.bcastPending = true;
      this.flush();
      let best: Progress | undefined;
      for (const id of this.conf.voters) {
        const pr = this.prs.get(id);
        if (pr !== undefined && (best === undefined || pr.match > best.match)) best = pr;
      }
      if (best !== undefined && best.match === this.log.lastIndex()) this.sendTimeoutNow(best.id);
      this.logger?.('info', `raft ${this.id}: removed from the configuration, stepping down`);
      this.becomeFollower(this.term, NONE);
    }
  }

  private sendTimeoutNow(to: NodeId): void {
    this.timeoutNowSent = true;
    this.send(MT.TimeoutNow, to, 0, 0, NO_ENTRIES, 0, false, 0, NO_BYTES);
  }

  private wantSend(pr: Progress, empty: boolean): void {
    pr.wantSend = true;
    if (empty) pr.sendEmpty = true;
    this.sendPending = true;
  }

  /** Turn deferred replication work into messages (called from hasReady/ready). */
  private flush(): void {
    if (this.role !== R.Leader) return;
    if (this.bcastPending) {
      this.bcastPending = false;
      for (const pr of this.prs.values()) {
        if (pr.id === this.id) continue;
        if (!pr.wantSend) pr.commitOnly = true;
        pr.wantSend = true;
        pr.sendEmpty = true;
      }
      this.sendPending = true;
    }
    if (this.sendPending) {
      this.sendPending = false;
      for (const pr of this.prs.values()) {
        if (!pr.wantSend) continue;
        const empty = pr.sendEmpty;
        const commitOnly = pr.commitOnly;
        pr.wantSend = false;
        pr.sendEmpty = false;
        pr.commitOnly = false;
        if (pr.id !== this.id) this.sendAppend(pr, empty, commitOnly);
      }
    }
    if (this.heartbeatPending) {
      this.heartbeatPending = false;
      if (this.leaseRead) this.bcastHeartbeat();
      else this.heartbeatUnsolicited();
    }
  }

  /**
   * A read round: voters get a message carrying the new readSeq (stamped in ready()) and answer
   * it, with an AppendResponse, a ReadIndex or a ReadAck. If enough voters for a quorum already
   * get a message in this Ready, the round costs no message of its own; otherwise the voters
   * without one get a heartbeat. (Should a carrier be lost, the next periodic heartbeat, which
   * carries the newest readSeq too, completes the round.)
   */
  private heartbeatUnsolicited(): void {
    const uncovered: NodeId[] = [];
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      let covered = false;
      for (const m of this.msgs) {
        if (m.to === id && m.term === this.term && m.from === this.id) {
          covered = true;
          break;
        }
      }
      if (!covered) uncovered.push(id);
    }
    // This leader (if a voter) plus the covered voters: V - uncovered either way.
    if (this.conf.voters.length - uncovered.length >= quorumSize(this.conf.voters.length)) return;
    const seq = this.readOnly.lastSeq();
    const ctx = seq > 0 ? encodeReadSeq(seq) : NO_BYTES;
    for (const id of uncovered) {
      const pr = this.prs.get(id);
      if (pr !== undefined) this.sendHeartbeat(pr, ctx);
    }
  }

  /** Leader, in ready(): every message of this term leaves after the reads registered so far. */
  private stampReadSeq(): void {
    const seq = this.readOnly.lastSeq();
    if (seq === 0) return;
    for (const m of this.msgs) if (m.term === this.term && m.from === this.id) m.readSeq = seq;
  }

  /** Follower, in ready(): hand readSeqSeen back on a message to the leader, or on a ReadAck. */
  private echoReadSeq(): void {
    let carried = false;
    for (const m of this.msgs) {
      if (m.to === this.lead && m.term === this.term) {
        m.readSeq = this.readSeqSeen;
        carried = true;
      }
    }
    if (carried || this.lead === NONE) this.readEcho = 0;
    else if (this.readEcho === 1) this.readEcho = 2;
    else {
      this.send(MT.ReadAck, this.lead, 0, 0, NO_ENTRIES, 0, false, 0, NO_BYTES);
      this.msgs[this.msgs.length - 1]!.readSeq = this.readSeqSeen;
      this.readEcho = 0;
    }
  }

  private sendAppend(pr: Progress, sendIfEmpty: boolean, commitOnly = false): void {
    const log = this.log;
    for (;;) {
      if (pr.isPaused()) return;
      const last = log.lastIndex();
      if (pr.next > last && !sendIfEmpty) return;
      const prev = pr.next - 1;
      const prevTerm = log.term(prev);
      // The configuration the log starts from is in no entry: a member outside it (one that joined
      // later) would replay the log from index 1 on top of the wrong configuration and end up
      // refusing its own leader. It needs a snapshot, which carries the configuration; the
      // application sends its newest (or takes one) when none exists at the log's start.
      if (prevTerm < 0 || (prev === 0 && !isMember(this.baseConf, pr.id))) {
        this.sendSnapshot(pr);
        return;
      }
      let entries = NO_ENTRIES;
      let bytes = 0;
      if (pr.next <= last) {
        const s = log.sliceBySize(pr.next, last, this.maxSizePerMsg);
        // Evicted entries that storage no longer has: the member needs a snapshot.
        if (!s) {
          this.sendSnapshot(pr);
          return;
        }
        entries = s.entries;
        bytes = s.bytes;
      }
      this.msgs.push({
        type: MT.Append,
        from: this.id,
        to: pr.id,
        term: this.term,
        logTerm: prevTerm,
        index: prev,
        entries,
        commit: log.committed,
        reject: false,
        rejectHint: 0,
        context: pr.rejoining ? REJOIN_SEEN : commitOnly && entries.length === 0 && pr.state === PS.Replicate ? COMMIT_ONLY : NO_BYTES,
        readSeq: 0,
      });
      sendIfEmpty = false;
      if (pr.state === PS.Replicate) {
        if (entries.length === 0) return;
        const lastSent = entries[entries.length - 1]!.index;
        pr.next = lastSent + 1;
        pr.inflights.add(lastSent, bytes);
      } else {
        pr.probeSent = true;
        return;
      }
    }
  }

  private sendSnapshot(pr: Progress): void {
    // Snapshots are expensive; do not ship one to a member that is not answering.
    if (!pr.recentActive) return;
    const log = this.log;
    const snapshot: Snapshot = {
      meta: { index: log.snapIndex, term: log.snapTerm, confState: cloneConfState(this.baseConf) },
      data: NO_BYTES,
    };
    pr.becomeSnapshot(log.snapIndex);
    this.msgs.push({
      type: MT.Snapshot,
      from: this.id,
      to: pr.id,
      term: this.term,
      logTerm: 0,
      index: 0,
      entries: NO_ENTRIES,
      commit: log.committed,
      reject: false,
      rejectHint: 0,
      context: pr.rejoining ? REJOIN_SEEN : NO_BYTES,
      readSeq: 0,
      snapshot,
    });
  }

  private bcastHeartbeat(): void {
    const seq = this.readOnly.lastSeq();
    const ctx = this.leaseRead ? encodeReadSeq(seq, this.clock) : seq > 0 ? encodeReadSeq(seq) : NO_BYTES;
    for (const pr of this.prs.values()) {
      if (pr.id === this.id) continue;
      this.sendHeartbeat(pr, ctx);
    }
  }

  /** The commit index a heartbeat may carry: capped at the match, named with its entry's term. */
  private sendHeartbeat(pr: Progress, ctx: Uint8Array): void {
    let commit = Math.min(pr.match, this.log.committed);
    let commitTerm = this.log.term(commit);
    if (commitTerm < 0) {
      // Compacted away: the follower needs a snapshot first, a heartbeat cannot vouch for it.
      commit = 0;
      commitTerm = 0;
    }
    this.send(MT.Heartbeat, pr.id, commitTerm, 0, NO_ENTRIES, commit, false, 0, ctx);
  }
}


