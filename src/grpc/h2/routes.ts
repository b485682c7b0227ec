// How a direct path takes its methods from a grpc-js server (direct-unary.ts, direct-stream.ts):
// each method is captured as grpc-js registers it (with the handler, serializer and deserializer
// grpc-js is given, wrappers included), and the HTTP/2 streams of the captured paths are served
// here instead of by grpc-js's dispatcher; every other stream, and every one whose headers a
// direct path does not take (compression, a malformed grpc-timeout), goes on to the next listener.
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';
import { takes, timeoutOf } from './call.js';
import { canHookHttp2Servers, hookHttp2Servers } from './server-hook.js';

export interface Route<H> {
  path: string;
  handler: H;
  serialize: (value: unknown) => Buffer;
  deserialize: (bytes: Buffer) => unknown;
}

/** What a hooked server reports (tests check that the hook took). */
export interface DirectHook {
  /** Paths served directly. */
  readonly paths: ReadonlySet<string>;
  /** Calls served directly so far, and calls handed to the next listener (grpc-js). */
  readonly counts: { direct: number; handedOver: number };
  /** False when grpc-js's shape was not the expected one: grpc-js serves everything. */
  readonly hooked: boolean;
}

interface HookableServer {
  register: (name: string, handler: unknown, serialize: unknown, deserialize: unknown, type: string) => boolean;
  onStreamOpened?: (stream: http2.ServerHttp2Stream) => void;
}

/**
 * Captures the methods of `server` that `accept` turns into a handler (given the method's path,
 * grpc-js's call type and the handler registered) and serves their calls with `serve`. Call
 * before bindAsync and before the services are added.
 */
export function serveRoutesDirectly<H>(
  server: grpc.Server,
  accept: (path: string, type: string, handler: (...args: never[]) => unknown) => H | undefined,
  serve: (route: Route<H>, stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, timeoutMs: number | undefined) => void,
): DirectHook {
  const s = server as unknown as HookableServer;
  const routes = new Map<string, Route<H>>();
  const counts = { direct: 0, handedOver: 0 };
  const hook = {
    get paths(): ReadonlySet<string> {
      return new Set(routes.keys());
    },
    counts,
    hooked: false,
  };
  if (typeof s.register !== 'function' || !canHookHttp2Servers(server)) return hook;
  hook.hooked = true;

  const register = s.register.bind(server);
  s.register = (name, handler, serialize, deserialize, type) => {
    const ok = register(name, handler, serialize, deserialize, type);
    const h = ok && typeof handler === 'function' && typeof serialize === 'function' && typeof deserialize === 'function' ? accept(name, type, handler as (...args: never[]) => unknown) : undefined;
    if (h !== undefined) routes.set(name, { path: name, handler: h, serialize: serialize as Route<H>['serialize'], deserialize: deserialize as Route<H>['deserialize'] });
    return ok;
  };

  hookHttp2Servers(
    server,
    (h2, next) => (stream, headers, flags) => {
      const route = routes.get(headers[':path'] as string);
      const timeout = route && takes(headers) ? timeoutOf(headers) : null;
      if (!route || timeout === null) {
        counts.handedOver++;
        next.call(h2, stream, headers, flags);
        return;
      }
      counts.direct++;
      s.onStreamOpened?.call(server, stream);
      serve(route, stream, headers, timeout);
    },
    () => {
      hook.hooked = false;
    },
  );
  return hook;
}
