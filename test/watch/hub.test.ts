// The watch hub's rules, one at a time, over an in-memory history whose reads resolve when the
// test says so: the seam between catching up and live delivery, slow watchers (bounded, moved to
// catch-up, others unaffected, caught up afterwards), compaction cancels, progress, ids.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { EventRecordsPage, EventRecordsRequest, KeyEvent } from '../../storage/index.js';
import { ERR_DUPLICATE_ID, ERR_EMPTY_RANGE, WatchHub, type EventSource, type WatchHubOptions } from '../../src/watch/hub.js';
import type { WatchSpec } from '../../src/watch/watcher.js';
import { RecordingSink, turn } from './support.js';

/** A history in memory: `written` is what reads see, `handed` what the hub was given so far. */
class FakeSource implements EventSource {
  readonly log: KeyEvent[] = [];
  revision = 1;
  compactRevision = -1;
  /** Reads wait for this (when set) before answering. */
  gate: Promise<void> | null = null;
  reads = 0;

  write(...keys: string[]): KeyEvent[] {
    this.revision++;
    const evs = keys.map((key, sub) => {
      const kv = Buffer.from(KeyValue.encode({ key: Buffer.from(key, 'latin1'), createRevision: this.revision, modRevision: this.revision, version: 1, value: Buffer.from(`v${this.revision}`), lease: 0 }).finish());
      return { rev: this.revision, sub, key, kv, isDelete: false, isCreate: true, prevMain: -1, prevSub: -1 } satisfies KeyEvent;
    });
    this.log.push(...evs);
    return evs;
  }

  async eventRecords(req: EventRecordsRequest): Promise<EventRecordsPage> {
    this.reads++;
    const revision = this.revision;
    const compactRevision = this.compactRevision;
    if (this.gate) await this.gate;
    if (req.fromRevision < compactRevision) throw Object.assign(new Error('compacted'), { kind: 'COMPACTED' });
    const evs = this.log.filter((e) => e.rev >= req.fromRevision && e.rev <= revision && (!req.match || req.match(e.key)));
    const out: KeyEvent[] = [];
    let more = false;
    let next = Math.max(revision + 1, req.fromRevision);
    for (const e of evs) {
      if (out.length >= (req.limit ?? Infinity) && e.rev !== out[out.length - 1]!.rev) {
        more = true;
        next = e.rev;
        break;
      }
      out.push({ ...e });
    }
    return { events: out, nextRevision: next, more, revision, compactRevision };
  }

  eventRecordSync(): Buffer | undefined {
    return undefined;
  }
}

const spec = (over: Partial<WatchSpec> = {}): WatchSpec => ({
  from: 'k',
  to: undefined,
  single: true,
  startRevision: 0,
  prevKv: false,
  noPut: false,
  noDelete: false,
  progressNotify: false,
  fragment: false,
  ...over,
});

const prefix = (p: string, over: Partial<WatchSpec> = {}): WatchSpec => spec({ from: p, to: p.slice(0, -1) + String.fromCharCode(p.charCodeAt(p.length - 1) + 1), single: false, ...over });

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function setup(opts: WatchHubOptions = {}): { src: FakeSource; hub: WatchHub; write: (...keys: string[]) => void } {
  const src = new FakeSource();
  const hub = new WatchHub(src, { progressNotifyMs: 0, ...opts });
  const write = (...keys: string[]): void => hub.applied(src.write(...keys), src.revision);
  return { src, hub, write };
}

async function settle(hub: WatchHub): Promise<void> {
  for (let i = 0; i < 200 && (hub.stats().unsynced > 0 || hub.stats().pendingEvents > 0); i++) await turn();
}

const revs = (sink: RecordingSink, id: number): number[] => sink.eventsOf(id).map((e) => e.rev);

