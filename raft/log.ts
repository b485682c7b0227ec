// The in-memory Raft log after the latest snapshot. One array holds every retained entry;
// `stable` marks how much of it the application has made durable, so the unstable suffix is
// simply (stable, last]. Compaction advances an offset instead of shifting the array, so
// appends and prefix drops stay O(1) amortized even for very long runs.

import { EntryType, type Entry, type Snapshot } from './types.js';

/** Rough per-entry overhead so that empty entries still count against byte budgets. */
export const ENTRY_OVERHEAD = 16;

export function entrySize(e: Entry): number {
  return e.data.length + ENTRY_OVERHEAD;
}

/**
 * What a compacted slot of the array holds until the dead prefix is sliced off: a compacted
 * entry must not stay reachable through it (300 entries of 1 MiB stayed in memory after every
 * snapshot, since the prefix is only sliced off past 1024 dead slots).
 */
const COMPACTED: Entry = Object.freeze({ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array(0) });

export class RaftLog {
  /** Index and term of the last entry covered by the snapshot (0/0 for an empty log). */
  snapIndex: number;
  snapTerm: number;
  /** Highest index known durable (entries) or covered by a durable snapshot. */
  stable: number;
  /** Highest index handed out in a Ready for persistence and not yet acknowledged. */
  persisting: number;
  committed: number;
  /** Highest index the application has applied (acknowledged via advance). */
  applied: number;
  /** Highest committed index handed out in a Ready for applying. */
  applying: number;
  /** A snapshot received from the leader that the application still has to persist and install. */
  pendingSnapshot: Snapshot | undefined;

  private ents: Entry[] = [];
  /** ents[off] is the entry at snapIndex + 1. */
  private off = 0;

