// One HTTP request and its response, whether it came as HTTP/1.1 or as an HTTP/2 stream on the
// client port (http-beside.ts): the gateway is written once against this.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as http2 from 'node:http2';
import type { Readable } from 'node:stream';

export interface HttpExchange {
  readonly method: string;
  /** The path, without the query. */
  readonly path: string;
  /** The query string's parameters. */
  readonly query: URLSearchParams;
  header(name: string): string | undefined;
  /** Every request header's lower-case name. */
  headerNames(): string[];
  readonly body: Readable;
  respond(status: number, headers: Record<string, string>): void;
  write(chunk: string): void;
  end(chunk?: string): void;
  /** Runs once, when the response is over or the client went away. */
  onClose(cb: () => void): void;
  /** Whether the response can still be written. */
  readonly open: boolean;
}

const pathOf = (url: string): string => {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
};

const queryOf = (url: string): URLSearchParams => {
  const q = url.indexOf('?');
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
};

export function http1Exchange(req: IncomingMessage, res: ServerResponse): HttpExchange {
  return {
    method: req.method ?? 'GET',
    path: pathOf(req.url ?? '/'),
    query: queryOf(req.url ?? '/'),
    header: (name) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    },
    headerNames: () => Object.keys(req.headers),
    body: req,
    respond: (status, headers) => {
      res.writeHead(status, headers);
    },
    write: (chunk) => {
      res.write(chunk);
    },
    end: (chunk) => {
      res.end(chunk);
    },
    onClose: (cb) => {
      res.once('close', cb);
    },
    get open() {
      return !res.writableEnded && !res.destroyed;
    },
  };
}

export function http2Exchange(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): HttpExchange {
  let ended = false;
  return {
    method: String(headers[':method'] ?? 'GET'),
    path: pathOf(String(headers[':path'] ?? '/')),
    query: queryOf(String(headers[':path'] ?? '/')),
    header: (name) => {
      const v = headers[name];
      return Array.isArray(v) ? v[0] : v;
    },
    headerNames: () => Object.keys(headers).filter((k) => !k.startsWith(':')),
    body: stream,
    respond: (status, h) => {
      const lower: http2.OutgoingHttpHeaders = { ':status': status };
      for (const [k, v] of Object.entries(h)) lower[k.toLowerCase()] = v;
      stream.respond(lower);
    },
    write: (chunk) => {
      stream.write(chunk);
    },
    end: (chunk) => {
      ended = true;
      stream.end(chunk);
    },
    onClose: (cb) => {
      stream.once('close', cb);
    },
    get open() {
      return !ended && !stream.destroyed && !stream.closed;
    },
  };
}
