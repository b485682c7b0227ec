// Pending proposals and linearizable reads of one node.
//
// Proposals are keyed by log index and remember the term they were proposed in: when the entry
// at that index is applied, a matching term resolves the waiter with the command's result, another
// term means a new leader overwrote it (the command was not applied there) and the waiter is
// rejected. Leadership loss rejects every waiter (outcome unknown: the entry may still commit).
//
// Reads are batched: every read that arrives while a ReadIndex round is in flight joins the next
// round, so one heartbeat quorum serves many reads. A round's read index is known when its
// ReadState arrives; its reads complete once the applied index reaches it.
import { randomBytes } from 'node:crypto';
import type { CommandResult } from '../../proto/gen/placement/v1/command.js';
import { PlacementError } from '../errors.js';

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
  deadline: number;
}

interface ProposalWaiter extends Waiter<CommandResult> {
  term: number;
}

export class ProposalTable {
  private readonly byIndex = new Map<number, ProposalWaiter>();

  get size(): number {
    return this.byIndex.size;
  }

  add(index: number, term: number, deadline: number): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.byIndex.set(index, { term, resolve, reject, deadline });
    });
  }

  /** The entry at `index` was applied with `term`; `result` is its CommandResult (or null for a no-op/conf change). */
  applied(index: number, term: number, result: CommandResult | null): void {
    const w = this.byIndex.get(index);
    if (!w) return;
    this.byIndex.delete(index);
    if (w.term === term && result) w.resolve(result);
    else if (w.term === term) w.reject(new PlacementError('INTERNAL', `entry ${index} applied without a result`));
    else w.reject(new PlacementError('UNAVAILABLE', `proposal at index ${index} was superseded by a new leader (term ${term}); it was not applied, retry`));
  }

  failAll(err: () => PlacementError): void {
    const ws = [...this.byIndex.values()];
    this.byIndex.clear();
    for (const w of ws) w.reject(err());
  }

  /** Rejects waiters whose deadline passed (outcome unknown). */
  expire(now: number): void {
    for (const [i, w] of this.byIndex) {
      if (w.deadline <= now) {
        this.byIndex.delete(i);
        w.reject(new PlacementError('DEADLINE_EXCEEDED', `proposal at index ${i} not applied before the deadline; its outcome is unknown`));
      }
    }
  }
}

interface ReadRound {
  ctx: Buffer;
  waiters: Waiter<void>[];
  issuedAt: number;
}

export class ReadTable {
  /**
   * Told how many reads completed (failure undefined) or failed (failure = the error code), in
   * bulk: counting here costs one call per round instead of a promise reaction per read.
   */
  onOutcome: ((failure: string | undefined, n: number) => void) | undefined;
  private queued: Waiter<void>[] = [];
  private inflight: ReadRound | null = null;
  /** Rounds with a known read index, waiting for apply. */
  private ready: { index: number; waiters: Waiter<void>[] }[] = [];
  private seq = 0;

  /**
   * A round's context is (incarnation, seq). seq restarts with the process, so the incarnation
   * is drawn at random per start: a ReadIndexResponse the leader computed for the previous
   * incarnation (still queued towards us when we restarted) must never match a new round, or a
   * read would be served at an index recorded before it began.
   */
  constructor(private readonly incarnation: number = randomBytes(4).readUInt32BE(0)) {}

  get pending(): number {
    return this.queued.length + (this.inflight?.waiters.length ?? 0) + this.ready.reduce((n, r) => n + r.waiters.length, 0);
  }

  add(deadline: number): Promise<void> {
    return new Promise((resolve, reject) => this.queued.push({ resolve, reject, deadline }));
  }

  /** Reads wait for a round to start. */
  hasQueued(): boolean {
    return this.queued.length > 0 && this.inflight === null;
  }

  /** If no round is in flight and reads are queued, starts one: returns its context for raft.readIndex. */
  nextRound(now: number): Buffer | null {
    if (this.inflight || this.queued.length === 0) return null;
    const ctx = Buffer.allocUnsafe(12);
    ctx.writeUInt32BE(this.incarnation >>> 0, 0);
    ctx.writeDoubleBE(++this.seq, 4);
    this.inflight = { ctx, waiters: this.queued, issuedAt: now };
    this.queued = [];
    return ctx;
  }

  /** raft.readIndex refused (no leader): put the round back in the queue. */
  unissue(): void {
    if (!this.inflight) return;
    this.queued = this.inflight.waiters.concat(this.queued);
    this.inflight = null;
  }

  /** A round in flight for longer than `ms` (message lost, leader changed) is re-issued. */
  stale(now: number, ms: number): boolean {
    return this.inflight !== null && now - this.inflight.issuedAt > ms;
  }

  onReadState(ctx: Uint8Array, index: number): void {
    const r = this.inflight;
    if (!r || Buffer.compare(r.ctx, ctx) !== 0) return;
    this.inflight = null;
    this.ready.push({ index, waiters: r.waiters });
  }

  /** Completes rounds whose index has been applied. */
  onApplied(applied: number): void {
    if (this.ready.length === 0) return;
    const keep: typeof this.ready = [];
    let done = 0;
    for (const r of this.ready) {
      if (r.index <= applied) {
        for (const w of r.waiters) w.resolve();
        done += r.waiters.length;
      } else {
        keep.push(r);
      }
    }
    this.ready = keep;
    if (done > 0) this.onOutcome?.(undefined, done);
  }

  expire(now: number): void {
    const err = (): PlacementError => new PlacementError('DEADLINE_EXCEEDED', 'linearizable read did not complete before the deadline (no quorum?)');
    let failed = 0;
    const filter = (ws: Waiter<void>[]): Waiter<void>[] =>
      ws.filter((w) => {
        if (w.deadline > now) return true;
        w.reject(err());
        failed++;
        return false;
      });
    this.queued = filter(this.queued);
    if (this.inflight) this.inflight.waiters = filter(this.inflight.waiters);
    for (const r of this.ready) r.waiters = filter(r.waiters);
    if (failed > 0) this.onOutcome?.('DEADLINE_EXCEEDED', failed);
  }

  failAll(err: () => PlacementError): void {
    const all = [...this.queued, ...(this.inflight?.waiters ?? []), ...this.ready.flatMap((r) => r.waiters)];
    this.queued = [];
    this.inflight = null;
    this.ready = [];
    for (const w of all) w.reject(err());
    if (all.length > 0) this.onOutcome?.(err().code, all.length);
  }

  /** Leader changed: rounds in flight may be lost; move them back to the queue to re-issue. */
  requeueInflight(): void {
    this.unissue();
  }
}
