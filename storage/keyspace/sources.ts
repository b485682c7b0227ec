// Where a ranged read's keys come from, in key order: the current state (currentSource), or the
// keyspace as it was at a past revision, either from the `hist` sublevel on the read's LevelDB
// snapshot (historySource: a seek per key, each a trip to LevelDB's thread pool) or from the
// revision index beside the current state (indexedHistorySource: one scan of `kv`, the rest in
// memory). range.ts pages, counts, sorts and filters what a source yields.

import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { bytesOf, logKey, lowerBound, type KeyRange } from './keys.js';
import { decodeCurrent, decodeKv, withoutValue, type Current } from './records.js';
import { refMain, refSub, type CurrentKeys, type PutRef } from './current-index.js';
import type { RevisionIndex } from './revision-index.js';
import type { View } from './view.js';
import { countFrom, MAX_LIST, type PastList, type PastLists } from './past-lists.js';

const EMPTY = Buffer.alloc(0);

/** One key as the range sees it: its metadata now, its value on demand. */
export interface Item {
  key: string;
  /** The key's KeyValue; without its value in 'meta' mode. */
  kv: KeyValue;
  /** The KeyValue with its value (read again in 'meta' mode). */
  full(): KeyValue;
}

/** 'count': bare keys; 'meta': KeyValues without values; 'full': with values. */
export type Mode = 'count' | 'meta' | 'full';

export interface Source {
  /** Items in key order, in chunks. `want` > 0: how many the caller needs at most (sizes the first read). */
  items(from: string, mode: Mode, want: number): AsyncGenerator<(Item | string)[]>;
  /** How many keys items(from, 'count') would yield, counted without handing them over (where the source can). */
  count?(from: string): number | Promise<number>;
}

/**
 * Value bytes a source loads before it hands them over. A chunk of the scan holds up to a thousand
 * keys; loading all their values before the consumer sees the first would read (and hold) a whole
 * chunk of values for a page of four: 300 MiB per page of a prefix of 1 MiB values. Slices keep
 * what is read past a page to one slice (or one value).
 */
const SLICE_BYTES = 1 << 20;

/**
 * Collects a chunk's items, handing over a slice whenever its values pass SLICE_BYTES, and the
 * first slice once it holds `want` items (> 0: all the caller needs, a page and the key past it).
 */
class Slicer {
  out: (Item | string)[] = [];
  private bytes = 0;
  constructor(
    private readonly mode: Mode,
    private want = 0,
  ) {}

  /** Adds one key; true when the slice is full and should be yielded (take()). */
  add(it: Item | string): boolean {
    this.out.push(it);
    if (this.want > 0 && this.out.length >= this.want) {
      this.want = 0;
      return true;
    }
    if (this.mode !== 'full') return false;
    return (this.bytes += (it as Item).kv.value.length) >= SLICE_BYTES;
  }

  take(): (Item | string)[] {
    const o = this.out;
    this.out = [];
    this.bytes = 0;
    return o;
  }
}

/** A key's current state as an item of `mode`. */
function currentItem(view: View, key: string, cur: Current, mode: Mode): Item | string {
  if (mode === 'count') return key;
  const full = (): KeyValue => view.load(key, cur);
  return { key, kv: mode === 'meta' ? withoutValue(bytesOf(key), cur) : full(), full };
}

/** A put (a key's current one, or one in its history) as an item of `mode`: its KeyValue is its event record in `log`. */
function eventItem(view: View, key: string, main: number, sub: number, mode: Mode): Item | string {
  if (mode === 'count') return key;
  const lk = logKey(main, sub);
  const full = (): KeyValue => {
    const rec = view.get('log', lk);
    if (!rec) throw new Error(`keyspace: history of ${JSON.stringify(key)} at ${main}/${sub} has no event record`);
    return decodeKv(rec);
  };
  const kv = full();
  // 'meta': keep no view into the record, so its value can be freed.
  return { key, kv: mode === 'full' ? kv : { ...kv, key: bytesOf(key), value: EMPTY }, full };
}

export function currentSource(view: View, r: KeyRange): Source {
  return {
    async *items(from, mode, want) {
      for await (const chunk of view.scanCurrent(from, r.to, mode !== 'count', want)) {
        const s = new Slicer(mode);
        for (const [k, rec] of chunk) if (s.add(mode === 'count' ? k : currentItem(view, k, decodeCurrent(rec!), mode))) yield s.take();
        if (s.out.length) yield s.take();
      }
    },
  };
}

export function historySource(view: View, r: KeyRange, rev: number): Source {
  return {
    async *items(from, mode) {
      for await (const chunk of view.scanHistory(from, r.to, rev)) {
        const s = new Slicer(mode);
        for (const e of chunk) if (!e.tombstone && s.add(eventItem(view, e.key, e.main, e.sub, mode))) yield s.take();
        if (s.out.length) yield s.take();
      }
    },
  };
}

