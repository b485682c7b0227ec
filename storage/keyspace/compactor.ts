// Physical compaction: removes the history a compaction made unreachable, in the background.
//
// A compaction at C (a replicated command) only records C; from then on reads below C fail. This
// removes, in small batches that yield to the event loop, every log event and history entry with
// a main revision below C except, per key, the newest one at or below C when it is a put (a read
// at C or later may need it). Events at exactly C stay until a later compaction: a watch may
// start at the compact revision (etcd allows it) and must see them all. So a pass looks at the
// events up to and including C (those at C supersede older ones) but stops its progress at C:
// the next pass looks at C's events again, under the next compact revision.
//
// Its progress (`!local!compacted`: the next log position to look at) is written in the same
// LevelDB batch as each step's deletions, so a crash resumes where it stopped. The progress is
// local: replicas compact at their own pace, which is why hash() leaves out the history at or
// below the compact revision. A snapshot carries the sender's progress with the sender's data,
// which agree.

import type { Db } from '../state-machine/layout.js';
import { rawKey } from '../state-machine/layout.js';
import { readU64, writeU64 } from '../wal/record.js';
import { HIST_KEY_END, bin, escapeKey, histKey, logKey, parseLogKey } from './keys.js';
import { decodeKv } from './records.js';

const PROGRESS = rawKey('local', 'compacted');
/** Log events looked at per step. */
const STEP = 256;
const LOG_PLEN = rawKey('log', '').length;

interface Pos {
  main: number;
  sub: number;
}

