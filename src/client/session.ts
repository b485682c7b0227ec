// Client side of KvService.Session: one long-lived bidi stream per member carrying every KV
// operation the client sends there, ZooKeeper-style (operations tagged with an xid, results
// matched by xid in whatever order they complete).
//
// Why not one unary call per operation: grpc-js spends a few hundred microseconds of CPU per call
// on each side, which on a small machine costs more than the replicated write itself. Operations
// issued in the same event-loop turn leave in one message; results answered together arrive in
// one message.
//
// The stream is opened on first use and ended after a short idle period, so a process that forgets
// close() still exits by itself. A broken stream fails its operations with UNAVAILABLE (the
// client's retry loop decides what to do, reusing a write's sequence number); an operation that
// gets no result within its attempt timeout fails with DEADLINE_EXCEEDED (outcome unknown).
import * as grpc from '@grpc/grpc-js';
import type {
  CompareAndSwapReply,
  CompareAndSwapRequest,
  DeleteReply,
  DeleteRequest,
  ExistsReply,
  ExistsRequest,
  GetReply,
  GetRequest,
  KvServiceClient,
  ListReply,
  ListRequest,
  SessionOp,
  SessionReply,
  SessionRequest,
  SessionResult,
  SetReply,
  SetRequest,
} from '../../proto/gen/placement/v1/kv.js';
import { LEADER_ADDRESS_METADATA, LEADER_ID_METADATA } from './errors.js';

export interface KvRequests {
  set: SetRequest;
  get: GetRequest;
  delete: DeleteRequest;
  exists: ExistsRequest;
  list: ListRequest;
  compareAndSwap: CompareAndSwapRequest;
}

export interface KvReplies {
  set: SetReply;
  get: GetReply;
  delete: DeleteReply;
  exists: ExistsReply;
  list: ListReply;
  compareAndSwap: CompareAndSwapReply;
}

export type KvMethod = keyof KvRequests;

/** What a call in flight can be asked to do (a unary call handle fits too). */
export interface Cancellable {
  cancel(): void;
}

export type KvCallback<M extends KvMethod> = (err: grpc.ServiceError | null, reply?: KvReplies[M]) => void;

/** A session stream is ended after this long without operations in flight. */
export const SESSION_IDLE_MS = 300;
/** Operations are sent in messages of about this many bytes at most. */
const MAX_BATCH_BYTES = 1 << 20;
/** Said in the error of an operation that timed out before the stream ever connected. */
export const NOT_CONNECTED = 'session stream not connected (Waiting for LB pick)';

interface Pending {
  method: KvMethod;
  cb: (err: grpc.ServiceError | null, reply?: unknown) => void;
  /** performance.now() past which the operation fails with DEADLINE_EXCEEDED. */
  deadline: number;
  timeoutMs: number;
}

