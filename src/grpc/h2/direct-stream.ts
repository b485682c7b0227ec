// Chosen stream methods served straight from their HTTP/2 stream, beside grpc-js.
//
// grpc-js's server spends more on a small stream message than the message's own work: a stream
// decoder, an intercepting call with closures per event, an object-mode Readable, the auth
// interceptor's wrapper. Two streams carry nothing but such messages: LeaseKeepAlive (one 8-byte
// message per keep-alive) and the Raft stream between members (every append and every ack). So
// the methods named in src/auth/guard.ts (DIRECT_STREAMS) are served here instead, from the
// node:http2 server grpc-js created and with the handler grpc-js was given (bench:ab with
// PLACEMENT_GRPC_DIRECT_STREAMS=false: a write at 1 in flight costs 1.21x the CPU through
// grpc-js). grpc-js keeps the sessions (keepalive, limits, graceful shutdown), every other method,
// and every call this module does not take (a compressed request, a malformed grpc-timeout).
//
// The handler sees the part of grpc-js's ServerDuplexStream our stream handlers use: metadata,
// 'data' (each message, after the auth judge let it through), 'end' (the client half-closed),
// 'cancelled' (the client reset the stream, its session went away, or its deadline passed),
// write(message, done), end() (status OK), emit('error', err) (the status of err, as grpc-js's
// serverErrorToStatus), 'finish' once the status is sent, 'close' once the HTTP/2 stream is closed,
// pause()/resume() (onto HTTP/2 flow control), cancelled, writableEnded, destroyed, getPeer,
// getAuthContext, getDeadline, getPath, sendMetadata. A client-streaming handler's callback answers
// one message and the status. The wire behaviour is grpc-js's, with etcd's response headers
// (call.ts): a trailers-only response when the call ends before any message, RESOURCE_EXHAUSTED
// beyond the message size limits (in grpc-js's words), INTERNAL for a message that does not decode,
// DEADLINE_EXCEEDED when the caller's deadline passes. One difference: a stream that ends inside a
// message is INTERNAL here (the gRPC spec's protocol error), where grpc-js drops the
// partial message and takes it as a half-close.
import type * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { CODE, GrpcWireError } from './errors.js';
import { encodeFrame, FrameDecoder } from './framing.js';
import { DirectCall, endTrailers, RESPOND_TRAILERS_ONLY, RESPOND_WITH_TRAILERS, RESPONSE_HEADERS, statusOfError, TRAILERS_ONLY_HEADERS } from './call.js';
import type { DirectUnaryLimits } from './direct-unary.js';
import { serveRoutesDirectly, type DirectHook, type Route as DirectRoute } from './routes.js';

type StreamHandler = (call: DirectStreamCall) => void;
type ClientStreamHandler = (call: DirectStreamCall, cb: grpc.sendUnaryData<unknown>) => void;

/** The auth check of one call (src/auth/guard.ts: streamJudge), or null when nothing is judged. */
export interface DirectStreamJudge {
  start(md: grpc.Metadata): void;
  message(msg: unknown, next: (m: unknown) => void, deny: (status: grpc.StatusObject) => void): void;
  /** Runs `fn` once every message handed to message() so far has been judged. */
  settled(fn: () => void): void;
}

type Route = DirectRoute<StreamHandler>;

/** What a hooked server reports (tests check that the hook took). */
export type DirectStreamHook = DirectHook;

export interface DirectStreamOptions {
  /** The client- and bidi-streaming methods to serve here (full paths). */
  paths: ReadonlySet<string>;
  limits: DirectUnaryLimits;
  /** The auth check grpc-js's interceptor would run on the call (null: none for this path). */
  judge?: (path: string, call: DirectStreamCall) => DirectStreamJudge | null;
}

/**
 * Serve `opts.paths` of `server` on their HTTP/2 streams directly. Call before bindAsync and
 * before the services are added; the route holds each handler as grpc-js receives it.
 */
export function serveStreamsDirectly(server: grpc.Server, opts: DirectStreamOptions): DirectStreamHook {
  return serveRoutesDirectly<StreamHandler>(
    server,
    (path, type, handler) => {
      if (!opts.paths.has(path)) return undefined;
      if (type === 'bidi') return handler as StreamHandler;
      // A client stream is answered through its callback: one message, then the status.
      if (type === 'clientStream') return (call) => (handler as ClientStreamHandler)(call, (err, value, trailer) => call.answer(err, value, trailer));
      return undefined;
    },
    (route, stream, headers, timeoutMs) => {
      const call = new DirectStreamCall(stream, headers, route, timeoutMs, opts.limits);
      call.begin(opts.judge?.(route.path, call) ?? null);
    },
  );
}

