// Test helpers for the watch hub: a sink that records what a stream was sent and can hold back
// the "sent" acknowledgements (a client that stops reading), and a small command builder.

import { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { Command } from '../../proto/gen/placement/v1/command.js';
import type { ApplyEntry, KeyEvent } from '../../storage/index.js';
import type { WatchSink } from '../../src/watch/hub.js';
import type { Watcher } from '../../src/watch/watcher.js';

export interface SentEvent {
  rev: number;
  key: string;
  type: 'PUT' | 'DELETE';
  value: string;
  /** The previous value as sent (undefined: none sent). */
  prev: string | undefined;
}

export type SinkRecord =
  | { kind: 'events'; id: number; revision: number; events: SentEvent[] }
  | { kind: 'compacted'; id: number; compactRevision: number }
  | { kind: 'progress'; id: number; revision: number };

export class RecordingSink implements WatchSink {
  readonly log: SinkRecord[] = [];
  /** Acknowledgements held back while `stalled`. */
  private held: (() => void)[] = [];
  stalled = false;

  events(w: Watcher, events: readonly KeyEvent[], revision: number, done: () => void): void {
    this.log.push({
      kind: 'events',
      id: w.id,
      revision,
      events: events.map((e) => {
        const kv = KeyValue.decode(e.kv);
        const prev = w.prevKv && e.prevKv ? KeyValue.decode(e.prevKv).value.toString('latin1') : undefined;
        return { rev: e.rev, key: e.key, type: e.isDelete ? 'DELETE' : 'PUT', value: kv.value.toString('latin1'), prev };
      }),
    });
    if (this.stalled) this.held.push(done);
    else queueMicrotask(done);
  }

  compacted(w: Watcher, compactRevision: number): void {
    this.log.push({ kind: 'compacted', id: w.id, compactRevision });
  }

  progress(watchId: number, revision: number): void {
    this.log.push({ kind: 'progress', id: watchId, revision });
  }

  /** Acknowledges everything held, and stops holding. */
  release(): void {
    this.stalled = false;
    for (const d of this.held.splice(0)) d();
  }

  /** Acknowledges the oldest `n` held responses. */
  releaseSome(n: number): void {
    for (const d of this.held.splice(0, n)) d();
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Every event sent to watcher `id`, in order. */
  eventsOf(id: number): SentEvent[] {
    return this.log.flatMap((r) => (r.kind === 'events' && r.id === id ? r.events : []));
  }
}

export const B = (s: string): Buffer => Buffer.from(s, 'latin1');

export function put(key: string, value: string): NonNullable<Command['op']> {
  return { $case: 'etcdPut', value: { key: B(key), value: B(value), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } };
}

export function del(key: string, end = ''): NonNullable<Command['op']> {
  return { $case: 'etcdDeleteRange', value: { key: B(key), rangeEnd: B(end), prevKv: false } };
}

export function txn(ops: Array<['put', string, string] | ['del', string]>): NonNullable<Command['op']> {
  return {
    $case: 'etcdTxn',
    value: {
      compare: [],
      success: ops.map((o) =>
        o[0] === 'put'
          ? { request: { $case: 'requestPut' as const, value: { key: B(o[1]), value: B(o[2]), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } } }
          : { request: { $case: 'requestDeleteRange' as const, value: { key: B(o[1]), rangeEnd: B(''), prevKv: false } } },
      ),
      failure: [],
    },
  };
}

export function compact(revision: number): NonNullable<Command['op']> {
  return { $case: 'etcdCompaction', value: { revision, physical: false } };
}

export function entryOf(index: number, op: NonNullable<Command['op']>): ApplyEntry {
  return { index, term: 1, data: Command.encode({ clientId: '', seq: 0, leaderTimeMs: 1, op }).finish() };
}

/** Lets pending immediates, timers of 0 ms and microtasks run. */
export function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
