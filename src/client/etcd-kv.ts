// The SDK's side of the etcd v3 KV service (etcdserverpb.KV) that every member also serves:
// byte keys, ranges and prefixes, reads at an old revision, sorted/limited ranges, Txn with a
// typed builder, and Compact.
//
//   const r = await client.etcd.range('/brokers/', { prefix: true, revision: 42, limit: 10, sortTarget: 'mod', sortOrder: 'descend' });
//   const t = await client.txn()
//     .if(cmp.modRevision('/controller', '=', 0))
//     .then(op.put('/controller', 'broker-1'))
//     .else(op.get('/controller'))
//     .commit();
//
// Unlike the native KvService, etcd writes carry no (client id, sequence) pair the server could
// de-duplicate with, so a Put/DeleteRange/Txn/Compact is retried on another member only when the
// attempt certainly never reached a server (connection refused, never connected); any other
// failure is the caller's to resolve, as with etcd's own client.
import type * as grpc from '@grpc/grpc-js';
import {
  Compare_CompareResult,
  Compare_CompareTarget,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  type Compare,
  type CompactionResponse,
  type DeleteRangeRequest,
  type DeleteRangeResponse,
  type PutRequest,
  type PutResponse,
  type RangeRequest,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader as PbHeader,
  type ResponseOp,
  type TxnRequest,
  type TxnResponse,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue as PbKeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { InvalidArgumentError } from './errors.js';
import type { CallOptions, ValueInput } from './types.js';

/** A key or value of the etcd API: bytes, or a string taken as UTF-8. */
export type Bytes = string | Uint8Array;

export type SortOrder = 'none' | 'ascend' | 'descend';
export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';
export type CompareOp = '=' | '!=' | '>' | '<';

export interface EtcdHeader {
  /** etcd's uint64 ids, as decimal strings (they exceed 2^53). */
  readonly clusterId: string;
  readonly memberId: string;
  readonly revision: number;
  readonly raftTerm: number;
}

/** A key-value as the etcd API returns it: key and value as bytes. */
export interface EtcdKeyValue {
  readonly key: Buffer;
  readonly value: Buffer;
  readonly createRevision: number;
  readonly modRevision: number;
  readonly version: number;
  readonly lease: number;
}

/** Which keys a range covers: one key, `[key, end)`, every key starting with `key`, or every key >= `key`. */
export interface RangeSpec {
  /** Exclusive end of the range. */
  end?: Bytes;
  /** Every key that starts with `key` (etcd's --prefix). */
  prefix?: boolean;
  /** Every key >= `key` (etcd's --from-key). */
  fromKey?: boolean;
}

export interface RangeOptions extends RangeSpec, CallOptions {
  /** Read the keyspace as it was at this revision (0 or absent: the newest). */
  revision?: number;
  /** At most this many keys (0 or absent: no limit). */
  limit?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  keysOnly?: boolean;
  countOnly?: boolean;
  /** Serve from the answering member without a quorum round (may be stale). */
  serializable?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}

export interface RangeResult {
  readonly header: EtcdHeader;
  readonly kvs: EtcdKeyValue[];
  /** More keys matched than `limit` let through. */
  readonly more: boolean;
  /** Number of keys in the range (before `limit`). */
  readonly count: number;
}

export interface PutOptions {
  lease?: number;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export interface PutResult {
  readonly header: EtcdHeader;
  readonly prevKv: EtcdKeyValue | undefined;
}

export interface DeleteRangeOptions extends RangeSpec {
  prevKv?: boolean;
}

export interface DeleteRangeResult {
  readonly header: EtcdHeader;
  readonly deleted: number;
  readonly prevKvs: EtcdKeyValue[];
}

export type OpResult =
  | { readonly type: 'range'; readonly range: RangeResult }
  | { readonly type: 'put'; readonly put: PutResult }
  | { readonly type: 'delete'; readonly delete: DeleteRangeResult }
  | { readonly type: 'txn'; readonly txn: TxnResult };

export interface TxnResult {
  readonly header: EtcdHeader;
  /** True when every comparison held (the `then` branch ran). */
  readonly succeeded: boolean;
  readonly responses: OpResult[];
}

export interface CompactOptions extends CallOptions {
  /** Answer only once the compacted revisions are physically removed. */
  physical?: boolean;
}

/** One operation of a Txn branch; build with `op.get/put/delete/txn`. */
export interface Op {
  readonly request: RequestOp;
}

/** One comparison of a Txn; build with `cmp.value/version/createRevision/modRevision/lease`. */
export interface Cmp {
  readonly compare: Compare;
}

function bytes(v: Bytes | ValueInput, what: string): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new InvalidArgumentError(`${what} must be a string or bytes, got ${typeof v}`);
}

function wholeNumber(v: number | undefined, what: string): number {
  if (v === undefined) return 0;
  if (!Number.isSafeInteger(v) || v < 0) throw new InvalidArgumentError(`${what} must be a whole number >= 0, got ${String(v)}`);
  return v;
}

/** The smallest key greater than every key starting with `prefix` ("\0" when there is none: every key). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/**
 * [key, range_end] for a RangeSpec (empty end: the key alone). An empty key with prefix or fromKey
 * means every key, spelled as etcd's client spells it: key "\0".
 */
function keyRange(key: Buffer, spec: RangeSpec): [Buffer, Buffer] {
  const given = [spec.end !== undefined, spec.prefix === true, spec.fromKey === true].filter(Boolean).length;
  if (given > 1) throw new InvalidArgumentError('give at most one of end, prefix and fromKey');
  const zero = Buffer.from([0]);
  if (spec.end !== undefined) return [key, bytes(spec.end, 'end')];
  if (spec.prefix) return key.length === 0 ? [zero, zero] : [key, prefixEnd(key)];
  if (spec.fromKey) return [key.length === 0 ? zero : key, zero];
  return [key, Buffer.alloc(0)];
}

const SORT_ORDER: Record<SortOrder, RangeRequest_SortOrder> = {
  none: RangeRequest_SortOrder.NONE,
  ascend: RangeRequest_SortOrder.ASCEND,
  descend: RangeRequest_SortOrder.DESCEND,
};
const SORT_TARGET: Record<SortTarget, RangeRequest_SortTarget> = {
  key: RangeRequest_SortTarget.KEY,
  version: RangeRequest_SortTarget.VERSION,
  create: RangeRequest_SortTarget.CREATE,
  mod: RangeRequest_SortTarget.MOD,
  value: RangeRequest_SortTarget.VALUE,
};

function pick<T>(table: Record<string, T>, v: string | undefined, what: string, fallback: T): T {
  if (v === undefined) return fallback;
  const r = Object.prototype.hasOwnProperty.call(table, v) ? table[v] : undefined;
  if (r === undefined) throw new InvalidArgumentError(`${what} must be one of ${Object.keys(table).join(', ')}, got ${String(v)}`);
  return r;
}

export function rangeRequest(key: Bytes, o: Omit<RangeOptions, keyof CallOptions> = {}): RangeRequest {
  const [k, end] = keyRange(bytes(key, 'key'), o);
  return {
    key: k,
    rangeEnd: end,
    limit: wholeNumber(o.limit, 'limit'),
    revision: wholeNumber(o.revision, 'revision'),
    sortOrder: pick(SORT_ORDER, o.sortOrder, 'sortOrder', RangeRequest_SortOrder.NONE),
    sortTarget: pick(SORT_TARGET, o.sortTarget, 'sortTarget', RangeRequest_SortTarget.KEY),
    serializable: o.serializable === true,
    keysOnly: o.keysOnly === true,
    countOnly: o.countOnly === true,
    minModRevision: wholeNumber(o.minModRevision, 'minModRevision'),
    maxModRevision: wholeNumber(o.maxModRevision, 'maxModRevision'),
    minCreateRevision: wholeNumber(o.minCreateRevision, 'minCreateRevision'),
    maxCreateRevision: wholeNumber(o.maxCreateRevision, 'maxCreateRevision'),
  };
}

export function putRequest(key: Bytes, value: ValueInput, o: PutOptions = {}): PutRequest {
  return {
    key: bytes(key, 'key'),
    value: o.ignoreValue ? Buffer.alloc(0) : bytes(value, 'value'),
    lease: wholeNumber(o.lease, 'lease'),
    prevKv: o.prevKv === true,
    ignoreValue: o.ignoreValue === true,
    ignoreLease: o.ignoreLease === true,
  };
}

export function deleteRangeRequest(key: Bytes, o: DeleteRangeOptions = {}): DeleteRangeRequest {
  const [k, end] = keyRange(bytes(key, 'key'), o);
  return { key: k, rangeEnd: end, prevKv: o.prevKv === true };
}

/** Operations for Txn branches. */
export const op = {
  get: (key: Bytes, o: Omit<RangeOptions, keyof CallOptions> = {}): Op => ({ request: { request: { $case: 'requestRange', value: rangeRequest(key, o) } } }),
  put: (key: Bytes, value: ValueInput, o: PutOptions = {}): Op => ({ request: { request: { $case: 'requestPut', value: putRequest(key, value, o) } } }),
  delete: (key: Bytes, o: DeleteRangeOptions = {}): Op => ({ request: { request: { $case: 'requestDeleteRange', value: deleteRangeRequest(key, o) } } }),
  txn: (t: TxnBuilder): Op => ({ request: { request: { $case: 'requestTxn', value: t.request() } } }),
};

const RESULT: Record<CompareOp, Compare_CompareResult> = {
  '=': Compare_CompareResult.EQUAL,
  '!=': Compare_CompareResult.NOT_EQUAL,
  '>': Compare_CompareResult.GREATER,
  '<': Compare_CompareResult.LESS,
};

function compare(key: Bytes, operator: CompareOp, target: Compare_CompareTarget, union: Compare['targetUnion'], spec: RangeSpec): Cmp {
  const [k, end] = keyRange(bytes(key, 'key'), spec);
  return { compare: { key: k, result: pick(RESULT, operator, 'compare operator', Compare_CompareResult.EQUAL), target, targetUnion: union, rangeEnd: end } };
}

/**
 * Comparisons for Txn guards. A key that does not exist has version, createRevision and
 * modRevision 0 (etcd's rule), so `cmp.version(k, '=', 0)` means "k is absent".
 */
export const cmp = {
  value: (key: Bytes, operator: CompareOp, value: ValueInput, spec: RangeSpec = {}): Cmp =>
    compare(key, operator, Compare_CompareTarget.VALUE, { $case: 'value', value: bytes(value, 'value') }, spec),
  version: (key: Bytes, operator: CompareOp, n: number, spec: RangeSpec = {}): Cmp =>
    compare(key, operator, Compare_CompareTarget.VERSION, { $case: 'version', value: wholeNumber(n, 'version') }, spec),
  createRevision: (key: Bytes, operator: CompareOp, n: number, spec: RangeSpec = {}): Cmp =>
    compare(key, operator, Compare_CompareTarget.CREATE, { $case: 'createRevision', value: wholeNumber(n, 'createRevision') }, spec),
  modRevision: (key: Bytes, operator: CompareOp, n: number, spec: RangeSpec = {}): Cmp =>
    compare(key, operator, Compare_CompareTarget.MOD, { $case: 'modRevision', value: wholeNumber(n, 'modRevision') }, spec),
  lease: (key: Bytes, operator: CompareOp, id: number, spec: RangeSpec = {}): Cmp =>
    compare(key, operator, Compare_CompareTarget.LEASE, { $case: 'lease', value: wholeNumber(id, 'lease') }, spec),
};

/** Builds a Txn: `if` comparisons (all must hold), `then` operations, `else` operations. Each part at most once. */
export class TxnBuilder {
  private readonly compares: Compare[] = [];
  private readonly success: RequestOp[] = [];
  private readonly failure: RequestOp[] = [];
  private stage: 0 | 1 | 2 | 3 = 0;

  /** @internal */
  constructor(private readonly run?: (req: TxnRequest, options: CallOptions) => Promise<TxnResult>) {}

  if(...c: Cmp[]): this {
    this.advance(1, 'if');
    for (const x of c) this.compares.push(x.compare);
    return this;
  }

  then(...ops: Op[]): this {
    this.advance(2, 'then');
    for (const o of ops) this.success.push(o.request);
    return this;
  }

  else(...ops: Op[]): this {
    this.advance(3, 'else');
    for (const o of ops) this.failure.push(o.request);
    return this;
  }

  /** The TxnRequest built so far. */
  request(): TxnRequest {
    return { compare: [...this.compares], success: [...this.success], failure: [...this.failure] };
  }

  /** Sends the Txn. */
  commit(options: CallOptions = {}): Promise<TxnResult> {
    if (!this.run) throw new InvalidArgumentError('this TxnBuilder is nested (op.txn): commit the outer one');
    return this.run(this.request(), options);
  }

  // etcd's client refuses if/then/else out of order or twice: the same mistakes are caught here.
  private advance(to: 1 | 2 | 3, name: string): void {
    if (this.stage >= to) throw new InvalidArgumentError(`txn: ${name}() called after ${['', 'if', 'then', 'else'][this.stage]}()`);
    this.stage = to;
  }
}

function toHeader(h: PbHeader | undefined): EtcdHeader {
  // int64 fields decode as numbers; ids above 2^53 lose precision there, so keep them as given.
  return { clusterId: String(h?.clusterId ?? 0), memberId: String(h?.memberId ?? 0), revision: h?.revision ?? 0, raftTerm: h?.raftTerm ?? 0 };
}

function toKv(kv: PbKeyValue): EtcdKeyValue {
  return { key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
}

export function toRangeResult(r: RangeResponse): RangeResult {
  return { header: toHeader(r.header), kvs: r.kvs.map(toKv), more: r.more, count: r.count };
}
function toPutResult(r: PutResponse): PutResult {
  return { header: toHeader(r.header), prevKv: r.prevKv ? toKv(r.prevKv) : undefined };
}
function toDeleteResult(r: DeleteRangeResponse): DeleteRangeResult {
  return { header: toHeader(r.header), deleted: r.deleted, prevKvs: r.prevKvs.map(toKv) };
}
function toOpResult(r: ResponseOp): OpResult {
  const x = r.response;
  switch (x?.$case) {
    case 'responseRange':
      return { type: 'range', range: toRangeResult(x.value) };
    case 'responsePut':
      return { type: 'put', put: toPutResult(x.value) };
    case 'responseDeleteRange':
      return { type: 'delete', delete: toDeleteResult(x.value) };
    case 'responseTxn':
      return { type: 'txn', txn: toTxnResult(x.value) };
    default:
      throw new InvalidArgumentError('txn: the server answered an operation with an empty response');
  }
}
export function toTxnResult(r: TxnResponse): TxnResult {
  return { header: toHeader(r.header), succeeded: r.succeeded, responses: r.responses.map(toOpResult) };
}

/** What EtcdKvApi needs from the client: its retrying invoke on a member's etcd KV stub. */
export interface EtcdInvoker {
  call<Req, Res>(method: 'range' | 'put' | 'deleteRange' | 'txn' | 'compact', req: Req, mutation: boolean, options: CallOptions): Promise<Res>;
}

/** The etcd KV service through the client's members, retries and deadlines. */
export class EtcdKvApi {
  /** @internal */
  constructor(private readonly c: EtcdInvoker) {}

  async range(key: Bytes, options: RangeOptions = {}): Promise<RangeResult> {
    const r = await this.c.call<RangeRequest, RangeResponse>('range', rangeRequest(key, options), false, options);
    return toRangeResult(r);
  }

  async put(key: Bytes, value: ValueInput, options: PutOptions & CallOptions = {}): Promise<PutResult> {
    return toPutResult(await this.c.call<PutRequest, PutResponse>('put', putRequest(key, value, options), true, options));
  }

  async deleteRange(key: Bytes, options: DeleteRangeOptions & CallOptions = {}): Promise<DeleteRangeResult> {
    return toDeleteResult(await this.c.call<DeleteRangeRequest, DeleteRangeResponse>('deleteRange', deleteRangeRequest(key, options), true, options));
  }

  /** A Txn builder whose `commit()` sends it. */
  txn(): TxnBuilder {
    return new TxnBuilder(async (req, options) => {
      // A Txn with only reads changes nothing: safe to retry like a Range.
      const mutation = [...req.success, ...req.failure].some((o) => o.request?.$case !== 'requestRange');
      return toTxnResult(await this.c.call<TxnRequest, TxnResponse>('txn', req, mutation, options));
    });
  }

  /** Compacts the keyspace up to `revision` (reads below it then fail as compacted). */
  async compact(revision: number, options: CompactOptions = {}): Promise<EtcdHeader> {
    if (!Number.isSafeInteger(revision) || revision <= 0) throw new InvalidArgumentError(`revision must be a whole number > 0, got ${String(revision)}`);
    const r = await this.c.call<{ revision: number; physical: boolean }, CompactionResponse>('compact', { revision, physical: options.physical === true }, true, options);
    return toHeader(r.header);
  }
}

/** The grpc stub method signature EtcdKvApi calls. */
export type EtcdUnary = (req: unknown, md: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: (e: grpc.ServiceError | null, r: unknown) => void) => grpc.ClientUnaryCall;