/** Whether a handler's call object came from this module (tests check that the hook took). */
export function isDirectStreamCall(call: unknown): boolean {
  return call instanceof DirectStreamCall;
}

const noop = (): void => undefined;

/** The ServerDuplexStream (or ServerReadableStream) a handler gets. */
export class DirectStreamCall extends DirectCall {
  /** Our side is done: a status was sent, or the stream went away. */
  private ended = false;
  private headersSent = false;
  private paused = false;
  /** Messages (and the half-close, as END) let through while the handler had the call paused. */
  private inbox: unknown[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly decoder: FrameDecoder;

  constructor(
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    private readonly route: Route,
    timeoutMs: number | undefined,
    private readonly limits: DirectUnaryLimits,
  ) {
    super(stream, headers, route.path, timeoutMs === undefined ? Infinity : Date.now() + timeoutMs);
    this.decoder = new FrameDecoder(limits.maxReceiveMessageBytes, (len, max) => `Received message larger than max (${len} vs ${max})`);
    if (timeoutMs !== undefined) {
      this.timer = setTimeout(() => {
        this.finish(CODE.DEADLINE_EXCEEDED, 'Deadline exceeded');
        this.cancel();
      }, timeoutMs);
    }
  }

  /**
   * As grpc-js on a stream: the response headers go out now, not with the first message. A
   * client-streaming call may never send one before its end, and until a grpc-js client sees the
   * headers it keeps every message it sent (see the Raft handler in src/transport).
   */
  override sendMetadata(md: grpc.Metadata): void {
    super.sendMetadata(md);
    if (this.ended || this.stream.destroyed || this.stream.closed) return;
    try {
      this.respondOnce();
    } catch {
      // The session went away: its 'close' cancels the call.
    }
  }

  /** The response headers (with the handler's metadata), unless they went out already. May throw if the session went away. */
  private respondOnce(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const md = this.responseMetadata?.toHttp2Headers();
    this.stream.respond(md ? { ...RESPONSE_HEADERS, ...md } : RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
  }

  /** Starts the call: the judge sees the metadata, the handler gets the call, messages flow. */
  begin(judge: DirectStreamJudge | null): void {
    const stream = this.stream;
    stream.once('error', noop); // a reset stream also closes: 'close' below handles it
    stream.once('close', () => {
      if (!this.ended) {
        this.ended = true;
        if (this.timer) clearTimeout(this.timer);
        this.cancel();
      }
      super.emit('close');
    });
    judge?.start(this.metadata);
    try {
      this.route.handler(this);
    } catch (err) {
      this.emit('error', err);
      return;
    }
    const deny = (status: grpc.StatusObject): void => this.refuse(status);
    const deliver = (m: unknown): void => this.deliver(m);
    stream.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      let messages: Buffer[];
      try {
        messages = this.decoder.push(chunk);
      } catch (err) {
        this.wireFailure(err);
        return;
      }
      for (const bytes of messages) {
        if (this.ended) return;
        let msg: unknown;
        try {
          msg = this.route.deserialize(bytes);
        } catch {
          // grpc-js's words (it adds the reason only with GRPC_NODE_DEBUG_SEND_ERROR_DETAILS).
          this.wireFailure(new GrpcWireError(CODE.INTERNAL, 'Error deserializing request'));
          return;
        }
        if (judge) judge.message(msg, deliver, deny);
        else this.deliver(msg);
      }
    });
    stream.once('end', () => {
      if (this.ended) return;
      try {
        this.decoder.end();
      } catch (err) {
        this.wireFailure(err);
        return;
      }
      // After the messages before it, also those the judge is still verifying.
      if (judge) judge.settled(() => this.deliver(END));
      else this.deliver(END);
    });
  }

  get writableEnded(): boolean {
    return this.ended;
  }

  get destroyed(): boolean {
    return this.stream.destroyed;
  }

