// Which revisions of a key the history holds, in memory, so that one key at a past revision is
// answered on the calling thread (two getSync) instead of through a LevelDB iterator, whose seek
// and read are a round trip to the thread pool each (etcd keeps the same in its treeIndex).
//
// Only keys whose history holds more than their current put are indexed: a key with a single
// retained entry that is its live current state (most keys of a metadata store, written once)
// costs nothing here. So a key that is not indexed has either no history, or exactly one entry:
// the put its `kv` record points at. Every answer below follows from that rule.
//
// The index changes only with the database: a written batch's history entries (record), a
// compaction (compact trims, in the background, what no read at or above the compact revision
// can need), and a database opened or installed from a snapshot (load). It answers reads of the
// database's newest state at or above its compact revision, and ranges at a past revision on a
// LevelDB snapshot taken while it matched the database (sources.ts: indexedHistorySource, which
// falls back to the `hist` sublevel once the index was replaced or trimmed past the read).
// Other reads on a snapshot (txns, watch catch-up) still seek `hist`.

import type { Db } from '../state-machine/layout.js';
import { rawBounds } from '../state-machine/layout.js';
import { lowerBound, parseHist } from './keys.js';
import { scanNamespace } from '../state-machine/scan.js';
import type { PutRef } from './current-index.js';

/** One history entry of a key. */
export interface Revision {
  main: number;
  sub: number;
  tombstone: boolean;
}

/** A history entry a batch wrote, with the key's current put before it (undefined: the key did not exist). */
export interface RevisionWrite {
  key: string;
  main: number;
  sub: number;
  tombstone: boolean;
  prev: { main: number; sub: number } | undefined;
}

/**
 * A key's entries, oldest first, from `head` on: `revs` holds main·2 + tombstone, `subs` the sub
 * revisions, allocated only once one of them is not 0 (a Txn or a ranged delete writing several
 * keys), so a key written by single Puts costs 8 bytes per entry. Entries a compaction dropped
 * are skipped by moving `head`; the arrays are cut once most of them is dropped.
 */
interface KeyRevisions {
  revs: number[];
  subs: number[] | null;
  head: number;
}

/** The position just past `r`'s newest entry (from `head` on) whose main revision is at or below `rev` (`r.head`: none). */
function pastNewestAt(r: KeyRevisions, rev: number): number {
  const revs = r.revs;
  let lo = r.head;
  let hi = revs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Math.floor(revs[mid]! / 2) <= rev) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Key order: the order of their bytes (keys are binary strings, one char per byte). */
const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Keys joined since the index was last put in order, past which (and past the keys held) it is. */
const JOINED_MAX = 4096;

/** Keys trimmed per turn of the event loop after a compaction. */
const TRIM_STEP = 2000;
const HIST_PLEN = rawBounds('hist', '', undefined).gte.length;

export class RevisionIndex {
  private keys = new Map<string, KeyRevisions>();
  private _entries = 0;
  private trimTarget = -1;
  private _generation = 0;
  /**
   * The indexed keys in key order, for ranges (keysIn), kept lazily: keys that joined since the
   * last range wait in `joined`, and keys that left stay in `ordered` (skipped) until they are
   * many. A Map has no order, and most reads are of one key, which need none.
   */
  private ordered: string[] = [];
  private joined: string[] = [];
  private left = 0;
  private trimming: Iterator<[string, KeyRevisions]> | null = null;
  private trimTimer: NodeJS.Immediate | null = null;

  /**
   * Changes whenever the index is replaced (load): a read that took the index's state together
   * with a LevelDB snapshot may use it only while this is unchanged.
   */
  get generation(): number {
    return this._generation;
  }

  /**
   * The compact revision the index has been asked to trim to (-1: none). Lookups at revisions
   * below it may miss entries being dropped; at or above it they are exact.
   */
  get trimmedTo(): number {
    return this.trimTarget;
  }

