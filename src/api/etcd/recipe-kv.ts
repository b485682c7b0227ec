// What the Lock and Election services (lock.ts, election.ts) act through: the KV service's own
// operations, made for their caller, and the member's watch hub. etcd serves these two services
// with an in-process client of its own server (v3client), so each step is an ordinary KV request
// of the caller: validated, permission-checked for who called Lock or Campaign, proposed through
// Raft, answered with etcd's errors. This does the same without a network hop.
//
// The queue both recipes keep is etcd's concurrency package's: contenders for a name each write
// `<name>/<lease id in hex>`, attached to their lease; the oldest key (lowest create revision)
// holds the name; each waiter waits for the deletion of the contender just ahead of it.
import * as grpc from '@grpc/grpc-js';
import {
  Compare,
  Compare_CompareResult,
  Compare_CompareTarget,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  RangeRequest_SortOrder,
  RangeRequest_SortTarget,
  TxnRequest,
  type DeleteRangeResponse,
  type RangeResponse,
  type RequestOp,
  type ResponseHeader,
  type TxnResponse,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyEvent } from '../../../storage/index.js';
import { prefixEnd } from '../../../storage/index.js';
import { bindCaller, callerOf, identityOf } from '../../auth/context.js';
import type { CommandCaller } from '../../../proto/gen/placement/v1/command.js';
import type { WatchHub } from '../../watch/hub.js';
import type { Watcher } from '../../watch/watcher.js';
import type { KvCall, KvOperations } from './kv.js';
import { noteRequestBytes } from './wire.js';

/** etcd's concurrency package's default session TTL: what a Lock or Campaign with lease 0 gets. */
export const DEFAULT_SESSION_TTL_S = 60;

/** What the recipes need beyond the KV operations. */
export interface RecipeKvDeps {
  kv: KvOperations;
  hub: WatchHub;
  requestTimeoutMs: number;
  /** Grants a lease of `ttlS` seconds for `by`; resolves with its id. */
  grantLease(ttlS: number, deadline: number, by: CommandCaller | undefined): Promise<number>;
}

/** A key's events as the hub hands them over: the revision they lead up to, and the events. */
export type KeyEvents = (events: readonly KeyEvent[], revision: number) => void;

/** One event a recipe waited for: the stored key-value, and the revision it was handed over at. */
export interface NextEvent {
  kv: Buffer;
  isDelete: boolean;
  revision: number;
}

export const putOp = (req: Partial<PutRequest>): RequestOp => ({ request: { $case: 'requestPut', value: PutRequest.fromPartial(req) } });
export const rangeOp = (req: Partial<RangeRequest>): RequestOp => ({ request: { $case: 'requestRange', value: RangeRequest.fromPartial(req) } });
export const deleteOp = (key: Buffer): RequestOp => ({ request: { $case: 'requestDeleteRange', value: DeleteRangeRequest.fromPartial({ key }) } });

/** A compare of `key`'s create revision (0: the key does not exist). */
export const createRevisionIs = (key: Buffer, rev: number): Compare =>
  Compare.fromPartial({ key, target: Compare_CompareTarget.CREATE, result: Compare_CompareResult.EQUAL, targetUnion: { $case: 'createRevision', value: rev } });

/** etcd's WithFirstCreate: the oldest key under `prefix` (the one that holds the name). */
export const firstCreated = (prefix: Buffer): Partial<RangeRequest> => ({
  key: prefix,
  rangeEnd: prefixEnd(prefix),
  sortTarget: RangeRequest_SortTarget.CREATE,
  sortOrder: RangeRequest_SortOrder.ASCEND,
  limit: 1,
});

/** A contender's key: the name, '/', and the lease id in lower-case hex (Go's %x, '-' for a negative id). */
export function contenderKey(prefix: Buffer, lease: number): Buffer {
  return Buffer.concat([prefix, Buffer.from(lease.toString(16))]);
}

/** A recipe name as a key prefix: etcd appends '/' to it. */
export const namePrefix = (name: Uint8Array): Buffer => Buffer.concat([Buffer.from(name), Buffer.from('/')]);

/** The KV operations of one Lock or Election call, made for its caller. */
export class RecipeKv {
  private readonly call: KvCall;

  /** `judged`: the call (unary) or request message (stream) the auth check bound to its caller. */
  constructor(
    private readonly deps: RecipeKvDeps,
    judged: object,
  ) {
    // No metadata: the caller's de-dup ids (if it sent any) name its one call, not these requests.
    this.call = { metadata: new grpc.Metadata(), getAuthContext: () => ({}) };
    const caller = callerOf(judged);
    const identity = identityOf(judged);
    if (caller && identity) bindCaller(this.call, caller, identity);
  }

