// client.watch: the etcd Watch service as an async iterable of event batches, one batch per
// revision, that survives the member it talks to. Every member serves watches, so when a stream
// breaks (the member died, stopped, lost its leader, the connection dropped) the watch is
// re-created on another member from the revision after the last one received: no gap, no
// duplicate. Received batches wait in a small queue; while it is full the stream is paused, so
// a slow consumer pushes back through HTTP/2 flow control to the server (which moves the
// watcher to catch-up instead of buffering).
//
// The SDK speaks the etcd Watch protocol rather than a native one: it is what every member
// serves, it is what etcdctl and other etcd clients use, and its resume rule (start_revision)
// is the one we need.
import * as grpc from '@grpc/grpc-js';
import { WatchRequest, WatchResponse, WatchCreateRequest_FilterType } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Event_EventType, type KeyValue as PbKeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { decodeWatchResponse } from './watch-decode.js';
import { backoffDelay, resolveBackoff } from './backoff.js';
import { ClientClosedError, InvalidArgumentError, PlacementClientError, errorFromStatus } from './errors.js';
import type { KeyValue } from './types.js';

export interface WatchOptions {
  /** Watch every key starting with the given one ('' with prefix: every key). */
  prefix?: boolean;
  /** First revision to deliver (a past one replays history); default: the revision after the current one. */
  startRevision?: number;
  /** Attach each key's previous value to its events. */
  prevKv?: boolean;
  /** Leave out puts and/or deletes. */
  filters?: ReadonlyArray<'noPut' | 'noDelete'>;
  /** Aborting closes the watch. */
  signal?: AbortSignal;
}

export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** For a delete: the key, modRevision = the deleting revision, no value. */
  readonly kv: KeyValue;
  readonly prevKv?: KeyValue;
}

/** Every event of one revision that the watch covers. */
export interface WatchBatch {
  readonly revision: number;
  readonly events: readonly WatchEvent[];
}

/** The history the watch needed was compacted: re-read the current state and watch again from `compactRevision`. */
export class WatchCompactedError extends PlacementClientError {
  override readonly name = 'WatchCompactedError';
  constructor(readonly compactRevision: number) {
    super(grpc.status.OUT_OF_RANGE, `the watch needs revisions below ${compactRevision}, which were compacted; re-read and watch from ${compactRevision}`);
  }
}

/** What the watch needs from the client. */
export interface WatchHost {
  /** Endpoints in the order to try them. */
  watchEndpoints(): string[];
  watchChannel(address: string): grpc.Client;
  watchEnded(w: Watch): void;
  /** The metadata a stream to `address` opens with (the auth token, once one is at hand); undefined: none, open at once. */
  watchMetadata?(address: string): Promise<grpc.Metadata> | undefined;
  /** A create refused with this code and message means the token ended and a new one was asked for. */
  watchAuthExpired?(code: grpc.status, message: string): boolean;
  /**
   * A stream to `address` was created (ok) or broke (not ok). The client learns the membership
   * from it as from a unary call: a client that only watches must still find members added after
   * its seeds, or it is stranded once every seed was replaced.
   */
  watchContact?(address: string, ok: boolean): void;
  readonly isClosed: boolean;
}

/** Batches the queue holds before the stream is paused. */
const QUEUE_HIGH = 64;
const WATCH_PATH = '/etcdserverpb.Watch/Watch';
const BACKOFF = resolveBackoff({ initialMs: 50, maxMs: 2000 });

type Call = grpc.ClientDuplexStream<WatchRequest, WatchResponse>;

function toKv(kv: PbKeyValue | undefined): KeyValue {
  return {
    key: Buffer.from(kv?.key ?? []).toString('utf8'),
    value: Buffer.from(kv?.value ?? []),
    createRevision: kv?.createRevision ?? 0,
    modRevision: kv?.modRevision ?? 0,
    version: kv?.version ?? 0,
    lease: kv?.lease ?? 0,
  };
}

