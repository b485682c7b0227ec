// Server side of KvService.Session: many KV operations multiplexed on one long-lived bidi stream.
//
// Why: a grpc-js unary call costs a few hundred microseconds of CPU on each side (an HTTP/2
// stream, headers, trailers, timers), more than the Raft and storage work of a write. On a
// session, operations that arrive together are decoded from one message and their results, which
// come back in completion order tagged with the client's xid, leave together in one message per
// event-loop turn. Each operation runs through exactly the same handler as its unary method
// (kvOps), so validation, de-duplication, ReadIndex and forwarding are identical.
//
// Per-operation failures are results (code + message + leader hint), never stream errors: one bad
// operation does not disturb the others. The stream itself fails only for a malformed message
// (INVALID_ARGUMENT: its xids cannot be trusted) or too many operations in flight
// (RESOURCE_EXHAUSTED).
import * as grpc from '@grpc/grpc-js';
import type { SessionOp, SessionReply, SessionRequest, SessionResult } from '../../proto/gen/placement/v1/kv.js';
import { PlacementError, toGrpcStatus } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { grpcCodeName } from '../metrics/grpc.js';
import type { KvOps, ServingNode } from './services.js';
import { malformedReason, type Maybe } from './malformed.js';
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { callerOf } from '../auth/context.js';

const SERVICE = 'placement.v1.KvService';
const METHOD_NAMES: Record<NonNullable<SessionOp['op']>['$case'], string> = {
  set: 'Set',
  get: 'Get',
  delete: 'Delete',
  exists: 'Exists',
  list: 'List',
  compareAndSwap: 'CompareAndSwap',
};

/** Results are sent in messages of about this many bytes at most (one result may be larger). */
const MAX_REPLY_BYTES = 1 << 20;

/** Operations one session may have in flight; beyond it the client is not reading its results. */
export const MAX_SESSION_INFLIGHT = 10_000;

/**
 * Bytes of results a session may hold that the client has not taken yet (pushed, or written but
 * not yet accepted by HTTP/2 flow control). Past it, operations that have arrived wait unstarted
 * and the stream stops reading more, so a client that does not read its results costs the
 * server at most about this much memory, however its operations arrived (one by one or in a
 * burst that is decoded in one turn).
 */
export const MAX_UNTAKEN_REPLY_BYTES = 8 << 20;

/**
 * A result's size is known only once it is computed, so a session starts at most this many
 * operations per event-loop turn (the next ones once the results of these are counted), and at
 * most MAX_STARTED are computing at once: a burst of ten thousand reads of a large value cannot
 * make the server build gigabytes of results for a client that does not take them. 64 per turn
 * is more than a busy client's batch (the bench's 64 in flight), so it costs them nothing.
 */
const PUMP_STEP = 64;
const MAX_STARTED = 1024;

type SessionCall = grpc.ServerDuplexStream<Maybe<SessionRequest>, SessionReply>;

export class SessionHub {
  private readonly open = new Set<Session>();

  constructor(
    private readonly node: ServingNode,
    private readonly ops: KvOps,
    private readonly metrics?: Metrics,
  ) {}

  /** The grpc-js handler for KvService.Session. */
  readonly handler = (call: SessionCall): void => {
    const s = new Session(call, this.node, this.ops, this.metrics, () => this.open.delete(s));
    this.open.add(s);
  };

  /** Number of open session streams (for tests and metrics). */
  get size(): number {
    return this.open.size;
  }

  /** Ends every session once its in-flight operations have answered (graceful shutdown). */
  closeAll(): void {
    for (const s of this.open) s.close();
  }
}

class Session {
  private readonly out: SessionResult[] = [];
  /** resultBytes() of each result in `out`, computed once. */
  private readonly outBytes: number[] = [];
  /** Operations received but not started yet (see PUMP_STEP); backlog[backlogHead] is next. */
  private backlog: SessionOp[] = [];
  /** Who each waiting operation is served for (its message's caller: src/auth/context.ts). */
  private backlogBy: (CommandCaller | undefined)[] = [];
  private backlogHead = 0;
  private pumpScheduled = false;
  /** Operations started in this turn of the event loop (PUMP_STEP). */
  private startedThisTurn = 0;
  private turnResetScheduled = false;
  /** Bytes of results pushed and not yet accepted by the transport. */
  private untakenBytes = 0;
  private flushScheduled = false;
  private inflight = 0;
  private clientDone = false;
  private closing = false;
  private finished = false;
  private paused = false;

  constructor(
    private readonly call: SessionCall,
    private readonly node: ServingNode,
    private readonly ops: KvOps,
    private readonly metrics: Metrics | undefined,
    private readonly onFinished: () => void,
  ) {
    call.on('data', (req: Maybe<SessionRequest>) => this.onRequest(req));
    call.on('end', () => {
      this.clientDone = true;
      this.maybeEnd();
    });
    call.on('error', () => this.finish());
    call.on('cancelled', () => this.finish());
    call.on('close', () => this.finish());
  }

