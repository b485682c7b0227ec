// What the calls served straight from their HTTP/2 stream share (direct-unary.ts, direct-stream.ts):
// which requests they take, etcd's response headers, and the part of grpc-js's server call
// object our handlers use (metadata, deadline, peer, TLS identity, response metadata).
import { EventEmitter } from 'node:events';
import type * as http2 from 'node:http2';
import { TLSSocket } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CODE } from './errors.js';
import { metadataFromHeaders } from './metadata.js';
import { parseGrpcTimeout } from './deadline.js';
import { statusTrailers } from './status.js';

// The response headers and OK trailers etcd's gRPC server (grpc-go) sends: no encoding headers, no
// date, an empty grpc-message. Both sides parse every header of every call, and grpc-js's set
// (content-type application/grpc+proto, grpc-accept-encoding, grpc-encoding: identity, date,
// grpc-message: OK) cost more: bench:ab against the previous server, 5 paired rounds, put@64
// 1.06x ops/s and 0.91x members' CPU per call, range@64 1.04x and 0.95x. The calls grpc-js still
// answers (compressed requests) keep its headers.
export const TRAILERS_ONLY_HEADERS = { ':status': 200, 'content-type': 'application/grpc' } as const;
export const RESPONSE_HEADERS = TRAILERS_ONLY_HEADERS;
/** respond() options: node:http2 adds a date header unless told not to. */
export const RESPOND_WITH_TRAILERS = Object.freeze({ waitForTrailers: true, sendDate: false }) as http2.ServerStreamResponseOptions;
export const RESPOND_TRAILERS_ONLY = Object.freeze({ endStream: true, sendDate: false }) as http2.ServerStreamResponseOptions;

/** The trailers of every successful call without trailing metadata (most of them). */
export const OK_TRAILERS: Record<string, string> = { 'grpc-status': String(CODE.OK), 'grpc-message': '' };

/** The trailers ending a call with `code` and `message`, and its trailing metadata if any. */
export function endTrailers(code: number, message: string, trailers?: grpc.Metadata | null): http2.OutgoingHttpHeaders {
  const base = code === CODE.OK ? OK_TRAILERS : statusTrailers(code, message);
  return trailers ? { ...base, ...trailers.toHttp2Headers() } : base;
}

/** A call served directly: a gRPC POST with no compression (grpc-js decompresses the rest). */
export function takes(headers: http2.IncomingHttpHeaders): boolean {
  if (headers[':method'] !== 'POST') return false;
  const ct = headers['content-type'];
  if (typeof ct !== 'string' || !(ct === 'application/grpc' || ct.startsWith('application/grpc+') || ct.startsWith('application/grpc;'))) return false;
  const enc = headers['grpc-encoding'];
  return enc === undefined || enc === 'identity';
}

/** The caller's timeout in ms, undefined for none, null when malformed (grpc-js answers those). */
export function timeoutOf(headers: http2.IncomingHttpHeaders): number | undefined | null {
  try {
    return parseGrpcTimeout(headers['grpc-timeout']);
  } catch {
    return null;
  }
}

/** The status an error a handler hands back ends its call with, as grpc-js's serverErrorToStatus. */
export function statusOfError(err: unknown, trailer?: grpc.Metadata | null): { code: number; details: string; metadata: grpc.Metadata | null } {
  // An integer code with its details, else UNKNOWN with the error's message; the trailers given
  // with the error win over its own metadata.
  const e = err as Partial<grpc.ServiceError>;
  const coded = typeof e.code === 'number' && Number.isInteger(e.code);
  const details = coded && typeof e.details === 'string' ? e.details : e !== null && typeof e === 'object' && 'message' in e ? String(e.message) : 'Unknown Error';
  return { code: coded ? e.code! : CODE.UNKNOWN, details, metadata: trailer ?? e.metadata ?? null };
}

const firstText = (md: grpc.Metadata, name: string): string | undefined => {
  const v = md.get(name)[0];
  return v === undefined ? undefined : String(v);
};

/** The part of grpc-js's server call objects that our handlers use, read from the HTTP/2 stream. */
export class DirectCall extends EventEmitter {
  cancelled = false;
  /** Response metadata from sendMetadata(), sent with the response headers. */
  responseMetadata: grpc.Metadata | null = null;
  private md: grpc.Metadata | null = null;

  constructor(
    protected readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly path: string,
    private readonly deadline: number,
  ) {
    super();
  }

  /** The request's metadata, built when first asked for (with auth off, nothing asks). */
  get metadata(): grpc.Metadata {
    return (this.md ??= metadataFromHeaders(this.headers));
  }

  /** The first value of a text (not -bin) metadata entry, as metadata.get(name)[0] gives it. */
  textMetadata(name: string): string | undefined {
    if (this.md) return firstText(this.md, name);
    const v = this.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }

  getDeadline(): grpc.Deadline {
    return this.deadline;
  }

  getPath(): string {
    return this.path;
  }

  getPeer(): string {
    const socket = this.stream.session?.socket;
    if (!socket?.remoteAddress) return 'unknown';
    return socket.remotePort ? `${socket.remoteAddress}:${socket.remotePort}` : socket.remoteAddress;
  }

  /** As grpc-js: the verified client certificate of a TLS connection, nothing otherwise. */
  getAuthContext(): ReturnType<grpc.ServerUnaryCall<unknown, unknown>['getAuthContext']> {
    const socket = this.stream.session?.socket;
    if (!(socket instanceof TLSSocket) || !socket.authorized) return {};
    const cert = socket.getPeerCertificate();
    return { transportSecurityType: 'ssl', sslPeerCertificate: cert.raw ? cert : undefined };
  }

  sendMetadata(md: grpc.Metadata): void {
    this.responseMetadata = this.responseMetadata ?? new grpc.Metadata();
    this.responseMetadata.merge(md);
  }
}

/**
 * The first value of the text metadata entry `name` (lower case, not -bin) of a call: read from
 * the request's headers for a directly served call, which then builds no Metadata (every write
 * through the etcd API reads its de-dup ids this way).
 */
export function textMetadata(call: { readonly metadata: grpc.Metadata }, name: string): string | undefined {
  return call instanceof DirectCall ? call.textMetadata(name) : firstText(call.metadata, name);
}
