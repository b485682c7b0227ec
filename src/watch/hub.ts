// The watch hub of one node: every watcher of every stream (gRPC Watch, the SDK, the admin SSE
// route), fed from the apply path, in etcd's synced / unsynced split (mvcc/watchable_store.go):
//
// - Synced watchers are up to date. Each applied batch's events reach them right away
//   (`applied`), matched by key: single keys in a Map, ranges and prefixes in an interval tree
//   (group.ts), so 10,000 watchers cost a few lookups per event, not 10,000 comparisons.
// - Unsynced watchers are behind: created with a past start revision, fallen behind, or on a
//   follower that just installed a snapshot. A background loop catches them up in bounded rounds:
//   from the recent events the hub keeps in memory when they reach back far enough, otherwise
//   from the stored history (one read for up to `catchUpWatchers` watchers at a time), then they
//   join the synced set. `minRev` (the first revision not yet handed over) makes the seam exact:
//   nothing is skipped, and an event below it is never delivered again.
//
// Bounds: every watcher, every stream and the whole hub hold at most a configured number of
// events and bytes that were handed to a stream and have not left the process yet. A watcher
// that would exceed its bound is not sent the batch: it moves to the unsynced set and is caught
// up from history once its stream drains. Nothing waits on a slow client: the apply path only
// hands over events or moves a watcher. A watcher whose next revision was compacted is canceled
// with the compact revision (the client must re-read).

import type { EventRecordsPage, EventRecordsRequest, KeyEvent } from '../../storage/index.js';
import { KeyspaceError } from '../../storage/index.js';
import { WatcherGroup } from './group.js';
import { Watcher, type WatchSpec } from './watcher.js';

/** Where the hub reads history (the state machine). */
export interface EventSource {
  /** The keyspace revision of the last written batch. */
  readonly revision: number;
  readonly compactRevision: number;
  eventRecords(req: EventRecordsRequest): Promise<EventRecordsPage>;
  eventRecordSync(main: number, sub: number): Buffer | undefined;
}

/** Where a stream's responses go (a gRPC Watch call, an SSE response, a test). */
export interface WatchSink {
  /**
   * Events of one watcher, in revision order, whole revisions; every event up to `revision` that
   * the watcher should see is in this call or an earlier one. `done` is called once the bytes
   * left the process (not needed after the stream closed).
   */
  events(w: Watcher, events: readonly KeyEvent[], revision: number, done: () => void): void;
  /** The watcher is canceled: it needs history below `compactRevision`, which is gone. */
  compacted(w: Watcher, compactRevision: number): void;
  /** Every event up to `revision` was handed over: for watcher `watchId`, or for the whole stream (-1). */
  progress(watchId: number, revision: number): void;
}

/** Counters the hub reports (metrics.ts). */
export interface WatchObserver {
  eventsSent(n: number): void;
  movedToCatchUp(): void;
  canceledCompacted(): void;
}

export interface WatchHubOptions {
  /** Per watcher: events / bytes handed to its stream and not yet sent, before it moves to catch-up. */
  maxPendingEvents?: number;
  maxPendingBytes?: number;
  /** Per stream and for the whole hub: bytes handed over and not yet sent. */
  streamMaxPendingBytes?: number;
  totalMaxPendingBytes?: number;
  /** Period of the progress notifications of watchers that asked for them (etcd: 10 minutes); 0 = never. */
  progressNotifyMs?: number;
  /** Recent events kept in memory to catch watchers up without reading history. */
  recentMaxEvents?: number;
  recentMaxBytes?: number;
  /** One catch-up read: at most this many watchers, kept events, bytes and scanned log entries. */
  catchUpWatchers?: number;
  catchUpEvents?: number;
  catchUpBytes?: number;
  catchUpScan?: number;
  observer?: WatchObserver;
  /** Where unexpected catch-up failures are reported (they are retried). */
  onError?: (err: Error) => void;
}