/** Keys visited between two turns of the event loop: an in-memory walk is otherwise one long step. */
const STEP = 1000;
/** What a forRange callback returns to stop the walk. */
const BREAK = { break: true } as const;
const nextTurn = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * The current state, its keys from `keys` (a clone of the current-key index taken with `view`'s
 * snapshot) instead of a `kv` scan: counting is done in memory, and a key handed over costs one
 * getSync, of its current put's event record (the index says where it is; no `kv` record read).
 */
export function indexedCurrentSource(view: View, r: KeyRange, keys: CurrentKeys): Source {
  return {
    async *items(from, mode, want) {
      const s = new Slicer(mode, want);
      let visited = 0;
      for (const [k, ref] of keys.entries(from, [])) {
        if (r.to !== undefined && k >= r.to) break;
        if (s.add(eventItem(view, k, refMain(ref), refSub(ref), mode))) yield s.take();
        if (++visited % STEP === 0) {
          if (s.out.length) yield s.take();
          await nextTurn();
        }
      }
      if (s.out.length) yield s.take();
    },
    // The tree counts a leaf's keys in range from two binary searches, without visiting them:
    // a count over a million keys is ~30,000 leaves, a few milliseconds on this thread.
    count(from) {
      if (r.to === undefined) {
        const last = keys.maxKey();
        return last === undefined || last < from ? 0 : keys.forRange(from, last, true);
      }
      return from < r.to ? keys.forRange(from, r.to, false) : 0;
    },
  };
}

/** How many keys `src` yields from `from` on, through items(). */
export async function countItems(src: Source, from: string): Promise<number> {
  let n = 0;
  for await (const chunk of src.items(from, 'count', 0)) n += chunk.length;
  return n;
}

/**
 * Whether `index`, which matched a snapshot when its generation was `generation`, still answers
 * for that snapshot at revision `rev`: not replaced since, and not trimmed past `rev`.
 */
export function indexAnswers(index: RevisionIndex, generation: number, rev: number): boolean {
  return index.generation === generation && index.trimmedTo <= rev;
}

/**
 * The keyspace at the past revision `rev`, from the current keys (`keys`, a clone of the
 * current-key index taken with `view`'s snapshot) and the revision index: a key whose current put
 * is at or below `rev` held it then; any other key held what the revision index says (a key it
 * does not hold has no history but its current put, which is newer, so it held nothing). The
 * revision index's keys that are not current (deleted ones) are merged in. No history seek and no
 * `kv` scan: only what is handed over is read from LevelDB.
 *
 * The revision index must have matched the snapshot when it was taken: `generation` is the
 * index's then (the state machine took both with no batch being written). Since then it only
 * gained entries newer than the snapshot, which no lookup at `rev` lands on, unless it was
 * replaced (another generation) or a compaction above `rev` began trimming what `rev` needs: from
 * that point on, the rest of the range is read by `fallback` (the `hist` sublevel on the same
 * snapshot).
 *
 * With `lists`, a count walks the whole range once and keeps the list of keys it held at `rev`
 * (past-lists.ts); the pages and counts of that range at `rev` that follow are read from it.
 */
