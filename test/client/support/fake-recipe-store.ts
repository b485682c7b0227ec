// An in-memory, single-threaded model of the etcd calls the recipes make (Range, Txn, Watch, lease
// revoke), for deterministic unit tests of src/client/recipes: every call is answered from one
// revisioned map in the order made, watches replay history from their start revision and then
// get each new revision, and the store counts Ranges and records which keys are watched, so a
// test can tell a waiter that watches from one that re-reads.
import { EventEmitter } from 'node:events';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type Compare,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseOp,
  type TxnRequest,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue as PbKeyValue } from '../../../proto/gen/etcd/mvccpb/kv.js';
import { TxnBuilder, rangeRequest, toRangeResult, toTxnResult, type RangeOptions, type RangeResult } from '../../../src/client/etcd-kv.js';
import type { SessionState } from '../../../src/client/lease.js';
import type { RecipeClient } from '../../../src/client/recipes/wait.js';
import type { WatchBatch, WatchEvent, WatchOptions } from '../../../src/client/watch.js';

interface Stored {
  value: Buffer;
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}

interface Change {
  revision: number;
  type: 'put' | 'delete';
  key: string;
  kv: Stored;
}

const header = (revision: number) => ({ clusterId: 1, memberId: 1, revision, raftTerm: 1 });

function inRange(key: Buffer, start: Buffer, end: Buffer): boolean {
  if (end.length === 0) return key.equals(start);
  if (end.length === 1 && end[0] === 0) return Buffer.compare(key, start) >= 0;
  return Buffer.compare(key, start) >= 0 && Buffer.compare(key, end) < 0;
}

export class FakeRecipeStore implements RecipeClient {
  revision = 1;
  private readonly keys = new Map<string, Stored>();
  private readonly changes: Change[] = [];
  private readonly bus = new EventEmitter();
  /** Ranges served (top-level and inside Txns). */
  ranges = 0;
  /** Keys (or prefixes, with a trailing '*') of the watches open now. */
  readonly watching: string[] = [];
  /** Every watch ever opened, in order. */
  readonly watchLog: string[] = [];

  readonly etcd = {
    range: async (key: string | Uint8Array, options: RangeOptions = {}): Promise<RangeResult> => {
      await Promise.resolve();
      options.signal?.throwIfAborted();
      return toRangeResult(this.rangeNow(rangeRequest(key, options)));
    },
  };

  txn(): TxnBuilder {
    return new TxnBuilder(async (req, options) => {
      await Promise.resolve();
      options.signal?.throwIfAborted();
      return toTxnResult(this.txnNow(req));
    });
  }

  watch(key: string, options: WatchOptions = {}): AsyncIterable<WatchBatch> {
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const store = this;
    const name = options.prefix ? key + '*' : key;
    const matches = (k: string): boolean => (options.prefix ? k.startsWith(key) : k === key);
    return {
      async *[Symbol.asyncIterator]() {
        const signal = options.signal;
        if (signal?.aborted) return;
        let next = options.startRevision && options.startRevision > 0 ? options.startRevision : store.revision + 1;
        store.watching.push(name);
        store.watchLog.push(name);
        store.bus.emit('watch', name);
        let wake: (() => void) | undefined;
        const onChange = (): void => wake?.();
        store.bus.on('change', onChange);
        signal?.addEventListener('abort', onChange);
        try {
          for (;;) {
            if (signal?.aborted) return;
            const pending = store.changes.filter((c) => c.revision >= next && matches(c.key));
            const byRev = new Map<number, WatchEvent[]>();
            for (const c of pending) {
              if (c.type === 'put' && options.filters?.includes('noPut')) continue;
              if (c.type === 'delete' && options.filters?.includes('noDelete')) continue;
              const kv = { key: c.key, ...c.kv, value: Buffer.from(c.kv.value) };
              const list = byRev.get(c.revision) ?? [];
              list.push({ type: c.type, kv });
              byRev.set(c.revision, list);
            }
            next = store.revision + 1;
            for (const [revision, events] of byRev) yield { revision, events };
            if (signal?.aborted) return;
            if (next <= store.revision) continue;
            await new Promise<void>((r) => (wake = r));
          }
        } finally {
          store.bus.off('change', onChange);
          signal?.removeEventListener('abort', onChange);
          store.watching.splice(store.watching.indexOf(name), 1);
        }
      },
    };
  }

  /** Resolves once a watch on `name` (key, or prefix + '*') is open. */
  async watched(name: string): Promise<void> {
    while (!this.watching.includes(name)) await new Promise((r) => this.bus.once('watch', r));
  }

  /** A plain put (another client's write). */
  put(key: string, value: string, lease = 0): number {
    this.txnNow({ compare: [], success: [{ request: { $case: 'requestPut', value: { key: Buffer.from(key), value: Buffer.from(value), lease, prevKv: false, ignoreValue: false, ignoreLease: false } } }], failure: [] });
    return this.revision;
  }

