// Model test of the watch hub over a real state machine: random histories (puts, range deletes,
// Txns, compactions, batches applied with and without collected events, state jumps as after a
// snapshot install), random watchers (single keys, prefixes, ranges, from-key, all keys; start
// revisions in the past, now, the future and below the compaction; filters; prev_kv), streams
// that stop reading and resume, cancels and progress requests, with tiny bounds so that every
// path (slow watchers moved to catch-up, history reads in small pages, the recent-events bridge)
// runs. Every watcher's events must equal the history filtered by its range and filters from its
// start revision, in order, whole revisions per response; a canceled one a prefix of that; one
// canceled for compaction must have needed a revision below the compact revision; a progress
// notification must come after every event up to its revision.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine } from '../../storage/index.js';
import { WatchHub, type HubStream } from '../../src/watch/hub.js';
import type { WatchSpec } from '../../src/watch/watcher.js';
import { rng, seedFromEnv, tempDir } from '../storage/helpers.js';
import { RecordingSink, compact, del, entryOf, put, turn, txn, type SentEvent } from './support.js';

const KEYS = ['a', 'a/1', 'a/2', 'a\u0000', 'b', 'b/x', 'c', '\u00ff'];

interface HistEvent {
  rev: number;
  key: string;
  type: 'PUT' | 'DELETE';
  value: string;
  prev: string | undefined;
}

/** The keyspace as etcd defines it, for the commands this test makes. */
class KsModel {
  rev = 1;
  compactRev = -1;
  readonly cur = new Map<string, string>();
  readonly history: HistEvent[] = [];

  put(k: string, v: string): void {
    this.rev++;
    this.history.push({ rev: this.rev, key: k, type: 'PUT', value: v, prev: this.cur.get(k) });
    this.cur.set(k, v);
  }

  del(from: string, to: string | undefined, single: boolean): void {
    const keys = [...this.cur.keys()].filter((k) => (single ? k === from : k >= from && (to === undefined || k < to))).sort();
    if (keys.length === 0) return;
    this.rev++;
    for (const k of keys) {
      this.history.push({ rev: this.rev, key: k, type: 'DELETE', value: '', prev: this.cur.get(k) });
      this.cur.delete(k);
    }
  }

  txn(ops: Array<['put', string, string] | ['del', string]>): void {
    const writes = ops.filter((o) => o[0] === 'put' || this.cur.has(o[1]));
    if (writes.length === 0) return;
    this.rev++;
    for (const o of ops) {
      if (o[0] === 'put') {
        this.history.push({ rev: this.rev, key: o[1], type: 'PUT', value: o[2], prev: this.cur.get(o[1]) });
        this.cur.set(o[1], o[2]);
      } else if (this.cur.has(o[1])) {
        this.history.push({ rev: this.rev, key: o[1], type: 'DELETE', value: '', prev: this.cur.get(o[1]) });
        this.cur.delete(o[1]);
      }
    }
  }

  compact(r: number): void {
    if (r > this.compactRev && r <= this.rev) this.compactRev = r;
  }
}

interface Tracked {
  id: number;
  sink: RecordingSink;
  stream: HubStream;
  spec: WatchSpec;
  start: number;
  createdAt: number;
  canceled: boolean;
}

const inSpec = (s: WatchSpec, k: string): boolean => (s.single ? k === s.from : k >= s.from && (s.to === undefined || k < s.to));

describe('watch hub model', () => {
  it('every watcher gets exactly the history of its range from its start revision', { timeout: 240_000 }, async () => {
    const seed = seedFromEnv('watch-model');
    const seen = { sent: 0, slow: 0, compacted: 0, checked: 0 };
    for (let run = 0; run < 6; run++) await oneRun(seed + run, run % 2 === 0 ? 250 : 400, seen);
    // The bounds are tiny so that the slow and compacted paths run, not just the happy one.
    console.log(`# ${JSON.stringify(seen)}`);
    assert.ok(seen.slow > 0 && seen.compacted > 0 && seen.sent > 100, `every path ran: ${JSON.stringify(seen)}`);
    assert.ok(seen.checked > 20, `enough watchers lived to the end to be checked whole (${seen.checked})`);
  });
});

