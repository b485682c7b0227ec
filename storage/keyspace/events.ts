// Keyspace events as watchers need them: the stored record of each change (an mvccpb.KeyValue,
// already encoded: a watch response embeds it as it is, nothing is decoded and re-encoded), its
// revision and key, and where the key's previous value lives (for prev_kv).
//
// Two sources: the applier hands over the events a batch made (Tx.events, filled by write.ts
// only while someone watches), and readEventRecords() reads them back from the `log` of a
// snapshot (watchers catching up from history). Both give the same KeyEvent.

import { rawKey, type Db } from '../state-machine/layout.js';
import { KeyspaceError } from './errors.js';
import { logKey, parseLogKey } from './keys.js';
import type { Current } from './records.js';
import { revisions } from './read.js';
import { View } from './view.js';

export interface KeyEvent {
  /** Main revision of the change that made it (etcd's mod_revision); `sub` orders a Txn's writes. */
  readonly rev: number;
  readonly sub: number;
  /** The key, as a binary string (keys.ts). */
  readonly key: string;
  /** The stored mvccpb.KeyValue: a put's key-value, or a deletion's key and mod_revision. */
  readonly kv: Buffer;
  readonly isDelete: boolean;
  /** A put that created the key (version 1): etcd attaches no previous value to it. */
  readonly isCreate: boolean;
  /** Live events: where the key's previous event is (a put), for prev_kv; -1 when there is none. */
  readonly prevMain: number;
  readonly prevSub: number;
  /**
   * The previous key-value's record once looked up (null: none, or compacted); undefined until
   * then. Shared by every watcher that asks for prev_kv, so it is read once.
   */
  prevKv?: Buffer | null;
}

/** The event a write makes while applying (write.ts): `prev` is the key's state before it. */
export function liveEvent(rev: number, sub: number, key: string, kv: Buffer, isDelete: boolean, prev: Current | undefined): KeyEvent {
  return {
    rev,
    sub,
    key,
    kv,
    isDelete,
    isCreate: !isDelete && prev === undefined,
    prevMain: prev ? prev.main : -1,
    prevSub: prev ? prev.sub : -1,
  };
}

export interface EventRecordsRequest {
  /** First revision to read (inclusive); below the compact revision: KeyspaceError COMPACTED. */
  fromRevision: number;
  /** Last revision to read (inclusive); default the current one. */
  toRevision?: number;
  /** Keep only the events of keys it accepts (default all). */
  match?: (key: string) => boolean;
  /** Look up the previous key-value of the kept events whose key it accepts (default none). */
  prevFor?: (key: string) => boolean;
  /** Stop after this many kept events, never inside a revision. */
  limit?: number;
  /** Stop once the kept events hold this many bytes, never inside a revision. */
  maxBytes?: number;
  /** Stop after looking at this many events, kept or not, never inside a revision. */
  maxScan?: number;
}

export interface EventRecordsPage {
  events: KeyEvent[];
  /** The revision to continue from (toRevision + 1 when everything was read). */
  nextRevision: number;
  more: boolean;
  /** The keyspace revision and compact revision of the snapshot read. */
  revision: number;
  compactRevision: number;
}

const LOG_PLEN = rawKey('log', '').length;
/** Log entries read per round trip to LevelDB's thread pool. */
const CHUNK = 256;

/**
 * The events of the revisions [fromRevision, toRevision], in revision order, as KeyEvents, read
 * from one snapshot. A revision's events are never split by `limit` or `maxBytes`. prev_kv
 * follows etcd: none for a create, none when the revision before the event is compacted.
 */
