// Auth on the unary gRPC path without a server interceptor. grpc-js wraps every call of a server
// that has an interceptor in two more objects with a closure per event, whatever the interceptor
// does: bench:unary-floor measures that at 1.3-1.5x the server CPU of an unintercepted call, and
// every etcd client makes one unary call per request. A unary handler already has the whole
// request and its metadata in hand, so the check is done right there instead: every unary handler
// registered on the client server is wrapped when it is registered (Server.register, the one
// place grpc-js adds a handler, also for addService and the health service), and the interceptor
// (guard.ts) lets exactly those paths through untouched. Streams keep the interceptor: their
// credentials are judged per message.
//
// The check runs on every call whether auth is on or off (off, it costs a flag test), so a call
// never escapes it when auth is enabled at runtime; and the call is always bound to its caller
// (context.ts: bindCaller), so a command its handler proposes records who asked and at which auth
// revision, and the apply-time re-check (storage/auth/recheck.ts) refuses it if auth came on in
// between.
import * as grpc from '@grpc/grpc-js';
import { AUTH_ERR, type AuthError, type Need } from '../../storage/index.js';
import { malformedReason } from '../grpc/malformed.js';
import { commonNameOf } from '../tls/identity.js';
import { ANONYMOUS_IDENTITY, type Authenticator, type Identity } from './authenticator.js';
import { bindCaller } from './context.js';
import type { Decision } from './decisions.js';
import { refusedBeforeProposal } from './kv-guard.js';

type UnaryHandler = (this: unknown, call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => unknown;

export function bearer(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(value);
  return m ? m[1] : undefined;
}

/** Who is calling, from the call's metadata or its verified client certificate (anonymous with auth off). */
export function grpcIdentity(a: Authenticator, md: grpc.Metadata, call: Pick<grpc.ServerInterceptingCallInterface, 'getAuthContext'>): Identity | Promise<Identity> {
  if (!a.state.enabled) return ANONYMOUS_IDENTITY;
  const token = (md.get('token')[0] as string | undefined) ?? bearer(md.get('authorization')[0] as string | undefined);
  if (token) return a.fromToken(token);
  const cert = call.getAuthContext().sslPeerCertificate;
  return a.fromCertificate(cert ? commonNameOf(cert) : '');
}

/** A call's deadline in ms since the epoch (Infinity without one), for Authenticator.catchUp. */
export function deadlineOf(call: { getDeadline(): grpc.Deadline }): number {
  const d = call.getDeadline();
  return d instanceof Date ? d.getTime() : Number.isFinite(d) ? d : Infinity;
}

/** What `req` needs under `decision`, or the INVALID_ARGUMENT status of a request it cannot read. */
export function needOf(decision: Exclude<Decision, 'open' | 'peer'>, req: unknown): Need | grpc.StatusObject {
  try {
    return decision(req);
  } catch (err) {
    return { code: grpc.status.INVALID_ARGUMENT, details: `malformed request: ${(err as Error).message}`, metadata: new grpc.Metadata() };
  }
}

/** The status a refused call gets. */
export function denial(e: AuthError, path: string): grpc.StatusObject {
  // The etcd services answer an anonymous caller with etcd's own code (INVALID_ARGUMENT) so etcd
  // clients behave as against etcd; our own services say UNAUTHENTICATED.
  const code = e.message === AUTH_ERR.userEmpty && path.startsWith('/etcdserverpb.') ? grpc.status.INVALID_ARGUMENT : e.grpcCode;
  return { code, details: e.message, metadata: new grpc.Metadata() };
}

/**
 * `handler` behind the auth check of `path`. `checkedInService`: the service checks permissions
 * itself (the etcd KV service, after etcd's validation; kv-guard.ts), so only the identity is
 * resolved here.
 */
export function guardUnary(a: Authenticator, path: string, decision: Exclude<Decision, 'open' | 'peer'>, checkedInService: boolean, handler: UnaryHandler): UnaryHandler {
  /**
   * Decides on this member's auth state; a refusal is decided once more after the member caught
   * up with the leader (Authenticator.catchUp), since one that applies behind must not refuse
   * what an auth change already acknowledged to the client allows. `refused` answers the first
   * refusal if catching up fails.
   */
  const decideAgain = (self: unknown, call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>, refused: () => void): void => {
    void a.catchUp(deadlineOf(call)).then((ok) => (ok ? run(self, call, cb, true) : refused()));
  };
  const run = (self: unknown, call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>, caughtUp: boolean): void => {
    const admit = (id: Identity): void => {
      const req = call.request;
      // A request that did not decode goes on to its handler, which answers INVALID_ARGUMENT
      // (src/grpc/malformed.ts) and does nothing else: there is nothing in it to decide on.
      if (!checkedInService && malformedReason(req) === undefined) {
        const need = needOf(decision, req);
        if ('code' in need) {
          cb(need);
          return;
        }
        const refusal = a.refusal(id, need);
        if (refusal) {
          if (caughtUp) cb(denial(refusal, path));
          else decideAgain(self, call, cb, () => cb(denial(refusal, path)));
          return;
        }
      }
      bindCaller(call, a.caller(id), id);
      // The etcd KV service checks permissions itself (kv-guard.ts), before it proposes anything;
      // with auth off (on this member) it refuses nothing, and the answer goes straight back.
      const done: grpc.sendUnaryData<unknown> =
        checkedInService && !caughtUp && a.state.enabled
          ? (err, ...rest) => {
              if (err && refusedBeforeProposal(err)) decideAgain(self, call, cb, () => cb(err, ...rest));
              else cb(err, ...rest);
            }
          : cb;
      handler.call(self, call, done);
    };
    // With auth off the metadata is not looked at (a directly answered call builds it on demand).
    const id = a.state.enabled ? grpcIdentity(a, call.metadata, call) : ANONYMOUS_IDENTITY;
    if (id instanceof Promise) id.then(admit, () => cb({ code: grpc.status.INTERNAL, details: 'auth check failed', metadata: new grpc.Metadata() }));
    else admit(id);
  };
  return function guarded(this: unknown, call, cb) {
    run(this, call, cb, false);
  };
}
