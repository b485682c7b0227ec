// Who is making a request: the identity every entry point resolves once per call, and every
// permission check will be made against. Today a verified client certificate names the caller
// (its CN, as etcd does with --client-cert-auth); the Auth API adds token callers through the
// same two functions, so handlers never look at certificates or metadata themselves.
import type { IncomingMessage } from 'node:http';
import { TLSSocket, type PeerCertificate } from 'node:tls';
import { commonNameOf } from '../tls/identity.js';

export type Caller =
  /** No identity was presented (or none that could be verified). */
  | { readonly kind: 'anonymous' }
  /** A client certificate that chains to --trusted-ca-file; `user` is its CN. */
  | { readonly kind: 'certificate'; readonly user: string };

export const ANONYMOUS: Caller = Object.freeze({ kind: 'anonymous' });

/** What grpc-js's getAuthContext() returns (the type is not exported by the package). */
export interface GrpcAuthContext {
  transportSecurityType?: string;
  sslPeerCertificate?: PeerCertificate;
}

/** The part of a grpc-js server call the caller is resolved from. */
export interface GrpcCallLike {
  getAuthContext(): GrpcAuthContext;
}

const grpcCallers = new WeakMap<object, Caller>();

/** The caller of a gRPC call (unary or stream), resolved once per call. */
export function grpcCaller(call: GrpcCallLike): Caller {
  let c = grpcCallers.get(call);
  if (c) return c;
  const ctx = call.getAuthContext();
  // grpc-js reports a peer certificate only when the TLS handshake verified it against the CA.
  const cert = ctx.sslPeerCertificate;
  const cn = cert ? commonNameOf(cert) : '';
  c = cn ? { kind: 'certificate', user: cn } : ANONYMOUS;
  grpcCallers.set(call, c);
  return c;
}

const httpCallers = new WeakMap<object, Caller>();

/** The caller of an admin HTTP request, resolved once per request. */
export function httpCaller(req: IncomingMessage): Caller {
  let c = httpCallers.get(req);
  if (c) return c;
  const sock = req.socket;
  // Like grpc-js, only a certificate the handshake verified against the CA names anyone.
  const cert = sock instanceof TLSSocket && sock.authorized ? sock.getPeerCertificate() : undefined;
  const cn = cert && cert.raw ? commonNameOf(cert) : '';
  c = cn ? { kind: 'certificate', user: cn } : ANONYMOUS;
  httpCallers.set(req, c);
  return c;
}
