// The etcd KV commands applied to the keyspace inside an apply() batch, with etcd 3.4's
// semantics (etcdserver/apply.go, mvcc/kvstore_txn.go): Put, DeleteRange, Txn and Compaction.
// Each returns etcd's response (its header holds only the revision) or throws a KeyspaceError,
// after which nothing of the command remains in the batch.

import type {
  Compare,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  ResponseHeader,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Compare_CompareResult as Result, Compare_CompareTarget as Target } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { writeU64 } from '../wal/record.js';
import type { Tx } from '../state-machine/tx.js';
import { drive, wait, type Co } from './coroutine.js';
import { KeyspaceError } from './errors.js';
import { bin, bytesOf, keyRange } from './keys.js';
import { range, rangeSpec } from './range.js';
import { decodeCurrent, withoutValue, type Current } from './records.js';
import { MAX_TXN_OPS_CEILING, checkDeleteRange, checkPut, checkTxn } from './validate.js';
import { View } from './view.js';
import { KeyspaceWrite } from './write.js';

const EMPTY = Buffer.alloc(0);

export const header = (revision: number): ResponseHeader => ({ clusterId: 0, memberId: 0, revision, raftTerm: 0 });

/** Whether a lease exists (the lessor answers, storage/leases). */
export type LeaseExists = (id: number) => boolean;

export function etcdPut(tx: Tx, req: PutRequest, leaseExists: LeaseExists): PutResponse {
  const bad = checkPut(req);
  if (bad) throw bad;
  // etcd checks the lease before the key (the reverse of a Put inside a Txn).
  if (req.lease !== 0 && !leaseExists(req.lease)) throw new KeyspaceError('LEASE_NOT_FOUND');
  const w = new KeyspaceWrite(tx);
  const r = putIn(w, req);
  r.header = header(w.end());
  return r;
}

export function etcdDeleteRange(tx: Tx, req: DeleteRangeRequest): DeleteRangeResponse | Promise<DeleteRangeResponse> {
  const bad = checkDeleteRange(req);
  if (bad) throw bad;
  const w = new KeyspaceWrite(tx);
  return drive(
    (function* (): Co<DeleteRangeResponse> {
      const r = yield* deleteIn(w, new View(tx.db, undefined, tx), req);
      r.header = header(w.end());
      return r;
    })(),
  );
}

export function etcdTxn(tx: Tx, req: TxnRequest, leaseExists: LeaseExists): TxnResponse | Promise<TxnResponse> {
  const bad = checkTxn(req, MAX_TXN_OPS_CEILING);
  if (bad) throw bad;
  const view = new View(tx.db, undefined, tx);
  return drive(
    (function* (): Co<TxnResponse> {
      // Every compare of the whole tree is evaluated first, on the state before the txn (etcd's
      // compareToPath); then the chosen operations are checked; only then does anything change.
      const path: boolean[] = [];
      yield* comparePath(view, req, path);
      checkPuts(view, req, path, { i: 0 }, leaseExists);
      checkRanges(tx, req, path, { i: 0 });
      const w = new KeyspaceWrite(tx);
      tx.begin();
      try {
        const r = yield* runTxn(w, view, req, path, { i: 0 });
        r.header = header(w.end());
        tx.commit();
        return r;
      } catch (e) {
        tx.rollback();
        throw e;
      }
    })(),
  );
}

export function etcdCompaction(tx: Tx, req: CompactionRequest): CompactionResponse {
  if (req.revision <= tx.compactRevision) throw new KeyspaceError('COMPACTED', tx.compactRevision);
  if (req.revision > tx.revision) throw new KeyspaceError('FUTURE_REV');
  tx.compactRevision = req.revision;
  const b = Buffer.allocUnsafe(8);
  writeU64(b, req.revision, 0);
  tx.put('meta', 'compact', b);
  tx.compacted = true;
  return { header: header(tx.revision) };
}