function serviceError(code: grpc.status, details: string, metadata = new grpc.Metadata()): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${grpc.status[code] ?? ''}: ${details}`), { code, details, metadata });
}

function sizeOf(op: SessionOp): number {
  const v = op.op?.value as { key?: string; value?: Uint8Array; prefix?: string } | undefined;
  return 32 + (v?.key?.length ?? 0) + (v?.prefix?.length ?? 0) + (v?.value?.byteLength ?? 0);
}

/** One open stream and the operations waiting for its results. */
class SessionStream {
  readonly pending = new Map<number, Pending>();
  /** The server has answered something on this stream, so it is connected. */
  answered = false;
  ended = false;
  /**
   * One timer per stream, not one per operation (a setTimeout and clearTimeout cost about as
   * much as encoding the operation): it fires at the earliest deadline it was armed for, fails
   * what has expired, and re-arms for the earliest deadline left.
   */
  timer: NodeJS.Timeout | undefined;
  timerAt = Infinity;

  constructor(readonly call: grpc.ClientDuplexStream<SessionRequest, SessionReply>) {}
}

export class ClientSession {
  private current: SessionStream | undefined;
  private nextXid = 1;
  private queue: SessionOp[] = [];
  private flushScheduled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private lastActive = 0;
  private closed = false;

  constructor(
    private readonly kv: KvServiceClient,
    private readonly channel: Pick<grpc.Channel, 'getConnectivityState'>,
    /** Metadata the stream opens with (the auth token), if any. */
    private readonly metadata: () => grpc.Metadata | undefined = () => undefined,
  ) {}

  /** Sends one operation; `cb` is called exactly once (unless the session is closed first). */
  call<M extends KvMethod>(method: M, request: KvRequests[M], timeoutMs: number, cb: KvCallback<M>): Cancellable {
    if (this.closed) {
      queueMicrotask(() => cb(serviceError(grpc.status.CANCELLED, 'session closed')));
      return { cancel: () => {} };
    }
    const s = this.stream();
    const xid = this.nextXid++;
    const deadline = performance.now() + timeoutMs;
    s.pending.set(xid, { method, cb: cb as Pending['cb'], deadline, timeoutMs });
    if (deadline < s.timerAt) this.armTimer(s, deadline);
    this.queue.push({ xid, timeoutMs: Math.min(timeoutMs, 0xffffffff), op: { $case: method, value: request } as SessionOp['op'] });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Operations issued in this turn of the event loop leave together.
      setImmediate(this.flush);
    }
    return {
      cancel: () => {
        const p = s.pending.get(xid);
        if (!p) return;
        s.pending.delete(xid);
        this.noteIdle(s);
        p.cb(serviceError(grpc.status.CANCELLED, 'Cancelled on client'));
      },
    };
  }

  /** Ends the stream; operations still waiting fail with CANCELLED. */
  close(): void {
    this.closed = true;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    const s = this.current;
    this.current = undefined;
    this.queue = [];
    if (s) {
      s.ended = true;
      s.call.cancel();
      this.failAll(s, serviceError(grpc.status.CANCELLED, 'session closed'));
    }
  }

  private stream(): SessionStream {
    if (this.current && !this.current.ended) return this.current;
    const md = this.metadata();
    const s = new SessionStream(md ? this.kv.session(md) : this.kv.session());
    this.current = s;
    s.call.on('metadata', () => (s.answered = true));
    s.call.on('data', (reply: SessionReply) => this.onReply(s, reply));
    s.call.on('error', (err: grpc.ServiceError) => this.onBroken(s, err));
    s.call.on('end', () => this.onBroken(s, serviceError(grpc.status.UNAVAILABLE, 'session stream ended by the server (Connection closed)')));
    return s;
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    const s = this.current;
    // Operations of a stream that broke before this turn have already failed: drop them.
    const ops = s ? this.queue.filter((op) => s.pending.has(op.xid)) : [];
    this.queue = [];
    if (!s || s.ended || ops.length === 0) return;
    let batch: SessionOp[] = [];
    let bytes = 0;
    for (const op of ops) {
      const n = sizeOf(op);
      if (batch.length > 0 && bytes + n > MAX_BATCH_BYTES) {
        s.call.write({ ops: batch });
        batch = [];
        bytes = 0;
      }
      batch.push(op);
      bytes += n;
    }
    s.call.write({ ops: batch });
  };

  private onReply(s: SessionStream, reply: SessionReply): void {
    s.answered = true;
    for (const r of reply.results) {
      const p = s.pending.get(r.xid);
      if (!p) continue; // timed out or cancelled meanwhile
      s.pending.delete(r.xid);
      deliver(p, r);
    }
    this.noteIdle(s);
  }

  private onBroken(s: SessionStream, err: grpc.ServiceError): void {
    if (s.ended) return;
    s.ended = true;
    if (this.current === s) this.current = undefined;
    this.failAll(s, err);
  }

  private failAll(s: SessionStream, err: grpc.ServiceError): void {
    const all = [...s.pending.values()];
    s.pending.clear();
    this.disarmTimer(s);
    for (const p of all) p.cb(err);
  }

  private armTimer(s: SessionStream, at: number): void {
    if (s.timer) clearTimeout(s.timer);
    s.timerAt = at;
    s.timer = setTimeout(() => this.expire(s), Math.max(0, at - performance.now()));
  }

  private disarmTimer(s: SessionStream): void {
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    s.timerAt = Infinity;
  }

  /** Fails the operations whose deadline has passed; re-arms for the earliest one left. */
  private expire(s: SessionStream): void {
    s.timer = undefined;
    s.timerAt = Infinity;
    const now = performance.now();
    const expired: Pending[] = [];
    let next = Infinity;
    for (const [xid, p] of s.pending) {
      if (p.deadline <= now) {
        s.pending.delete(xid);
        expired.push(p);
      } else if (p.deadline < next) {
        next = p.deadline;
      }
    }
    if (next !== Infinity) this.armTimer(s, next);
    if (expired.length === 0) return;
    this.noteIdle(s);
    const connected = s.answered || this.channel.getConnectivityState(false) === grpc.connectivityState.READY;
    for (const p of expired) {
      p.cb(serviceError(grpc.status.DEADLINE_EXCEEDED, connected ? `Deadline exceeded after ${p.timeoutMs} ms` : `Deadline exceeded: ${NOT_CONNECTED}`));
    }
  }

  /** Arms the idle timer once the stream has nothing in flight. */
  private noteIdle(s: SessionStream): void {
    if (s.pending.size === 0) this.disarmTimer(s);
    if (s.pending.size > 0 || s !== this.current) return;
    this.lastActive = Date.now();
    if (this.idleTimer) return;
    const check = (): void => {
      this.idleTimer = undefined;
      const cur = this.current;
      if (!cur || cur.pending.size > 0 || this.queue.length > 0) return;
      const left = this.lastActive + SESSION_IDLE_MS - Date.now();
      if (left > 0) {
        this.idleTimer = setTimeout(check, left);
        return;
      }
      cur.ended = true;
      this.current = undefined;
      cur.call.end();
    };
    this.idleTimer = setTimeout(check, SESSION_IDLE_MS);
  }
}

function deliver(p: Pending, r: SessionResult): void {
  if (r.code !== 0) {
    const md = new grpc.Metadata();
    if (r.leaderId) md.set(LEADER_ID_METADATA, String(r.leaderId));
    if (r.leaderAddress) md.set(LEADER_ADDRESS_METADATA, r.leaderAddress);
    p.cb(serviceError(r.code, r.error, md));
    return;
  }
  if (!r.reply || r.reply.$case !== p.method) {
    p.cb(serviceError(grpc.status.INTERNAL, `session result for ${p.method} carried ${r.reply?.$case ?? 'no reply'}`));
    return;
  }
  p.cb(null, r.reply.value);
}
