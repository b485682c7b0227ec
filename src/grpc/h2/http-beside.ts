// Plain HTTP on the gRPC client port, as etcd serves its JSON gateway, /health and /version on
// its client URL. grpc-js keeps every gRPC request; this module takes:
// - HTTP/1.1 connections on a plaintext port: the first bytes tell them from HTTP/2, whose
//   connections all begin with the same preface;
// - TLS connections that negotiate no protocol or HTTP/1.1 (Node's HTTP/2 server hands them over
//   as 'unknownProtocol');
// - HTTP/2 requests that are not gRPC (no application/grpc content type) for the paths `takes`.
// Everything else goes where it went before. Like direct-unary.ts it wraps grpc-js's HTTP/2
// servers (server-hook.ts); if they are not as expected, the port serves gRPC only.
import { createServer as createHttp1Server, type Server as Http1Server } from 'node:http';
import type * as http2 from 'node:http2';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type * as grpc from '@grpc/grpc-js';
import { http1Exchange, http2Exchange, type HttpExchange } from './http-exchange.js';
import { canHookHttp2Servers, hookHttp2Servers } from './server-hook.js';

/** The bytes every HTTP/2 connection starts with (RFC 9113, 3.4). */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

type Listener = (...args: unknown[]) => void;

export interface HttpBeside {
  /** False when grpc-js's shape was not the expected one: the port serves gRPC only. */
  readonly hooked: boolean;
  /** Ends the HTTP/1.1 connections (graceful stop). */
  close(): void;
}

export function serveHttpBesideGrpc(server: grpc.Server, takes: (path: string) => boolean, handle: (ex: HttpExchange) => void): HttpBeside {
  // A handler that throws must not take the member down: the request gets a 500.
  const serve = (ex: HttpExchange): void => {
    try {
      handle(ex);
    } catch {
      if (!ex.open) return;
      try {
        ex.respond(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        ex.end('Internal Server Error\n');
      } catch {
        // headers already sent: nothing more to say
      }
    }
  };
  const http1: Http1Server = createHttp1Server((req, res) => serve(http1Exchange(req, res)));
  // A gateway watch is a long response: no request or idle timeout ends it.
  http1.requestTimeout = 0;
  http1.headersTimeout = 60_000;
  const state = { hooked: canHookHttp2Servers(server) };
  hookHttp2Servers(
    server,
    (h2, grpcJs) => {
      if (h2 instanceof TlsServer) {
        h2.on('unknownProtocol', (socket: Socket) => http1.emit('connection', socket));
      } else {
        const connectionListeners = h2.listeners('connection') as Listener[];
        h2.removeAllListeners('connection');
        h2.on('connection', (socket: Socket) =>
          sniff(socket, (isH2) => {
            if (isH2) for (const l of connectionListeners) l.call(h2, socket);
            else http1.emit('connection', socket);
          }),
        );
      }
      return (stream, headers, flags) => {
        const path = String(headers[':path'] ?? '');
        const q = path.indexOf('?');
        if (!isGrpc(headers) && takes(q < 0 ? path : path.slice(0, q))) {
          stream.on('error', () => undefined);
          serve(http2Exchange(stream, headers));
          return;
        }
        grpcJs.call(h2, stream, headers, flags);
      };
    },
    () => {
      state.hooked = false;
    },
  );
  return {
    get hooked() {
      return state.hooked;
    },
    close() {
      http1.closeAllConnections();
    },
  };
}

function isGrpc(headers: http2.IncomingHttpHeaders): boolean {
  const ct = headers['content-type'];
  return typeof ct === 'string' && ct.startsWith('application/grpc');
}

/**
 * Reads until the bytes tell HTTP/2's preface from anything else, puts them back, and decides.
 * Node's HTTP/2 and HTTP/1.1 servers both start from data already read on the socket.
 */
function sniff(socket: Socket, decide: (isH2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const isPrefix = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (isPrefix && n < H2_PREFACE.length) return;
    socket.removeListener('data', onData);
    socket.removeListener('close', onClose);
    socket.pause();
    socket.unshift(seen);
    decide(isPrefix);
    // HTTP/2 reads the socket's handle itself; HTTP/1.1 reads it as a stream, paused here.
    if (!isPrefix) process.nextTick(() => socket.resume());
  };
  const onClose = (): void => {
    socket.removeListener('data', onData);
  };
  socket.on('data', onData);
  socket.once('close', onClose);
  socket.on('error', () => undefined);
}
