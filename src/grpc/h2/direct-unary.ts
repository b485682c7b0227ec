// Unary calls served straight from their HTTP/2 stream, beside grpc-js.
//
// Every etcd client makes one unary call per request, and grpc-js spends more per unary call than
// the call needs: an intercepting-call object, a stream decoder, a Metadata round trip, a
// listener object and closures per event, a Duplex per call (bench:unary-floor: a minimal server
// on node:http2 costs 0.6-0.8x grpc-js's server CPU per call). So on the client port the unary
// methods are answered here, from the same node:http2 server that grpc-js created and with the
// handler grpc-js was given (auth, metrics and the services' own wrappers included): grpc-js keeps
// the sessions (keepalive, idle and age limits, graceful shutdown), every stream method, and every
// call this module does not take (not POST, not a gRPC content type, a compressed request, a bad
// grpc-timeout, an unknown method), which it answers exactly as before.
//
// What a handler sees is the part of grpc-js's ServerUnaryCall our handlers use: request, metadata,
// getDeadline, getPeer, getAuthContext, getPath, cancelled and its 'cancelled' event, sendMetadata.
// The wire behaviour follows grpc-js's, with etcd's response headers (call.ts): one message, the
// status in trailers (or a trailers-only response for an error before any message),
// RESOURCE_EXHAUSTED beyond the message size limits, DEADLINE_EXCEEDED when the caller's deadline
// passes first, UNIMPLEMENTED (grpc-js's code) for a unary call without exactly one message.
//
// The hook uses two grpc-js members that are not in its typings: Server.register (already the
// place auth wraps unary handlers, guard.ts) and Server.createHttp2Server, whose 'stream' listener
// is grpc-js's dispatcher (server-hook.ts). If either is missing or shaped otherwise, nothing is
// hooked and grpc-js serves every call (test/grpc/direct-unary.test.ts fails, so an upgrade
// cannot drop it silently).
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { CODE, GrpcWireError } from './errors.js';
import { encodeFrame, FrameDecoder, FRAME_PREFIX, isOneFrame } from './framing.js';
import { DirectCall, endTrailers, RESPOND_TRAILERS_ONLY, RESPOND_WITH_TRAILERS, RESPONSE_HEADERS, statusOfError, TRAILERS_ONLY_HEADERS } from './call.js';
import { serveRoutesDirectly, type DirectHook, type Route as DirectRoute } from './routes.js';

type UnaryHandler = (call: DirectUnaryCall, cb: grpc.sendUnaryData<unknown>) => void;
type Route = DirectRoute<UnaryHandler>;

export interface DirectUnaryLimits {
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
}

/** A server's message size limits, from its options (grpc-js's defaults: 4 MiB in, unlimited out). */
export function messageLimits(options: grpc.ServerOptions): DirectUnaryLimits {
  const limit = (v: unknown, dflt: number): number => (typeof v === 'number' && v >= 0 ? v : dflt);
  return {
    maxReceiveMessageBytes: limit(options['grpc.max_receive_message_length'], 4 * 1024 * 1024),
    maxSendMessageBytes: limit(options['grpc.max_send_message_length'], Infinity),
  };
}

/** What a hooked server reports (tests check that the hook took). */
export type DirectUnaryHook = DirectHook;

/**
 * Serve `server`'s unary methods on its HTTP/2 streams directly. Call before anything wraps
 * `server.register` (the route must hold the handler exactly as grpc-js receives it) and before
 * bindAsync.
 */
export function serveUnaryDirectly(server: grpc.Server, limits: DirectUnaryLimits): DirectUnaryHook {
  return serveRoutesDirectly<UnaryHandler>(
    server,
    (_path, type, handler) => (type === 'unary' ? (handler as UnaryHandler) : undefined),
    (route, stream, headers, timeoutMs) => serve(route, stream, headers, timeoutMs, limits),
  );
}

/** The ServerUnaryCall a handler gets. */
class DirectUnaryCall extends DirectCall {
  request: unknown = undefined;

  /** The call ends without an answer from its handler: the client went away or its deadline passed. */
  cancel(reason: 'cancelled' | 'deadline'): void {
    this.cancelled = true;
    this.emit('cancelled', reason);
  }
}

/** Whether a handler's call object came from this module (tests check that the hook took). */
export function isDirectCall(call: unknown): boolean {
  return call instanceof DirectUnaryCall;
}

function serve(route: Route, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, timeoutMs: number | undefined, limits: DirectUnaryLimits): void {
  const ex = new UnaryExchange(route, stream, new DirectUnaryCall(stream, headers, route.path, timeoutMs === undefined ? Infinity : Date.now() + timeoutMs), limits);
  // One object per call and listeners shared by all calls: everything here lives as long as the
  // call, which at load outlives a young-generation collection or two, so each closure and
  // once() wrapper would be copied and then promoted (a sampling heap profile of a leader at 64
  // writes in flight: this function's closures were the largest part of what each call left
  // for the old generation to collect).
  (stream as ExchangeStream)[kExchange] = ex;
  stream.on('error', ignore); // a reset stream also closes: onClose handles it
  stream.on('close', onClose);
  stream.on('data', onData);
  stream.on('end', onEnd);
  if (timeoutMs !== undefined) ex.timer = setTimeout(onDeadline, timeoutMs, ex);
}