// ---- inside a change -------------------------------------------------------------------------

function putIn(w: KeyspaceWrite, req: PutRequest): PutResponse {
  const key = bin(req.key);
  const prev = w.current(key);
  if ((req.ignoreValue || req.ignoreLease) && !prev) throw new KeyspaceError('KEY_NOT_FOUND');
  const prevKv = prev && (req.prevKv || req.ignoreValue) ? w.load(key, prev) : undefined;
  w.put(key, req.key, req.ignoreValue ? prevKv!.value : req.value, req.ignoreLease ? prev!.lease : req.lease, prev);
  return { header: header(w.rev), prevKv: req.prevKv ? prevKv : undefined };
}

function* deleteIn(w: KeyspaceWrite, view: View, req: DeleteRangeRequest): Co<DeleteRangeResponse> {
  const r = keyRange(req.key, req.rangeEnd);
  const victims: [string, Current][] = [];
  if (r.single) {
    const prev = w.current(r.from);
    if (prev) victims.push([r.from, prev]);
  } else {
    yield* wait(
      (async () => {
        for await (const chunk of view.scanCurrent(r.from, r.to, true)) for (const [k, rec] of chunk) victims.push([k, decodeCurrent(rec!)]);
      })(),
    );
  }
  const prevKvs = req.prevKv ? victims.map(([k, c]) => w.load(k, c)) : [];
  for (const [k, prev] of victims) w.delete(k, r.single ? req.key : bytesOf(k), prev);
  return { header: header(w.readRevision), deleted: victims.length, prevKvs };
}

function* rangeIn(w: KeyspaceWrite, view: View, req: RangeRequest): Co<RangeResponse> {
  const rr = yield* wait(range(view, rangeSpec(req), w.readRevision, w.tx.compactRevision));
  return { header: header(rr.revision), kvs: rr.kvs, more: rr.more, count: rr.count };
}

function* runTxn(w: KeyspaceWrite, view: View, req: TxnRequest, path: boolean[], at: { i: number }): Co<TxnResponse> {
  const succeeded = path[at.i++]!;
  const responses: ResponseOp[] = [];
  for (const op of succeeded ? req.success : req.failure) {
    const q = op.request;
    switch (q?.$case) {
      case 'requestRange':
        responses.push({ response: { $case: 'responseRange', value: yield* rangeIn(w, view, q.value) } });
        break;
      case 'requestPut':
        // A key deleted earlier in this txn by a "from key" DeleteRange (which etcd's duplicate
        // check lets through) makes ignore_value/ignore_lease fail here: etcd's member panics;
        // this refuses the whole txn instead (KEY_NOT_FOUND, rolled back by the caller).
        responses.push({ response: { $case: 'responsePut', value: putIn(w, q.value) } });
        break;
      case 'requestDeleteRange':
        responses.push({ response: { $case: 'responseDeleteRange', value: yield* deleteIn(w, view, q.value) } });
        break;
      case 'requestTxn': {
        const nested = yield* runTxn(w, view, q.value, path, at);
        // etcd leaves a nested txn's header empty.
        nested.header = header(0);
        responses.push({ response: { $case: 'responseTxn', value: nested } });
        break;
      }
      default:
        throw new KeyspaceError('KEY_NOT_FOUND'); // refused by checkTxn already
    }
  }
  return { header: undefined, succeeded, responses };
}

// ---- compares and checks, on the state before the txn ----------------------------------------

/** The branch every (nested) txn of the tree takes, in visiting order, on the state of `view`. */
export function* comparePath(view: View, req: TxnRequest, path: boolean[]): Co<void> {
  let ok = true;
  for (const c of req.compare) {
    if (!(yield* compareHolds(view, c))) {
      ok = false;
      break;
    }
  }
  path.push(ok);
  for (const op of ok ? req.success : req.failure) {
    if (op.request?.$case === 'requestTxn') yield* comparePath(view, op.request.value, path);
  }
}