  close(): void {
    this.closing = true;
    // Operations still waiting are answered now ("shutting down": small results).
    if (this.waiting() > 0) this.pump();
    this.maybeEnd();
  }

  private onRequest(raw: Maybe<SessionRequest>): void {
    if (this.finished) return;
    const bad = malformedReason(raw);
    if (bad !== undefined) {
      this.fail(grpc.status.INVALID_ARGUMENT, `malformed session request: ${bad}`);
      return;
    }
    const req = raw as SessionRequest;
    if (this.inflight + this.waiting() + req.ops.length > MAX_SESSION_INFLIGHT) {
      this.fail(grpc.status.RESOURCE_EXHAUSTED, `more than ${MAX_SESSION_INFLIGHT} operations in flight on one session`);
      return;
    }
    const n = req.ops.length;
    const by = callerOf(raw as object);
    if (this.waiting() === 0 && this.startedThisTurn + n <= PUMP_STEP && this.inflight + n <= MAX_STARTED && this.untakenBytes < MAX_UNTAKEN_REPLY_BYTES) {
      // The common case: a small batch and a client that takes its results.
      for (const op of req.ops) this.run(op, by);
      return;
    }
    for (const op of req.ops) {
      this.backlog.push(op);
      this.backlogBy.push(by);
    }
    this.pump();
  }

  private waiting(): number {
    return this.backlog.length - this.backlogHead;
  }

  private mayStart(): boolean {
    return this.startedThisTurn < PUMP_STEP && this.inflight < MAX_STARTED && this.untakenBytes < MAX_UNTAKEN_REPLY_BYTES;
  }

  /**
   * Starts waiting operations within the budgets. What is left waits for the next turn (the
   * turn reset pumps), for results (push) or for the transport to take bytes (write callback).
   */
  private readonly pump = (): void => {
    this.pumpScheduled = false;
    while (this.waiting() > 0 && !this.finished && (this.closing || this.mayStart())) {
      const i = this.backlogHead++;
      this.run(this.backlog[i]!, this.backlogBy[i]);
    }
    if (this.waiting() > 0) {
      this.pauseReading();
      return;
    }
    this.backlog = [];
    this.backlogBy = [];
    this.backlogHead = 0;
    if (this.untakenBytes < MAX_UNTAKEN_REPLY_BYTES) this.resumeReading();
  };

  /** Pumps in a later turn: never from inside run(), whose failures can push synchronously. */
  private schedulePump(): void {
    if (this.pumpScheduled || this.finished) return;
    this.pumpScheduled = true;
    setImmediate(this.pump);
  }

  private readonly newTurn = (): void => {
    this.turnResetScheduled = false;
    this.startedThisTurn = 0;
    if (this.waiting() > 0) this.pump();
  };

  private pauseReading(): void {
    if (this.paused) return;
    this.paused = true;
    this.call.pause();
  }

  private resumeReading(): void {
    if (!this.paused || this.finished) return;
    this.paused = false;
    this.call.resume();
  }

  private run(op: SessionOp, by: CommandCaller | undefined): void {
    const start = this.metrics ? performance.now() : 0;
    const method = op.op ? METHOD_NAMES[op.op.$case] : 'Unknown';
    this.metrics?.grpcStartedOp(SERVICE, method);
    this.inflight++;
    if (this.startedThisTurn++ === 0 && !this.turnResetScheduled) {
      this.turnResetScheduled = true;
      setImmediate(this.newTurn);
    }
    const done = (r: SessionResult): void => {
      this.inflight--;
      if (this.metrics) this.metrics.observeGrpc(SERVICE, method, grpcCodeName(r.code), (performance.now() - start) / 1e3);
      this.push(r);
    };
    const failed = (err: unknown): void => done(errorResult(op.xid, err));
    if (!this.node.accepting() || this.closing) {
      failed(new PlacementError('UNAVAILABLE', 'node is shutting down'));
      return;
    }
    let deadline = Date.now() + this.node.limits.requestTimeoutMs;
    if (op.timeoutMs > 0) deadline = Math.min(deadline, Date.now() + op.timeoutMs);
    const xid = op.xid;
    // In flight for the node's graceful shutdown from here until its result is pushed.
    this.node.requestStarted();
    const answer = (r: SessionResult): void => {
      this.node.requestFinished();
      done(r);
    };
    const refused = (err: unknown): void => answer(errorResult(xid, err));
    try {
      const o = op.op;
      if (!o) throw new PlacementError('INVALID_ARGUMENT', 'session operation names no operation');
      // One case per operation so that each reply lands in its own field of the oneof.
      switch (o.$case) {
        case 'set':
          this.ops.set(o.value, deadline, by).then((v) => answer(ok(xid, { $case: 'set', value: v })), refused);
          break;
        case 'get':
          this.ops.get(o.value, deadline, by).then((v) => answer(ok(xid, { $case: 'get', value: v })), refused);
          break;
        case 'delete':
          this.ops.delete(o.value, deadline, by).then((v) => answer(ok(xid, { $case: 'delete', value: v })), refused);
          break;
        case 'exists':
          this.ops.exists(o.value, deadline, by).then((v) => answer(ok(xid, { $case: 'exists', value: v })), refused);
          break;
        case 'list':
          this.ops.list(o.value, deadline, by).then((v) => answer(ok(xid, { $case: 'list', value: v })), refused);
          break;
        case 'compareAndSwap':
          this.ops.compareAndSwap(o.value, deadline, by).then((v) => answer(ok(xid, { $case: 'compareAndSwap', value: v })), refused);
          break;
      }
    } catch (err) {
      refused(err);
    }
  }

