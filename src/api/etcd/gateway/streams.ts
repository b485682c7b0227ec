// The gateway's streams: Watch and LeaseKeepAlive (a request per JSON value of the body, as it
// arrives) and Snapshot (one request), their responses one {"result": …} line each.
import * as grpc from '@grpc/grpc-js';
import type { JsonValue } from '@bufbuild/protobuf';
import type { HttpExchange } from '../../../grpc/h2/http-exchange.js';
import type { GatewayLoopback } from './loopback.js';
import type { GatewayRoute } from './routes.js';
import { REPLY_HEADERS, unaryError } from './answers.js';
import { metadataOf } from './call-metadata.js';
import { httpStatusOf, httpStatusText } from './http-status.js';
import { JsonValues } from './json-values.js';
import { requestFromJson, responseToJson } from './transcode.js';

/**
 * A bidirectional stream: each JSON value of the body is one request, sent as it arrives; each
 * response is one line. When the body ends, the call is half-closed, as etcd's gateway does, but
 * for Watch (see stopSending).
 */
export function serveBidi(ex: HttpExchange, route: GatewayRoute, opts: { loopback: GatewayLoopback; maxBodyBytes: number }): void {
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
  // sending side then. A Watch call stays open instead: ours ends a half-closed stream once it has
  // no watcher (src/api/etcd/watch.ts), etcd's holds it, and so does its gateway's response. A
  // first request that does not parse fails the call instead (UNKNOWN, 500).
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
  // The call, once open, is cancelled with the exchange by relay().
  ex.onClose(() => {
    done = true;
  });
}

const WATCH = '/etcdserverpb.Watch/Watch';

export type ResponseStream = grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<Buffer, Buffer>;

/**
 * A stream's responses, one {"result": …} line each, flushed as they come; an error ends the
 * response with one {"error": {…}} object (grpc-gateway's stream error, with no line break after
 * it), whose HTTP status is the error's when nothing was sent before it.
 */
export function relay(ex: HttpExchange, route: GatewayRoute, call: ResponseStream): void {
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
