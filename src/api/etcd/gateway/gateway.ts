// etcd's JSON gateway on the client port: POST /v3/<service>/<method> with the request message as
// JSON, answered with the response message as JSON (transcode.ts), streams as one
// {"result": message} per line; /health and /version as etcd serves them. Requests become gRPC
// calls on the member's own server (loopback.ts), so they are judged and answered exactly as a
// gRPC client's; only the JSON around them is this module's.
import * as grpc from '@grpc/grpc-js';
import type { JsonValue } from '@bufbuild/protobuf';
import type { HttpExchange } from './exchange.js';
import type { GatewayLoopback } from './loopback.js';
import { gatewayRoute, isGatewayPath, type GatewayRoute } from './routes.js';
import { httpStatusOf } from './http-status.js';
import { JsonValues } from './json-values.js';
import { requestFromJson, responseToJson } from './transcode.js';

export interface GatewayOptions {
  loopback: GatewayLoopback;
  /** etcd's /health (src/api/etcd/gateway/health.ts), with the alarms ?exclude= names left out. */
  healthy(excludedAlarms: readonly string[]): Promise<boolean>;
  /** What /version reports as the server's version (Maintenance.Status reports the same). */
  serverVersion: string;
  /** etcd's /metrics on the client URL: the member's Prometheus text, behind --metrics-auth's rule. */
  metrics?: {
    render(): Promise<{ contentType: string; text: string }>;
    /** The refusal (with its gRPC code) for a caller with this Authorization header; undefined: allowed. */
    refusal(authorization: string | undefined): Promise<{ grpcCode: number; message: string } | undefined>;
  };
  /**
   * The largest request body read, in bytes; etcd's --max-request-bytes then applies to the
   * message, as for a gRPC client.
   */
  maxBodyBytes: number;
}

/**
 * The gateway's body limit for a member's --max-request-bytes: room for the largest request etcd
 * accepts in JSON (base64 is 4/3 of the bytes, plus the field names), not for anything larger.
 */
export function gatewayBodyLimit(maxRequestBytes: number): number {
  return 2 * maxRequestBytes + 1024 * 1024;
}

/** The etcd API version /version reports for the cluster: the one these services implement. */
export const CLUSTER_API_VERSION = '3.4.0';

// etcd's gateway sends these on every answer (it allows browsers from anywhere: its API is
// guarded by auth, not by origin).
const CORS = {
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Origin': '*',
};
const JSON_HEADERS = { ...CORS, 'Content-Type': 'application/json' };
const REPLY_HEADERS = { ...JSON_HEADERS, 'Grpc-Metadata-Content-Type': 'application/grpc' };

export function etcdGateway(opts: GatewayOptions): (ex: HttpExchange) => void {
  return (ex) => {
    if (ex.method === 'OPTIONS') return plain(ex, 200, '');
    if (ex.path === '/health' || ex.path === '/version' || ex.path === '/metrics') {
      if (ex.method !== 'GET') return plain(ex, 405, 'Method Not Allowed\n', { Allow: 'GET' });
      if (ex.path === '/metrics') return serveMetrics(ex, opts);
      if (ex.path === '/version') return json(ex, 200, JSON_HEADERS, { etcdserver: opts.serverVersion, etcdcluster: CLUSTER_API_VERSION });
      // etcd writes a healthy answer as is and an unhealthy one as an HTTP error (a line, 503).
      const answer = (ok: boolean): void => (ok ? plain(ex, 200, '{"health":"true"}', {}, false) : plain(ex, 503, '{"health":"false"}\n'));
      void opts.healthy(ex.query.getAll('exclude')).then(answer, () => answer(false));
      return;
    }
    const route = gatewayRoute(ex.path);
    // Go's words outside the gateway's prefixes, grpc-gateway's inside them.
    if (!route) return plain(ex, 404, isGatewayPath(ex.path) ? 'Not Found\n' : '404 page not found\n');
    if (ex.method !== 'POST') return plain(ex, 405, 'Method Not Allowed\n');
    if (route.kind === 'bidi') serveBidi(ex, route, opts);
    else serveOne(ex, route, opts);
  };
}