  constructor(snapIndex: number, snapTerm: number, entries: Entry[]) {
    this.snapIndex = snapIndex;
    this.snapTerm = snapTerm;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i]!.index !== snapIndex + 1 + i) {
        throw new Error(`raft log: non-contiguous initial entries at ${entries[i]!.index}, expected ${snapIndex + 1 + i}`);
      }
    }
    this.ents = entries.slice();
    this.stable = this.lastIndex();
    this.persisting = this.stable;
    this.committed = snapIndex;
    this.applied = snapIndex;
    this.applying = snapIndex;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.ents.length - this.off;
  }

  lastTerm(): number {
    const n = this.ents.length;
    return n > this.off ? this.ents[n - 1]!.term : this.snapTerm;
  }

  /** Term of the entry at i; -1 when i is compacted away or beyond the end. */
  term(i: number): number {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex) return -1;
    const p = this.off + (i - this.snapIndex - 1);
    return p < this.ents.length ? this.ents[p]!.term : -1;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  entry(i: number): Entry | undefined {
    if (i <= this.snapIndex) return undefined;
    return this.ents[this.off + (i - this.snapIndex - 1)];
  }

  /** Entries [lo, hi). Caller guarantees firstIndex <= lo <= hi <= lastIndex + 1. */
  slice(lo: number, hi: number): Entry[] {
    const base = this.off - this.snapIndex - 1;
    return this.ents.slice(base + lo, base + hi);
  }

  /** Entries from lo on, at most up to hi (inclusive), stopping once maxBytes is exceeded
   *  (but always at least one entry so a huge entry still makes progress). */
  sliceBySize(lo: number, hi: number, maxBytes: number): { entries: Entry[]; bytes: number } {
    const base = this.off - this.snapIndex - 1;
    let bytes = 0;
    let end = lo;
    while (end <= hi) {
      const s = entrySize(this.ents[base + end]!);
      if (end > lo && bytes + s > maxBytes) break;
      bytes += s;
      end++;
    }
    return { entries: this.ents.slice(base + lo, base + end), bytes };
  }

  /** Leader-side append of new entries at the end. */
  push(e: Entry): void {
    this.ents.push(e);
  }

  /**
   * Append entries that may overlap the existing suffix: everything from the first new index
   * on is replaced. The caller has already checked that the overlap conflicts and that no
   * committed entry is touched.
   */
  truncateAndAppend(entries: Entry[], from: number): void {
    const first = entries[from]!.index;
    this.truncateFrom(first);
    for (let i = from; i < entries.length; i++) this.ents.push(entries[i]!);
  }

  /** Drop entries at index >= i. */
  truncateFrom(i: number): void {
    if (i <= this.snapIndex) throw new Error(`raft log: truncate at ${i} below snapshot ${this.snapIndex}`);
    const p = this.off + (i - this.snapIndex - 1);
    if (p < this.ents.length) this.ents.length = p;
    if (this.stable >= i) this.stable = i - 1;
    if (this.persisting >= i) this.persisting = i - 1;
  }

  /** Overwrite entries in place without dropping the tail (planted bug noConflictTruncate only). */
  overwriteInPlace(entries: Entry[], from: number): void {
    for (let k = from; k < entries.length; k++) {
      const e = entries[k]!;
      const p = this.off + (e.index - this.snapIndex - 1);
      if (p < this.ents.length) this.ents[p] = e;
      else this.ents.push(e);
      if (this.stable >= e.index) this.stable = e.index - 1;
      if (this.persisting >= e.index) this.persisting = e.index - 1;
    }
  }

  /** Unstable entries not yet handed out for persistence. */
  toPersist(): Entry[] {
    // After a snapshot restore nothing at or below snapIndex is in memory (the snapshot itself
    // is persisted through Ready.snapshot), so the unstable entries start after it.
    const from = Math.max(this.stable, this.persisting, this.snapIndex) + 1;
    const last = this.lastIndex();
    if (from > last) return [];
    return this.slice(from, last + 1);
  }

  hasToPersist(): boolean {
    return Math.max(this.stable, this.persisting, this.snapIndex) < this.lastIndex();
  }

  /** Committed entries not yet handed out for applying. Only stable-or-persisting entries. */
  toApply(): Entry[] {
    const from = Math.max(this.applied, this.applying, this.snapIndex) + 1;
    const hi = Math.min(this.committed, this.lastIndex());
    if (from > hi) return [];
    return this.slice(from, hi + 1);
  }

  hasToApply(): boolean {
    const from = Math.max(this.applied, this.applying, this.snapIndex) + 1;
    return from <= Math.min(this.committed, this.lastIndex());
  }

  /** Entries up to i are durable, provided the entry there still has term t (it may have been
   *  replaced by a newer leader's entries between ready() and advance()). */
  stableTo(i: number, t: number): void {
    if (i > this.stable && this.term(i) === t) this.stable = i;
    if (this.persisting <= this.stable) this.persisting = this.stable;
  }

  commitTo(i: number): boolean {
    if (i > this.committed) {
      if (i > this.lastIndex()) throw new Error(`raft log: commit ${i} beyond last index ${this.lastIndex()}`);
      this.committed = i;
      return true;
    }
    return false;
  }

  /** Replace the whole log by a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.ents = [];
    this.off = 0;
    this.snapIndex = s.meta.index;
    this.snapTerm = s.meta.term;
    this.committed = s.meta.index;
    this.pendingSnapshot = s;
    // The snapshot is not durable yet, so nothing at or below its index counts as stable.
    this.stable = Math.min(this.stable, s.meta.index - 1);
    this.persisting = this.stable;
  }

  /** Drop entries up to and including i (the application holds a durable snapshot at i). */
  compact(i: number): void {
    if (i <= this.snapIndex) return;
    if (i > this.applied) throw new Error(`raft log: compact ${i} beyond applied ${this.applied}`);
    if (i > this.stable) throw new Error(`raft log: compact ${i} beyond stable ${this.stable}`);
    const t = this.term(i);
    const end = this.off + (i - this.snapIndex);
    for (let p = this.off; p < end; p++) this.ents[p] = COMPACTED;
    this.off = end;
    this.snapIndex = i;
    this.snapTerm = t;
    // Reclaim the dead prefix once it dominates, keeping the amortized cost O(1) per entry.
    if (this.off > 1024 && this.off * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.off);
      this.off = 0;
    }
  }

  /** Largest index <= i whose term is <= t (etcd's findConflictByTerm), for fast back-off. */
  findConflictByTerm(i: number, t: number): { index: number; term: number } {
    for (; i > this.snapIndex; i--) {
      const ti = this.term(i);
      if (ti <= t) return { index: i, term: ti };
    }
    return { index: i, term: this.term(i) };
  }

  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }
}