  /**
   * The keys in [from, to) (`to` undefined: to the end) that the index holds now, in key order.
   * With the rule of this module, these and the keys of the current state are every key that can
   * have had a value at a revision the index answers for.
   */
  keysIn(from: string, to: string | undefined): string[] {
    this.order();
    const o = this.ordered;
    const out: string[] = [];
    for (let i = lowerBound(o, from); i < o.length; i++) {
      const k = o[i]!;
      if (to !== undefined && k >= to) break;
      if (this.keys.has(k)) out.push(k);
    }
    return out;
  }

  /**
   * Brings `ordered` up to date: the joined keys merged in, and the keys that left dropped once
   * they are many. Also called as keys join, so that without ranged reads neither list grows
   * beyond about twice the keys held.
   */
  private order(): void {
    if (this.joined.length > 0) this.mergeJoined();
    if (this.left > 1024 && this.left * 2 > this.ordered.length) {
      this.ordered = this.ordered.filter((k) => this.keys.has(k));
      this.left = 0;
    }
  }

  /** Sorted `joined` merged into `ordered`; a key that left and joined again is kept once. */
  private mergeJoined(): void {
    const j = this.joined.sort(byKey);
    const o = this.ordered;
    const out: string[] = new Array<string>();
    let a = 0;
    let b = 0;
    while (a < o.length || b < j.length) {
      const k = b >= j.length || (a < o.length && o[a]! <= j[b]!) ? o[a++]! : j[b++]!;
      if (out.length === 0 || out[out.length - 1] !== k) out.push(k);
    }
    this.ordered = out;
    this.joined = [];
  }

  /** Indexed keys and the entries they hold (for metrics and tests). */
  get size(): { keys: number; entries: number } {
    return { keys: this.keys.size, entries: this._entries };
  }

  /**
   * The newest entry of `key` at or below `rev`: null when it has none there, undefined when the
   * key is not indexed (then it has no history, or one put: its current state).
   */
  lookup(key: string, rev: number): Revision | null | undefined {
    const r = this.keys.get(key);
    if (r === undefined) return undefined;
    const lo = pastNewestAt(r, rev);
    if (lo === r.head) return null;
    const v = r.revs[lo - 1]!;
    return { main: Math.floor(v / 2), sub: r.subs === null ? 0 : r.subs[lo - 1]!, tombstone: v % 2 === 1 };
  }

  /**
   * Where the put `key` held at `rev` is, by the index: null when its newest entry at or below
   * `rev` is a delete, or it has none there, or the index does not hold the key.
   */
  putAt(key: string, rev: number): PutRef | null {
    const r = this.keys.get(key);
    if (r === undefined) return null;
    const lo = pastNewestAt(r, rev);
    if (lo === r.head) return null;
    const v = r.revs[lo - 1]!;
    if (v % 2 === 1) return null;
    const sub = r.subs === null ? 0 : r.subs[lo - 1]!;
    return sub === 0 ? v / 2 : { main: v / 2, sub };
  }

  /** A written batch's history entries, in revision order. */
  record(writes: readonly RevisionWrite[]): void {
    for (const w of writes) {
      let r = this.keys.get(w.key);
      if (r === undefined) {
        // Not indexed: no history, or one put that is the current state (`prev`).
        if (w.prev === undefined && !w.tombstone) continue;
        // Arrays of exactly the entries (a growing array reserves 16 more): most keys that get
        // here are written twice or deleted once before a compaction unindexes them again.
        const rev = w.main * 2 + (w.tombstone ? 1 : 0);
        const p = w.prev;
        r = p === undefined ? { revs: [rev], subs: w.sub === 0 ? null : [w.sub], head: 0 } : { revs: [p.main * 2, rev], subs: p.sub === 0 && w.sub === 0 ? null : [p.sub, w.sub], head: 0 };
        this._entries += r.revs.length;
        this.keys.set(w.key, r);
        if (this.joined.push(w.key) > JOINED_MAX && this.joined.length > this.keys.size) this.order();
        continue;
      }
      this.push(r, w.main * 2 + (w.tombstone ? 1 : 0), w.sub);
    }
  }

  private push(r: KeyRevisions, rev: number, sub: number): void {
    if (sub !== 0 && r.subs === null) r.subs = new Array<number>(r.revs.length).fill(0);
    r.revs.push(rev);
    r.subs?.push(sub);
    this._entries++;
  }