  /** The lease ends: every key attached to it is deleted in one revision. */
  revokeLease(lease: number): void {
    const doomed = [...this.keys].filter(([, v]) => v.lease === lease).map(([k]) => k);
    if (doomed.length === 0) return;
    this.revision++;
    for (const k of doomed) this.remove(k);
    this.bus.emit('change');
  }

  get(key: string): (Stored & { key: string }) | undefined {
    const s = this.keys.get(key);
    return s ? { key, ...s } : undefined;
  }

  private remove(k: string): void {
    const s = this.keys.get(k)!;
    this.keys.delete(k);
    this.changes.push({ revision: this.revision, type: 'delete', key: k, kv: { ...s, modRevision: this.revision, value: Buffer.alloc(0) } });
  }

  private rangeNow(req: RangeRequest): RangeResponse {
    this.ranges++;
    let kvs: PbKeyValue[] = [...this.keys]
      .filter(([k]) => inRange(Buffer.from(k), req.key, req.rangeEnd))
      .filter(([, v]) => req.maxCreateRevision === 0 || v.createRevision <= req.maxCreateRevision)
      .map(([k, v]) => ({ key: Buffer.from(k), value: Buffer.from(v.value), createRevision: v.createRevision, modRevision: v.modRevision, version: v.version, lease: v.lease }));
    const field = (kv: PbKeyValue): number | string =>
      req.sortTarget === RangeRequest_SortTarget.CREATE ? kv.createRevision : req.sortTarget === RangeRequest_SortTarget.MOD ? kv.modRevision : kv.key.toString('latin1');
    kvs.sort((a, b) => (field(a) < field(b) ? -1 : field(a) > field(b) ? 1 : 0));
    if (req.sortOrder === RangeRequest_SortOrder.DESCEND) kvs.reverse();
    const count = kvs.length;
    if (req.limit > 0) kvs = kvs.slice(0, req.limit);
    if (req.countOnly) kvs = [];
    return { header: header(this.revision), kvs, more: count > kvs.length, count };
  }

  private holds(c: Compare): boolean {
    const s = this.keys.get(c.key.toString('utf8'));
    const actual =
      c.target === Compare_CompareTarget.CREATE ? (s?.createRevision ?? 0) : c.target === Compare_CompareTarget.MOD ? (s?.modRevision ?? 0) : c.target === Compare_CompareTarget.VERSION ? (s?.version ?? 0) : (s?.lease ?? 0);
    if (c.target === Compare_CompareTarget.VALUE) throw new Error('fake store: value comparisons are not modelled');
    const want = Number(c.targetUnion?.value ?? 0);
    switch (c.result) {
      case Compare_CompareResult.EQUAL:
        return actual === want;
      case Compare_CompareResult.NOT_EQUAL:
        return actual !== want;
      case Compare_CompareResult.GREATER:
        return actual > want;
      default:
        return actual < want;
    }
  }

  private txnNow(req: TxnRequest) {
    const succeeded = req.compare.every((c) => this.holds(c));
    const ops = succeeded ? req.success : req.failure;
    const writes = ops.some((o) => o.request?.$case !== 'requestRange');
    if (writes) this.revision++;
    let changed = false;
    const responses: ResponseOp[] = ops.map((o: RequestOp): ResponseOp => {
      const r = o.request!;
      if (r.$case === 'requestRange') return { response: { $case: 'responseRange', value: this.rangeNow(r.value) } };
      if (r.$case === 'requestPut') {
        const k = r.value.key.toString('utf8');
        const old = this.keys.get(k);
        const s: Stored = { value: Buffer.from(r.value.value), createRevision: old?.createRevision ?? this.revision, modRevision: this.revision, version: (old?.version ?? 0) + 1, lease: r.value.lease };
        this.keys.set(k, s);
        this.changes.push({ revision: this.revision, type: 'put', key: k, kv: s });
        changed = true;
        return { response: { $case: 'responsePut', value: { header: header(this.revision), prevKv: undefined } } };
      }
      if (r.$case === 'requestDeleteRange') {
        const doomed = [...this.keys.keys()].filter((k) => inRange(Buffer.from(k), r.value.key, r.value.rangeEnd));
        for (const k of doomed) this.remove(k);
        changed ||= doomed.length > 0;
        return { response: { $case: 'responseDeleteRange', value: { header: header(this.revision), deleted: doomed.length, prevKvs: [] } } };
      }
      throw new Error('fake store: nested txns are not modelled');
    });
    // A Txn whose writes changed nothing still took a revision in this model only if it wrote.
    if (writes && !changed) this.revision--;
    if (changed) this.bus.emit('change');
    return { header: header(this.revision), succeeded, responses };
  }
}

/** A session whose lease the test ends by hand. */
export class FakeSession extends EventEmitter<{ state: [state: SessionState, previous: SessionState] }> {
  state: SessionState = 'connected';
  constructor(
    private readonly store: FakeRecipeStore,
    readonly leaseId: number,
  ) {
    super();
  }

  /** The lease expires: its keys go, then the session learns it (in that order, as in life). */
  expire(): void {
    this.store.revokeLease(this.leaseId);
    const prev = this.state;
    this.state = 'expired';
    this.emit('state', 'expired', prev);
  }
}
