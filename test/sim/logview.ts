// A plain Raft log as the application sees it: what the core asked to persist (the "view"),
// or what is on the simulated disk. Follows the Ready contract: entries at index i replace
// the stored entry at i and everything after it.

import type { Entry } from '../../raft/types.js';

export class LogView {
  snapIndex = 0;
  snapTerm = 0;
  private ents: Entry[] = [];
  private off = 0;

  lastIndex(): number {
    return this.snapIndex + this.ents.length - this.off;
  }

  lastTerm(): number {
    return this.ents.length > this.off ? this.ents[this.ents.length - 1]!.term : this.snapTerm;
  }

  /** Term at i, or -1 when unknown (compacted or beyond the end). */
  term(i: number): number {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex) return -1;
    const p = this.off + i - this.snapIndex - 1;
    return p < this.ents.length ? this.ents[p]!.term : -1;
  }

  entry(i: number): Entry | undefined {
    if (i <= this.snapIndex) return undefined;
    return this.ents[this.off + i - this.snapIndex - 1];
  }

  /** Append per the Ready contract. Returns an error string when the entries do not fit. */
  append(entries: readonly Entry[]): string | undefined {
    if (entries.length === 0) return undefined;
    const first = entries[0]!.index;
    if (first <= this.snapIndex) return `append at ${first} at or below snapshot index ${this.snapIndex}`;
    if (first > this.lastIndex() + 1) return `append at ${first} leaves a gap after last index ${this.lastIndex()}`;
    for (let k = 1; k < entries.length; k++) {
      if (entries[k]!.index !== first + k) return `non-contiguous entries in one append at ${entries[k]!.index}`;
    }
    const p = this.off + first - this.snapIndex - 1;
    if (p < this.ents.length) this.ents.length = p;
    for (const e of entries) this.ents.push(e);
    return undefined;
  }

  /** Drop entries up to and including i (i must be within the log). */
  compact(i: number): void {
    if (i <= this.snapIndex) return;
    const t = this.term(i);
    if (t < 0) throw new Error(`logview: compact at ${i} beyond last index ${this.lastIndex()}`);
    this.off += i - this.snapIndex;
    this.snapIndex = i;
    this.snapTerm = t;
    if (this.off > 512 && this.off * 2 > this.ents.length) {
      this.ents = this.ents.slice(this.off);
      this.off = 0;
    }
  }

  /** Drop the entries after i (a disk that lost the end of its log). i >= snapIndex. */
  truncateAfter(i: number): void {
    if (i < this.snapIndex) throw new Error(`logview: truncate at ${i} below snapshot index ${this.snapIndex}`);
    if (i < this.lastIndex()) this.ents.length = this.off + i - this.snapIndex;
  }

  /** Replace everything by a snapshot. */
  reset(snapIndex: number, snapTerm: number): void {
    this.snapIndex = snapIndex;
    this.snapTerm = snapTerm;
    this.ents = [];
    this.off = 0;
  }

  entries(): Entry[] {
    return this.ents.slice(this.off);
  }

  clone(): LogView {
    const v = new LogView();
    v.snapIndex = this.snapIndex;
    v.snapTerm = this.snapTerm;
    v.ents = this.ents.slice(this.off);
    return v;
  }
}
