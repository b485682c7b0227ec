// The keys a range held at a past revision, kept once found, for the pages that follow.
//
// A page of a range at a past revision with `count` exact walks every key of the range (sources.ts:
// indexedHistorySource), because the count is of the whole range, not of the page: a lister
// paging through N keys at one revision (what Kubernetes' reflector and `etcdctl get --prefix
// --rev R --limit L` paging do) pays O(N) per page, O(N²/L) in all, as it does in etcd. What a
// range held at a revision below the current one never changes (later writes have higher
// revisions; reads below the compact revision are refused before they get here), so the list of
// its keys, with where each one's put is, answers every later page of it, and its count, with two
// binary searches.
//
// Bounded: a list past MAX_LIST keys is not kept, and at most MAX_LISTS lists holding at most
// MAX_KEYS keys together are, the least recently used dropped first (every read at a past
// revision looks through them, so their number stays small however small each one is). A list belongs to one generation of the revision
// index (revision-index.ts): a database installed from a snapshot starts afresh.

import { lowerBound, type KeyRange } from './keys.js';
import type { PutRef } from './current-index.js';

/** Keys of one range at one past revision, in key order, and where the put each held then is. */
export interface PastList {
  /** The range's start: the list answers for keys from here on (to the range's end). */
  from: string;
  to: string | undefined;
  rev: number;
  generation: number;
  keys: string[];
  refs: PutRef[];
}

/** Lists longer than this are not kept (a range that large is one list and nothing else). */
export const MAX_LIST = 200_000;
/** Keys held by all kept lists together (~16 bytes each, besides the key strings). */
export const MAX_KEYS = 400_000;
/** Lists kept at once. */
export const MAX_LISTS = 32;

export class PastLists {
  /** Most recently used last. */
  private lists: PastList[] = [];
  private held = 0;
  private _hits = 0;

  /** A kept list that answers for keys of `r` from `from` on at `rev`, or undefined. */
  find(r: KeyRange, from: string, rev: number, generation: number): PastList | undefined {
    for (let i = this.lists.length - 1; i >= 0; i--) {
      const l = this.lists[i]!;
      if (l.rev !== rev || l.to !== r.to || l.generation !== generation || from < l.from) continue;
      if (i !== this.lists.length - 1) this.lists.push(...this.lists.splice(i, 1));
      this._hits++;
      return l;
    }
    return undefined;
  }

  /** Keeps `l` (a list of a past revision that was complete when found), within the bounds. */
  keep(l: PastList): void {
    if (l.keys.length > MAX_LIST) return;
    this.lists = this.lists.filter((o) => !(o.rev === l.rev && o.to === l.to && o.generation === l.generation && o.from >= l.from));
    this.lists.push(l);
    this.held = this.lists.reduce((n, o) => n + o.keys.length, 0);
    while (this.held > MAX_KEYS || this.lists.length > MAX_LISTS) this.held -= this.lists.shift()!.keys.length;
  }

  /** Drops every list (the database was replaced). */
  clear(): void {
    this.lists = [];
    this.held = 0;
  }

  /** Drops the lists of revisions below `c`, which reads are refused now (a compaction to `c`). */
  dropBelow(c: number): void {
    this.lists = this.lists.filter((l) => l.rev >= c);
    this.held = this.lists.reduce((n, o) => n + o.keys.length, 0);
  }

  /** Lists kept, keys they hold, and pages answered from them (metrics and tests). */
  get stats(): { lists: number; keys: number; hits: number } {
    return { lists: this.lists.length, keys: this.held, hits: this._hits };
  }
}

/** How many of `l`'s keys are at or after `from`. */
export function countFrom(l: PastList, from: string): number {
  return l.keys.length - lowerBound(l.keys, from);
}