  private deadline(): number {
    return Date.now() + this.deps.requestTimeoutMs;
  }

  txn(req: Partial<TxnRequest>): Promise<TxnResponse> {
    const full: TxnRequest = { compare: [], success: [], failure: [], ...req };
    // A write is held to --max-request-bytes by its size, as the caller's own Txn would be.
    noteRequestBytes(full, TxnRequest.encode(full).finish().length);
    return Promise.resolve().then(() => this.deps.kv.txn(full, this.deadline(), this.call));
  }

  range(req: Partial<RangeRequest>): Promise<RangeResponse> {
    return Promise.resolve().then(() => this.deps.kv.range(RangeRequest.fromPartial(req), this.deadline(), this.call));
  }

  deleteKey(key: Buffer): Promise<DeleteRangeResponse> {
    const req = DeleteRangeRequest.fromPartial({ key });
    noteRequestBytes(req, DeleteRangeRequest.encode(req).finish().length);
    return Promise.resolve().then(() => this.deps.kv.deleteRange(req, this.deadline(), this.call));
  }

  /** The lease a contender's key goes with: `lease`, or a new one of etcd's default session TTL when 0. */
  async sessionLease(lease: number): Promise<number> {
    if (lease !== 0) return lease;
    return this.deps.grantLease(DEFAULT_SESSION_TTL_S, this.deadline(), callerOf(this.call));
  }

  /**
   * Calls `onEvents` with the events of `key` (or, with `prefix`, of every key under it) from
   * `fromRevision` on, until the returned stop is called or the signal aborts; `onCompacted`
   * when that history is compacted (the watch then ends).
   */
  watch(key: Buffer, opts: { prefix: boolean; fromRevision: number; noPut?: boolean }, onEvents: KeyEvents, onCompacted: () => void): () => void {
    let done = false;
    const stream = this.deps.hub.openStream({
      events: (_w: Watcher, events, revision, sent) => {
        sent();
        if (!done) onEvents(events, revision);
      },
      compacted: () => {
        if (!done) onCompacted();
      },
      progress: () => {},
    });
    const stop = (): void => {
      done = true;
      stream.close();
    };
    const from = key.toString('latin1');
    const r = stream.watch(0, {
      from,
      to: opts.prefix ? prefixEnd(key).toString('latin1') : undefined,
      single: !opts.prefix,
      startRevision: opts.fromRevision,
      prevKv: false,
      noPut: opts.noPut ?? false,
      noDelete: false,
      progressNotify: false,
      fragment: false,
    });
    // The hub refuses a create only once it is closed (the member is stopping): told as an end
    // of history, from a microtask, as the hub tells everything after the create returns.
    if ('error' in r) {
      stop();
      queueMicrotask(onCompacted);
    }
    return stop;
  }

  /**
   * The first event of `key` (or, with `prefix`, of a key under it) from `fromRevision` on that
   * `wanted` accepts, with the revision it was handed over at; 'compacted' when that history is
   * gone. Rejects with the signal's reason once it aborts.
   */
  nextEvent(key: Buffer, opts: { prefix: boolean; fromRevision: number; noPut?: boolean }, wanted: (e: KeyEvent) => boolean, signal: AbortSignal): Promise<NextEvent | 'compacted'> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const finish = (settle: () => void): void => {
        stop();
        signal.removeEventListener('abort', onAbort);
        settle();
      };
      const onAbort = (): void => finish(() => reject(signal.reason));
      signal.addEventListener('abort', onAbort, { once: true });
      const stop = this.watch(
        key,
        opts,
        (events, revision) => {
          const e = events.find(wanted);
          if (e) finish(() => resolve({ kv: e.kv, isDelete: e.isDelete, revision }));
        },
        () => finish(() => resolve('compacted')),
      );
    });
  }

  /**
   * etcd's waitDeletes: waits until no key under `prefix` was created at or below
   * `maxCreateRevision` (every contender ahead is gone), one predecessor at a time; answers the
   * header of the read that found none.
   */
  async waitDeletes(prefix: Buffer, maxCreateRevision: number, signal: AbortSignal): Promise<ResponseHeader | undefined> {
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const r = await this.range({
        key: prefix,
        rangeEnd: prefixEnd(prefix),
        sortTarget: RangeRequest_SortTarget.CREATE,
        sortOrder: RangeRequest_SortOrder.DESCEND,
        limit: 1,
        maxCreateRevision,
      });
      const last = r.kvs[0];
      if (!last) return r.header;
      // Deleted, or its history compacted: either way the next read tells.
      await this.nextEvent(last.key, { prefix: false, fromRevision: r.header?.revision ?? 0, noPut: true }, (e) => e.isDelete, signal);
    }
  }
}
