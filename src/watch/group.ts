// A set of watchers, found by key: single-key watchers in a Map, range and prefix watchers in an
// interval tree (ranges.ts). Watchers on the same key or the same range share one Set, so an
// event costs one lookup per distinct key/range that matches, however many watchers share it.

import { RangeIndex } from './ranges.js';

/** What a group needs from a watcher: the key range it watches (binary strings). */
export interface Ranged {
  /** First key. */
  readonly from: string;
  /** End of the range, exclusive; undefined = the end of the keyspace; ignored for a single key. */
  readonly to: string | undefined;
  /** Watches `from` alone. */
  readonly single: boolean;
}

export class WatcherGroup<W extends Ranged> {
  private readonly keys = new Map<string, Set<W>>();
  private readonly ranges = new RangeIndex<Set<W>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(w: W): void {
    let set = w.single ? this.keys.get(w.from) : this.ranges.get(w.from, w.to);
    if (!set) {
      set = new Set();
      if (w.single) this.keys.set(w.from, set);
      else this.ranges.set(w.from, w.to, set);
    }
    if (set.has(w)) return;
    set.add(w);
    this.count++;
  }

  /** Removes `w`; false when it was not in the group. */
  delete(w: W): boolean {
    const set = w.single ? this.keys.get(w.from) : this.ranges.get(w.from, w.to);
    if (!set || !set.delete(w)) return false;
    this.count--;
    if (set.size === 0) {
      if (w.single) this.keys.delete(w.from);
      else this.ranges.delete(w.from, w.to);
    }
    return true;
  }

  /** Calls `fn` with every set of watchers whose key or range contains `key`. */
  matching(key: string, fn: (set: Set<W>) => void): void {
    const s = this.keys.get(key);
    if (s) fn(s);
    if (this.ranges.size > 0) this.ranges.stab(key, fn);
  }

  /** True when some watcher of the group watches `key`. */
  contains(key: string): boolean {
    if (this.keys.has(key)) return true;
    let found = false;
    if (this.ranges.size > 0) this.ranges.stab(key, () => (found = true));
    return found;
  }

  *[Symbol.iterator](): IterableIterator<W> {
    for (const s of this.keys.values()) yield* s;
    for (const [, , s] of this.ranges.entries()) yield* s;
  }
}
