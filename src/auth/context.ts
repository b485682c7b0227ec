// The caller a request runs on behalf of, carried through its async work so that the command it
// proposes records who asked (Command.caller) without every handler passing it along: the node
// stamps it on proposal (node.ts propose), and every replica re-checks it at apply time.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { Identity } from './authenticator.js';

const store = new AsyncLocalStorage<{ caller: CommandCaller; identity?: Identity }>();

/** `identity`: who the interceptor resolved, for a service that checks permissions itself (kv-guard.ts). */
export function runAsCaller<T>(caller: CommandCaller, fn: () => T, identity?: Identity): T {
  return store.run({ caller, identity }, fn);
}

/** The caller of the request being served, or undefined for the cluster's own work. */
export function currentCaller(): CommandCaller | undefined {
  return store.getStore()?.caller;
}

/** The identity of the request being served (a token that did not verify carries its error). */
export function currentIdentity(): Identity | undefined {
  return store.getStore()?.identity;
}