describe('watch hub', () => {
  it('a history read that sees a batch before the hub does never delivers it twice', async () => {
    const { src, hub } = setup({ recentMaxEvents: 2 });
    const early = Array.from({ length: 5 }, () => src.write('k'));
    for (const e of early) hub.applied(e, e[0]!.rev);
    // A batch is written (reads see it) but not yet handed to the hub when the catch-up reads.
    const late = src.write('k');
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const { id } = s.watch(0, spec({ startRevision: 2 })) as { id: number };
    await settle(hub);
    assert.deepEqual(revs(sink, id), [2, 3, 4, 5, 6, 7], 'the read reached the batch the hub has not seen');
    hub.applied(late, src.revision);
    await settle(hub);
    assert.deepEqual(revs(sink, id), [2, 3, 4, 5, 6, 7]);
  });

  it('a slow watcher is bounded and moved to catch-up; others on other streams are unaffected; it catches up once read again', async () => {
    const { hub, write } = setup({ maxPendingEvents: 4, maxPendingBytes: 1 << 20, recentMaxEvents: 3 });
    const slow = new RecordingSink();
    const fast = new RecordingSink();
    const a = hub.openStream(slow).watch(0, prefix('p/')) as { id: number };
    const b = hub.openStream(fast).watch(0, prefix('p/')) as { id: number };
    slow.stalled = true;
    for (let i = 0; i < 50; i++) {
      write(`p/${i}`);
      await turn();
      // Never more than its bound (plus the one response that went out with nothing pending) is held for it.
      assert.ok(slow.heldCount <= 4, `held ${slow.heldCount}`);
    }
    assert.equal(revs(fast, b.id).length, 50, 'the other watcher got every event at once');
    assert.equal(hub.stats().unsynced, 1, 'the slow one waits in catch-up');
    assert.ok(hub.stats().pendingEvents <= 4);
    slow.release();
    await settle(hub);
    assert.deepEqual(revs(slow, a.id), Array.from({ length: 50 }, (_, i) => i + 2), 'caught up: every revision once, in order');
    assert.equal(hub.stats().unsynced, 0);
    write('p/x');
    assert.equal(revs(slow, a.id).at(-1), 52, 'and live again');
  });

  it('streams that stopped reading and together hold over half the node-wide bound do not stop another stream\'s watchers catching up', async () => {
    const X = 4000;
    const { hub, write } = setup({ maxPendingEvents: 1 << 20, maxPendingBytes: 1 << 20, streamMaxPendingBytes: X, totalMaxPendingBytes: 4 * X, catchUpBytes: X / 4, recentMaxEvents: 3 });
    const stalled = [new RecordingSink(), new RecordingSink(), new RecordingSink()];
    for (const sink of stalled) {
      hub.openStream(sink).watch(0, prefix('p/'));
      sink.stalled = true;
    }
    const reader = new RecordingSink();
    const r = hub.openStream(reader).watch(0, prefix('p/')) as { id: number };
    reader.stalled = true;
    const N = 200;
    for (let i = 0; i < N; i++) {
      write(`p/${i % 10}`);
      await turn();
    }
    const held = hub.stats().pendingBytes;
    assert.ok(held > 2 * X && held <= 4 * X, `the stalled streams hold ${held} B: over half the total bound, within it`);
    // The reader reads again; the others still do not.
    reader.release();
    for (let i = 0; i < 400 && revs(reader, r.id).length < N; i++) await turn();
    assert.deepEqual(revs(reader, r.id), Array.from({ length: N }, (_, i) => i + 2), 'the reader caught up: every revision once, in order');
    assert.ok(hub.stats().pendingBytes <= 4 * X + X / 4, 'the node-wide bound held');
  });

  it('a watcher whose next revision was compacted while it was behind is canceled with the compact revision', async () => {
    const { src, hub, write } = setup({ maxPendingEvents: 1, recentMaxEvents: 1 });
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const { id } = s.watch(0, spec()) as { id: number };
    sink.stalled = true;
    for (let i = 0; i < 6; i++) write('k');
    assert.equal(hub.stats().unsynced, 1);
    src.compactRevision = 5;
    sink.release();
    await settle(hub);
    const last = sink.log.at(-1)!;
    assert.deepEqual(last, { kind: 'compacted', id, compactRevision: 5 });
    assert.equal(s.watchers.size, 0);
    assert.deepEqual(revs(sink, id), [2], 'what it got before: the revision that went out');
  });

  it('a start revision below the compact revision is canceled; at it, served (etcd: minRev < compactRev)', async () => {
    const { src, hub, write } = setup();
    for (let i = 0; i < 5; i++) write('k');
    src.compactRevision = 4;
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const below = s.watch(0, spec({ startRevision: 3 })) as { id: number };
    const at = s.watch(0, spec({ startRevision: 4 })) as { id: number };
    await settle(hub);
    assert.deepEqual(sink.log.find((x) => x.id === below.id), { kind: 'compacted', id: below.id, compactRevision: 4 });
    assert.deepEqual(revs(sink, at.id), [4, 5, 6]);
  });

  it('a stream-wide progress notification waits until every watcher of the stream caught up', async () => {
    const { src, hub, write } = setup({ recentMaxEvents: 1 });
    for (let i = 0; i < 4; i++) write('k');
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const gate = deferred();
    src.gate = gate.promise;
    const { id } = s.watch(0, spec({ startRevision: 2 })) as { id: number };
    s.requestProgress();
    await turn();
    assert.equal(sink.log.filter((x) => x.kind === 'progress').length, 0, 'not while a watcher is behind');
    src.gate = null;
    gate.resolve();
    await settle(hub);
    const p = sink.log.findIndex((x) => x.kind === 'progress');
    assert.deepEqual(sink.log[p], { kind: 'progress', id: -1, revision: 5 });
    assert.deepEqual(sink.log.slice(0, p).flatMap((x) => (x.kind === 'events' && x.id === id ? x.events.map((e) => e.rev) : [])), [2, 3, 4, 5]);
    s.requestProgress();
    assert.deepEqual(sink.log.at(-1), { kind: 'progress', id: -1, revision: 5 }, 'at once when nobody is behind');
  });

  it('periodic progress notifications go to the synced watchers that asked for them', async () => {
    const { hub } = setup({ progressNotifyMs: 10 });
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const { id } = s.watch(0, spec({ progressNotify: true })) as { id: number };
    s.watch(0, spec({ from: 'other' }));
    const progress = (): Array<{ id: number; revision: number }> => sink.log.flatMap((x) => (x.kind === 'progress' ? [{ id: x.id, revision: x.revision }] : []));
    while (progress().length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(progress()[0], { id, revision: 1 }, 'the timer fires, for the watcher that asked only');
    hub.close();
  });

  it('a periodic progress notification is skipped when events went out since the last one', () => {
    const { hub, write } = setup({ progressNotifyMs: 1e9 });
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const { id } = s.watch(0, spec({ progressNotify: true })) as { id: number };
    const progress = (): Array<{ id: number; revision: number }> => sink.log.flatMap((x) => (x.kind === 'progress' ? [{ id: x.id, revision: x.revision }] : []));
    const tick = (): void => (hub as unknown as { progressTick(): void }).progressTick();
    const n = progress().length;
    tick();
    assert.equal(progress().length, n + 1);
    write('k');
    tick();
    assert.equal(progress().length, n + 1, 'skipped: events went out since the last tick');
    tick();
    assert.deepEqual(progress().at(-1), { id, revision: 2 });
    hub.close();
  });

  it('ids: 0 picks the lowest free one; a used id and an empty range are refused with etcd\'s errors; cancel frees the id', () => {
    const { hub } = setup();
    const s = hub.openStream(new RecordingSink());
    assert.deepEqual(s.watch(0, spec()), { id: 0 });
    assert.deepEqual(s.watch(2, spec()), { id: 2 });
    assert.deepEqual(s.watch(0, spec()), { id: 1 });
    assert.deepEqual(s.watch(0, spec()), { id: 3 });
    assert.deepEqual(s.watch(2, spec()), { error: ERR_DUPLICATE_ID });
    assert.deepEqual(s.watch(0, spec({ from: 'b', to: 'a', single: false })), { error: ERR_EMPTY_RANGE });
    assert.deepEqual(s.watch(0, spec({ from: 'a', to: 'a', single: false })), { error: ERR_EMPTY_RANGE });
    assert.equal(s.cancel(2), true);
    assert.equal(s.cancel(2), false);
    assert.deepEqual(s.watch(2, spec()), { id: 2 });
    s.close();
    assert.equal(hub.stats().synced, 0);
    assert.deepEqual(s.watch(0, spec()), { error: ERR_EMPTY_RANGE }, 'a closed stream takes no watcher');
  });

  it('batches applied without collected events send the watchers that joined meanwhile to history', async () => {
    const { src, hub } = setup();
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const { id } = s.watch(0, spec()) as { id: number };
    src.write('k');
    hub.applied(null, src.revision);
    await settle(hub);
    assert.deepEqual(revs(sink, id), [2]);
  });

  it('after a snapshot install every watcher catches up from the new history, or is canceled if it was compacted', async () => {
    const { src, hub, write } = setup();
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const a = s.watch(0, spec()) as { id: number };
    write('k');
    // The follower misses revisions 3..5 and installs a snapshot at 5.
    src.write('k');
    src.write('k');
    src.write('k');
    hub.reset(src.revision);
    await settle(hub);
    assert.deepEqual(revs(sink, a.id), [2, 3, 4, 5]);
    const b = s.watch(0, spec()) as { id: number };
    src.write('k');
    src.write('k');
    src.compactRevision = 7;
    hub.reset(src.revision);
    await settle(hub);
    assert.ok(sink.log.some((x) => x.kind === 'compacted' && x.id === b.id && x.compactRevision === 7));
    assert.ok(sink.log.some((x) => x.kind === 'compacted' && x.id === a.id));
  });
  it('after a state-machine rebuild the replayed revisions are not sent again, to old or new watchers', async () => {
    const { src, hub, write } = setup();
    const sink = new RecordingSink();
    const s = hub.openStream(sink);
    const a = s.watch(0, spec()) as { id: number };
    for (let i = 0; i < 4; i++) write('k');
    await settle(hub);
    assert.deepEqual(revs(sink, a.id), [2, 3, 4, 5]);
    // The rebuilt state machine is back at revision 3; its log replay re-applies 4 and 5, the
    // last batch together with the new revision 6.
    hub.reset(3);
    const b = s.watch(0, spec()) as { id: number };
    const five = src.log.filter((e) => e.rev === 5);
    const six = src.write('k');
    hub.applied([...src.log.filter((e) => e.rev === 4)], 4);
    hub.applied([...five, ...six], 6);
    await settle(hub);
    assert.deepEqual(revs(sink, a.id), [2, 3, 4, 5, 6]);
    assert.deepEqual(revs(sink, b.id), [6]);
  });
});
