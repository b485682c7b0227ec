// Reads served to clients from the last written batch: etcd's Range, the value of a key at a
// revision, the events of a revision interval (for watches), and the native Get/List. Every
// multi-step read runs on one LevelDB snapshot, together with the revision and compact revision
// stored in it, so a concurrent apply() or physical compaction is never half-seen. The one
// exception is the most common read, one key (rangeOneKeySync): the state machine serves it
// without a snapshot when no batch is being written, which is cheaper (a snapshot costs ~17 µs
// per read, in process) and just as consistent; at a past revision, from its revision index.
// Ranges and read-only txns taken while no batch is being written get the in-memory indexes
// (DbIndexes) with their snapshot, and take their keys from them (sources.ts).

import type { RangeRequest, ResponseOp, TxnRequest, TxnResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Event_EventType, type Event, type KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { KeyValue as NativeKv } from '../../proto/gen/placement/v1/kv.js';
import { readU64 } from '../wal/record.js';
import { rawKey, type Db } from '../state-machine/layout.js';
import { KeyspaceError } from './errors.js';
import { bin, inRange, keyRange, logKey, parseLogKey, prefixEnd, utf8ToBin } from './keys.js';
import { KV_OVERHEAD, range, rangeSpec, rangeSync, type IndexAtSnapshot, type RangeOptions, type RangeResult } from './range.js';
import { decodeCurrent, decodeKv, loadCurrent } from './records.js';
import { toNative } from './native.js';
import { View } from './view.js';
import type { RevisionIndex } from './revision-index.js';
import type { CurrentIndex } from './current-index.js';
import type { PastLists } from './past-lists.js';
import { MAX_TXN_OPS_CEILING, checkRange, checkTxn } from './validate.js';
import { comparePath, header } from './apply.js';
import { drive } from './coroutine.js';

const LOG_PLEN = rawKey('log', '').length;

/** The keyspace revision and compact revision stored in `view` (1 and -1 for a new store, as etcd). */
export function revisions(view: View): { revision: number; compactRevision: number } {
  const r = view.get('meta', 'revision');
  const c = view.get('meta', 'compact');
  return { revision: r ? readU64(r, 0) : 1, compactRevision: c ? readU64(c, 0) : -1 };
}

async function onSnapshot<T>(db: Db, fn: (view: View) => Promise<T>): Promise<T> {
  const snap = db.snapshot();
  try {
    return await fn(new View(db, snap));
  } finally {
    await snap.close();
  }
}

/** `db`'s in-memory indexes, given only by a caller that vouches they match `db` now (see rangeRead). */
export interface DbIndexes {
  current: CurrentIndex;
  revisions: RevisionIndex;
  pastLists?: PastLists;
}

/** The indexes as of now, for a snapshot taken in the same synchronous step. */
function atSnapshot(ix: DbIndexes | undefined): IndexAtSnapshot | undefined {
  return ix && { keys: ix.current.clone(), index: ix.revisions, generation: ix.revisions.generation, pastLists: ix.pastLists };
}

/**
 * etcd's Range (the request's serializable flag is the caller's business). Throws KeyspaceError:
 * an empty key, a future revision, a compacted one. `indexes`: given only by a caller that
 * vouches they match `db` now (nothing being written: the state machine's `settled`); a range
 * then takes its keys from them instead of scanning `kv` and seeking `hist` key by key.
 */
export function rangeRead(db: Db, req: RangeRequest, opts: RangeOptions = {}, indexes?: DbIndexes): Promise<RangeResult> {
  const bad = checkRange(req);
  if (bad) return Promise.reject(bad);
  if (req.rangeEnd.length === 0 && req.revision > 0) {
    const view = new View(db);
    const { revision, compactRevision } = revisions(view);
    if (req.revision < revision) return pastKey(view, req, revision, compactRevision, opts);
  }
  // Taken in the same synchronous step as the snapshot, so that both describe the same state.
  const indexed = atSnapshot(indexes);
  return onSnapshot(db, (view) => {
    const { revision, compactRevision } = revisions(view);
    return range(view, rangeSpec(req), revision, compactRevision, opts, indexed);
  });
}

/**
 * One key at a past revision, without a snapshot of its own (opening and closing one is two more
 * trips to LevelDB's thread pool): what the key held at a past revision never changes, and the
 * history lookup's iterator reads as of its creation. Only compaction removes history meanwhile;
 * a record gone that way answers as etcd does for a compacted revision.
 */
async function pastKey(view: View, req: RangeRequest, revision: number, compactRevision: number, opts: RangeOptions): Promise<RangeResult> {
  try {
    return await range(view, rangeSpec(req), revision, compactRevision, opts);
  } catch (err) {
    const now = revisions(view).compactRevision;
    if (!(err instanceof KeyspaceError) && req.revision < now) throw new KeyspaceError('COMPACTED', now);
    throw err;
  }
}

/**
 * A single key read straight from `db`, or undefined when the request needs rangeRead. No
 * snapshot: the caller vouches that `db` holds exactly `revision` and nothing is being written to
 * it (the state machine's `settled`). A past revision is read this way only with `db`'s revision
 * index. Throws as rangeRead rejects.
 */
export function rangeOneKeySync(db: Db, req: RangeRequest, revision: number, compactRevision: number, revisions?: RevisionIndex): RangeResult | undefined {
  if (req.rangeEnd.length !== 0) return undefined;
  const bad = checkRange(req);
  if (bad) throw bad;
  return rangeSync(new View(db, undefined, undefined, revisions), rangeSpec(req), revision, compactRevision);
}

/** A txn whose operations (both branches) are all Range: etcd serves it without consensus. */
export function isReadOnlyTxn(r: TxnRequest): boolean {
  for (const op of r.success) if (op.request?.$case !== 'requestRange') return false;
  for (const op of r.failure) if (op.request?.$case !== 'requestRange') return false;
  return true;
}

export interface TxnReadResult {
  response: TxnResponse;
  /** A range of the chosen branch was cut by `maxBytes` (its `more` is set). */
  truncated: boolean;
}

/**
 * A read-only txn (isReadOnlyTxn) on one snapshot, as etcd's applier runs it outside Raft: the
 * compares, then the chosen branch's revision checks (future / compacted), then its ranges, all at
 * the snapshot's revision. `maxBytes` is a budget shared by the ranges. Throws KeyspaceError.
 * `indexes`: as for rangeRead.
 */
export function readTxn(db: Db, req: TxnRequest, opts: RangeOptions = {}, indexes?: DbIndexes): Promise<TxnReadResult> {
  const bad = checkTxn(req, MAX_TXN_OPS_CEILING) ?? (isReadOnlyTxn(req) ? undefined : new Error('readTxn: the txn writes'));
  if (bad) return Promise.reject(bad);
  const indexed = atSnapshot(indexes);
  return onSnapshot(db, async (view) => {
    const { revision, compactRevision } = revisions(view);
    const path: boolean[] = [];
    await drive(comparePath(view, req, path));
    const succeeded = path[0]!;
    const ops = succeeded ? req.success : req.failure;
    for (const op of ops) {
      const rev = op.request?.$case === 'requestRange' ? op.request.value.revision : 0;
      if (rev === 0) continue;
      if (rev > revision) throw new KeyspaceError('FUTURE_REV');
      if (rev < compactRevision) throw new KeyspaceError('COMPACTED', compactRevision);
    }
    const responses: ResponseOp[] = [];
    let budget = opts.maxBytes ?? Infinity;
    let truncated = false;
    for (const op of ops) {
      if (op.request?.$case !== 'requestRange') continue;
      const rr = await range(view, rangeSpec(op.request.value), revision, compactRevision, { maxBytes: budget }, indexed);
      for (const kv of rr.kvs) budget -= kv.key.length + kv.value.length + KV_OVERHEAD;
      truncated ||= rr.truncated;
      responses.push({ response: { $case: 'responseRange', value: { header: header(rr.revision), kvs: rr.kvs, more: rr.more, count: rr.count } } });
    }
    return { response: { header: header(revision), succeeded, responses }, truncated };
  });
}

/** The key as it was at `revision` (undefined if it did not exist then): a watch event's prev_kv. */
export function valueAt(db: Db, key: Uint8Array, revision: number): Promise<KeyValue | undefined> {
  return onSnapshot(db, async (view) => {
    const { revision: current, compactRevision } = revisions(view);
    if (revision > current) throw new KeyspaceError('FUTURE_REV');
    if (revision < compactRevision) throw new KeyspaceError('COMPACTED', compactRevision);
    const e = await view.historyOf(bin(key), revision);
    if (!e || e.tombstone) return undefined;
    const rec = view.get('log', logKey(e.main, e.sub));
    return rec ? decodeKv(rec) : undefined;
  });
}

export interface EventsRequest {
  /** etcd key range: range_end empty = the key alone, "\0" = every key from `key` on. */
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  /** First revision to read (inclusive); must not be below the compact revision. */
  fromRevision: number;
  /** Last revision to read (inclusive); default the current one. */
  toRevision?: number;
  /** Attach each event's previous key-value (its value just before the event's revision). */
  prevKv?: boolean;
  /** Stop after this many events, but never inside a revision (a revision is never split). */
  limit?: number;
  /** Stop before the events' key and value bytes exceed this, never inside a revision (at least one revision is returned). */
  maxBytes?: number;
}

export interface EventsPage {
  events: Event[];
  /** Continue from here (the revision after the last one returned, or toRevision + 1 when done). */
  nextRevision: number;
  /** Stopped before toRevision. */
  more: boolean;
  /** The keyspace revision of the view. */
  revision: number;
}

/**
 * The events of the revisions [fromRevision, toRevision] on keys of the range, in revision order
 * (one Txn's events in the order it made them). Every event at or above the compact revision is
 * retained, so a fromRevision equal to it is served; below it: KeyspaceError COMPACTED with the
 * compact revision (a watch is canceled with it).
 */
export function readEvents(db: Db, req: EventsRequest): Promise<EventsPage> {
  return onSnapshot(db, async (view) => {
    const { revision, compactRevision } = revisions(view);
    if (req.fromRevision < compactRevision) throw new KeyspaceError('COMPACTED', compactRevision);
    const to = Math.min(req.toRevision ?? revision, revision);
    const r = keyRange(req.key, req.rangeEnd);
    const events: Event[] = [];
    let bytes = 0;
    const limit = req.limit ?? Infinity;
    const budget = req.maxBytes ?? Infinity;
    let stoppedAt = -1;
    if (req.fromRevision <= to) {
      const it = db.iterator({ gte: rawKey('log', logKey(Math.max(req.fromRevision, 0), 0)), lt: rawKey('log', logKey(to + 1, 0)), snapshot: view.snapshot, highWaterMarkBytes: 1 << 20 } as never);
      try {
        let lastMain = -1;
        scan: for (;;) {
          const chunk = await it.nextv(256);
          if (chunk.length === 0) break;
          for (const [rk, rec] of chunk) {
            const { main } = parseLogKey(rk, LOG_PLEN);
            if (main !== lastMain && (events.length >= limit || (events.length > 0 && bytes >= budget))) {
              stoppedAt = main;
              break scan;
            }
            lastMain = main;
            const kv = decodeKv(rec);
            if (!inRange(bin(kv.key), r)) continue;
            const ev: Event = { type: kv.version === 0 ? Event_EventType.DELETE : Event_EventType.PUT, kv, prevKv: undefined };
            // As etcd: no previous value for a create, nor below the compact revision (whether
            // or not this replica has physically removed it yet).
            if (req.prevKv && kv.version !== 1 && main - 1 >= compactRevision) {
              const p = await view.historyOf(bin(kv.key), main - 1);
              if (p && !p.tombstone) ev.prevKv = decodeKv(view.get('log', logKey(p.main, p.sub))!);
            }
            bytes += kv.key.length + kv.value.length + KV_OVERHEAD + (ev.prevKv ? ev.prevKv.key.length + ev.prevKv.value.length + KV_OVERHEAD : 0);
            events.push(ev);
          }
        }
      } finally {
        await it.close();
      }
    }
    const more = stoppedAt >= 0;
    return { events, nextRevision: more ? stoppedAt : to + 1, more, revision };
  });
}

// ---- the native API (string keys, placement.v1.KeyValue) -------------------------------------

/**
 * The key's current value, read on the calling thread (classic-level getSync): its current state,
 * then its event. No batch can land between the two reads in a way that loses the event: only a
 * compaction above the key's newer value removes it, and that needs JavaScript to run first.
 */
export function nativeGetSync(db: Db, key: string): NativeKv | undefined {
  const k = utf8ToBin(key);
  const rec = db.getSync(rawKey('kv', k));
  return rec ? toNative(loadCurrent((lk) => db.getSync(rawKey('log', lk)), k, decodeCurrent(rec)), key) : undefined;
}

export function nativeGet(db: Db, key: string): Promise<NativeKv | undefined> {
  const k = utf8ToBin(key);
  return onSnapshot(db, async (view) => {
    const rec = view.get('kv', k);
    return rec ? toNative(view.load(k, decodeCurrent(rec)), key) : undefined;
  });
}

export interface ListOptions {
  /** Only keys strictly greater than this one. */
  startAfter?: string;
  /** Maximum keys to return; 0 or undefined = no limit. */
  limit?: number;
  /** Return key metadata with empty values. */
  keysOnly?: boolean;
  /**
   * Stop the page before its keys and values exceed this many bytes (at least one key is
   * returned): the reply is then a partial page, `more` is set and `nextKey` continues it.
   */
  maxBytes?: number;
}

export interface ListResult {
  kvs: NativeKv[];
  /** More keys match; continue with startAfter = nextKey. */
  more: boolean;
  nextKey: string;
  /** The page was cut by maxBytes rather than by limit. */
  truncated: boolean;
}

/** Keys starting with `prefix` in byte order, after `startAfter`, at most `limit` (and `maxBytes`). */
export function nativeList(db: Db, prefix: string, opts: ListOptions = {}): Promise<ListResult> {
  const p = utf8ToBin(prefix);
  let from = p;
  if (opts.startAfter !== undefined) {
    const after = utf8ToBin(opts.startAfter) + '\u0000';
    if (after > from) from = after;
  }
  const end = p === '' ? undefined : prefixEnd(p);
  return onSnapshot(db, async (view) => {
    const { revision, compactRevision } = revisions(view);
    const spec = rangeSpec({
      key: Buffer.from(from, 'latin1'),
      // An empty prefix is every key; a prefix of only 0xff bytes runs to the end.
      rangeEnd: end === undefined || end === '' ? Buffer.from([0]) : Buffer.from(end, 'latin1'),
      limit: opts.limit && opts.limit > 0 ? opts.limit : 0,
      revision: 0,
      sortOrder: 0,
      sortTarget: 0,
      serializable: true,
      keysOnly: !!opts.keysOnly,
      countOnly: false,
      minModRevision: 0,
      maxModRevision: 0,
      minCreateRevision: 0,
      maxCreateRevision: 0,
    });
    if (from === '') spec.range = { from: '', to: undefined, single: false };
    const r = await range(view, spec, revision, compactRevision, { maxBytes: opts.maxBytes, noCount: true });
    const kvs = r.kvs.map((kv) => toNative(kv));
    return { kvs, more: r.more, nextKey: r.more && kvs.length ? kvs[kvs.length - 1]!.key : '', truncated: r.truncated };
  });
}
