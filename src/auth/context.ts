// Who a request is served for, bound to the request's own object by the entry point that judged
// it (the unary check binds the call, the stream interceptor each message it lets through, the
// HTTP middleware the request), so that a handler can say who asks when it proposes a command
// (Command.caller; every replica re-checks it at apply time, storage/auth/recheck.ts) and can
// check permissions itself (kv-guard.ts).
//
// Not an AsyncLocalStorage: on Node 20 one installs a promise hook for every promise of the
// process once used, and every request used it. `npm run bench:ab` with it replaced: etcd Put at
// 1 in flight 1.08x the writes/s and 0.91x the CPU per write, at 64 in flight 1.05x and 0.95x.
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { Need } from '../../storage/index.js';
import type { Identity } from './authenticator.js';

export interface RequestAuth {
  caller: CommandCaller;
  /** Who the check resolved (a token that did not verify carries its error). */
  identity: Identity;
  /** What the request was judged to need, where the entry point decided it (read-recheck.ts). */
  need?: Need;
}

const bound = new WeakMap<object, RequestAuth>();

/** Records who `request` (a call, a stream message, an HTTP request) is served for. */
export function bindCaller(request: object, caller: CommandCaller, identity: Identity, need?: Need): void {
  bound.set(request, need === undefined ? { caller, identity } : { caller, identity, need });
}

/** Who `request` is served for and what it was judged to need. */
export function authOf(request: object): RequestAuth | undefined {
  return bound.get(request);
}

/**
 * The caller to record on a command `request` asks for. Undefined only for a request no entry
 * point judged (there is none on the client ports: every path is checked or refused).
 */
export function callerOf(request: object): CommandCaller | undefined {
  return bound.get(request)?.caller;
}

/** The identity the entry point resolved for `request`. */
export function identityOf(request: object): Identity | undefined {
  return bound.get(request)?.identity;
}