  /** Sends one message; `done` runs once HTTP/2 has taken it. False when the call has ended. */
  write(message: unknown, done?: () => void): boolean {
    if (this.ended || this.stream.destroyed) return false;
    let bytes: Buffer;
    try {
      bytes = this.route.serialize(message);
    } catch (err) {
      this.fail(CODE.INTERNAL, `Error serializing response: ${(err as Error).message}`);
      return false;
    }
    if (bytes.length > this.limits.maxSendMessageBytes) {
      // grpc-js's words for a stream, which name the framed size.
      this.fail(CODE.RESOURCE_EXHAUSTED, `Sent message larger than max (${bytes.length + 5} vs. ${this.limits.maxSendMessageBytes})`);
      return false;
    }
    try {
      this.respondOnce();
      return this.stream.write(encodeFrame(bytes), done);
    } catch {
      // The session went away between the check and the write: its 'close' cancels the call.
      return false;
    }
  }

  /** write() under grpc-js's server call name (what the auth judge answers a Session with). */
  sendMessage(message: unknown, done: () => void): void {
    this.write(message, done);
  }

  /** Ends the call with status OK. */
  end(): void {
    this.finish(CODE.OK, 'OK');
  }

  /** A client-streaming handler's callback: its one reply and status OK, or its error's status. */
  answer(err: Parameters<grpc.sendUnaryData<unknown>>[0], value?: unknown, trailer?: grpc.Metadata | null): void {
    if (err) {
      const st = statusOfError(err, trailer);
      this.finish(st.code, st.details, st.metadata);
      return;
    }
    this.write(value);
    this.finish(CODE.OK, 'OK', trailer);
  }

  /** As on grpc-js's stream objects: emitting 'error' ends the call with the error's status. */
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event !== 'error') return super.emit(event, ...args);
    if (!this.ended) {
      const st = statusOfError(args[0]);
      this.finish(st.code, st.details, st.metadata);
    }
    return this.listenerCount('error') > 0 ? super.emit(event, ...args) : false;
  }

  pause(): this {
    this.paused = true;
    this.stream.pause();
    return this;
  }

  resume(): this {
    this.paused = false;
    while (!this.paused && this.inbox.length > 0) this.hand(this.inbox.shift());
    if (!this.paused && !this.ended) this.stream.resume();
    return this;
  }

  private deliver(m: unknown): void {
    if (this.ended) return;
    if (this.paused) this.inbox.push(m);
    else this.hand(m);
  }

  private hand(m: unknown): void {
    if (m === END) super.emit('end');
    else super.emit('data', m);
  }

  private cancel(): void {
    this.cancelled = true;
    super.emit('cancelled', 'cancelled');
  }

  /** A refusal (auth) or a wire error: the call ends with `status` and the handler is told. */
  private refuse(status: { code: number; details: string; metadata?: grpc.Metadata | null }): void {
    if (this.ended) return;
    this.finish(status.code, status.details, status.metadata);
    const err = Object.assign(new Error(status.details), { code: status.code, details: status.details });
    if (this.listenerCount('error') > 0) super.emit('error', err);
  }

  private wireFailure(err: unknown): void {
    const e = err instanceof GrpcWireError ? err : new GrpcWireError(CODE.INTERNAL, (err as Error).message);
    this.refuse({ code: e.code, details: e.message });
  }

  /** A failure of our own while writing: ends the call with `code`, the handler is told. */
  private fail(code: number, details: string): void {
    this.refuse({ code, details });
  }

  /** Sends the status: trailers after the messages, or a trailers-only response before any. */
  private finish(code: number, details: string, trailers?: grpc.Metadata | null): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const status = endTrailers(code, details, trailers);
    try {
      if (!this.headersSent) {
        this.headersSent = true;
        const md = this.responseMetadata?.toHttp2Headers();
        stream.respond({ ...TRAILERS_ONLY_HEADERS, ...md, ...status }, RESPOND_TRAILERS_ONLY);
      } else {
        stream.once('wantTrailers', () => {
          if (!stream.destroyed) stream.sendTrailers(status);
        });
        stream.end();
      }
    } catch {
      // The session went away between the check and the status: nobody is left to tell.
    }
    // The client may still be sending: what it sends now is read and dropped, and the stream
    // closes once both sides are done (grpc-js does the same).
    stream.resume();
    process.nextTick(() => super.emit('finish'));
  }
}

/** The half-close, queued behind the messages before it. */
const END: unique symbol = Symbol('end of the client stream');