function serveMetrics(ex: HttpExchange, opts: GatewayOptions): void {
  const m = opts.metrics;
  if (!m) return plain(ex, 404, '404 page not found\n');
  m.refusal(ex.header('authorization'))
    .then(async (refused) => {
      // As the admin port answers it: 403 for a caller without the role, 401 for no valid caller.
      if (refused) return json(ex, refused.grpcCode === grpc.status.PERMISSION_DENIED ? 403 : 401, JSON_HEADERS, { error: refused.message, message: refused.message, code: refused.grpcCode });
      const { contentType, text } = await m.render();
      if (!ex.open) return;
      ex.respond(200, { ...CORS, 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(text)) });
      ex.end(text);
    })
    .catch((err: Error) => unaryError(ex, grpc.status.INTERNAL, err.message));
}

const METADATA_HEADER = 'grpc-metadata-';

/**
 * The call's metadata, as etcd's gateway builds it: the Authorization header, as is, is the auth
 * token; a `Grpc-Metadata-<name>` header is metadata `<name>` (e.g. Grpc-Metadata-Hasleader: true).
 */
function metadataOf(ex: HttpExchange): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const name of ex.headerNames()) {
    if (!name.startsWith(METADATA_HEADER) || name.length === METADATA_HEADER.length) continue;
    const key = name.slice(METADATA_HEADER.length);
    if (key.endsWith('-bin')) continue; // binary metadata has no text form in a header
    const value = ex.header(name);
    try {
      if (value !== undefined) md.set(key, value);
    } catch {
      // A name gRPC metadata does not allow (HTTP allows more characters): not forwarded.
    }
  }
  const auth = ex.header('authorization');
  if (auth) md.set('token', auth);
  return md;
}

/** A unary call or a server stream: the first JSON value of the body is the request. */
function serveOne(ex: HttpExchange, route: GatewayRoute, opts: GatewayOptions): void {
  readBody(ex, opts.maxBodyBytes).then(
    (body) => {
      let request: Buffer;
      try {
        const values = new JsonValues(opts.maxBodyBytes);
        const first = [...values.push(body), ...values.end()][0] ?? {};
        request = requestFromJson(route.request, first as JsonValue);
      } catch (err) {
        return unaryError(ex, grpc.status.INVALID_ARGUMENT, (err as Error).message);
      }
      if (route.kind === 'server-stream') return relay(ex, route, opts.loopback.serverStream(route.method, request, metadataOf(ex)));
      const call = opts.loopback.unary(route.method, request, metadataOf(ex), (err, reply) => {
        if (err) return unaryError(ex, err.code, err.details);
        let out: JsonValue;
        try {
          out = responseToJson(route.response, reply!);
        } catch (e) {
          return unaryError(ex, grpc.status.INTERNAL, (e as Error).message);
        }
        json(ex, 200, REPLY_HEADERS, out);
      });
      ex.onClose(() => call.cancel());
    },
    (err: Error) => {
      if (err instanceof BodyTooLarge) json(ex, 413, JSON_HEADERS, { error: err.message, message: err.message, code: grpc.status.RESOURCE_EXHAUSTED });
      else unaryError(ex, grpc.status.INVALID_ARGUMENT, err.message);
    },
  );
}

/**
 * A bidirectional stream: each JSON value of the body is one request, sent as it arrives; each
 * response is one line. When the body ends the call stays open for Watch, as etcd's watch stream
 * stays open after its client stops sending; other streams are told the client is done.
 */
