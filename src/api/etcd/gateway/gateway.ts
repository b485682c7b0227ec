// etcd's JSON gateway on the client port: POST /v3/<service>/<method> with the request message as
// JSON, answered with the response message as JSON (transcode.ts), streams as one
// {"result": message} per line (streams.ts); /health, /version and /metrics as etcd serves them.
// Requests become gRPC calls on the member's own server (loopback.ts), so they are judged and
// answered exactly as a gRPC client's; only the JSON around them is the gateway's.
import * as grpc from '@grpc/grpc-js';
import type { JsonValue } from '@bufbuild/protobuf';
import type { HttpExchange } from '../../../grpc/h2/http-exchange.js';
import type { GatewayLoopback } from './loopback.js';
import { gatewayRoute, isGatewayPath, type GatewayRoute } from './routes.js';
import { CORS, JSON_HEADERS, REPLY_HEADERS, errorAnswer, json, plain, unaryError } from './answers.js';
import { metadataOf } from './call-metadata.js';
import { JsonValues } from './json-values.js';
import { relay, serveBidi } from './streams.js';
import { requestFromJson, responseToJson } from './transcode.js';
import { ETCD_API_VERSION } from '../version.js';

export interface GatewayOptions {
  loopback: GatewayLoopback;
  /** etcd's /health (src/api/etcd/gateway/health.ts), with the alarms ?exclude= names left out. */
  healthy(excludedAlarms: readonly string[]): Promise<boolean>;
  /** etcd's /metrics on the client URL: the member's Prometheus text, behind --metrics-auth's rule. */
  metrics?: {
    render(): Promise<{ contentType: string; text: string }>;
    /** The refusal (HTTP status, gRPC code, message) of a caller with this Authorization header; undefined: allowed. */
    refusal(authorization: string | undefined): Promise<{ status: number; grpcCode: number; message: string } | undefined>;
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

export function etcdGateway(opts: GatewayOptions): (ex: HttpExchange) => void {
  return (ex) => {
    if (ex.method === 'OPTIONS') return plain(ex, 200, '');
    if (ex.path === '/health' || ex.path === '/version' || ex.path === '/metrics') {
      if (ex.method !== 'GET') return plain(ex, 405, 'Method Not Allowed\n', { Allow: 'GET' });
      if (ex.path === '/metrics') return serveMetrics(ex, opts);
      if (ex.path === '/version') return json(ex, 200, JSON_HEADERS, { etcdserver: ETCD_API_VERSION, etcdcluster: ETCD_API_VERSION });
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
      if (refused) return errorAnswer(ex, refused.status, refused.grpcCode, refused.message);
      const { contentType, text } = await m.render();
      if (!ex.open) return;
      ex.respond(200, { ...CORS, 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(text)) });
      ex.end(text);
    })
    .catch((err: Error) => unaryError(ex, grpc.status.INTERNAL, err.message));
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
      if (err instanceof BodyTooLarge) errorAnswer(ex, 413, grpc.status.RESOURCE_EXHAUSTED, err.message);
      else unaryError(ex, grpc.status.INVALID_ARGUMENT, err.message);
    },
  );
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
