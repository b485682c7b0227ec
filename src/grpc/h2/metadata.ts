// Request headers to grpc-js Metadata (what the handlers and the auth code read) and Metadata to
// response headers: binary values travel base64-encoded under names ending in "-bin", several
// values of one name as separate values (node:http2 gives an array) or comma-joined ones.
import * as grpc from '@grpc/grpc-js';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';

// Transport headers: the call's shape, not the application's metadata.
const TRANSPORT = new Set(['content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'content-length']);

export function metadataFromHeaders(headers: IncomingHttpHeaders): grpc.Metadata {
  const md = new grpc.Metadata();
  // for...in, not Object.entries: every write through the etcd API builds this (its de-dup ids).
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name.startsWith(':') || TRANSPORT.has(name)) continue;
    const values = Array.isArray(value) ? value : [value];
    if (name.endsWith('-bin')) {
      for (const v of values) for (const part of v.split(',')) md.add(name, Buffer.from(part.trim(), 'base64'));
    } else {
      for (const v of values) md.add(name, v);
    }
  }
  return md;
}

/** Response headers or trailers carrying `md` (grpc-js encodes the -bin values). */
export function headersFromMetadata(md: grpc.Metadata | null | undefined): OutgoingHttpHeaders {
  return md ? md.toHttp2Headers() : {};
}
