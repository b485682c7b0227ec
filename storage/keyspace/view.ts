// Where keyspace reads come from: LevelDB as of an explicit snapshot (reads served to clients),
// or LevelDB plus the pending writes of the batch being applied (reads inside apply: a Txn's
// compares and ranges, DeleteRange, lease revoke). The range engine (range.ts) and the writers
// read only through a View, so both see exactly the same data model.

import type { Db } from '../state-machine/layout.js';
import { NS_PREFIX, rawBounds, rawKey } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { HIST_KEY_END, HIST_TERMINATOR, escapeKey, histSeek, invRev, parseHist, type HistEntry } from './keys.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { loadCurrent, type Current } from './records.js';
import type { RevisionIndex } from './revision-index.js';

type Snapshot = ReturnType<Db['snapshot']>;

const HIST_PLEN = NS_PREFIX.hist.length;
const KV_PLEN = NS_PREFIX.kv.length;

/**
 * Entries read per round trip to LevelDB's thread pool. classic-level also stops a chunk once it
 * holds more than highWaterMarkBytes, so big values cost memory for one chunk at most.
 */
const CHUNK = 1000;
const CHUNK_BYTES = 1 << 20;
/**
 * History entries read per round trip: a read that keeps finding what it needs in sequence grows
 * to HIST_CHUNK; after a seek it starts again at HIST_SEEK_CHUNK, so a key with a long history
 * costs a seek or two, not a read of its entries.
 */
const HIST_CHUNK = 256;
const HIST_SEEK_CHUNK = 8;
const HIST_CHUNK_BYTES = 64 * 1024;
const HIST_KEY_END_BYTES = Buffer.from(HIST_KEY_END, 'latin1');

/** The main revision of a raw history key (its last 12 bytes are the inverted revision). */
function mainOf(raw: Buffer): number {
  const o = raw.length - 12;
  return Number.MAX_SAFE_INTEGER - (raw.readUInt32BE(o) * 2 ** 32 + raw.readUInt32BE(o + 4));
}

export class View {
  constructor(
    readonly db: Db,
    /** Reads outside apply: a consistent view (a batch is never half-seen). */
    readonly snapshot?: Snapshot,
    /** Reads inside apply: the batch's pending writes come first. */
    readonly tx?: Tx,
    /**
     * The revision index of `db`, for a view of its newest state (no snapshot, no tx, nothing
     * being written): one key at a past revision is then read on this thread.
     */
    readonly revisions?: RevisionIndex,
  ) {}

  /** The current record of `key` in `ns` (synchronous). */
  get(ns: 'kv' | 'log' | 'hist' | 'meta', key: string): Buffer | undefined {
    if (this.tx) return this.tx.get(ns, key);
    return this.snapshot ? this.db.getSync(rawKey(ns, key), { snapshot: this.snapshot }) : this.db.getSync(rawKey(ns, key));
  }

  /** A key's current KeyValue, value included, from its current state. */
  load(key: string, c: Current): KeyValue {
    return loadCurrent((lk) => this.get('log', lk), key, c);
  }

  /**
   * The current states (records.ts) of the keys in [from, to), in key order, in chunks. `values: false`
   * leaves the records out (counting); `want` > 0 sizes the first read for a small page.
   */
  async *scanCurrent(from: string, to: string | undefined, values: boolean, want = 0): AsyncGenerator<[string, Buffer | undefined][]> {
    const pending = this.tx ? this.tx.pendingIn('kv', from, to) : [];
    let pi = 0;
    const it = this.db.iterator({ ...rawBounds('kv', from, to), keys: true, values, snapshot: this.snapshot, highWaterMarkBytes: CHUNK_BYTES } as never);
    try {
      let size = want > 0 ? Math.min(want, CHUNK) : CHUNK;
      for (;;) {
        const chunk = await it.nextv(size);
        size = CHUNK;
        const out: [string, Buffer | undefined][] = [];
        for (const [rk, v] of chunk) {
          const k = rk.toString('latin1', KV_PLEN);
          while (pi < pending.length && pending[pi]![0] < k) {
            const [pk, pv] = pending[pi++]!;
            if (pv !== null) out.push([pk, values ? pv : undefined]);
          }
          if (pi < pending.length && pending[pi]![0] === k) {
            const [pk, pv] = pending[pi++]!;
            if (pv !== null) out.push([pk, values ? pv : undefined]);
            continue;
          }
          out.push([k, v]);
        }
        if (chunk.length === 0) {
          for (; pi < pending.length; pi++) {
            const [pk, pv] = pending[pi]!;
            if (pv !== null) out.push([pk, values ? pv : undefined]);
          }
          if (out.length) yield out;
          return;
        }
        if (out.length) yield out;
      }
    } finally {
      await it.close();
    }
  }

