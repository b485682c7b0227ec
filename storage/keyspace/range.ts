// etcd's Range over a View: the current keyspace or the keyspace as of a past revision, with
// limit, sorting, the revision filters, keys_only, count_only, `count` and `more` computed exactly
// as etcd 3.4 does (etcdserver/apply.go Range, mvcc rangeKeys), plus a byte budget.
//
// count is the number of keys in the range at the revision, before the revision filters and the
// limit; more says that keys matched beyond those returned. Sorting is stable, so equal targets
// keep key order (what etcd's insertion sort gives for small results).

import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { RangeRequest_SortOrder as Order, RangeRequest_SortTarget as Target, type RangeRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { KeyspaceError } from './errors.js';
import { bytesOf, keyRange, logKey, type KeyRange } from './keys.js';
import { decodeCurrent, decodeKv, withoutValue, type Current } from './records.js';
import type { RevisionIndex } from './revision-index.js';
import type { CurrentKeys } from './current-index.js';
import type { PastLists } from './past-lists.js';
import { countItems, currentSource, historySource, indexAnswers, indexedCurrentSource, indexedHistorySource, type Item, type Source } from './sources.js';
import type { View } from './view.js';

const EMPTY = Buffer.alloc(0);
/** Bytes a KeyValue costs in a reply beyond its key and value (tags and revision varints). */
export const KV_OVERHEAD = 40;

export interface RangeOptions {
  /**
   * Stop the page before its key and value bytes exceed this (at least one key is returned):
   * a reply that cannot be sent is never built. The result then says `truncated` and `more`.
   */
  maxBytes?: number;
  /** Skip counting past the page (count is then the keys seen, -1 if unknown): the native List needs no count. */
  noCount?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  more: boolean;
  count: number;
  /** The keyspace revision of the view (etcd's header revision), whatever revision was read. */
  revision: number;
  /** The byte budget stopped the page early. */
  truncated: boolean;
}

/** What a range reads, from an etcd RangeRequest. */
export interface RangeSpec {
  range: KeyRange;
  limit: number;
  revision: number;
  sortOrder: Order;
  sortTarget: Target;
  keysOnly: boolean;
  countOnly: boolean;
  minModRevision: number;
  maxModRevision: number;
  minCreateRevision: number;
  maxCreateRevision: number;
}

export function rangeSpec(r: RangeRequest): RangeSpec {
  return {
    range: keyRange(r.key, r.rangeEnd),
    limit: r.limit,
    revision: r.revision,
    sortOrder: r.sortOrder,
    sortTarget: r.sortTarget,
    keysOnly: r.keysOnly,
    countOnly: r.countOnly,
    minModRevision: r.minModRevision,
    maxModRevision: r.maxModRevision,
    minCreateRevision: r.minCreateRevision,
    maxCreateRevision: r.maxCreateRevision,
  };
}

/** The revision to read, or etcd's error: future above `current`, compacted below `compactRev`. */
export function readRevision(requested: number, current: number, compactRev: number): number {
  if (requested > current) throw new KeyspaceError('FUTURE_REV');
  const rev = requested <= 0 ? current : requested;
  if (rev < compactRev) throw new KeyspaceError('COMPACTED', compactRev);
  return rev;
}

const filtered = (s: RangeSpec): boolean => s.minModRevision !== 0 || s.maxModRevision !== 0 || s.minCreateRevision !== 0 || s.maxCreateRevision !== 0;

/** Sorted or filtered ranges read every key first (as etcd does), then sort, filter and cut. */
const collects = (s: RangeSpec): boolean =>
  filtered(s) || (s.sortOrder !== Order.NONE && !(s.sortOrder === Order.ASCEND && s.sortTarget === Target.KEY)) || (s.sortOrder === Order.NONE && s.sortTarget !== Target.KEY);

/**
 * etcd 3.4 decides whether to read every key from the sort order as asked, before it turns NONE
 * with another target than the key into ASCEND (etcdserver/apply.go Range). So with a limit and
 * no filters it reads the first limit+1 keys in key order, sorts those by the target and cuts to
 * the limit: the page holds the smallest targets among the first keys, not among all. etcdctl
 * asks exactly that for `get --prefix --sort-by=CREATE --limit N` (no --order), so it is kept.
 */
const sortsFirstKeysOnly = (s: RangeSpec): boolean => s.limit > 0 && !filtered(s) && s.sortOrder === Order.NONE && s.sortTarget !== Target.KEY;

function keep(s: RangeSpec, kv: KeyValue): boolean {
  if (s.maxModRevision !== 0 && kv.modRevision > s.maxModRevision) return false;
  if (s.minModRevision !== 0 && kv.modRevision < s.minModRevision) return false;
  if (s.maxCreateRevision !== 0 && kv.createRevision > s.maxCreateRevision) return false;
  if (s.minCreateRevision !== 0 && kv.createRevision < s.minCreateRevision) return false;
  return true;
}

/**
 * A single key at the current revision, synchronously (the common read, also inside apply), or
 * at a past one when the view has the revision index; undefined when the spec needs the
 * asynchronous path.
 */
export function rangeSync(view: View, s: RangeSpec, current: number, compactRev: number): RangeResult | undefined {
  if (!s.range.single) return undefined;
  const rev = readRevision(s.revision, current, compactRev);
  if (rev !== current) return view.revisions ? singleAtSync(view, s, rev, current, view.revisions) : undefined;
  const rec = view.get('kv', s.range.from);
  if (!rec) return { kvs: [], more: false, count: 0, revision: current, truncated: false };
  if (s.countOnly) return { kvs: [], more: false, count: 1, revision: current, truncated: false };
  const cur = decodeCurrent(rec);
  const kv = s.keysOnly ? withoutValue(bytesOf(s.range.from), cur) : view.load(s.range.from, cur);
  return { kvs: keep(s, kv) ? [kv] : [], more: false, count: 1, revision: current, truncated: false };
}

/**
 * The in-memory indexes of the database a snapshot view reads, taken with the snapshot: the
 * current keys (a clone, which later writes do not change) and the revision index with its
 * generation then (sources.ts: indexedHistorySource says when it may still be used).
 */
export interface IndexAtSnapshot {
  keys: CurrentKeys;
  index: RevisionIndex;
  generation: number;
  /** Where pages at a past revision find and keep the range's keys then (past-lists.ts). */
  pastLists?: PastLists;
}

/**
 * Reads the range as etcd would; throws KeyspaceError for a future or compacted revision. With
 * `indexed`, the range's keys come from the in-memory indexes instead of scans of `kv` and `hist`.
 */
export async function range(view: View, s: RangeSpec, current: number, compactRev: number, opts: RangeOptions = {}, indexed?: IndexAtSnapshot): Promise<RangeResult> {
  const sync = rangeSync(view, s, current, compactRev);
  if (sync) return sync;
  const rev = readRevision(s.revision, current, compactRev);
  if (s.range.single) return indexed && indexAnswers(indexed.index, indexed.generation, rev) ? singleAtSync(view, s, rev, current, indexed.index) : singleAt(view, s, rev, current);
  let source: Source;
  if (rev === current) source = indexed ? indexedCurrentSource(view, s.range, indexed.keys) : currentSource(view, s.range);
  else {
    source = historySource(view, s.range, rev);
    if (indexed) source = indexedHistorySource(view, s.range, rev, indexed.keys, indexed.index, indexed.generation, source, indexed.pastLists);
  }
  if (sortsFirstKeysOnly(s)) return firstKeysSorted(s, source, current, opts);
  return collects(s) ? collected(s, source, current, opts) : streamed(s, source, current, opts);
}

/**
 * A single key at a past revision: the key's current state when it has not changed since `rev`
 * (synchronous), else one seek to its newest history entry at or below `rev` — not the range
 * scan, which reads a chunk of the key's newer entries before it seeks.
 */
async function singleAt(view: View, s: RangeSpec, rev: number, current: number): Promise<RangeResult> {
  const cur = currentOf(view, s.range.from);
  if (cur && cur.main <= rev) return singleResult(view, s, cur, undefined, current);
  return singleResult(view, s, undefined, await view.historyOf(s.range.from, rev), current);
}

/**
 * singleAt on this thread, from the revision index: a key it does not index has no history or
 * one put, its current state, so with the current state newer than `rev` it had none then.
 */
function singleAtSync(view: View, s: RangeSpec, rev: number, current: number, index: RevisionIndex): RangeResult {
  const cur = currentOf(view, s.range.from);
  if (cur && cur.main <= rev) return singleResult(view, s, cur, undefined, current);
  return singleResult(view, s, undefined, index.lookup(s.range.from, rev) ?? undefined, current);
}

function currentOf(view: View, key: string): Current | undefined {
  const rec = view.get('kv', key);
  return rec ? decodeCurrent(rec) : undefined;
}

/** The answer for one key: its current state `cur` if given, else its history entry `e` (none: absent). */
function singleResult(view: View, s: RangeSpec, cur: Current | undefined, e: { main: number; sub: number; tombstone: boolean } | undefined, current: number): RangeResult {
  const key = s.range.from;
  let kv: KeyValue;
  if (cur) {
    if (s.countOnly) return { kvs: [], more: false, count: 1, revision: current, truncated: false };
    kv = s.keysOnly ? withoutValue(bytesOf(key), cur) : view.load(key, cur);
  } else {
    if (!e || e.tombstone) return { kvs: [], more: false, count: 0, revision: current, truncated: false };
    if (s.countOnly) return { kvs: [], more: false, count: 1, revision: current, truncated: false };
    const ev = view.get('log', logKey(e.main, e.sub));
    if (!ev) throw new Error(`keyspace: history of ${JSON.stringify(key)} at ${e.main}/${e.sub} has no event record`);
    kv = decodeKv(ev);
    if (s.keysOnly) kv = { ...kv, value: EMPTY };
  }
  return { kvs: keep(s, kv) ? [kv] : [], more: false, count: 1, revision: current, truncated: false };
}

const size = (kv: KeyValue): number => kv.key.length + kv.value.length + KV_OVERHEAD;

/** How many keys `src` holds from `from` on. */
async function countFrom(src: Source, from: string): Promise<number> {
  return src.count ? src.count(from) : countItems(src, from);
}

/** Key order, no filters: the page is read, then the rest only counted (keys, no values). */
async function streamed(s: RangeSpec, src: Source, current: number, opts: RangeOptions): Promise<RangeResult> {
  if (s.countOnly) {
    return { kvs: [], more: false, count: await countFrom(src, s.range.from), revision: current, truncated: false };
  }
  const kvs: KeyValue[] = [];
  let bytes = 0;
  let truncated = false;
  /** The first key past the page, if any. */
  let beyond: string | undefined;
  const budget = opts.maxBytes ?? Infinity;
  outer: for await (const chunk of src.items(s.range.from, s.keysOnly ? 'meta' : 'full', s.limit > 0 ? s.limit + 1 : 0)) {
    for (const it of chunk) {
      const item = it as Item;
      if (s.limit > 0 && kvs.length >= s.limit) {
        beyond = item.key;
        break outer;
      }
      const kv = item.kv;
      const b = size(kv);
      if (kvs.length > 0 && bytes + b > budget) {
        truncated = true;
        beyond = item.key;
        break outer;
      }
      bytes += b;
      kvs.push(kv);
    }
  }
  let count = kvs.length;
  if (beyond !== undefined) {
    if (opts.noCount) count = -1;
    else count += await countFrom(src, beyond);
  }
  return { kvs, more: beyond !== undefined, count, revision: current, truncated };
}

/** The first limit+1 keys in key order, sorted by the target (ascending), cut to the limit. */
async function firstKeysSorted(s: RangeSpec, src: Source, current: number, opts: RangeOptions): Promise<RangeResult> {
  // etcd drops the values of keys_only after sorting: sorting by value reads them.
  const byValue = s.sortTarget === Target.VALUE && s.keysOnly;
  const r = await streamed({ ...s, limit: s.limit + 1, keysOnly: s.keysOnly && !byValue }, src, current, opts);
  // Stable, as for `collected`: ties stay in key order.
  r.kvs.sort(comparator(s.sortTarget));
  if (r.kvs.length > s.limit) {
    r.kvs.length = s.limit;
    r.more = true;
  }
  if (byValue) r.kvs = r.kvs.map((kv) => ({ ...kv, value: EMPTY }));
  return r;
}

/** Sort or filters: every key's metadata first, then filter, sort, cut, and load the page's values. */
async function collected(s: RangeSpec, src: Source, current: number, opts: RangeOptions): Promise<RangeResult> {
  const byValue = s.sortTarget === Target.VALUE && !s.countOnly;
  let all: Item[] = [];
  let count = 0;
  // Only what sorting and filtering need is kept for every key; the page's values are read at the end.
  for await (const chunk of src.items(s.range.from, s.countOnly ? 'count' : byValue ? 'full' : 'meta', 0)) {
    count += chunk.length;
    if (!s.countOnly) for (const it of chunk) all.push(it as Item);
  }
  if (s.countOnly) return { kvs: [], more: false, count, revision: current, truncated: false };
  all = all.filter((i) => keep(s, i.kv));
  const order = s.sortOrder === Order.NONE ? Order.ASCEND : s.sortOrder;
  if (!(order === Order.ASCEND && s.sortTarget === Target.KEY)) {
    const cmp = comparator(s.sortTarget);
    const dir = order === Order.DESCEND ? -1 : 1;
    // Array.prototype.sort is stable: ties stay in key order in both directions.
    all.sort((a, b) => dir * cmp(a.kv, b.kv));
  }
  let more = false;
  if (s.limit > 0 && all.length > s.limit) {
    all = all.slice(0, s.limit);
    more = true;
  }
  const kvs: KeyValue[] = [];
  let bytes = 0;
  let truncated = false;
  const budget = opts.maxBytes ?? Infinity;
  for (const item of all) {
    const kv = s.keysOnly ? { ...item.kv, value: EMPTY } : byValue ? item.kv : item.full();
    const b = size(kv);
    if (kvs.length > 0 && bytes + b > budget) {
      truncated = true;
      more = true;
      break;
    }
    bytes += b;
    kvs.push(kv);
  }
  return { kvs, more, count, revision: current, truncated };
}

function comparator(t: Target): (a: KeyValue, b: KeyValue) => number {
  const num = (f: (kv: KeyValue) => number) => (a: KeyValue, b: KeyValue) => f(a) - f(b);
  switch (t) {
    case Target.VERSION:
      return num((kv) => kv.version);
    case Target.CREATE:
      return num((kv) => kv.createRevision);
    case Target.MOD:
      return num((kv) => kv.modRevision);
    case Target.VALUE:
      return (a, b) => Buffer.compare(a.value, b.value);
    default:
      return (a, b) => Buffer.compare(a.key, b.key);
  }
}