export class Compactor {
  private db: Db | undefined;
  private target = -1;
  private done: Pos = { main: 0, sub: 0 };
  private loop: Promise<void> | null = null;
  private stopping = false;
  private waiters: { rev: number; resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Steps written since open (tests and benchmarks look at it). */
  steps = 0;
  /** The last error that stopped the loop, if any (it restarts on the next kick). */
  lastError: Error | undefined;

  /** Starts working on `db` (after open or a snapshot install); the previous database is let go. */
  async attach(db: Db, compactRevision: number): Promise<void> {
    await this.stop();
    this.db = db;
    const raw = await db.get(PROGRESS);
    this.done = raw ? { main: readU64(raw, 0), sub: raw.readUInt32LE(8) } : { main: 0, sub: 0 };
    this.stopping = false;
    this.kick(compactRevision);
  }

  /** The compact revision moved (or may have): catch up in the background. */
  kick(compactRevision: number): void {
    if (compactRevision > this.target) this.target = compactRevision;
    this.settle();
    if (this.loop || this.stopping || !this.db || this.done.main >= this.target) return;
    const db = this.db;
    this.loop = this.run(db).finally(() => {
      this.loop = null;
      this.settle();
      // A kick that came while the loop was finishing.
      if (!this.stopping && this.db === db && this.done.main < this.target && !this.lastError) this.kick(this.target);
    });
  }

  /**
   * Resolves once the history below `rev` (a compact revision that was applied) is physically
   * gone (etcd's Compact with physical=true); rejects if the state machine closes first.
   */
  wait(rev: number): Promise<void> {
    if (this.done.main >= rev) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ rev, resolve, reject }));
  }

  /** Everything below this main revision has been looked at. */
  get progress(): number {
    return this.done.main;
  }

  /** Stops after the current step (before a database swap: waiters carry over to the next database). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  /** Stops for good: waiters are rejected. */
  async close(): Promise<void> {
    await this.stop();
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w.reject(new Error('state machine closed before its physical compaction finished'));
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    const keep: typeof this.waiters = [];
    for (const w of this.waiters) (this.done.main >= w.rev ? w.resolve() : keep.push(w));
    this.waiters = keep;
  }

  private async run(db: Db): Promise<void> {
    this.lastError = undefined;
    try {
      while (!this.stopping && this.db === db && this.done.main < this.target) {
        await this.step(db, this.target);
        this.steps++;
        this.settle();
        // Yield to the event loop between steps: apply() and reads go first.
        await new Promise<void>((r) => setImmediate(r));
      }
    } catch (e) {
      // A closed or swapped database ends the loop quietly; anything else is kept for callers.
      if (!this.stopping && this.db === db) this.lastError = e as Error;
    }
  }

  /** One step: up to STEP log events at or below `c`, from the progress on. */
  private async step(db: Db, c: number): Promise<void> {
    const it = db.iterator({ gte: rawKey('log', logKey(this.done.main, this.done.sub)), lt: rawKey('log', logKey(c + 1, 0)), highWaterMarkBytes: 1 << 20 } as never);
    let events: [Buffer, Buffer][];
    try {
      events = await it.nextv(STEP);
    } finally {
      await it.close();
    }
    const batch = db.batch();
    let next: Pos;
    if (events.length === 0) {
      next = { main: c, sub: 0 };
    } else {
      // A key's events in this step, oldest first.
      const byKey = new Map<string, { main: number; sub: number; tombstone: boolean }[]>();
      for (const [rk, rec] of events) {
        const { main, sub } = parseLogKey(rk, LOG_PLEN);
        const kv = decodeKv(rec);
        const key = bin(kv.key);
        let list = byKey.get(key);
        if (!list) byKey.set(key, (list = []));
        list.push({ main, sub, tombstone: kv.version === 0 });
      }
      const drop = (key: string, main: number, sub: number): void => {
        batch.del(rawKey('log', logKey(main, sub)));
        batch.del(rawKey('hist', histKey(key, main, sub)));
      };
      const hist = db.iterator({ gte: rawKey('hist', ''), lt: rawKey('hist', '\u00ff\u00ff\u00ff\u00ff') });
      try {
        const first = async (target: string, end: string): Promise<Pos | undefined> => {
          hist.seek(rawKey('hist', target));
          const [e] = await hist.nextv(1);
          if (!e || Buffer.compare(e[0], rawKey('hist', end)) >= 0) return undefined;
          const t = e[0];
          return { main: Number.MAX_SAFE_INTEGER - (t.readUInt32BE(t.length - 12) * 2 ** 32 + t.readUInt32BE(t.length - 8)), sub: 0xffffffff - t.readUInt32BE(t.length - 4) };
        };
        for (const [key, list] of byKey) {
          const esc = escapeKey(key);
          const end = esc + HIST_KEY_END;
          // All but the newest of this step are superseded by it (events at c always stay).
          for (let i = 0; i < list.length - 1; i++) if (list[i]!.main < c) drop(key, list[i]!.main, list[i]!.sub);
          const last = list[list.length - 1]!;
          if (last.main < c) {
            const newest = await first(histSeekAt(key, c), end);
            const isNewest = newest !== undefined && newest.main === last.main && newest.sub === last.sub;
            if (!isNewest || last.tombstone) drop(key, last.main, last.sub);
          }
          // The entry before this step's first one (kept by an earlier compaction) is superseded too.
          const e1 = list[0]!;
          const older = await first(olderThan(key, e1.main, e1.sub), end);
          if (older) drop(key, older.main, older.sub);
        }
      } finally {
        await hist.close();
      }
      const lastKey = events[events.length - 1]![0];
      const l = parseLogKey(lastKey, LOG_PLEN);
      next = l.main >= c ? { main: c, sub: 0 } : l.sub === 0xffffffff ? { main: l.main + 1, sub: 0 } : { main: l.main, sub: l.sub + 1 };
    }
    const p = Buffer.allocUnsafe(12);
    writeU64(p, next.main, 0);
    p.writeUInt32LE(next.sub, 8);
    batch.put(PROGRESS, p);
    await batch.write();
    this.done = next;
  }
}

/** Seek target for the newest entry of `key` at or below `c`. */
function histSeekAt(key: string, c: number): string {
  return histKey(key, c, 0xffffffff);
}

/** Seek target for the newest entry of `key` strictly older than (main, sub). */
function olderThan(key: string, main: number, sub: number): string {
  return sub > 0 ? histKey(key, main, sub - 1) : histKey(key, main - 1, 0xffffffff);
}
