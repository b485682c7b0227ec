// Wraps gRPC (grpc-js) service handlers so every call is counted by service, method and status
// code and its latency observed in Metrics. Usage, where the node adds its services:
//
//   server.addService(KvServiceService,
//     instrumentGrpcService('placement.v1.KvService', kvHandlers, metrics, KvServiceService));
//
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { GrpcType, Metrics } from './metrics.js';

/** Name of a gRPC status code (`OK`, `UNAVAILABLE`, …); unknown numbers are returned as digits. */
export function grpcCodeName(code: number | undefined | null): string {
  if (code === undefined || code === null) return 'UNKNOWN';
  const name = (GrpcStatus as unknown as Record<number, string>)[code];
  return typeof name === 'string' ? name : String(code);
}

/** The subset of a grpc-js/ts-proto service definition used to name methods. */
export type MethodPaths = Record<string, { path: string }>;

type AnyFn = (...args: never[]) => unknown;

interface StreamLike {
  once(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Returns a copy of `handlers` in which every handler counts its calls in
 * `placement_grpc_started_total{service,method}` as they start and records
 * `placement_grpc_requests_total{service,method,code}` and
 * `placement_grpc_request_duration_seconds{service,method}` when the call ends.
 *
 * - `service`: label value, e.g. `placement.v1.KvService`.
 * - `definition` (optional): the ts-proto/grpc-js service definition; method labels are then
 *   taken from its paths (`Set`, `Get`, …). Without it the handler key is used with its first
 *   letter upper-cased.
 * - Unary and client-streaming handlers (those taking a callback) are measured from the call to
 *   the callback; the code is the error's `code` (grpc-js `ServiceError`, or a PlacementError
 *   mapped through `code` being numeric), `OK` on success, `UNKNOWN` for errors without a code.
 * - Server-streaming and bidi handlers are measured until the stream finishes (`OK`), errors
 *   (its code) or is cancelled (`CANCELLED`).
 */
export function instrumentGrpcService<T extends object>(
  service: string,
  handlers: T,
  metrics: Metrics,
  definition?: MethodPaths,
): T {
  const out: Record<string, unknown> = {};
  for (const [key, handler] of Object.entries(handlers)) {
    if (typeof handler !== 'function') {
      out[key] = handler;
      continue;
    }
    const path = definition?.[key]?.path;
    const method = path ? path.slice(path.lastIndexOf('/') + 1) : key.charAt(0).toUpperCase() + key.slice(1);
    const fn = handler as AnyFn;
    const shape = definition?.[key] as { requestStream?: boolean; responseStream?: boolean } | undefined;
    const streamingResponse = shape?.responseStream;
    const takesCallback = streamingResponse === undefined ? fn.length >= 2 : !streamingResponse;
    const started = metrics.grpcMethod(service, method, callType(shape?.requestStream ?? !takesCallback, streamingResponse ?? !takesCallback));
    out[key] = takesCallback
      ? function instrumentedUnary(this: unknown, call: unknown, callback: (err: unknown, ...rest: unknown[]) => void) {
          started.inc();
          // Fixed arguments, not rest arrays: this closure lives as long as the call.
          const start = performance.now();
          let done = false;
          const wrapped = (err: unknown, value?: unknown, trailer?: unknown, flags?: unknown) => {
            if (!done) {
              done = true;
              metrics.observeGrpc(service, method, errorCode(err), elapsed(start));
            }
            callback(err, value, trailer, flags);
          };
          return (fn as unknown as (c: unknown, cb: unknown) => unknown).call(this, call, wrapped);
        }
      : function instrumentedStream(this: unknown, call: StreamLike) {
          started.inc();
          const start = performance.now();
          let done = false;
          const finish = (code: string) => {
            if (done) return;
            done = true;
            metrics.observeGrpc(service, method, code, elapsed(start));
          };
          call.once('finish', () => finish('OK'));
          call.once('error', (err: unknown) => finish(errorCode(err)));
          call.once('cancelled', () => finish('CANCELLED'));
          return (fn as unknown as (c: unknown) => unknown).call(this, call);
        };
  }
  return out as T;
}

function callType(requestStream: boolean, responseStream: boolean): GrpcType {
  if (requestStream) return responseStream ? 'bidi_stream' : 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}

function errorCode(err: unknown): string {
  if (err === null || err === undefined) return 'OK';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number') return grpcCodeName(code);
  if (typeof code === 'string' && code in GrpcStatus) return code;
  return 'UNKNOWN';
}

/** Seconds since `start` (a performance.now() reading): a number, not a bigint kept per call. */
function elapsed(start: number): number {
  return (performance.now() - start) / 1000;
}
