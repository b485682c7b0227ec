// The one place that reaches into grpc-js's HTTP/2 servers. grpc-js creates them in
// Server.createHttp2Server (not in its typings) and puts one 'stream' listener on each: its
// dispatcher. direct-unary.ts and http-beside.ts each take some streams before it; this wraps
// createHttp2Server so that each sees every server grpc-js creates, with the dispatcher it
// replaces. If grpc-js's shape is not the one expected, nothing is wrapped and grpc-js serves
// everything (their tests fail, so an upgrade cannot drop them silently).
import type * as http2 from 'node:http2';
import type * as grpc from '@grpc/grpc-js';

export type StreamListener = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number) => void;

export type Http2Server = http2.Http2Server | http2.Http2SecureServer;

interface CreatesHttp2Servers {
  createHttp2Server?: (credentials: unknown) => Http2Server;
}

/** Whether grpc-js creates its HTTP/2 servers where this module can wrap it. */
export function canHookHttp2Servers(server: grpc.Server): boolean {
  return typeof (server as unknown as CreatesHttp2Servers).createHttp2Server === 'function';
}

/**
 * Calls `replace` with each HTTP/2 server `server` creates from now on and grpc-js's dispatcher,
 * which it takes off; the listener `replace` returns takes its place. `onMismatch` runs for a
 * server whose listeners are not the expected one (that server is left as it is). Call before
 * bindAsync. False when nothing could be wrapped.
 */
export function hookHttp2Servers(server: grpc.Server, replace: (h2: Http2Server, grpcJs: StreamListener) => StreamListener, onMismatch: () => void): boolean {
  const s = server as unknown as CreatesHttp2Servers;
  if (typeof s.createHttp2Server !== 'function') return false;
  const create = s.createHttp2Server.bind(server);
  s.createHttp2Server = (credentials) => {
    const h2 = create(credentials);
    const listeners = h2.listeners('stream') as StreamListener[];
    if (listeners.length !== 1) {
      onMismatch();
      return h2;
    }
    const grpcJs = listeners[0]!;
    h2.removeListener('stream', grpcJs);
    h2.on('stream', replace(h2, grpcJs));
    return h2;
  };
  return true;
}