const kExchange = Symbol('unaryExchange');
type ExchangeStream = http2.ServerHttp2Stream & { [kExchange]: UnaryExchange };
const ignore = (): void => undefined;
function onClose(this: ExchangeStream): void {
  this[kExchange].closed();
}
function onData(this: ExchangeStream, chunk: Buffer): void {
  this[kExchange].data(chunk);
}
function onEnd(this: ExchangeStream): void {
  this[kExchange].ended();
}
function onWantTrailers(this: ExchangeStream): void {
  const ex = this[kExchange];
  if (!this.destroyed && ex.trailers) this.sendTrailers(ex.trailers);
}
function onDeadline(ex: UnaryExchange): void {
  ex.finish(CODE.DEADLINE_EXCEEDED, 'Deadline exceeded');
  ex.call.cancel('deadline');
}

/** One unary call on its stream: the request read from DATA frames, the answer given once. */
class UnaryExchange {
  answered = false;
  timer: NodeJS.Timeout | undefined = undefined;
  /** The status trailers, sent when node:http2 asks for them. */
  trailers: http2.OutgoingHttpHeaders | undefined = undefined;
  private message: Buffer | undefined = undefined;
  private extra = false;
  private decoder: FrameDecoder | undefined = undefined;
  /** The callback the handler answers through (grpc-js's sendUnaryData). */
  readonly cb: grpc.sendUnaryData<unknown>;

  constructor(
    private readonly route: Route,
    private readonly stream: http2.ServerHttp2Stream,
    readonly call: DirectUnaryCall,
    private readonly limits: DirectUnaryLimits,
  ) {
    this.cb = (err, value, trailer) => this.answer(err, value, trailer);
  }

  finish(code: number, message: string, trailers?: grpc.Metadata | null, reply?: Buffer): void {
    if (this.answered) return;
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const md = this.call.responseMetadata ? this.call.responseMetadata.toHttp2Headers() : undefined;
    const status = endTrailers(code, message, trailers);
    try {
      if (reply === undefined) {
        // Trailers-only: the status with the headers, as grpc-js answers an error before any message.
        stream.respond({ ...TRAILERS_ONLY_HEADERS, ...md, ...status }, RESPOND_TRAILERS_ONLY);
        return;
      }
      stream.respond(md ? { ...RESPONSE_HEADERS, ...md } : RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
      this.trailers = status;
      stream.on('wantTrailers', onWantTrailers);
      stream.end(encodeFrame(reply));
    } catch {
      // The session went away between the check and the answer: nobody is left to tell.
    }
  }

  closed(): void {
    if (this.answered) return;
    this.answered = true;
    if (this.timer) clearTimeout(this.timer);
    this.call.cancel('cancelled');
  }

  data(chunk: Buffer): void {
    if (this.answered) return;
    // The usual request: one DATA chunk holding exactly one whole message.
    if (this.decoder === undefined && this.message === undefined && isOneFrame(chunk, this.limits.maxReceiveMessageBytes)) {
      this.message = chunk.subarray(FRAME_PREFIX);
      return;
    }
    this.decoder ??= new FrameDecoder(this.limits.maxReceiveMessageBytes);
    try {
      for (const m of this.decoder.push(chunk)) {
        if (this.message === undefined) this.message = m;
        else this.extra = true;
      }
    } catch (err) {
      this.fail(err);
    }
  }

  private fail(err: unknown): void {
    const e = err instanceof GrpcWireError ? err : new GrpcWireError(CODE.INTERNAL, (err as Error).message);
    this.finish(e.code, e.message);
    if (!this.stream.destroyed) this.stream.close();
  }

  ended(): void {
    if (this.answered) return;
    try {
      this.decoder?.end();
    } catch (err) {
      this.fail(err);
      return;
    }
    const path = this.route.path;
    // grpc-js's words for these (it names every method a "server streaming method" there).
    if (this.message === undefined) return this.fail(new GrpcWireError(CODE.UNIMPLEMENTED, `Received no request message for server streaming method ${path}`));
    if (this.extra) return this.fail(new GrpcWireError(CODE.UNIMPLEMENTED, `Received a second request message for server streaming method ${path}`));
    try {
      this.call.request = this.route.deserialize(this.message);
    } catch (err) {
      return this.fail(new GrpcWireError(CODE.INTERNAL, `Error deserializing request: ${(err as Error).message}`));
    }
    this.message = undefined;
    try {
      this.route.handler(this.call, this.cb);
    } catch (err) {
      this.finish(CODE.UNKNOWN, (err as Error).message ?? 'Unknown error');
    }
  }

  private answer(err: Parameters<grpc.sendUnaryData<unknown>>[0], value?: unknown, trailer?: grpc.Metadata): void {
    if (err) {
      const st = statusOfError(err, trailer);
      this.finish(st.code, st.details, st.metadata);
      return;
    }
    let bytes: Buffer;
    try {
      bytes = this.route.serialize(value);
    } catch (e) {
      this.finish(CODE.INTERNAL, `Error serializing response: ${(e as Error).message}`);
      return;
    }
    if (bytes.length > this.limits.maxSendMessageBytes) {
      this.finish(CODE.RESOURCE_EXHAUSTED, `Sent message larger than max (${bytes.length} vs. ${this.limits.maxSendMessageBytes})`);
      return;
    }
    this.finish(CODE.OK, 'OK', trailer, bytes);
  }
}