  /**
   * For every key in [from, to) that has history at or below `rev`: its newest entry at or below
   * `rev` (a put or a tombstone), in key order, in chunks. A key costs at most one seek however
   * long its history: entries newer than `rev` or older than the one found are skipped by seeking
   * once a chunk runs out inside the key, never read one by one.
   */
  async *scanHistory(from: string, to: string | undefined, rev: number): AsyncGenerator<HistEntry[]> {
    const pending = this.tx ? this.pendingHistory(from, to, rev) : [];
    let pi = 0;
    const merge = (found: HistEntry[]): HistEntry[] => {
      if (pending.length === 0) return found;
      const out: HistEntry[] = [];
      for (const e of found) {
        while (pi < pending.length && pending[pi]!.key < e.key) out.push(pending[pi++]!);
        // The batch's entries are newer than anything stored: one at or below rev wins.
        if (pi < pending.length && pending[pi]!.key === e.key) out.push(pending[pi++]!);
        else out.push(e);
      }
      return out;
    };
    for await (const found of this.dbHistory(from, to, rev)) {
      const out = merge(found);
      if (out.length) yield out;
    }
    if (pi < pending.length) yield pending.slice(pi);
  }

  /**
   * The newest entry of `key` at or below `rev`, if any. The iterator is closed in the
   * background: its answer is in, and the close is another trip to LevelDB's thread pool that the
   * read need not wait for.
   */
  async historyOf(key: string, rev: number): Promise<HistEntry | undefined> {
    if (this.tx) {
      const p = this.pendingHistory(key, key + '\u0000', rev);
      if (p.length) return p[0];
    }
    const esc = escapeKey(key);
    const it = this.db.iterator({
      gte: rawKey('hist', histSeek(key, rev)),
      lt: rawKey('hist', esc + HIST_KEY_END),
      snapshot: this.snapshot,
    });
    try {
      const [first] = await it.nextv(1);
      if (!first) return undefined;
      const e = parseHist(first[0], HIST_PLEN, first[1]);
      return { key: e.key, main: e.main, sub: e.sub, tombstone: e.tombstone };
    } finally {
      it.close().catch(() => undefined);
    }
  }

  private async *dbHistory(from: string, to: string | undefined, rev: number): AsyncGenerator<HistEntry[]> {
    const it = this.db.iterator({
      gte: rawKey('hist', escapeKey(from)),
      lt: to === undefined ? rawBounds('hist', '', undefined).lt : rawKey('hist', escapeKey(to)),
      snapshot: this.snapshot,
      highWaterMarkBytes: HIST_CHUNK_BYTES,
    } as never);
    try {
      let size = HIST_SEEK_CHUNK;
      let buf = await it.nextv(size);
      let i = 0;
      let out: HistEntry[] = [];
      while (buf.length > 0) {
        if (i >= buf.length) {
          if (out.length) yield out;
          out = [];
          size = Math.min(HIST_CHUNK, size * 2);
          buf = await it.nextv(size);
          i = 0;
          continue;
        }
        const [rk, v] = buf[i]!;
        // Entries are told apart by their raw bytes; only the one returned is parsed.
        const keyLen = rk.length - 12;
        const sameKey = (b: Buffer): boolean => b.length === rk.length && b.compare(rk, 0, keyLen, 0, keyLen) === 0;
        let seekTo: Buffer;
        if (mainOf(rk) <= rev) {
          const e = parseHist(rk, HIST_PLEN, v);
          out.push({ key: e.key, main: e.main, sub: e.sub, tombstone: e.tombstone });
          i++;
          while (i < buf.length && sameKey(buf[i]![0])) i++;
          if (i < buf.length) continue;
          // The chunk ended, maybe inside this key's older entries: jump past them.
          seekTo = Buffer.concat([rk.subarray(0, keyLen - HIST_TERMINATOR.length), HIST_KEY_END_BYTES]);
        } else {
          // Newer than rev: look further in this chunk, else seek to (key, rev).
          let j = i + 1;
          while (j < buf.length && sameKey(buf[j]![0]) && mainOf(buf[j]![0]) > rev) j++;
          if (j < buf.length) {
            i = j;
            continue;
          }
          seekTo = Buffer.concat([rk.subarray(0, keyLen), Buffer.from(invRev(rev, 0xffffffff), 'latin1')]);
        }
        it.seek(seekTo);
        if (out.length) yield out;
        out = [];
        size = HIST_SEEK_CHUNK;
        buf = await it.nextv(size);
        i = 0;
      }
      if (out.length) yield out;
    } finally {
      await it.close();
    }
  }

  /** The batch's history entries in [from, to): per key, the newest at or below rev, sorted by key. */
  private pendingHistory(from: string, to: string | undefined, rev: number): HistEntry[] {
    const lo = escapeKey(from);
    const hi = to === undefined ? undefined : escapeKey(to);
    const best = new Map<string, HistEntry>();
    for (const [hk, hv] of this.tx!.pendingIn('hist', lo, hi)) {
      if (hv === null) continue;
      const e = parseHist(Buffer.from(hk, 'latin1'), 0, hv);
      if (e.main > rev) continue;
      const b = best.get(e.key);
      if (!b || e.main > b.main || (e.main === b.main && e.sub > b.sub)) best.set(e.key, { key: e.key, main: e.main, sub: e.sub, tombstone: e.tombstone });
    }
    return [...best.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
}
