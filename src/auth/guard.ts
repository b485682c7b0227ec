// Auth on every entry point: on the client port's gRPC server (native, etcd, health; peer methods
// are authenticated by the peer handshake instead) a wrapper around every unary handler
// (grpc-unary.ts) and a server interceptor for the streams, and an
// Express middleware for the admin API and the dashboard. Each resolves the caller, checks the
// decision of the method or route (decisions.ts), and binds the request to that caller
// (context.ts), so that a proposed command records who asked and the auth revision it was checked
// at.
import * as grpc from '@grpc/grpc-js';
import type { NextFunction, Request, Response } from 'express';
import type { SessionOp, SessionReply, SessionRequest } from '../../proto/gen/placement/v1/kv.js';
import type { AuthError, Need } from '../../storage/index.js';
import { malformedReason } from '../grpc/malformed.js';
import { TLSSocket } from 'node:tls';
import { commonNameOf } from '../tls/identity.js';
import { ANONYMOUS_IDENTITY, type Authenticator, type Identity } from './authenticator.js';
import { bearer, deadlineOf, denial, grpcIdentity, guardUnary, needOf } from './grpc-unary.js';
import { bindCaller } from './context.js';
import { checkedInService } from './kv-guard.js';
import { refuseWatchCreate } from '../api/etcd/permissions.js';
import { messageLimits, serveUnaryDirectly } from '../grpc/h2/direct-unary.js';
import { serveStreamsDirectly } from '../grpc/h2/direct-stream.js';
import { grpcDecision, httpDecision, httpDecisions, sessionOpNeed, type HttpDecisionOptions } from './decisions.js';

const SESSION = '/placement.v1.KvService/Session';
const WATCH = '/etcdserverpb.Watch/Watch';

/**
 * The stream methods the node serves from their HTTP/2 stream (src/grpc/h2/direct-stream.ts) when
 * its --grpc-direct-streams is on, whose many small messages cost grpc-js's receive path more than
 * their work: LeaseKeepAlive, and the Raft stream between members (a peer method, judged by the
 * peer handshake in its handler, not here).
 */
export const DIRECT_STREAMS: ReadonlySet<string> = new Set(['/etcdserverpb.Lease/LeaseKeepAlive', '/placement.v1.PeerService/Raft']);

/**
 * The client port's gRPC server: every call judged by auth. Unary handlers are wrapped with the
 * check as they are registered (grpc-unary.ts: cheaper than an interceptor, which grpc-js runs
 * around every call); the interceptor judges the streams and lets the wrapped paths through.
 */
export function guardedGrpcServer(options: grpc.ServerOptions, a: Authenticator, opts: { directUnary?: boolean; directStreams?: ReadonlySet<string> } = {}): grpc.Server {
  const wrapped = new Set<string>();
  const server = new grpc.Server({ ...options, interceptors: [grpcAuthInterceptor(a, wrapped)] });
  // Hooked before the override below, so that the direct path serves the guarded handler that
  // grpc-js is given (src/grpc/h2/direct-unary.ts).
  if (opts.directUnary) serveUnaryDirectly(server, messageLimits(options));
  // The streams served directly skip grpc-js's interceptors, so they run the same judge.
  if (opts.directStreams?.size) serveStreamsDirectly(server, { paths: opts.directStreams, limits: messageLimits(options), judge: (path, call) => streamJudge(a, path, call) });
  // Server.register is where addService (and anything else) hands grpc-js a handler, with its type.
  const register = server.register.bind(server) as (name: string, handler: unknown, ...rest: unknown[]) => boolean;
  (server as unknown as { register: typeof register }).register = (name, handler, serialize, deserialize, type) => {
    const decision = grpcDecision(name);
    if (type !== 'unary' || decision === 'open' || decision === 'peer' || typeof handler !== 'function') return register(name, handler, serialize, deserialize, type);
    const ok = register(name, guardUnary(a, name, decision, checkedInService(name), handler as Parameters<typeof guardUnary>[4]), serialize, deserialize, type);
    if (ok) wrapped.add(name);
    return ok;
  };
  return server;
}

/** The part of a stream call the judge uses: its deadline, TLS identity and, for Session, a reply channel. */
export type JudgedCall = Pick<grpc.ServerInterceptingCallInterface, 'getAuthContext' | 'getDeadline' | 'sendMessage'>;

/**
 * The auth check of one stream call: its credentials, from the metadata it opened with, judged
 * for every message it sends. `start` takes the metadata; `message` hands each message on to
 * `next` (bound to its caller) or ends the call with `deny`'s status, in the order received, also
 * while a token is being verified or the member catches up before a refusal.
 */
export interface StreamJudge {
  start(md: grpc.Metadata): void;
  message(msg: unknown, next: (m: unknown) => void, deny: (status: grpc.StatusObject) => void): void;
  /** Runs `fn` once every message handed to message() so far has been judged. */
  settled(fn: () => void): void;
}

