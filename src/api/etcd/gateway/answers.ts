// The gateway's answers as etcd's gateway writes them: JSON bodies, Go's plain-text errors, and
// the headers etcd sends with every answer.
import type { HttpExchange } from '../../../grpc/h2/http-exchange.js';
import { httpStatusOf } from './http-status.js';

// etcd's gateway sends these on every answer (it allows browsers from anywhere: its API is
// guarded by auth, not by origin).
export const CORS = {
  'Access-Control-Allow-Headers': 'accept, content-type, authorization',
  'Access-Control-Allow-Methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'Access-Control-Allow-Origin': '*',
};
export const JSON_HEADERS = { ...CORS, 'Content-Type': 'application/json' };
export const REPLY_HEADERS = { ...JSON_HEADERS, 'Grpc-Metadata-Content-Type': 'application/grpc' };

/** A failed unary call: grpc-gateway's error body, with the HTTP status of its code. */
export function unaryError(ex: HttpExchange, code: number, message: string): void {
  errorAnswer(ex, httpStatusOf(code), code, message);
}

/** grpc-gateway's error body (its message twice, and the gRPC code) with an HTTP status of our choosing. */
export function errorAnswer(ex: HttpExchange, status: number, code: number, message: string): void {
  json(ex, status, JSON_HEADERS, { error: message, message, code });
}

/** A JSON answer (etcd's gateway sends its messages and errors so, with their length). */
export function json(ex: HttpExchange, status: number, headers: Record<string, string>, body: unknown): void {
  if (!ex.open) return;
  const text = JSON.stringify(body);
  ex.respond(status, { ...headers, 'Content-Length': String(Buffer.byteLength(text)) });
  ex.end(text);
}

/** A text answer as Go's http.Error writes one (nosniff), or as a handler's plain write (`error` false). */
export function plain(ex: HttpExchange, status: number, text: string, extra: Record<string, string> = {}, error = true): void {
  if (!ex.open) return;
  const headers: Record<string, string> = { ...CORS, 'Content-Type': 'text/plain; charset=utf-8', ...extra, 'Content-Length': String(Buffer.byteLength(text)) };
  if (error) headers['X-Content-Type-Options'] = 'nosniff';
  ex.respond(status, headers);
  ex.end(text);
}