/** The end of the range of keys starting with `p` (etcd's GetPrefixRangeEnd); "\0" when there is none. */
export function prefixEnd(p: Buffer): Buffer {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

export class Watch implements AsyncIterable<WatchBatch> {
  /** The next revision to ask for (0: the watch was never created: "from now"). */
  private nextRev: number;
  private readonly queue: WatchBatch[] = [];
  private failure: Error | null = null;
  private done = false;
  private wake: (() => void) | null = null;
  private call: Call | null = null;
  /** Rounds over every member without a stream that got created. */
  private rounds = 0;
  /** Members whose stream broke since the last one that worked. */
  private readonly failed = new Set<string>();
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;
  /** Events of a revision split into fragments, until the last one. */
  private fragments: WatchResponse['events'] = [];
  private paused = false;
  private iterating = false;
  /** A refused create made the client authenticate again since the last created one. */
  private reauthenticated = false;

  constructor(
    private readonly host: WatchHost,
    key: string,
    private readonly opts: WatchOptions = {},
  ) {
    if (typeof key !== 'string') throw new InvalidArgumentError(`key must be a string, got ${typeof key}`);
    const start = opts.startRevision ?? 0;
    if (!Number.isSafeInteger(start) || start < 0) throw new InvalidArgumentError(`startRevision must be a non-negative integer, got ${start}`);
    if (!opts.prefix && key === '') throw new InvalidArgumentError('key must not be empty (use prefix: true with "" to watch every key)');
    for (const f of opts.filters ?? []) if (f !== 'noPut' && f !== 'noDelete') throw new InvalidArgumentError(`unknown filter ${String(f)}`);
    this.key = Buffer.from(key, 'utf8');
    this.rangeEnd = opts.prefix ? (key === '' ? Buffer.from([0]) : prefixEnd(this.key)) : Buffer.alloc(0);
    if (opts.prefix && key === '') this.key = Buffer.from([0]);
    this.nextRev = start;
    if (host.isClosed) throw new ClientClosedError();
    opts.signal?.addEventListener('abort', () => this.close(), { once: true });
    if (opts.signal?.aborted) this.done = true;
    else this.connect();
  }

  /** The revision the next batch will be at least (0 before the watch was first created). */
  get nextRevision(): number {
    return this.nextRev;
  }

  /** Stops the watch: the server cancels it, the iteration ends. Idempotent. */
  close(): void {
    if (this.done) return;
    this.done = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.hangUp();
    this.host.watchEnded(this);
    this.notify();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<WatchBatch> {
    if (this.iterating) throw new InvalidArgumentError('a watch can be iterated once');
    this.iterating = true;
    try {
      for (;;) {
        const b = this.queue.shift();
        if (b) {
          if (this.paused && this.queue.length < QUEUE_HIGH / 2) {
            this.paused = false;
            this.call?.resume();
          }
          yield b;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.done) return;
        await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      this.close();
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.failure = err;
    this.done = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.hangUp();
    this.host.watchEnded(this);
    this.notify();
  }

  /** Cancels the current stream server-side (a cancel request, then the half-close). */
  private hangUp(): void {
    const call = this.call;
    this.call = null;
    if (!call) return;
    call.removeAllListeners('data');
    call.removeAllListeners('status');
    call.on('error', () => {});
    try {
      call.write({ requestUnion: { $case: 'cancelRequest', value: { watchId: 0 } } });
      call.end();
    } catch {
      // already broken
    }
    // The server ends a half-closed stream; if it does not answer, cut it.
    const t = setTimeout(() => call.cancel(), 1000);
    t.unref();
    call.on('close', () => clearTimeout(t));
  }

  private connect(): void {
    if (this.done) return;
    if (this.host.isClosed) return this.fail(new ClientClosedError());
    const order = this.host.watchEndpoints();
    const address = order.find((a) => !this.failed.has(a)) ?? order[0]!;
    const auth = this.host.watchMetadata?.(address);
    if (!auth) return this.open(address, new grpc.Metadata());
    auth.then(
      (md) => {
        if (!this.done && !this.call) this.open(address, md);
      },
      (err: grpc.ServiceError | Error) => {
        if (this.done || this.call) return;
        const code = 'code' in err && typeof err.code === 'number' ? err.code : undefined;
        // The member could not be asked for a token: another one (as for a broken stream).
        if (code === grpc.status.UNAVAILABLE || code === grpc.status.DEADLINE_EXCEEDED) return this.retryElsewhere(address);
        this.fail(code !== undefined ? errorFromStatus(code, (err as grpc.ServiceError).details ?? err.message, { endpoint: address }) : err);
      },
    );
  }

  private open(address: string, md: grpc.Metadata): void {
    const client = this.host.watchChannel(address);
    // A member that lost its leader ends the stream (etcd's WithRequireLeader): resume elsewhere.
    md.set('hasleader', 'true');
    const call = client.makeBidiStreamRequest(
      WATCH_PATH,
      (r: WatchRequest) => Buffer.from(WatchRequest.encode(r).finish()),
      (b: Buffer) => decodeWatchResponse(b),
      md,
    ) as Call;
    this.call = call;
    this.fragments = [];
    let created = false;
    call.on('data', (r: WatchResponse) => {
      if (r.created) {
        if (r.canceled) {
          const { code, message } = refusalOf(r.cancelReason);
          // A token that ended (TTL, or the user's roles changed): authenticate again, once.
          if (!this.reauthenticated && this.host.watchAuthExpired?.(code, message)) {
            this.reauthenticated = true;
            this.hangUp();
            return this.connect();
          }
          return this.fail(errorFromStatus(code, message, { endpoint: address }));
        }
        this.reauthenticated = false;
        created = true;
        this.host.watchContact?.(address, true);
        this.rounds = 0;
        this.failed.clear();
        if (this.nextRev === 0) this.nextRev = (r.header?.revision ?? 0) + 1;
        return;
      }
      if (r.canceled) {
        if (r.compactRevision > 0) return this.fail(new WatchCompactedError(r.compactRevision));
        // Canceled for another reason (e.g. the member's auth): try elsewhere.
        return this.broken(call, address);
      }
      if (r.fragment) {
        this.fragments.push(...r.events);
        return;
      }
      const events = this.fragments.length > 0 ? [...this.fragments, ...r.events] : r.events;
      this.fragments = [];
      this.take(events);
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (this.call !== call) return;
      const retryable = err.code === grpc.status.UNAVAILABLE || err.code === grpc.status.CANCELLED || err.code === grpc.status.INTERNAL || err.code === grpc.status.UNKNOWN || err.code === grpc.status.DEADLINE_EXCEEDED;
      if (!retryable || (!created && err.code === grpc.status.UNIMPLEMENTED)) return this.fail(errorFromStatus(err.code, err.details ?? err.message, { endpoint: address }));
      this.broken(call, address);
    });
    call.on('end', () => {
      if (this.call === call) this.broken(call, address);
    });
    const filters: WatchCreateRequest_FilterType[] = [];
    if (this.opts.filters?.includes('noPut')) filters.push(WatchCreateRequest_FilterType.NOPUT);
    if (this.opts.filters?.includes('noDelete')) filters.push(WatchCreateRequest_FilterType.NODELETE);
    call.write({
      requestUnion: {
        $case: 'createRequest',
        value: { key: this.key, rangeEnd: this.rangeEnd, startRevision: this.nextRev, progressNotify: false, filters, prevKv: this.opts.prevKv ?? false, watchId: 0, fragment: true },
      },
    });
  }

  /** Events of whole revisions, in order: queued as one batch per revision, never below nextRev. */
  private take(events: WatchResponse['events']): void {
    let batch: WatchEvent[] = [];
    let rev = 0;
    const flush = (): void => {
      if (batch.length > 0) this.queue.push({ revision: rev, events: batch });
      batch = [];
    };
    for (const e of events) {
      const kv = toKv(e.kv);
      if (kv.modRevision < this.nextRev) continue; // already delivered (a resumed stream)
      if (kv.modRevision !== rev) {
        flush();
        rev = kv.modRevision;
      }
      batch.push({ type: e.type === Event_EventType.DELETE ? 'delete' : 'put', kv, ...(e.prevKv ? { prevKv: toKv(e.prevKv) } : {}) });
    }
    flush();
    if (rev > 0) this.nextRev = Math.max(this.nextRev, rev + 1);
    if (this.queue.length >= QUEUE_HIGH && !this.paused) {
      this.paused = true;
      this.call?.pause();
    }
    this.notify();
  }

  /** The stream broke: the same watch elsewhere, from nextRev; once every member failed, after a growing back-off. */
  private broken(call: Call, address: string): void {
    if (this.call !== call || this.done) return;
    this.call = null;
    call.removeAllListeners('data');
    call.on('error', () => {});
    call.cancel();
    this.paused = false;
    this.retryElsewhere(address);
  }

  /** `address` failed: the next member, or every member again after a growing back-off. */
  private retryElsewhere(address: string): void {
    this.failed.add(address);
    this.host.watchContact?.(address, false);
    let delay = 0;
    if (this.host.watchEndpoints().every((a) => this.failed.has(a))) {
      this.failed.clear();
      delay = backoffDelay(this.rounds++, BACKOFF, Math.random);
    }
    // Not unref'd: a program that only watches keeps running while the watch resumes.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }
}

/**
 * The error of a refused watch create: etcd puts the text of a gRPC error in cancel_reason for an
 * auth refusal ("rpc error: code = PermissionDenied desc = etcdserver: permission denied"); that
 * code and message are the error's, anything else is INVALID_ARGUMENT with the reason as said.
 */
export function refusalOf(reason: string): { code: grpc.status; message: string } {
  const m = /^rpc error: code = (\w+) desc = (.*)$/s.exec(reason);
  const named = m ? GRPC_CODE_NAMES[m[1]!] : undefined;
  if (m && named !== undefined) return { code: named, message: m[2]! };
  return { code: grpc.status.INVALID_ARGUMENT, message: reason || 'watch refused' };
}

/** Go's codes.Code names, as status.Error prints them. */
const GRPC_CODE_NAMES: Record<string, grpc.status> = {
  Canceled: grpc.status.CANCELLED,
  InvalidArgument: grpc.status.INVALID_ARGUMENT,
  PermissionDenied: grpc.status.PERMISSION_DENIED,
  Unauthenticated: grpc.status.UNAUTHENTICATED,
  FailedPrecondition: grpc.status.FAILED_PRECONDITION,
  Unavailable: grpc.status.UNAVAILABLE,
};
