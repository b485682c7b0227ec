// Where the WAL's entries are on disk, so that entries whose data the Raft core let go of
// (RaftNode.evictLog) can be read back when a member behind needs them.
//
// One location is a byte range of one segment holding entries first..last. Locations are kept in
// write order, which is also index order: every entries record supersedes everything at or after
// its first index (the replay rule), so a new record drops the locations it supersedes and clips
// the one it cuts into. Consecutive records of the same segment share one location while it spans
// at most MAX_SPAN bytes, so the list holds about one location per MAX_SPAN of log, not one per
// write. Within a range the later record wins for an index present twice (readers apply the
// replay rule), and nothing past `last` counts: the rest was superseded.

/** Largest byte range one location covers (what one read of it costs at most, plus one record). */
export const MAX_SPAN = 256 * 1024;

export interface EntryLocation {
  seq: number;
  first: number;
  last: number;
  offset: number;
  length: number;
}

export class EntryLocations {
  private locs: EntryLocation[] = [];
  /** locs[off] is the oldest location still held. */
  private off = 0;

  get size(): number {
    return this.locs.length - this.off;
  }

  /** An entries record for first..last was written at [offset, offset+length) of segment `seq`. */
  wrote(seq: number, first: number, last: number, offset: number, length: number): void {
    this.dropFrom(first);
    const locs = this.locs;
    const top = locs.length > this.off ? locs[locs.length - 1]! : undefined;
    const end = offset + length;
    if (top && top.seq === seq && top.last === first - 1 && top.offset <= offset && end - top.offset <= MAX_SPAN) {
      top.last = last;
      top.length = end - top.offset;
      return;
    }
    locs.push({ seq, first, last, offset, length });
  }

  /** Entries from `first` on are superseded (by a later record, or a snapshot that replaced the log). */
  dropFrom(first: number): void {
    const locs = this.locs;
    while (locs.length > this.off && locs[locs.length - 1]!.first >= first) locs.pop();
    const top = locs.length > this.off ? locs[locs.length - 1]! : undefined;
    if (top && top.last >= first) top.last = first - 1;
  }

  /** Segments below `seq` are gone, and so is everything at or below `index`. */
  forget(seq: number, index: number): void {
    const locs = this.locs;
    while (this.off < locs.length && (locs[this.off]!.seq < seq || locs[this.off]!.last <= index)) this.off++;
    if (this.off > 1024 && this.off * 2 > locs.length) {
      this.locs = locs.slice(this.off);
      this.off = 0;
    }
  }

  /** The location holding entry `i`, if any. */
  find(i: number): EntryLocation | undefined {
    const locs = this.locs;
    let lo = this.off;
    let hi = locs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const l = locs[mid]!;
      if (i < l.first) hi = mid - 1;
      else if (i > l.last) lo = mid + 1;
      else return l;
    }
    return undefined;
  }

  /** The location right after `l` when it continues l's index range. */
  next(l: EntryLocation): EntryLocation | undefined {
    const n = this.find(l.last + 1);
    return n && n.first === l.last + 1 ? n : undefined;
  }

  /** The highest x <= to such that every entry from..x has a location (from - 1 if `from` has none). */
  coveredThrough(from: number, to: number): number {
    let l = this.find(from);
    if (!l) return from - 1;
    while (l.last < to) {
      const n = this.next(l);
      if (!n) return l.last;
      l = n;
    }
    return to;
  }
}