export function indexedHistorySource(view: View, r: KeyRange, rev: number, keys: CurrentKeys, index: RevisionIndex, generation: number, fallback: Source, lists?: PastLists): Source {
  const usable = (): boolean => indexAnswers(index, generation, rev);
  /** What the key held at `rev` (null: nothing), for a key whose current put (if any) is newer. */
  const held = (key: string, mode: Mode): Item | string | null => {
    const e = index.lookup(key, rev);
    if (!e || e.tombstone) return null;
    return eventItem(view, key, e.main, e.sub, mode);
  };
  // The revision index's keys of the range, taken once for a range's page and its count: while
  // the index answers for `rev` (checked as before each use), no key of it below `rev` leaves,
  // and keys that join later hold nothing at `rev`.
  let indexedKeys: string[] | undefined;
  let indexedFrom = '';
  /** The index's keys in [from, r.to) as a list and the position of the first. */
  const indexedIn = (from: string): [string[], number] => {
    if (indexedKeys === undefined || from < indexedFrom) {
      indexedKeys = index.keysIn(from, r.to);
      indexedFrom = from;
    }
    return [indexedKeys, lowerBound(indexedKeys, from)];
  };
  /**
   * Hands `onHeld` every key the range held at `rev` from `start` on, in key order, with where its
   * put is: the current keys STEP at a time through forRange's callback (no iterator step per
   * key) merged with the revision index's, a turn of the event loop between chunks. Returns where
   * it stopped if the index no longer answers for `rev` (the rest is `fallback`'s to read).
   */
  const walkHeld = async (start: string, onHeld: (k: string, put: PutRef) => void): Promise<string | undefined> => {
    const [indexed, first] = indexedIn(start);
    let ii = first;
    let visited = 0;
    let last = '';
    let seen = 0;
    const visit = (k: string, ref: PutRef): { break: true } | undefined => {
      for (; ii < indexed.length && indexed[ii]! <= k; ii++) {
        const d = indexed[ii]!;
        if (d === k) continue;
        const put = index.putAt(d, rev);
        if (put !== null) onHeld(d, put);
      }
      const put = refMain(ref) <= rev ? ref : index.putAt(k, rev);
      if (put !== null) onHeld(k, put);
      last = k;
      return ++seen === STEP ? BREAK : undefined;
    };
    for (let at = start; ; at = last + '\u0000') {
      seen = 0;
      if (r.to === undefined) {
        const max = keys.maxKey();
        if (max === undefined || max < at) break;
        keys.forRange(at, max, true, visit);
      } else {
        if (at >= r.to) break;
        keys.forRange(at, r.to, false, visit);
      }
      if (seen < STEP) break;
      visited += seen;
      await nextTurn();
      if (!usable()) return last + '\u0000';
    }
    for (; ii < indexed.length; ii++) {
      const d = indexed[ii]!;
      const put = index.putAt(d, rev);
      if (put !== null) onHeld(d, put);
      if (++visited % STEP === 0) {
        await nextTurn();
        if (!usable()) return d + '\u0000';
      }
    }
    return undefined;
  };
  return {
    async *items(from, mode, want) {
      const kept = lists?.find(r, from, rev, generation);
      if (kept) return yield* listItems(view, kept, from, mode, want);
      if (!usable()) return yield* fallback.items(from, mode, want);
      const [indexed, first] = indexedIn(from);
      let ii = first;
      /** Every key below this one has been handed over or found empty. */
      let next = from;
      let visited = 0;
      const s = new Slicer(mode, want);
      // Hands over what is collected and lets the event loop run; false if the index is then no
      // longer usable (the caller hands the rest to `fallback`).
      const pause = async function* (): AsyncGenerator<(Item | string)[], boolean> {
        if (s.out.length) yield s.take();
        await nextTurn();
        return usable();
      };
      for (const [k, ref] of keys.entries(from, [])) {
        if (r.to !== undefined && k >= r.to) break;
        // Indexed keys not in the current state (deleted), up to this one.
        for (; ii < indexed.length && indexed[ii]! <= k; ii++) {
          const d = indexed[ii]!;
          if (d === k) continue;
          const it = held(d, mode);
          next = d + '\u0000';
          if (it !== null && s.add(it)) {
            yield s.take();
            if (!usable()) return yield* fallback.items(next, mode, 0);
          }
        }
        const main = refMain(ref);
        const it = main <= rev ? eventItem(view, k, main, refSub(ref), mode) : held(k, mode);
        next = k + '\u0000';
        if (it !== null && s.add(it)) {
          yield s.take();
          if (!usable()) return yield* fallback.items(next, mode, 0);
        }
        if (++visited % STEP === 0 && !(yield* pause())) return yield* fallback.items(next, mode, 0);
      }
      for (; ii < indexed.length; ii++) {
        const it = held(indexed[ii]!, mode);
        next = indexed[ii]! + '\u0000';
        if (it !== null && s.add(it)) {
          yield s.take();
          if (!usable()) return yield* fallback.items(next, mode, 0);
        }
        if (++visited % STEP === 0 && !(yield* pause())) return yield* fallback.items(next, mode, 0);
      }
      if (s.out.length) yield s.take();
    },
    // items(from, 'count') without an item, a slice or a revision object per key: the same walk
    // and the same fallback once the index no longer answers for `rev`. With `lists`, the walk
    // covers the whole range and keeps the keys it found for the pages that follow.
    async count(from) {
      const kept = lists?.find(r, from, rev, generation);
      if (kept) return countFrom(kept, from);
      if (!usable()) return countItems(fallback, from);
      let listed: { keys: string[]; refs: PutRef[] } | null = lists ? { keys: [], refs: [] } : null;
      let n = 0;
      const stopped = await walkHeld(listed ? r.from : from, (k, put) => {
        if (k >= from) n++;
        if (listed === null) return;
        listed.keys.push(k);
        listed.refs.push(put);
        if (listed.keys.length > MAX_LIST) listed = null;
      });
      if (stopped !== undefined) return n + (await countItems(fallback, stopped > from ? stopped : from));
      // Not kept if a compaction above `rev` came as the walk ended: reads of `rev` are over.
      if (lists && listed && usable()) lists.keep({ from: r.from, to: r.to, rev, generation, keys: listed.keys, refs: listed.refs });
      return n;
    },
  };
}

/** Items of a kept list from `from` on (past-lists.ts): what the range held at the list's revision. */
async function* listItems(view: View, l: PastList, from: string, mode: Mode, want: number): AsyncGenerator<(Item | string)[]> {
  const s = new Slicer(mode, want);
  for (let i = lowerBound(l.keys, from), visited = 0; i < l.keys.length; i++) {
    const ref = l.refs[i]!;
    if (s.add(eventItem(view, l.keys[i]!, refMain(ref), refSub(ref), mode))) yield s.take();
    if (++visited % STEP === 0) {
      if (s.out.length) yield s.take();
      await nextTurn();
    }
  }
  if (s.out.length) yield s.take();
}