async function oneRun(seed: number, steps: number, seen: { sent: number; slow: number; compacted: number; checked: number }): Promise<void> {
  const r = rng(seed);
  const int = (n: number): number => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const sm = await StateMachine.open(tempDir(after, 'watch-model'));
  after(() => sm.close());
  const hub = new WatchHub(sm, {
    maxPendingEvents: 3,
    maxPendingBytes: 300,
    streamMaxPendingBytes: 800,
    totalMaxPendingBytes: 3000,
    recentMaxEvents: 6,
    recentMaxBytes: 2000,
    catchUpWatchers: 3,
    catchUpEvents: 4,
    catchUpBytes: 400,
    catchUpScan: 10,
    progressNotifyMs: 0,
    observer: {
      eventsSent: (n) => (seen.sent += n),
      movedToCatchUp: () => seen.slow++,
      canceledCompacted: () => seen.compacted++,
    },
  });
  after(() => hub.close());
  const m = new KsModel();
  const sinks = Array.from({ length: 3 }, () => new RecordingSink());
  const streams = sinks.map((s) => hub.openStream(s));
  const tracked: Tracked[] = [];
  const progressAsked: Array<{ sink: number; at: number }> = [];
  let index = 0;
  let value = 0;

  const applyBatch = async (mode: 'live' | 'uncollected' | 'jump'): Promise<void> => {
    const ops = Array.from({ length: 1 + int(5) }, () => {
      const x = r();
      if (x < 0.5) {
        const k = pick(KEYS);
        const v = `v${value++}`;
        m.put(k, v);
        return put(k, v);
      }
      if (x < 0.65) {
        const k = pick(KEYS);
        const end = pick(['', '', 'b', 'a0', '\u0000']);
        m.del(k, end === '' ? undefined : end === '\u0000' ? undefined : end, end === '');
        return del(k, end);
      }
      if (x < 0.95) {
        const keys = [...new Set(Array.from({ length: 1 + int(3) }, () => pick(KEYS)))];
        const t = keys.map((k): ['put', string, string] | ['del', string] => (r() < 0.7 ? ['put', k, `t${value++}`] : ['del', k]));
        m.txn(t);
        return txn(t);
      }
      const c = m.compactRev + 1 + int(Math.max(1, Math.floor((m.rev - m.compactRev) / 3)));
      m.compact(c);
      return compact(c);
    });
    const out = await sm.applyWithEvents(
      ops.map((op) => entryOf(++index, op)),
      { collectEvents: () => mode === 'live' && hub.wantsEvents() },
    );
    assert.equal(out.revision, m.rev, `seed ${seed}: the model and the state machine agree on the revision`);
    if (mode === 'live') hub.applied(out.events, out.revision);
    else if (mode === 'uncollected') hub.applied(null, out.revision);
  };

  const randomSpec = (): WatchSpec => {
    const x = r();
    let from: string;
    let to: string | undefined;
    let single = false;
    if (x < 0.3) {
      from = pick(KEYS);
      single = true;
      to = undefined;
    } else if (x < 0.55) {
      from = pick(['a', 'a/', 'b', '']);
      to = from === '' ? undefined : from.slice(0, -1) + String.fromCharCode(from.charCodeAt(from.length - 1) + 1);
      if (from === '') from = '\u0000';
    } else if (x < 0.8) {
      from = pick(KEYS);
      to = pick(['b', 'c', 'd', 'a/2', '\u00ff\u00ff']);
    } else {
      from = pick(KEYS);
      to = undefined;
    }
    const y = r();
    const startRevision = y < 0.3 ? 0 : y < 0.9 ? Math.max(1, m.compactRev - 2 + int(m.rev - m.compactRev + 4)) : m.rev + 1 + int(4);
    return { from, to, single, startRevision, prevKv: r() < 0.4, noPut: r() < 0.1, noDelete: r() < 0.1, progressNotify: false, fragment: false };
  };

  for (let step = 0; step < steps; step++) {
    const x = r();
    if (x < 0.4) await applyBatch('live');
    else if (x < 0.43) await applyBatch('uncollected');
    else if (x < 0.45) {
      // A follower that installed a snapshot: batches it never saw, then the jump.
      for (let i = 0, n = 1 + int(3); i < n; i++) await applyBatch('jump');
      hub.reset(sm.revision);
    } else if (x < 0.6) {
      const si = int(sinks.length);
      const spec = randomSpec();
      const before = hub.revision;
      const res = streams[si]!.watch(r() < 0.3 ? 1000 + tracked.length : 0, spec);
      if ('error' in res) {
        assert.ok(!spec.single && spec.to !== undefined && spec.from >= spec.to, `seed ${seed}: only an empty range is refused (${res.error})`);
        continue;
      }
      const start = spec.startRevision === 0 ? before + 1 : spec.startRevision;
      tracked.push({ id: res.id, sink: sinks[si]!, stream: streams[si]!, spec, start, createdAt: sinks[si]!.log.length, canceled: false });
    } else if (x < 0.64) {
      const live = tracked.filter((t) => !t.canceled);
      if (live.length > 0) {
        const t = pick(live);
        t.canceled = t.stream.cancel(t.id) || t.canceled;
        t.canceled = true;
      }
    } else if (x < 0.74) {
      const s = pick(sinks);
      if (s.stalled) r() < 0.5 ? s.release() : s.releaseSome(1 + int(3));
      else s.stalled = true;
    } else if (x < 0.78) {
      const si = int(sinks.length);
      progressAsked.push({ sink: si, at: sinks[si]!.log.length });
      streams[si]!.requestProgress();
    } else {
      for (let i = 0, n = 1 + int(3); i < n; i++) await turn();
    }
  }

  // Quiesce: every stream reads again; wait until every watcher is caught up.
  for (const s of sinks) s.release();
  const deadline = Date.now() + 30_000;
  while (hub.stats().unsynced > 0 || hub.stats().pendingEvents > 0) {
    assert.ok(Date.now() < deadline, `seed ${seed}: watchers still catching up: ${JSON.stringify(hub.stats())}`);
    await new Promise((res) => setTimeout(res, 2));
  }

  let checked = 0;
  for (const t of tracked) {
    const expected: SentEvent[] = m.history
      .filter((e) => e.rev >= t.start && inSpec(t.spec, e.key) && (e.type === 'PUT' ? !t.spec.noPut : !t.spec.noDelete))
      .map((e) => ({ rev: e.rev, key: e.key, type: e.type, value: e.value, prev: t.spec.prevKv ? e.prev : undefined }));
    const recs = t.sink.log.slice(t.createdAt).filter((x) => x.id === t.id);
    const got = recs.flatMap((x) => (x.kind === 'events' ? x.events : []));
    const where = `seed ${seed}, watcher ${t.id} ${JSON.stringify(t.spec)} from ${t.start}`;
    // prev_kv: sent unless it is a create or the revision before the event is compacted.
    for (let i = 0; i < Math.min(got.length, expected.length); i++) {
      const g = got[i]!;
      const e = expected[i]!;
      if (t.spec.prevKv && g.prev === undefined && e.prev !== undefined && g.rev - 1 < m.compactRev) e.prev = undefined;
    }
    // Whole revisions per response, in order, the header at or past the events.
    let last = -1;
    for (const x of recs) {
      if (x.kind !== 'events') continue;
      assert.ok(x.events[0]!.rev > last, `${where}: a revision split or repeated across responses`);
      last = x.events[x.events.length - 1]!.rev;
      assert.ok(x.revision >= last, `${where}: header revision ${x.revision} below its events`);
    }
    const compacted = recs.find((x) => x.kind === 'compacted');
    if (compacted && compacted.kind === 'compacted') {
      assert.deepEqual(got, expected.slice(0, got.length), `${where}: events before the compaction cancel`);
      const next = got.length > 0 ? got[got.length - 1]!.rev + 1 : t.start;
      assert.ok(next < compacted.compactRevision, `${where}: canceled at compact revision ${compacted.compactRevision}, but it needed ${next}`);
      // Nothing it should have had was left out below its next revision.
      assert.ok(expected.every((e, i) => i < got.length || e.rev >= next), `${where}: skipped events before the cancel`);
    } else if (t.canceled) {
      assert.deepEqual(got, expected.slice(0, got.length), `${where}: a canceled watcher's events are a prefix of its history`);
    } else {
      assert.deepEqual(got, expected, where);
      checked++;
    }
  }
  // Progress: after a stream-wide notification at R, every watcher of the stream that lives to
  // the end had received all its events up to R.
  for (const p of progressAsked) {
    const sink = sinks[p.sink]!;
    const idx = sink.log.findIndex((x, i) => i >= p.at && x.kind === 'progress' && x.id === -1);
    assert.ok(idx >= 0, `seed ${seed}: a progress request is answered`);
    const R = (sink.log[idx] as { revision: number }).revision;
    for (const t of tracked.filter((t) => t.sink === sink && !t.canceled && t.createdAt <= idx && !sink.log.some((x) => x.kind === 'compacted' && x.id === t.id))) {
      const before = sink.log.slice(t.createdAt, idx).flatMap((x) => (x.kind === 'events' && x.id === t.id ? x.events : []));
      const all = sink.eventsOf(t.id).slice(0);
      const want = all.filter((e, i) => i < all.length && e.rev <= R);
      assert.deepEqual(before.map((e) => e.rev), want.map((e) => e.rev), `seed ${seed}: progress at ${R} came before watcher ${t.id}'s events up to it`);
    }
  }
  seen.checked += checked;
}