/** The judge of a stream call of `path`, or null for paths auth does not judge (open, peer). */
export function streamJudge(a: Authenticator, path: string, call: JudgedCall): StreamJudge | null {
  const decision = grpcDecision(path);
  if (decision === 'peer' || decision === 'open') return null;
  let identity: Identity | Promise<Identity> = ANONYMOUS_IDENTITY;
  // The call's metadata, while its identity was resolved with auth off (credentials ignored).
  let unjudged: grpc.Metadata | null = null;
  // Messages waiting behind one whose identity is still being verified, or whose refusal waits
  // for the member to catch up.
  let waiting: Promise<void> | null = null;
  const session = path === SESSION;
  const inService = checkedInService(path);
  const watch = path === WATCH;
  const pass = (id: Identity, msg: unknown, next: (m: unknown) => void): void => {
    // The message is what its handler sees: it carries who it is served for (context.ts).
    const m = session ? sessionOps(a, id, msg as SessionRequest, call) : msg;
    if (m !== null && typeof m === 'object') bindCaller(m, a.caller(id), id);
    next(m);
  };
  const refuse = (refusal: AuthError, id: Identity, msg: unknown, next: (m: unknown) => void, deny: (s: grpc.StatusObject) => void): void => {
    // A refused watch create is answered on its own by the Watch service; the stream and its
    // other watchers go on (etcd 3.4).
    if (watch && msg !== null && typeof msg === 'object') {
      refuseWatchCreate(msg, refusal.message);
      pass(id, msg, next);
    } else deny(denial(refusal, path));
  };
  const admit = (id: Identity, msg: unknown, next: (m: unknown) => void, deny: (s: grpc.StatusObject) => void, caughtUp: boolean): Promise<void> | void => {
    // A request that did not decode goes on to its handler, which answers INVALID_ARGUMENT
    // (src/grpc/malformed.ts) and does nothing else: there is nothing in it to decide on. The
    // etcd KV service checks its own requests (kv-guard.ts), after etcd's validation.
    if (malformedReason(msg) === undefined && !inService) {
      const need = needOf(decision, msg);
      if ('code' in need) {
        deny(need);
        return;
      }
      const refusal = a.refusal(id, need);
      if (refusal && !caughtUp) {
        // As on the unary path (grpc-unary.ts): a member that applies behind the leader decides
        // once more after catching up with it, so that it never refuses what an auth change
        // already acknowledged to the client allows; if catching up fails, the refusal stands.
        return a.catchUp(deadlineOf(call)).then((ok) => (ok ? admit(id, msg, next, deny, true) : refuse(refusal, id, msg, next, deny)));
      }
      if (refusal) {
        refuse(refusal, id, msg, next, deny);
        return;
      }
    }
    pass(id, msg, next);
  };
  const failed = (deny: (s: grpc.StatusObject) => void) => (): void => deny({ code: grpc.status.INTERNAL, details: 'auth check failed', metadata: new grpc.Metadata() });
  const hold = (p: Promise<void>): void => {
    waiting = p;
    void p.then(() => {
      if (waiting === p) waiting = null;
    });
  };
  return {
    start(md) {
      identity = grpcIdentity(a, md, call);
      unjudged = a.state.enabled ? null : md;
    },
    message(msg, next, deny) {
      // A stream opened while this member's state had auth off (before it was enabled, or
      // while the member replayed its log after a restart or a state-machine rebuild)
      // carried its credentials all along: once auth is on, they decide, not "anonymous".
      if (unjudged && a.state.enabled) {
        identity = grpcIdentity(a, unjudged, call);
        unjudged = null;
      }
      const id = identity;
      if (!waiting && !(id instanceof Promise)) {
        const later = admit(id, msg, next, deny, false);
        if (later) hold(later.catch(failed(deny)));
        return;
      }
      hold(
        (waiting ?? Promise.resolve())
          .then(() => id)
          .then((i) => {
            // Verified once: the messages that follow are judged at once.
            if (identity === id) identity = i;
            return admit(i, msg, next, deny, false);
          }, failed(deny))
          .catch(failed(deny)),
      );
    },
    settled(fn) {
      if (waiting) void waiting.then(fn);
      else fn();
    },
  };
}

/**
 * Judges every call except `judgedInHandler` (unary methods whose handler does it: grpc-unary.ts).
 * Calls it does not judge get the call itself back, not a pass-through wrapper: grpc-js chains
 * interceptors by calling each on the previous call object (getServerInterceptingCall), so the
 * base call serves them with no wrapper's cost per event (peer streams carry every Raft message).
 */
export function grpcAuthInterceptor(a: Authenticator, judgedInHandler: ReadonlySet<string> = new Set()): grpc.ServerInterceptor {
  return (method, call) => {
    const judge = judgedInHandler.has(method.path) ? null : streamJudge(a, method.path, call);
    if (!judge) return call as grpc.ServerInterceptingCall;
    const deny = (status: grpc.StatusObject): void => call.sendStatus(status);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (md, mdNext) => {
            judge.start(md);
            mdNext(md);
          },
          onReceiveMessage: (msg, msgNext) => judge.message(msg, msgNext, deny),
        }),
    });
  };
}