/** Every key of the compare's range satisfies it; an empty range compares a zero key-value, except VALUE (never holds). */
function* compareHolds(view: View, c: Compare): Co<boolean> {
  const r = keyRange(c.key, c.rangeEnd);
  // Only a VALUE compare reads the value.
  const kvOf = (k: string, rec: Buffer): KeyValue => {
    const cur = decodeCurrent(rec);
    return c.target === Target.VALUE ? view.load(k, cur) : withoutValue(EMPTY, cur);
  };
  if (r.single) {
    const rec = view.get('kv', r.from);
    if (!rec) return c.target === Target.VALUE ? false : compareKv(c, undefined);
    return compareKv(c, kvOf(r.from, rec));
  }
  return yield* wait(
    (async () => {
      let any = false;
      for await (const chunk of view.scanCurrent(r.from, r.to, true)) {
        for (const [k, rec] of chunk) {
          any = true;
          if (!compareKv(c, kvOf(k, rec!))) return false;
        }
      }
      if (!any) return c.target === Target.VALUE ? false : compareKv(c, undefined);
      return true;
    })(),
  );
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  const u = c.targetUnion;
  const num = (have: number, want: number | undefined): number => Math.sign(have - (want ?? 0));
  let r = 0;
  switch (c.target) {
    case Target.VALUE:
      r = Buffer.compare(kv?.value ?? EMPTY, u?.$case === 'value' ? u.value : EMPTY);
      break;
    case Target.CREATE:
      r = num(kv?.createRevision ?? 0, u?.$case === 'createRevision' ? u.value : 0);
      break;
    case Target.MOD:
      r = num(kv?.modRevision ?? 0, u?.$case === 'modRevision' ? u.value : 0);
      break;
    case Target.VERSION:
      r = num(kv?.version ?? 0, u?.$case === 'version' ? u.value : 0);
      break;
    case Target.LEASE:
      r = num(kv?.lease ?? 0, u?.$case === 'lease' ? u.value : 0);
      break;
    default:
  }
  switch (c.result) {
    case Result.EQUAL:
      return r === 0;
    case Result.NOT_EQUAL:
      return r !== 0;
    case Result.GREATER:
      return r > 0;
    case Result.LESS:
      return r < 0;
    default:
      return true;
  }
}

/** etcd's checkRequestPut over the chosen path: keys that ignore_value/ignore_lease need, then leases. */
function checkPuts(view: View, req: TxnRequest, path: boolean[], at: { i: number }, leaseExists: LeaseExists): void {
  const ok = path[at.i++]!;
  for (const op of ok ? req.success : req.failure) {
    const q = op.request;
    if (q?.$case === 'requestTxn') checkPuts(view, q.value, path, at, leaseExists);
    else if (q?.$case === 'requestPut') {
      const p = q.value;
      if ((p.ignoreValue || p.ignoreLease) && !view.get('kv', bin(p.key))) throw new KeyspaceError('KEY_NOT_FOUND');
      if (p.lease !== 0 && !leaseExists(p.lease)) throw new KeyspaceError('LEASE_NOT_FOUND');
    }
  }
}

/** etcd's checkRequestRange over the chosen path: revisions in the future or compacted. */
function checkRanges(tx: Tx, req: TxnRequest, path: boolean[], at: { i: number }): void {
  const ok = path[at.i++]!;
  for (const op of ok ? req.success : req.failure) {
    const q = op.request;
    if (q?.$case === 'requestTxn') checkRanges(tx, q.value, path, at);
    else if (q?.$case === 'requestRange') {
      const rev = q.value.revision;
      if (rev === 0) continue;
      if (rev > tx.revision) throw new KeyspaceError('FUTURE_REV');
      if (rev < tx.compactRevision) throw new KeyspaceError('COMPACTED', tx.compactRevision);
    }
  }
}
