// The leader's view of one member: how much of the log it holds (match), what to send next,
// and how much may be in flight. Probe sends one message and waits; Replicate streams
// optimistically within the in-flight window; Snapshot waits for a snapshot to land.

import { ProgressState } from './types.js';
import type { NodeId } from './types.js';

const PS = ProgressState;

/** Bounded window of in-flight Append messages, as a ring buffer of (last index, bytes). */
export class Inflights {
  private idx: number[];
  private size: number[];
  private start = 0;
  count = 0;
  bytes = 0;

  constructor(
    private readonly cap: number,
    private readonly maxBytes: number,
  ) {
    this.idx = new Array<number>(cap).fill(0);
    this.size = new Array<number>(cap).fill(0);
  }

  full(): boolean {
    return this.count >= this.cap || (this.maxBytes > 0 && this.bytes >= this.maxBytes);
  }

  add(lastIndex: number, bytes: number): void {
    const p = (this.start + this.count) % this.cap;
    this.idx[p] = lastIndex;
    this.size[p] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Release every message whose last index is <= i (acknowledged). */
  freeLE(i: number): void {
    while (this.count > 0 && this.idx[this.start]! <= i) {
      this.bytes -= this.size[this.start]!;
      this.start = (this.start + 1) % this.cap;
      this.count--;
    }
    if (this.count === 0) {
      this.start = 0;
      this.bytes = 0;
    }
  }

  freeFirstOne(): void {
    if (this.count > 0) this.freeLE(this.idx[this.start]!);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = PS.Probe;
  /** Probe: one Append is out, wait for its answer (or a heartbeat response) before the next. */
  probeSent = false;
  /** Snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Ticks since the app last said the snapshot is still on its way (or since it was sent); a
   *  fallback retry when the app never reports the outcome. */
  snapshotTicks = 0;
  /**
   * Index of the snapshot this member was sent and has not yet acknowledged reaching (0: none).
   * The log after it must stay (compactionFloor): compacting past it while the snapshot streams
   * means the member, once installed, needs yet another snapshot, and a snapshot that takes
   * longer to stream than the leader takes to write two never lets it catch up. Outlives the
   * Snapshot state by at most floorTicks, so a member that vanishes cannot pin the log.
   */
  snapshotFloor = 0;
  floorTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Highest read-index heartbeat round this member acknowledged in the current term. */
  readAck = 0;
  /** Lease mode: leader clock at which the newest heartbeat this member acknowledged was sent. */
  leaseAck = -1;
  /** Said it is rejoining after losing state: counts towards no quorum for the rest of the term. */
  rejoining = false;
  /** The flush after the next ready()/hasReady() should try to send to this member. */
  wantSend = false;
  /** ...even with no new entries (to carry a new commit index). */
  sendEmpty = false;
  /** ...and the send is only the broadcast of a new commit index (nothing else asked for it). */
  commitOnly = false;
  readonly inflights: Inflights;

  constructor(
    readonly id: NodeId,
    next: number,
    public isLearner: boolean,
    maxInflight: number,
    maxInflightBytes: number,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === PS.Snapshot) {
      // Whatever the snapshot covered is the best guess of where the follower now is.
      const ps = this.pendingSnapshot;
      this.resetState(PS.Probe);
      this.next = Math.max(this.match + 1, ps + 1);
    } else {
      this.resetState(PS.Probe);
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState(PS.Replicate);
    this.next = this.match + 1;
  }

  becomeSnapshot(index: number): void {
    this.resetState(PS.Snapshot);
    this.pendingSnapshot = index;
    this.snapshotFloor = index;
    this.floorTicks = 0;
  }

  /** The snapshot is given up (lost, failed, or the member stopped answering): the log may go. */
  dropSnapshotFloor(): void {
    this.snapshotFloor = 0;
    this.floorTicks = 0;
  }

  /**
   * The follower no longer holds what it acknowledged: forget the match (it counts towards no
   * commit any more) and probe from `hint`, the last index where its log may still agree.
   */
  lostMatch(hint: number): void {
    this.resetState(PS.Probe);
    this.match = 0;
    this.next = Math.max(hint + 1, 1);
  }

  /** An acknowledgement up to n arrived; false if it was stale. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.snapshotFloor > 0 && this.match >= this.snapshotFloor) this.dropSnapshotFloor();
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  /**
   * The follower rejected an Append at `rejected`, hinting that `hint` is where a match may be.
   * Returns false when the rejection is stale (refers to something already superseded).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === PS.Replicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case PS.Probe:
        return this.probeSent;
      case PS.Replicate:
        return this.inflights.full();
      default:
        return true;
    }
  }
}