  private push(r: SessionResult): void {
    if (this.finished) return;
    const n = resultBytes(r);
    this.untakenBytes += n;
    this.out.push(r);
    this.outBytes.push(n);
    if (this.waiting() > 0) this.schedulePump();
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Results completing in the same turn (one applied batch, one ReadIndex round) share a message.
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.finished || this.out.length === 0) return;
    // Messages of about MAX_REPLY_BYTES: a clients' receive limit (grpc-js: 4 MiB by default)
    // applies to each message, and one turn can complete many large reads.
    let batch: SessionResult[] = [];
    let bytes = 0;
    const results = this.out.splice(0);
    const sizes = this.outBytes.splice(0);
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      const n = sizes[i]!;
      if (batch.length > 0 && bytes + n > MAX_REPLY_BYTES) {
        this.write(batch, bytes);
        batch = [];
        bytes = 0;
      }
      batch.push(r);
      bytes += n;
    }
    this.write(batch, bytes);
    this.maybeEnd();
  };

  /** Writes one message; its bytes count as untaken until HTTP/2 has accepted them. */
  private write(results: SessionResult[], bytes: number): void {
    this.call.write({ results }, () => {
      this.untakenBytes -= bytes;
      if (this.waiting() > 0) this.schedulePump();
      else if (this.paused && this.untakenBytes < MAX_UNTAKEN_REPLY_BYTES) this.resumeReading();
    });
    if (this.untakenBytes >= MAX_UNTAKEN_REPLY_BYTES) this.pauseReading();
  }

  private maybeEnd(): void {
    if (this.finished || this.inflight > 0 || this.out.length > 0 || this.waiting() > 0) return;
    if (this.clientDone || this.closing) {
      this.finished = true;
      this.call.end();
      this.onFinished();
    }
  }

  private fail(code: grpc.status, message: string): void {
    if (this.finished) return;
    this.finished = true;
    const err = Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
    this.call.emit('error', err);
    this.onFinished();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.backlog = [];
    this.backlogBy = [];
    this.backlogHead = 0;
    this.onFinished();
  }
}

function ok(xid: number, reply: SessionResult['reply']): SessionResult {
  return { xid, code: 0, error: '', leaderId: 0, leaderAddress: '', reply };
}

function errorResult(xid: number, err: unknown): SessionResult {
  if (err instanceof PlacementError) {
    return { xid, code: toGrpcStatus(err.code), error: err.message, leaderId: err.leaderId ?? 0, leaderAddress: err.leaderAddress ?? '', reply: undefined };
  }
  const e = err as { code?: unknown; details?: string; message?: string };
  const code = typeof e?.code === 'number' ? e.code : grpc.status.INTERNAL;
  return { xid, code, error: e?.details ?? e?.message ?? String(err), leaderId: 0, leaderAddress: '', reply: undefined };
}

/** Rough encoded size of a result: the values and keys it carries plus a little framing. */
function resultBytes(r: SessionResult): number {
  const kvBytes = (kv: { key: string; value: Uint8Array } | undefined): number => (kv ? kv.key.length + kv.value.byteLength + 48 : 0);
  const rep = r.reply;
  let n = 64 + r.error.length;
  if (!rep) return n;
  switch (rep.$case) {
    case 'get':
      n += rep.value.value.byteLength + kvBytes(rep.value.kv);
      break;
    case 'list':
      for (const kv of rep.value.kvs) n += kvBytes(kv);
      break;
    case 'set':
    case 'delete':
    case 'compareAndSwap':
      n += kvBytes(rep.value.prevKv);
      break;
    default:
  }
  return n;
}