type Resolved = Required<Omit<WatchHubOptions, 'observer' | 'onError'>>;

export const WATCH_DEFAULTS: Resolved = {
  maxPendingEvents: 1024,
  maxPendingBytes: 1 << 20,
  streamMaxPendingBytes: 8 << 20,
  totalMaxPendingBytes: 128 << 20,
  progressNotifyMs: 10 * 60 * 1000,
  recentMaxEvents: 20_000,
  recentMaxBytes: 8 << 20,
  catchUpWatchers: 512,
  catchUpEvents: 2000,
  catchUpBytes: 4 << 20,
  catchUpScan: 20_000,
};

/** etcd's errors for a create it refuses (mvcc/watcher.go). */
export const ERR_EMPTY_RANGE = 'mvcc: watcher range is empty';
export const ERR_DUPLICATE_ID = 'mvcc: duplicate watch ID provided on the WatchStream';

/** Bytes a response costs per event beyond its records (tags, lengths, type). */
const EVENT_OVERHEAD = 12;
/** When nothing else wakes it, the catch-up loop looks again after this long. */
const CATCH_UP_RETRY_MS = 100;
/** Events scanned from the in-memory recent events per round (keeps one round short). */
const RECENT_SCAN_PER_ROUND = 200_000;

/** One client stream: its watchers, by id. */
export class HubStream {
  readonly watchers = new Map<number, Watcher>();
  pendingBytes = 0;
  pendingEvents = 0;
  /** Watchers of this stream that are catching up (a stream-wide progress waits for them). */
  unsynced = 0;
  /** A progress request arrived while some watcher was catching up. */
  progressWanted = false;
  closed = false;
  private nextId = 0;

  constructor(
    readonly hub: WatchHub,
    readonly sink: WatchSink,
  ) {}

  /**
   * Creates a watcher (etcd's watchStream.Watch): `requestedId` 0 picks the lowest free id. The
   * caller answers the create before anything else is sent for the watcher: nothing is sent
   * before the next turn of the event loop.
   */
  watch(requestedId: number, spec: WatchSpec): { id: number } | { error: string } {
    if (this.closed) return { error: ERR_EMPTY_RANGE };
    if (!spec.single && spec.to !== undefined && spec.from >= spec.to) return { error: ERR_EMPTY_RANGE };
    let id = requestedId;
    if (id === 0) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      return { error: ERR_DUPLICATE_ID };
    }
    this.watchers.set(id, this.hub.addWatcher(this, id, spec));
    return { id };
  }

  /** Cancels watcher `id`; false when there is none (etcd then answers nothing). */
  cancel(id: number): boolean {
    const w = this.watchers.get(id);
    if (!w || this.closed) return false;
    this.hub.removeWatcher(w);
    return true;
  }

  /** A progress notification for the whole stream, once every watcher of it is up to date. */
  requestProgress(): void {
    if (this.closed) return;
    if (this.unsynced === 0) this.sink.progress(-1, this.hub.revision);
    else this.progressWanted = true;
  }

  /** Ends the stream: every watcher goes, and what it had pending no longer counts. */
  close(): void {
    if (this.closed) return;
    this.progressWanted = false;
    for (const w of [...this.watchers.values()]) this.hub.removeWatcher(w);
    this.closed = true;
    this.hub.streamClosed(this);
  }
}

