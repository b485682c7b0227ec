// A small in-memory model of etcd 3.4's keyspace semantics, written for clarity, not speed: every
// key keeps its whole history as a list; reads pick the newest entry at or below a revision.
// keyspace-model.test.ts feeds the same random commands to it and to the state machine.

import {
  Compare_CompareResult as CR,
  Compare_CompareTarget as CT,
  RangeRequest_SortOrder as Order,
  RangeRequest_SortTarget as Target,
  type Compare,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
  type ResponseOp,
  type DeleteRangeRequest,
  type ResponseHeader,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
// Which txns etcd refuses up front (op counts, empty keys, duplicate keys) is keyspace-etcd.test.ts's
// subject; here the model borrows the check and models what the accepted ones do.
import { MAX_TXN_OPS_CEILING, checkTxn } from '../../storage/keyspace/validate.js';

interface Entry {
  main: number;
  sub: number;
  kv: KeyValue | null;
}

export class ModelError extends Error {}

const hdr = (revision: number): ResponseHeader => ({ clusterId: 0, memberId: 0, revision, raftTerm: 0 });
const k = (b: Buffer): string => b.toString('latin1');
const EMPTY = Buffer.alloc(0);

const ERR = {
  empty: 'etcdserver: key is not provided',
  notFound: 'etcdserver: key not found',
  valueProvided: 'etcdserver: value is provided',
  leaseProvided: 'etcdserver: lease is provided',
  lease: 'etcdserver: requested lease not found',
  compacted: 'etcdserver: mvcc: required revision has been compacted',
  future: 'etcdserver: mvcc: required revision is a future revision',
};

export class Model {
  rev = 1;
  compactRev = -1;
  hist = new Map<string, Entry[]>();
  leases = new Set<number>();

  clone(): Model {
    const m = new Model();
    m.rev = this.rev;
    m.compactRev = this.compactRev;
    for (const [key, es] of this.hist) m.hist.set(key, [...es]);
    m.leases = new Set(this.leases);
    return m;
  }

  /** The key at `rev`: its newest entry with main ≤ rev (the last one written at that main). */
  at(key: string, rev: number): KeyValue | undefined {
    const es = this.hist.get(key);
    if (!es) return undefined;
    for (let i = es.length - 1; i >= 0; i--) if (es[i]!.main <= rev) return es[i]!.kv ?? undefined;
    return undefined;
  }

  /** Keys of [from, to) (to undefined = no end; single = from alone) existing at rev, sorted. */
  keysAt(from: string, to: string | undefined, single: boolean, rev: number): [string, KeyValue][] {
    const out: [string, KeyValue][] = [];
    for (const key of [...this.hist.keys()].sort()) {
      if (single ? key !== from : key < from || (to !== undefined && key >= to)) continue;
      const kv = this.at(key, rev);
      if (kv) out.push([key, kv]);
    }
    return out;
  }

  private bounds(key: Buffer, rangeEnd: Buffer): { from: string; to: string | undefined; single: boolean } {
    if (rangeEnd.length === 0) return { from: k(key), to: undefined, single: true };
    if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { from: k(key), to: undefined, single: false };
    return { from: k(key), to: k(rangeEnd), single: false };
  }

  range(r: RangeRequest, cur = this.rev): Omit<RangeResponse, 'header'> & { revision: number } {
    if (r.key.length === 0) throw new ModelError(ERR.empty);
    if (r.revision > cur) throw new ModelError(ERR.future);
    const rev = r.revision <= 0 ? cur : r.revision;
    if (rev < this.compactRev) throw new ModelError(ERR.compacted);
    const b = this.bounds(r.key, r.rangeEnd);
    let kvs = this.keysAt(b.from, b.to, b.single, rev).map(([, kv]) => ({ ...kv }));
    const count = kvs.length;
    if (r.countOnly) return { kvs: [], more: false, count, revision: cur };
    // etcd reads every key only for an order other than NONE or a filter; NONE with another
    // target is sorted ascending afterwards, among the first limit+1 keys it read.
    const filters = r.maxModRevision || r.minModRevision || r.maxCreateRevision || r.minCreateRevision;
    if (r.limit > 0 && !filters && r.sortOrder === Order.NONE) kvs = kvs.slice(0, r.limit + 1);
    if (r.maxModRevision) kvs = kvs.filter((x) => x.modRevision <= r.maxModRevision);
    if (r.minModRevision) kvs = kvs.filter((x) => x.modRevision >= r.minModRevision);
    if (r.maxCreateRevision) kvs = kvs.filter((x) => x.createRevision <= r.maxCreateRevision);
    if (r.minCreateRevision) kvs = kvs.filter((x) => x.createRevision >= r.minCreateRevision);
    let order = r.sortOrder;
    if (r.sortTarget !== Target.KEY && order === Order.NONE) order = Order.ASCEND;
    if (order !== Order.NONE) {
      const f: Record<number, (a: KeyValue, b: KeyValue) => number> = {
        [Target.KEY]: (a, b) => Buffer.compare(a.key, b.key),
        [Target.VERSION]: (a, b) => a.version - b.version,
        [Target.CREATE]: (a, b) => a.createRevision - b.createRevision,
        [Target.MOD]: (a, b) => a.modRevision - b.modRevision,
        [Target.VALUE]: (a, b) => Buffer.compare(a.value, b.value),
      };
      const cmp = f[r.sortTarget]!;
      kvs.sort(order === Order.DESCEND ? (a, b) => cmp(b, a) : cmp);
    }
    let more = false;
    if (r.limit > 0 && kvs.length > r.limit) {
      kvs = kvs.slice(0, r.limit);
      more = true;
    }
    if (r.keysOnly) for (const x of kvs) x.value = EMPTY;
    return { kvs, more, count, revision: cur };
  }

  // ---- writes ----

  private write(w: { rev: number; sub: number }, key: string, kv: KeyValue | null): void {
    let es = this.hist.get(key);
    if (!es) this.hist.set(key, (es = []));
    es.push({ main: w.rev, sub: w.sub++, kv });
  }

  private current(key: string): KeyValue | undefined {
    const es = this.hist.get(key);
    return es && es.length ? (es[es.length - 1]!.kv ?? undefined) : undefined;
  }

  private putIn(w: { rev: number; sub: number }, p: PutRequest): PutResponse {
    const key = k(p.key);
    const prev = this.current(key);
    if ((p.ignoreValue || p.ignoreLease) && !prev) throw new ModelError(ERR.notFound);
    const kv: KeyValue = {
      key: Buffer.from(p.key),
      createRevision: prev ? prev.createRevision : w.rev,
      modRevision: w.rev,
      version: prev ? prev.version + 1 : 1,
      value: p.ignoreValue ? prev!.value : p.value,
      lease: p.ignoreLease ? prev!.lease : p.lease,
    };
    this.write(w, key, kv);
    return { header: hdr(w.rev), prevKv: p.prevKv ? prev : undefined };
  }

  private delIn(w: { rev: number; sub: number }, d: DeleteRangeRequest): DeleteRangeResponse {
    const b = this.bounds(d.key, d.rangeEnd);
    // At w.rev: everything before plus this change's own writes.
    const victims = this.keysAt(b.from, b.to, b.single, w.rev);
    for (const [key] of victims) this.write(w, key, null);
    return { header: hdr(w.sub > 0 ? w.rev : w.rev - 1), deleted: victims.length, prevKvs: d.prevKv ? victims.map(([, kv]) => kv) : [] };
  }

  put(p: PutRequest): PutResponse {
    if (p.key.length === 0) throw new ModelError(ERR.empty);
    if (p.ignoreValue && p.value.length) throw new ModelError(ERR.valueProvided);
    if (p.ignoreLease && p.lease) throw new ModelError(ERR.leaseProvided);
    if (p.lease && !this.leases.has(p.lease)) throw new ModelError(ERR.lease);
    const w = { rev: this.rev + 1, sub: 0 };
    const r = this.putIn(w, p);
    this.rev = w.rev;
    return r;
  }

  deleteRange(d: DeleteRangeRequest): DeleteRangeResponse {
    if (d.key.length === 0) throw new ModelError(ERR.empty);
    const w = { rev: this.rev + 1, sub: 0 };
    const r = this.delIn(w, d);
    if (w.sub > 0) this.rev = w.rev;
    r.header = hdr(this.rev);
    return r;
  }

  compact(rev: number): void {
    if (rev <= this.compactRev) throw new ModelError(ERR.compacted);
    if (rev > this.rev) throw new ModelError(ERR.future);
    this.compactRev = rev;
  }

  revokeLease(id: number): boolean {
    if (!this.leases.has(id)) return false;
    const w = { rev: this.rev + 1, sub: 0 };
    for (const key of [...this.hist.keys()].sort()) {
      const kv = this.current(key);
      if (kv && kv.lease === id) this.write(w, key, null);
    }
    this.leases.delete(id);
    if (w.sub > 0) this.rev = w.rev;
    return true;
  }

  txn(t: TxnRequest): TxnResponse {
    const bad = checkTxn(t, MAX_TXN_OPS_CEILING);
    if (bad) throw new ModelError(bad.message);
    const before = this.rev;
    const path: boolean[] = [];
    const compareAll = (q: TxnRequest): void => {
      const ok = q.compare.every((c) => this.compareHolds(c, before));
      path.push(ok);
      for (const op of ok ? q.success : q.failure) if (op.request?.$case === 'requestTxn') compareAll(op.request.value);
    };
    compareAll(t);
    const check = (q: TxnRequest, at: { i: number }, which: 'put' | 'range'): void => {
      const ok = path[at.i++]!;
      for (const op of ok ? q.success : q.failure) {
        const r = op.request;
        if (r?.$case === 'requestTxn') check(r.value, at, which);
        else if (which === 'put' && r?.$case === 'requestPut') {
          if ((r.value.ignoreValue || r.value.ignoreLease) && !this.at(k(r.value.key), before)) throw new ModelError(ERR.notFound);
          if (r.value.lease && !this.leases.has(r.value.lease)) throw new ModelError(ERR.lease);
        } else if (which === 'range' && r?.$case === 'requestRange' && r.value.revision !== 0) {
          if (r.value.revision > before) throw new ModelError(ERR.future);
          if (r.value.revision < this.compactRev) throw new ModelError(ERR.compacted);
        }
      }
    };
    check(t, { i: 0 }, 'put');
    check(t, { i: 0 }, 'range');
    const saved = this.clone();
    const w = { rev: before + 1, sub: 0 };
    const run = (q: TxnRequest, at: { i: number }): TxnResponse => {
      const ok = path[at.i++]!;
      const responses: ResponseOp[] = [];
      for (const op of ok ? q.success : q.failure) {
        const r = op.request!;
        switch (r.$case) {
          case 'requestRange': {
            const cur = w.sub > 0 ? w.rev : w.rev - 1;
            const rr = this.range(r.value, cur);
            responses.push({ response: { $case: 'responseRange', value: { header: hdr(rr.revision), kvs: rr.kvs, more: rr.more, count: rr.count } } });
            break;
          }
          case 'requestPut':
            responses.push({ response: { $case: 'responsePut', value: this.putIn(w, r.value) } });
            break;
          case 'requestDeleteRange':
            responses.push({ response: { $case: 'responseDeleteRange', value: this.delIn(w, r.value) } });
            break;
          case 'requestTxn': {
            const nested = run(r.value, at);
            nested.header = hdr(0);
            responses.push({ response: { $case: 'responseTxn', value: nested } });
            break;
          }
        }
      }
      return { header: undefined, succeeded: ok, responses };
    };
    try {
      const res = run(t, { i: 0 });
      if (w.sub > 0) this.rev = w.rev;
      res.header = hdr(this.rev);
      return res;
    } catch (e) {
      Object.assign(this, saved);
      throw e;
    }
  }

  private compareHolds(c: Compare, rev: number): boolean {
    const b = this.bounds(c.key, c.rangeEnd);
    const kvs = this.keysAt(b.from, b.to, b.single, rev).map(([, kv]) => kv);
    if (kvs.length === 0) return c.target === CT.VALUE ? false : compareKv(c, undefined);
    return kvs.every((kv) => compareKv(c, kv));
  }
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  const u = c.targetUnion;
  const want = (name: string): number => (u?.$case === name ? (u.value as number) : 0);
  let r: number;
  switch (c.target) {
    case CT.VALUE:
      r = Buffer.compare(kv?.value ?? EMPTY, u?.$case === 'value' ? u.value : EMPTY);
      break;
    case CT.CREATE:
      r = Math.sign((kv?.createRevision ?? 0) - want('createRevision'));
      break;
    case CT.MOD:
      r = Math.sign((kv?.modRevision ?? 0) - want('modRevision'));
      break;
    case CT.VERSION:
      r = Math.sign((kv?.version ?? 0) - want('version'));
      break;
    case CT.LEASE:
      r = Math.sign((kv?.lease ?? 0) - want('lease'));
      break;
    default:
      r = 0;
  }
  switch (c.result) {
    case CR.EQUAL:
      return r === 0;
    case CR.NOT_EQUAL:
      return r !== 0;
    case CR.GREATER:
      return r > 0;
    case CR.LESS:
      return r < 0;
    default:
      return true;
  }
}
