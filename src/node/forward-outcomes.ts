// The outcome of a write this member forwarded to the leader, learned from this member's own log.
//
// A forward whose connection breaks after the request left (the leader stopped or crashed before
// it answered) has an unknown outcome as far as the connection can tell. But this member applies
// the same log:
// - Each forward of a command without a client id (one with an id is simply sent again: the
//   de-duplication record answers a repeat) is stamped with (this member, a number unique among
//   its forwards). If the leader proposed it and it commits, the applied entry carrying the stamp
//   gives its result.
// - The forward names the leader's term, and the leader proposes it only in that term
//   (raft/node.ts: propose's inTerm), so its entry, if any, has exactly that term. Committed
//   entries are applied in log order and terms never decrease along a log: once this member
//   applies an entry of a later term without having seen the stamp, the write can never commit,
//   and sending it to the new leader is safe.
// Until one of the two, the member waits (at most until the request's deadline), as an etcd
// member waits for its own proposal to be applied.
import { randomBytes } from 'node:crypto';
import type { Command, CommandResult } from '../../proto/gen/placement/v1/command.js';
import { walkFields } from '../../proto/fields.js';

/** One forward in flight. */
export interface PendingForward {
  readonly seq: number;
  /** The term the forward named: its entry, if any, has this term. */
  readonly term: number;
  /** Which run of applied entries it started in (see gap()). */
  readonly run: number;
  /** Set when this member applied the forward's entry. */
  result: CommandResult | undefined;
  wake: (() => void) | undefined;
}

/** What became of a forward whose reply was lost. */
export type ForwardOutcome = { applied: CommandResult } | 'never-committed' | 'unknown';

export class ForwardOutcomes {
  private next: number;
  private readonly pending = new Map<number, PendingForward>();
  /** The highest term of an entry applied in the current run. */
  private appliedTerm = 0;
  /** Bumped when entries are skipped (a snapshot installed, the state machine rebuilt). */
  private run = 0;

  /**
   * Numbers start at random per process start: an entry a previous incarnation of this member
   * forwarded (still being committed when it restarted) must not answer a new forward.
   */
  constructor(
    private readonly self: number,
    start: number = randomBytes(6).readUIntBE(0, 6) * 16,
  ) {
    this.next = start;
  }

  /**
   * Stamps `cmd` for one forward to the leader of `term` and listens for its entry from now on
   * (it may be applied here before the broken connection is noticed); release() when answered.
   */
  stamp(cmd: Command, term: number): PendingForward {
    // Below 2^53 (the stamp is a JS number on both sides); wrapping reuses numbers only after 2^52.
    if (this.next >= Number.MAX_SAFE_INTEGER) this.next = 1;
    const p: PendingForward = { seq: this.next++, term, run: this.run, result: undefined, wake: undefined };
    cmd.forwardedBy = this.self;
    cmd.forwardSeq = p.seq;
    this.pending.set(p.seq, p);
    return p;
  }

  release(p: PendingForward): void {
    this.pending.delete(p.seq);
  }

  /** What became of `p`, once known from this member's log; 'unknown' at `deadline`. */
  outcome(p: PendingForward, deadline: number): Promise<ForwardOutcome> {
    const now = this.settled(p);
    if (now) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        p.wake = undefined;
        resolve(this.settled(p) ?? 'unknown');
      }, Math.max(0, deadline - Date.now()));
      p.wake = () => {
        const o = this.settled(p);
        if (!o) return;
        clearTimeout(timer);
        p.wake = undefined;
        resolve(o);
      };
    });
  }

  private settled(p: PendingForward): ForwardOutcome | undefined {
    if (p.result) return { applied: p.result };
    if (p.run === this.run && this.appliedTerm > p.term) return 'never-committed';
    return undefined;
  }

  /** Whether forwards are in flight: only then are applied entries read for stamps. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * A committed entry was applied (in log order) with `result` (null: no command). Needed only
   * while forwards are in flight: a term missed meanwhile is at most the one a later forward names.
   */
  applied(data: Uint8Array, term: number, result: CommandResult | null): void {
    if (result !== null && this.pending.size > 0) {
      const seq = stampOf(data, this.self);
      const p = seq === 0 ? undefined : this.pending.get(seq);
      if (p) {
        p.result = result;
        p.wake?.();
      }
    }
    if (term > this.appliedTerm) {
      this.appliedTerm = term;
      for (const p of this.pending.values()) p.wake?.();
    }
  }

  /**
   * Entries were skipped (a snapshot installed, the state machine rebuilt from the log): a
   * forward already in flight may have committed among them, so a later term says nothing of it.
   */
  gap(): void {
    this.run++;
  }
}

/**
 * The forward number in an encoded Command when `member` stamped it, else 0. Reads only the
 * leading fields (1-6; encoders write fields in number order), without decoding the command.
 */
export function stampOf(data: Uint8Array, member: number): number {
  let by = 0;
  let seq = 0;
  try {
    walkFields(data, (f) => {
      if (f.field > 6) return false;
      if (f.wireType !== 0) return;
      if (f.field === 5) by = f.value;
      else if (f.field === 6) seq = f.value;
    });
  } catch {
    return 0;
  }
  return by === member ? seq : 0;
}