export class WatchHub {
  private rev: number;
  private readonly opts: Resolved;
  private readonly observer: WatchObserver | undefined;
  private readonly onError: (err: Error) => void;
  private readonly synced = new WatcherGroup<Watcher>();
  private readonly unsynced = new Set<Watcher>();
  private readonly progressWatchers = new Set<Watcher>();
  private readonly streams = new Set<HubStream>();
  private pendingBytes = 0;
  private pendingEvents = 0;
  /** Recent events, in revision order: every event of the revisions [recentFrom, rev] (from `recentHead` on). */
  private recent: KeyEvent[] = [];
  private recentHead = 0;
  private recentFrom: number;
  private recentBytes = 0;
  private roundScheduled = false;
  private roundRunning = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private progressTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly source: EventSource,
    opts: WatchHubOptions = {},
  ) {
    this.opts = { ...WATCH_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as Resolved;
    this.observer = opts.observer;
    this.onError = opts.onError ?? (() => {});
    this.rev = source.revision;
    this.recentFrom = this.rev + 1;
  }

  /** The revision every synced watcher has been handed events up to (the node's applied revision). */
  get revision(): number {
    return this.rev;
  }

  /** For metrics and tests. */
  stats(): { streams: number; synced: number; unsynced: number; pendingEvents: number; pendingBytes: number; recentEvents: number } {
    return {
      streams: this.streams.size,
      synced: this.synced.size,
      unsynced: this.unsynced.size,
      pendingEvents: this.pendingEvents,
      pendingBytes: this.pendingBytes,
      recentEvents: this.recent.length - this.recentHead,
    };
  }

  openStream(sink: WatchSink): HubStream {
    const s = new HubStream(this, sink);
    if (this.closed) s.closed = true;
    else this.streams.add(s);
    return s;
  }

  /** Whether the next batch's events are wanted (someone watches): asked as the batch starts. */
  wantsEvents(): boolean {
    return this.synced.size > 0 || this.unsynced.size > 0;
  }

  // ---------------------------------------------------------------- from the apply path

  /**
   * A batch was applied and is visible to reads: `events` are its keyspace events in order (null
   * when they were not collected), `revision` the keyspace revision after it.
   */
  applied(events: readonly KeyEvent[] | null, revision: number): void {
    if (this.closed || revision < this.rev) return;
    const from = this.rev + 1;
    this.rev = revision;
    if (events === null) {
      // Not collected (nobody watched as the batch started): watchers that joined meanwhile
      // read it from history.
      this.clearRecent();
      for (const w of [...this.synced]) this.toUnsynced(w, Math.max(w.minRev, from));
      return;
    }
    // A batch re-applied after a state-machine rebuild may start below what was handed over.
    if (events.length > 0 && events[0]!.rev < from) events = events.filter((e) => e.rev >= from);
    if (events.length === 0) return;
    if (this.synced.size > 0) this.fanOut(events, from);
    this.remember(events);
  }

  /** The state machine was replaced by a snapshot at `revision`: everyone catches up from its history. */
  reset(revision: number): void {
    if (this.closed) return;
    const from = this.rev + 1;
    this.rev = Math.max(revision, this.rev);
    this.clearRecent();
    for (const w of [...this.synced]) this.toUnsynced(w, Math.max(w.minRev, from));
  }

  private fanOut(events: readonly KeyEvent[], from: number): void {
    // Watchers on the same key or range share a set, and an event list per set.
    const perSet = new Map<Set<Watcher>, KeyEvent[]>();
    for (const ev of events) {
      this.synced.matching(ev.key, (set) => {
        const list = perSet.get(set);
        if (list) list.push(ev);
        else perSet.set(set, [ev]);
      });
    }
    for (const [set, list] of perSet) {
      // A watcher that moves to catch-up leaves the set while it is iterated (allowed for a Set).
      for (const w of set) this.deliverLive(w, list, from);
    }
  }

  private deliverLive(w: Watcher, events: KeyEvent[], from: number): void {
    let list = events;
    if (w.minRev > from) list = list.filter((e) => e.rev >= w.minRev);
    if (w.noPut || w.noDelete) list = list.filter((e) => w.wants(e.isDelete));
    if (list.length === 0) return;
    const bytes = this.sizeFor(w, list);
    if (this.overBudget(w, list.length, bytes)) {
      this.toUnsynced(w, Math.max(w.minRev, from));
      this.observer?.movedToCatchUp();
      return;
    }
    this.send(w, list, this.rev, bytes);
  }

  private overBudget(w: Watcher, n: number, bytes: number): boolean {
    const o = this.opts;
    // Something must already be pending at a level for its bound to refuse more: one response
    // larger than a bound (a huge Txn) still goes out when nothing waits before it.
    if (w.pendingEvents > 0 && (w.pendingEvents + n > o.maxPendingEvents || w.pendingBytes + bytes > o.maxPendingBytes)) return true;
    const s = w.stream;
    if (s.pendingBytes > 0 && s.pendingBytes + bytes > o.streamMaxPendingBytes) return true;
    return this.pendingBytes > 0 && this.pendingBytes + bytes > o.totalMaxPendingBytes;
  }

  /** Room to catch up: below half of every bound. */
  private ready(w: Watcher): boolean {
    const o = this.opts;
    // The node-wide bound needs room for one catch-up read, not half of it free: streams whose
    // clients stopped reading may hold up to their own bound each, and together more than half
    // the total, which must not stop every other watcher from catching up.
    const headroom = Math.min(o.catchUpBytes, o.totalMaxPendingBytes / 2);
    return (
      w.pendingEvents <= o.maxPendingEvents / 2 &&
      w.pendingBytes <= o.maxPendingBytes / 2 &&
      w.stream.pendingBytes <= o.streamMaxPendingBytes / 2 &&
      this.pendingBytes + headroom <= o.totalMaxPendingBytes
    );
  }

  /** Bytes of `events` as sent to `w`, previous values included (looked up once per event). */
  private sizeFor(w: Watcher, events: readonly KeyEvent[]): number {
    let n = 0;
    for (const e of events) {
      n += e.kv.length + EVENT_OVERHEAD;
      if (w.prevKv) n += this.prevOf(e)?.length ?? 0;
    }
    return n;
  }

  /** A live event's previous key-value, read once and shared (etcd: none for a create or once compacted). */
  private prevOf(e: KeyEvent): Buffer | null {
    if (e.prevKv !== undefined) return e.prevKv;
    let p: Buffer | null = null;
    if (!e.isCreate && e.prevMain >= 0 && e.rev - 1 >= this.source.compactRevision) p = this.source.eventRecordSync(e.prevMain, e.prevSub) ?? null;
    e.prevKv = p;
    return p;
  }

  private send(w: Watcher, events: readonly KeyEvent[], revision: number, bytes: number): void {
    const s = w.stream;
    const n = events.length;
    w.pendingEvents += n;
    w.pendingBytes += bytes;
    s.pendingEvents += n;
    s.pendingBytes += bytes;
    this.pendingEvents += n;
    this.pendingBytes += bytes;
    w.sentSinceProgress = true;
    let released = false;
    s.sink.events(w, events, revision, () => {
      if (released) return;
      released = true;
      w.pendingEvents -= n;
      w.pendingBytes -= bytes;
      if (s.closed) return; // the stream's share was taken back when it closed
      s.pendingEvents -= n;
      s.pendingBytes -= bytes;
      this.pendingEvents -= n;
      this.pendingBytes -= bytes;
      if (this.unsynced.size > 0) this.kick();
    });
    this.observer?.eventsSent(n);
  }

  // ---------------------------------------------------------------- recent events

  private remember(events: readonly KeyEvent[]): void {
    for (const e of events) {
      this.recent.push(e);
      this.recentBytes += e.kv.length + EVENT_OVERHEAD;
    }
    const o = this.opts;
    let head = this.recentHead;
    while (this.recent.length - head > o.recentMaxEvents || this.recentBytes > o.recentMaxBytes) {
      // Drop whole revisions, oldest first.
      const rev = this.recent[head]!.rev;
      while (head < this.recent.length && this.recent[head]!.rev === rev) {
        this.recentBytes -= this.recent[head]!.kv.length + EVENT_OVERHEAD;
        head++;
      }
      this.recentFrom = head < this.recent.length ? this.recent[head]!.rev : this.rev + 1;
    }
    if (head > 4096 && head * 2 > this.recent.length) {
      this.recent = this.recent.slice(head);
      head = 0;
    }
    this.recentHead = head;
  }

  private clearRecent(): void {
    this.recent = [];
    this.recentHead = 0;
    this.recentBytes = 0;
    this.recentFrom = this.rev + 1;
  }

  /** Index of the first recent event at or after `rev`. */
  private recentIndex(rev: number): number {
    let lo = this.recentHead;
    let hi = this.recent.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.recent[mid]!.rev < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Hands `w` the recent events from its minRev on and makes it synced. Returns the events scanned. */
  private serveRecent(w: Watcher): number {
    const start = this.recentIndex(w.minRev);
    const list: KeyEvent[] = [];
    for (let i = start; i < this.recent.length; i++) {
      const e = this.recent[i]!;
      if (w.watches(e.key) && w.wants(e.isDelete)) list.push(e);
    }
    if (list.length > 0) this.send(w, list, this.rev, this.sizeFor(w, list));
    // A history read can reach past the hub (a batch written but not yet handed over): keep the
    // higher position, so that batch is not delivered twice when it arrives.
    w.minRev = Math.max(w.minRev, this.rev + 1);
    this.toSynced(w);
    return this.recent.length - start;
  }

  // ---------------------------------------------------------------- watchers

  /** @internal HubStream.watch */
  addWatcher(stream: HubStream, id: number, spec: WatchSpec): Watcher {
    const start = spec.startRevision;
    // etcd: no start revision, or one in the future, is synced from the next revision (or from
    // the future one); a past one catches up from history.
    const synced = start === 0 || start > this.rev;
    const w = new Watcher(id, stream, spec, synced ? Math.max(this.rev + 1, start) : start, synced ? 'synced' : 'unsynced');
    if (synced) this.synced.add(w);
    else {
      this.unsynced.add(w);
      stream.unsynced++;
      this.kick();
    }
    if (w.progressNotify) this.watchProgress(w);
    return w;
  }

  /** @internal Cancels a watcher (client request or stream end). */
  removeWatcher(w: Watcher): void {
    if (w.state === 'canceled') return;
    if (w.state === 'synced') this.synced.delete(w);
    else {
      this.unsynced.delete(w);
      w.stream.unsynced--;
    }
    w.state = 'canceled';
    w.stream.watchers.delete(w.id);
    this.progressWatchers.delete(w);
    this.settleProgress(w.stream);
  }

  /** @internal */
  streamClosed(s: HubStream): void {
    this.streams.delete(s);
    this.pendingBytes -= s.pendingBytes;
    this.pendingEvents -= s.pendingEvents;
    s.pendingBytes = 0;
    s.pendingEvents = 0;
    if (this.unsynced.size > 0) this.kick();
  }

  private toUnsynced(w: Watcher, minRev: number): void {
    if (w.state !== 'synced') return;
    this.synced.delete(w);
    w.state = 'unsynced';
    w.minRev = minRev;
    this.unsynced.add(w);
    w.stream.unsynced++;
    this.kick();
  }

  private toSynced(w: Watcher): void {
    if (w.state !== 'unsynced') return;
    this.unsynced.delete(w);
    w.stream.unsynced--;
    w.state = 'synced';
    this.synced.add(w);
    this.settleProgress(w.stream);
  }

  private cancelCompacted(w: Watcher, compactRevision: number): void {
    const s = w.stream;
    this.removeWatcher(w);
    s.sink.compacted(w, compactRevision);
    this.observer?.canceledCompacted();
  }

  /** A stream-wide progress notification that waited for the stream's watchers to catch up. */
  private settleProgress(s: HubStream): void {
    if (s.progressWanted && s.unsynced === 0 && !s.closed) {
      s.progressWanted = false;
      s.sink.progress(-1, this.rev);
    }
  }

  // ---------------------------------------------------------------- catch-up

  private kick(): void {
    if (this.roundScheduled || this.roundRunning || this.closed || this.unsynced.size === 0) return;
    this.roundScheduled = true;
    setImmediate(() => {
      this.roundScheduled = false;
      void this.round();
    });
  }

  /** One catch-up round; schedules the next while it makes progress. */
  private async round(): Promise<void> {
    if (this.roundRunning || this.closed) return;
    this.roundRunning = true;
    let progressed = false;
    try {
      progressed = await this.catchUp();
    } catch (err) {
      if (!(err instanceof KeyspaceError && err.kind === 'COMPACTED')) this.onError(err as Error);
    } finally {
      this.roundRunning = false;
    }
    if (this.closed || this.unsynced.size === 0) return;
    if (progressed) this.kick();
    else if (!this.retryTimer) {
      // Nobody ready (their streams are full) or the read failed: look again later; a stream
      // that drains kicks the loop sooner.
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        this.kick();
      }, CATCH_UP_RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private async catchUp(): Promise<boolean> {
    const o = this.opts;
    const compact = this.source.compactRevision;
    const chosen: Watcher[] = [];
    let progressed = false;
    let scanned = 0;
    for (const w of this.unsynced) {
      if (w.minRev < compact) {
        this.cancelCompacted(w, compact);
        progressed = true;
        continue;
      }
      if (!this.ready(w)) continue;
      if (w.minRev >= this.recentFrom) {
        if (scanned > RECENT_SCAN_PER_ROUND) break;
        scanned += this.serveRecent(w);
        progressed = true;
        continue;
      }
      chosen.push(w);
      if (chosen.length >= o.catchUpWatchers) break;
    }
    if (chosen.length === 0) return progressed;

    const group = new WatcherGroup<Watcher>();
    const withPrev = new WatcherGroup<Watcher>();
    let from = Infinity;
    for (const w of chosen) {
      group.add(w);
      if (w.prevKv) withPrev.add(w);
      from = Math.min(from, w.minRev);
    }
    const page = await this.source.eventRecords({
      fromRevision: from,
      match: (k) => group.contains(k),
      prevFor: withPrev.size > 0 ? (k) => withPrev.contains(k) : undefined,
      limit: o.catchUpEvents,
      maxBytes: o.catchUpBytes,
      maxScan: o.catchUpScan,
    });
    if (this.closed) return false;
    const per = new Map<Watcher, KeyEvent[]>();
    for (const e of page.events) {
      group.matching(e.key, (set) => {
        for (const w of set) {
          if (e.rev < w.minRev || !w.wants(e.isDelete)) continue;
          const list = per.get(w);
          if (list) list.push(e);
          else per.set(w, [e]);
        }
      });
    }
    const last = page.nextRevision - 1;
    for (const w of chosen) {
      if (w.state !== 'unsynced' || w.minRev > last) continue;
      const list = per.get(w);
      if (list) this.send(w, list, last, this.sizeFor(w, list));
      w.minRev = page.nextRevision;
      // Reached what the hub has seen: the recent events (or nothing) bridge the rest.
      if (w.minRev >= this.recentFrom) this.serveRecent(w);
      else if (w.minRev > this.rev) this.toSynced(w);
    }
    return true;
  }

  // ---------------------------------------------------------------- progress notifications

  private watchProgress(w: Watcher): void {
    this.progressWatchers.add(w);
    if (this.progressTimer || this.opts.progressNotifyMs <= 0) return;
    this.progressTimer = setInterval(() => this.progressTick(), this.opts.progressNotifyMs);
    this.progressTimer.unref();
  }

  /** etcd's rule: a synced watcher that asked for it gets one unless events went out since the last tick. */
  private progressTick(): void {
    for (const w of this.progressWatchers) {
      if (w.state === 'synced' && !w.sentSinceProgress) w.stream.sink.progress(w.id, this.rev);
      w.sentSinceProgress = false;
    }
  }

  /** Stops the timers; streams are closed by their owners. */
  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.progressTimer) clearInterval(this.progressTimer);
    this.retryTimer = null;
    this.progressTimer = null;
  }
}