export async function readEventRecords(db: Db, req: EventRecordsRequest): Promise<EventRecordsPage> {
  const snap = db.snapshot();
  try {
    const view = new View(db, snap);
    const { revision, compactRevision } = revisions(view);
    if (req.fromRevision < compactRevision) throw new KeyspaceError('COMPACTED', compactRevision);
    const to = Math.min(req.toRevision ?? revision, revision);
    const events: KeyEvent[] = [];
    const limit = req.limit ?? Infinity;
    const budget = req.maxBytes ?? Infinity;
    const maxScan = req.maxScan ?? Infinity;
    let scanned = 0;
    let bytes = 0;
    let stoppedAt = -1;
    if (req.fromRevision <= to) {
      const it = db.iterator({ gte: rawKey('log', logKey(Math.max(req.fromRevision, 0), 0)), lt: rawKey('log', logKey(to + 1, 0)), snapshot: snap, highWaterMarkBytes: 1 << 20 } as never);
      try {
        let lastMain = -1;
        scan: for (;;) {
          const chunk = await it.nextv(CHUNK);
          if (chunk.length === 0) break;
          for (const [rk, rec] of chunk) {
            const { main, sub } = parseLogKey(rk, LOG_PLEN);
            if (main !== lastMain && ((events.length > 0 && (events.length >= limit || bytes >= budget)) || scanned >= maxScan)) {
              stoppedAt = main;
              break scan;
            }
            lastMain = main;
            scanned++;
            const { key, version } = keyAndVersion(rec);
            if (req.match && !req.match(key)) continue;
            const isDelete = version === 0;
            const isCreate = version === 1;
            const ev: KeyEvent = { rev: main, sub, key, kv: rec, isDelete, isCreate, prevMain: -1, prevSub: -1 };
            if (req.prevFor?.(key)) {
              ev.prevKv = null;
              if (!isCreate && main - 1 >= compactRevision) {
                const p = await view.historyOf(key, main - 1);
                if (p && !p.tombstone) ev.prevKv = view.get('log', logKey(p.main, p.sub)) ?? null;
              }
            }
            bytes += rec.length + (ev.prevKv ? ev.prevKv.length : 0);
            events.push(ev);
          }
        }
      } finally {
        await it.close();
      }
    }
    const more = stoppedAt >= 0;
    return { events, nextRevision: more ? stoppedAt : Math.max(to + 1, req.fromRevision), more, revision, compactRevision };
  } finally {
    await snap.close();
  }
}

/**
 * Whether any key starting with one of `prefixes` (binary strings) changed in the revisions
 * (afterRevision, revision], where `revision` is the current one, as read. `changed` is false only
 * when the stored history shows that none did; it is true too when telling would take looking at
 * more than `max` revisions or events, or the start is compacted: the caller then re-reads what it
 * cares about, which is what it would do without asking (a leader's periodic pass, say).
 * `revision` is -1 when the start is compacted.
 */
export async function changedUnder(db: Db, prefixes: readonly string[], afterRevision: number, max: number): Promise<{ changed: boolean; revision: number }> {
  try {
    const page = await readEventRecords(db, {
      fromRevision: afterRevision + 1,
      toRevision: afterRevision + max,
      match: (key) => prefixes.some((p) => key.startsWith(p)),
      limit: 1,
      maxScan: max,
    });
    // Short of the current revision: the scan bound, a gap over `max` revisions, or a current
    // revision below afterRevision (not the history the caller saw).
    const unread = page.more || page.nextRevision - 1 !== page.revision;
    return { changed: page.events.length > 0 || unread, revision: page.revision };
  } catch (err) {
    if (err instanceof KeyspaceError && err.kind === 'COMPACTED') return { changed: true, revision: -1 };
    throw err;
  }
}

/**
 * The key (field 1) and version (field 4) of an encoded mvccpb.KeyValue, read from the wire
 * format directly: the catch-up path keeps the record as it is and needs only these two.
 */
export function keyAndVersion(rec: Buffer): { key: string; version: number } {
  let o = 0;
  let key = '';
  let version = 0;
  while (o < rec.length) {
    const tag = varint(rec, o);
    o = tag.next;
    const field = tag.value >>> 3;
    const wire = tag.value & 7;
    if (wire === 0) {
      const v = varint(rec, o);
      o = v.next;
      if (field === 4) version = v.value;
    } else if (wire === 2) {
      const len = varint(rec, o);
      o = len.next;
      if (field === 1) key = rec.toString('latin1', o, o + len.value);
      o += len.value;
    } else {
      throw new Error(`keyspace: unexpected wire type ${wire} in a stored KeyValue`);
    }
  }
  return { key, version };
}

function varint(b: Buffer, o: number): { value: number; next: number } {
  let value = 0;
  let mul = 1;
  for (;;) {
    if (o >= b.length) throw new Error('keyspace: truncated varint in a stored KeyValue');
    const byte = b[o++]!;
    value += (byte & 0x7f) * mul;
    if (byte < 0x80) return { value, next: o };
    mul *= 128;
  }
}