  /**
   * The compact revision moved to `c`: reads below it are refused from now on, so each key's
   * entries older than its newest one at or below `c` will never be asked for. They are dropped
   * in the background (lookups are right meanwhile: the kept entries are what they look at).
   */
  compact(c: number): void {
    if (c <= this.trimTarget) return;
    this.trimTarget = c;
    if (this.trimming === null) this.startTrim();
  }

  /** Replaces the index with the history stored in `db` (after open or a snapshot install). */
  async load(db: Db): Promise<void> {
    // From now on the index is being replaced: a read that took it with a snapshot of the old
    // database stops using it at once (its entries still match, but not for long).
    this._generation++;
    this.stopTrim();
    const keys = new Map<string, KeyRevisions>();
    let entries = 0;
    // A key's entries come newest first; they are kept when there is more than one, or the newest is a delete.
    let key: string | undefined;
    let revs: number[] = [];
    let subs: number[] = [];
    let anySub = false;
    const flush = (): void => {
      if (key === undefined) return;
      if (revs.length > 1 || revs[0]! % 2 === 1) {
        keys.set(key, { revs: revs.reverse(), subs: anySub ? subs.reverse() : null, head: 0 });
        entries += revs.length;
      }
      revs = [];
      subs = [];
      anySub = false;
    };
    for await (const chunk of scanNamespace(db, 'hist')) {
      for (const [rk, v] of chunk) {
        const e = parseHist(rk, HIST_PLEN, v);
        if (e.key !== key) {
          flush();
          key = e.key;
        }
        revs.push(e.main * 2 + (e.tombstone ? 1 : 0));
        subs.push(e.sub);
        if (e.sub !== 0) anySub = true;
      }
    }
    flush();
    this.keys = keys;
    this._entries = entries;
    this.trimTarget = -1;
    this.ordered = [...keys.keys()].sort(byKey);
    this.joined = [];
    this.left = 0;
    this._generation++;
  }

  /** Resolves once the trimming after the last compact() is done (tests look at `size` then). */
  async trimmed(): Promise<void> {
    while (this.trimming !== null) await new Promise<void>((r) => setImmediate(r));
  }

  /** Stops background trimming (the database is being closed or replaced). */
  close(): void {
    this.stopTrim();
  }

  private startTrim(): void {
    const c = this.trimTarget;
    this.trimming = this.keys.entries();
    const step = (): void => {
      this.trimTimer = null;
      const it = this.trimming;
      if (it === null) return;
      for (let i = 0; i < TRIM_STEP; i++) {
        const n = it.next();
        if (n.done) {
          this.trimming = null;
          // A compaction that came during this pass: another pass, at its revision.
          if (this.trimTarget > c) this.startTrim();
          return;
        }
        this.trim(n.value[0], n.value[1], c);
      }
      this.trimTimer = setImmediate(step);
    };
    this.trimTimer = setImmediate(step);
  }

  private stopTrim(): void {
    if (this.trimTimer !== null) clearImmediate(this.trimTimer);
    this.trimTimer = null;
    this.trimming = null;
  }

  /** Drops the entries of `key` no read at or above `c` needs; unindexes it when one or none is left. */
  private trim(key: string, r: KeyRevisions, c: number): void {
    const revs = r.revs;
    let keep = r.head;
    // The newest entry at or below c is the oldest one a read at c or later can land on.
    for (let i = revs.length - 1; i >= r.head; i--) {
      if (Math.floor(revs[i]! / 2) <= c) {
        keep = i;
        break;
      }
    }
    this._entries -= keep - r.head;
    r.head = keep;
    // What remains is one entry (the newest: a put is the current state, a delete answers as no
    // history does) or none: the key needs no index.
    if (revs.length - r.head <= 1) {
      this._entries -= revs.length - r.head;
      this.keys.delete(key);
      this.left++;
      return;
    }
    if (r.head > 32 && r.head * 2 > revs.length) {
      r.revs = revs.slice(r.head);
      if (r.subs !== null) r.subs = r.subs.slice(r.head);
      r.head = 0;
    }
  }
}
