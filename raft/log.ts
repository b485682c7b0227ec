// The in-memory Raft log after the latest snapshot. One array holds every retained entry;
// `stable` marks how much of it the application has made durable, so the unstable suffix is
// simply (stable, last]. Compaction advances an offset instead of shifting the array, so
// appends and prefix drops stay O(1) amortized even for very long runs.
//
// Entries that are durable and applied may be evicted (evict()): their slot then holds a shared
// marker with only the term and type, and their data is read back through `loader` (the
// application's storage) when a member behind needs them. Between snapshots the log would
// otherwise hold every entry in memory (100,000 by default) although only the newest are needed
// while the followers keep up.

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

/** Reads durable entries lo..hi back from storage (RaftConfig.loadEntries). */
export type EntryLoader = (lo: number, hi: number, maxBytes: number) => Entry[] | undefined;

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
  /** Entries (snapIndex, coldEnd] are evicted: their slots hold markers (term and type only). */
  private coldEnd = 0;
  /** entrySize() summed over the entries held in memory (not evicted). */
  private hot = 0;
  /** The marker last made, reused while the term and type stay the same (nearly always). */
  private marker: Entry = COMPACTED;
  loader: EntryLoader | undefined;

  constructor(snapIndex: number, snapTerm: number, entries: Entry[]) {
    this.snapIndex = snapIndex;
    this.snapTerm = snapTerm;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i]!.index !== snapIndex + 1 + i) {
        throw new Error(`raft log: non-contiguous initial entries at ${entries[i]!.index}, expected ${snapIndex + 1 + i}`);
      }
    }
    this.ents = entries.slice();
    for (const e of entries) this.hot += entrySize(e);
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

  /** The entry at i; an evicted one is its marker (term and type right, no data). */
  entry(i: number): Entry | undefined {
    if (i <= this.snapIndex) return undefined;
    return this.ents[this.off + (i - this.snapIndex - 1)];
  }

  /** Bytes of entry data held in memory (entrySize summed). */
  get hotBytes(): number {
    return this.hot;
  }

  /** The last evicted index (at or below snapIndex: none is). */
  get evictedThrough(): number {
    return Math.max(this.coldEnd, this.snapIndex);
  }

  /**
   * Lets go of the data of the oldest entries held in memory until at most keepBytes are held,
   * never past `upTo`, the applied index or the stable index (a loader must be able to read them
   * back). Returns the number of entries evicted.
   */
  evict(keepBytes: number, upTo: number): number {
    const limit = Math.min(upTo, this.applied, this.stable, this.lastIndex());
    let i = this.evictedThrough + 1;
    let n = 0;
    for (; i <= limit && this.hot > keepBytes; i++, n++) {
      const p = this.off + (i - this.snapIndex - 1);
      const e = this.ents[p]!;
      this.hot -= entrySize(e);
      if (this.marker.term !== e.term || this.marker.type !== e.type) {
        this.marker = Object.freeze({ term: e.term, index: 0, type: e.type, data: new Uint8Array(0) });
      }
      this.ents[p] = this.marker;
    }
    if (n > 0) this.coldEnd = i - 1;
    return n;
  }

  /** Entries [lo, hi), all held in memory. Caller guarantees firstIndex <= lo <= hi <= lastIndex + 1. */
  slice(lo: number, hi: number): Entry[] {
    if (lo <= this.coldEnd && lo < hi) throw new Error(`raft log: slice from ${lo} reaches evicted entries (through ${this.coldEnd})`);
    const base = this.off - this.snapIndex - 1;
    return this.ents.slice(base + lo, base + hi);
  }

  /** Entries from lo on, at most up to hi (inclusive), stopping once maxBytes is exceeded
   *  (but always at least one entry so a huge entry still makes progress). Evicted entries are
   *  read back through the loader (only those: the batch ends where they do); undefined when
   *  they cannot be. */
  sliceBySize(lo: number, hi: number, maxBytes: number): { entries: Entry[]; bytes: number } | undefined {
    if (lo <= this.coldEnd) return this.load(lo, Math.min(hi, this.coldEnd), maxBytes);
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

  private load(lo: number, hi: number, maxBytes: number): { entries: Entry[]; bytes: number } | undefined {
    const got = this.loader?.(lo, hi, maxBytes);
    if (!got || got.length === 0) return undefined;
    let bytes = 0;
    for (let k = 0; k < got.length; k++) {
      const e = got[k]!;
      // What comes back must be what was evicted: a mismatch is a storage bug, never sent on.
      if (e.index !== lo + k || e.index > hi || e.term !== this.term(e.index) || e.type !== this.entry(e.index)!.type) {
        throw new Error(`raft log: entry ${lo + k} read back from storage is ${e.index}/${e.term}, the log has term ${this.term(lo + k)}`);
      }
      bytes += entrySize(e);
    }
    return { entries: got, bytes };
  }

  /** Leader-side append of new entries at the end. */
  push(e: Entry): void {
    this.ents.push(e);
    this.hot += entrySize(e);
  }

  /**
   * Append entries that may overlap the existing suffix: everything from the first new index
   * on is replaced. The caller has already checked that the overlap conflicts and that no
   * committed entry is touched.
   */
  truncateAndAppend(entries: Entry[], from: number): void {
    const first = entries[from]!.index;
    this.truncateFrom(first);
    for (let i = from; i < entries.length; i++) this.push(entries[i]!);
  }

  /** Drop entries at index >= i. */
  truncateFrom(i: number): void {
    if (i <= this.snapIndex) throw new Error(`raft log: truncate at ${i} below snapshot ${this.snapIndex}`);
    if (i <= this.coldEnd) throw new Error(`raft log: truncate at ${i} reaches evicted entries (through ${this.coldEnd})`);
    const p = this.off + (i - this.snapIndex - 1);
    for (let q = p; q < this.ents.length; q++) this.hot -= entrySize(this.ents[q]!);
    if (p < this.ents.length) this.ents.length = p;
    if (this.stable >= i) this.stable = i - 1;
    if (this.persisting >= i) this.persisting = i - 1;
  }

  /** Overwrite entries in place without dropping the tail (planted bug noConflictTruncate only). */
  overwriteInPlace(entries: Entry[], from: number): void {
    for (let k = from; k < entries.length; k++) {
      const e = entries[k]!;
      const p = this.off + (e.index - this.snapIndex - 1);
      if (p < this.ents.length) {
        this.hot += entrySize(e) - (e.index > this.coldEnd ? entrySize(this.ents[p]!) : 0);
        this.ents[p] = e;
      } else this.push(e);
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
    this.hot = 0;
    this.coldEnd = 0;
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
    for (let p = this.off, idx = this.snapIndex + 1; p < end; p++, idx++) {
      if (idx > this.coldEnd) this.hot -= entrySize(this.ents[p]!);
      this.ents[p] = COMPACTED;
    }
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