function serveBidi(ex: HttpExchange, route: GatewayRoute, opts: GatewayOptions): void {
  const values = new JsonValues(opts.maxBodyBytes);
  let call: grpc.ClientDuplexStream<Buffer, Buffer> | null = null;
  let done = false;
  const open = (): grpc.ClientDuplexStream<Buffer, Buffer> => {
    if (!call) {
      call = opts.loopback.bidi(route.method, metadataOf(ex));
      relay(ex, route, call);
    }
    return call;
  };
  const send = (vals: unknown[]): void => {
    for (const v of vals) {
      let request: Buffer;
      try {
        request = requestFromJson(route.request, v as JsonValue);
      } catch (err) {
        refuse(err as Error);
        return;
      }
      if (done) return;
      open().write(request);
    }
  };
  // The client is done sending, or sent something that does not parse: etcd's gateway closes the
  // sending side then (our Watch would end on that; etcd's keeps streaming, so the call stays
  // open). A first request that does not parse fails the call instead (UNKNOWN, 500).
  const stopSending = (): void => {
    done = true;
    const c = open();
    if (route.method !== WATCH) c.end();
  };
  const refuse = (err: Error): void => {
    ex.body.resume();
    if (call) return stopSending();
    done = true;
    unaryError(ex, grpc.status.UNKNOWN, err.message);
  };
  ex.body.on('data', (chunk: Buffer) => {
    if (done) return;
    try {
      send(values.push(chunk));
    } catch (err) {
      refuse(err as Error);
    }
  });
  ex.body.once('end', () => {
    if (done) return;
    try {
      send(values.end());
    } catch (err) {
      refuse(err as Error);
    }
    if (!done) stopSending();
  });
  ex.onClose(() => {
    done = true;
    call?.cancel();
  });
}

const WATCH = '/etcdserverpb.Watch/Watch';

type ResponseStream = grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>;

/**
 * A stream's responses, one {"result": …} line each, flushed as they come; an error ends the
 * response with one {"error": {…}} object (grpc-gateway's stream error, with no line break after
 * it), whose HTTP status is the error's when nothing was sent before it.
 */
function relay(ex: HttpExchange, route: GatewayRoute, call: ResponseStream): void {
  let started = false;
  const start = (status: number): void => {
    if (started) return;
    started = true;
    ex.respond(status, REPLY_HEADERS);
  };
  const fail = (code: number, message: string): void => {
    if (!ex.open) return;
    const status = httpStatusOf(code);
    start(status);
    ex.end(JSON.stringify({ error: { grpc_code: code, http_code: status, message, http_status: httpStatusText(status) } }));
  };
  call.on('data', (bytes: Buffer) => {
    if (!ex.open) return;
    let out: JsonValue;
    try {
      out = responseToJson(route.response, bytes);
    } catch (e) {
      call.cancel();
      fail(grpc.status.INTERNAL, (e as Error).message);
      return;
    }
    start(200);
    ex.write(JSON.stringify({ result: out }) + '\n');
  });
  // When the client went away first (the call was cancelled for it), nobody is left to tell.
  call.on('error', (err: grpc.ServiceError) => fail(err.code, err.details));
  call.on('end', () => {
    if (!ex.open) return;
    start(200);
    ex.end();
  });
  ex.onClose(() => call.cancel());
}

/** A body past the gateway's limit: answered 413 (RESOURCE_EXHAUSTED) at once; the rest is read and dropped. */
class BodyTooLarge extends Error {}

function readBody(ex: HttpExchange, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    ex.body.on('data', (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > max) {
        over = true;
        reject(new BodyTooLarge(`request body is larger than ${max} bytes`));
        return;
      }
      chunks.push(c);
    });
    ex.body.once('end', () => {
      if (!over) resolve(Buffer.concat(chunks));
    });
    ex.body.once('error', reject);
  });
}

function unaryError(ex: HttpExchange, code: number, message: string): void {
  json(ex, httpStatusOf(code), JSON_HEADERS, { error: message, message, code });
}

function json(ex: HttpExchange, status: number, headers: Record<string, string>, body: unknown): void {
  if (!ex.open) return;
  const text = JSON.stringify(body);
  ex.respond(status, { ...headers, 'Content-Length': String(Buffer.byteLength(text)) });
  ex.end(text);
}

/** A text answer as Go's http.Error writes one (nosniff), or as a handler's plain write (`error` false). */
function plain(ex: HttpExchange, status: number, text: string, extra: Record<string, string> = {}, error = true): void {
  if (!ex.open) return;
  const headers: Record<string, string> = { ...CORS, 'Content-Type': 'text/plain; charset=utf-8', ...extra, 'Content-Length': String(Buffer.byteLength(text)) };
  if (error) headers['X-Content-Type-Options'] = 'nosniff';
  ex.respond(status, headers);
  ex.end(text);
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function httpStatusText(status: number): string {
  return STATUS_TEXT[status] ?? 'Internal Server Error';
}