/** A Session's operations the caller may not do are answered on their own; the rest go on. */
function sessionOps(a: Authenticator, id: Identity, req: SessionRequest, call: JudgedCall): SessionRequest {
  if (!a.state.enabled) return req;
  const allowed: SessionOp[] = [];
  const refused: SessionReply = { results: [] };
  for (const op of req.ops) {
    const e = a.refusal(id, sessionOpNeed(op));
    if (e) refused.results.push({ xid: op.xid, code: e.grpcCode, error: e.message, leaderId: 0, leaderAddress: '', reply: undefined });
    else allowed.push(op);
  }
  if (refused.results.length > 0) call.sendMessage(refused, () => {});
  return refused.results.length > 0 ? { ops: allowed } : req;
}

// ---------------------------------------------------------------- admin HTTP

/** A refused HTTP request: the status the admin port answers it with, and etcd's message. */
export interface HttpRefusal {
  status: number;
  grpcCode: number;
  message: string;
}

/**
 * Who may read /metrics on the client port (etcd serves it there, src/api/etcd/gateway): the admin
 * port's rule for GET /metrics, decided once, with the caller named as etcd's gateway names it
 * (the Authorization header is the token) and refused with the admin port's statuses.
 */
export function clientPortMetricsGuard(a: Authenticator, opts: HttpDecisionOptions): (authorization: string | undefined) => Promise<HttpRefusal | undefined> {
  const decision = httpDecisions(opts)['GET /metrics'];
  if (decision === undefined || decision === 'open') return async () => undefined;
  const need = decision({} as Request);
  const decide = async (authorization: string | undefined): Promise<AuthError | undefined> => a.refusal(authorization ? await a.fromToken(authorization) : ANONYMOUS_IDENTITY, need);
  return async (authorization) => {
    let e = await decide(authorization);
    // As every other entry point: refused only on auth state at least as new as the leader's
    // commit index (the token too is judged again: it may name a user this member has not applied).
    if (e && (await a.catchUp(Infinity))) e = await decide(authorization);
    return e ? { status: httpStatusOfRefusal(e), grpcCode: e.grpcCode, message: e.message } : undefined;
  };
}

const HTTP_STATUS: Record<number, number> = { [grpc.status.UNAUTHENTICATED]: 401, [grpc.status.PERMISSION_DENIED]: 403, [grpc.status.INVALID_ARGUMENT]: 401 };

/** 401 for no valid caller, 403 for a caller without the permission. */
const httpStatusOfRefusal = (e: AuthError): number => HTTP_STATUS[e.grpcCode] ?? 403;

async function httpIdentity(a: Authenticator, req: Request): Promise<Identity> {
  if (!a.state.enabled) return ANONYMOUS_IDENTITY;
  const h = req.headers.authorization;
  const token = bearer(h);
  if (token) return a.fromToken(token);
  const basic = h ? /^Basic\s+(\S+)$/i.exec(h) : null;
  if (basic) {
    const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = text.indexOf(':');
    return a.login(i < 0 ? text : text.slice(0, i), i < 0 ? '' : text.slice(i + 1), req.socket.remoteAddress ?? '');
  }
  const sock = req.socket;
  const cert = sock instanceof TLSSocket && sock.authorized ? sock.getPeerCertificate() : undefined;
  return a.fromCertificate(cert && cert.raw ? commonNameOf(cert) : '');
}

/** Express middleware: 401 without a valid identity, 403 without the permission (etcd's messages). */
export function httpAuthMiddleware(a: Authenticator, opts: HttpDecisionOptions): (req: Request, res: Response, next: NextFunction) => void {
  const table = httpDecisions(opts);
  return (req, res, next) => {
    const decision = httpDecision(table, req);
    if (decision === 'open') return next();
    httpIdentity(a, req).then(
      (id) => {
        let need: Need;
        try {
          need = decision(req);
        } catch (err) {
          next(err);
          return;
        }
        const allow = (who: Identity): void => {
          bindCaller(req, a.caller(who), who, need);
          next();
        };
        const refuse = (e: AuthError): void => {
          const status = httpStatusOfRefusal(e);
          if (status === 401) res.setHeader('WWW-Authenticate', 'Basic realm="placement-center", charset="UTF-8"');
          res.status(status).json({ code: e.grpcCode, data: null, error: e.message });
        };
        const e = a.refusal(id, need);
        if (!e) return allow(id);
        // As on the gRPC paths: a member that applies behind the leader decides once more after
        // catching up with it (bounded by --request-timeout-ms); if that fails, the refusal stands.
        // A token is verified again (it may name a user, or carry a revision, this member had not
        // applied); a password is not tried twice (each failure counts against its user).
        void a.catchUp(Infinity).then(async (ok) => {
          if (!ok) return refuse(e);
          const token = bearer(req.headers.authorization);
          const who = id.error && token ? await a.fromToken(token) : id;
          const again = a.refusal(who, need);
          if (again) refuse(again);
          else allow(who);
        }, next);
      },
      next,
    );
  };
}
