// The apply-time re-check: a command carries the user that asked and the auth revision its
// permission was checked at (Command.caller). If the auth state moved since (a permission revoked
// while the command was being forwarded or waited in the log), every replica checks it again here,
// against the state at the command's own place in the log, and refuses it the same way. A
// linearizable read is checked again by the same rule once its barrier is passed, against the
// state it is served from (callerRefusal; src/auth/read-recheck.ts).

import type { AuthRole, Command, CommandCaller, User } from '../../proto/gen/placement/v1/command.js';
import type { Tx } from '../state-machine/tx.js';
import { AUTH_ERR } from './errors.js';
import { commandNeed, permitted, type Need } from './perms.js';
import { authEnabledIn, authRevisionIn, roleIn, userIn, type AuthSnapshot } from './store.js';

/** The auth state a caller is checked against again: a batch being applied, or the last applied one. */
export interface AuthView {
  readonly revision: number;
  readonly enabled: boolean;
  user(name: string): User | undefined;
  role(name: string): AuthRole | undefined;
}

/**
 * etcd's message when `caller`, checked at an older auth revision, may no longer do what `need`
 * asks in `view`; undefined when it may, or when nothing changed since its check (the common
 * case: `need` is not even computed). No caller: made by the cluster itself.
 */
export function callerRefusal(view: AuthView, caller: CommandCaller | undefined, need: () => Need): string | undefined {
  if (!caller) return undefined;
  if (caller.authRevision === view.revision) return undefined; // checked against this very state
  if (!view.enabled) return undefined;
  if (!caller.user) return AUTH_ERR.userEmpty;
  const n = need();
  if (n.kind === 'none') return undefined;
  if (!permitted(view.user(caller.user), n, (name) => view.role(name))) return AUTH_ERR.permissionDenied;
  return undefined;
}

/** The last applied auth state, for the read-time re-check (src/auth/read-recheck.ts). */
export function snapshotView(a: AuthSnapshot): AuthView {
  return { revision: a.revision, enabled: a.enabled, user: (name) => a.users.get(name), role: (name) => a.roles.get(name) };
}

function txView(tx: Tx): AuthView {
  return {
    get revision() {
      return authRevisionIn(tx);
    },
    get enabled() {
      return authEnabledIn(tx);
    },
    user: (name) => userIn(tx, name),
    role: (name) => roleIn(tx, name),
  };
}

/** etcd's message when the command's caller may no longer do what it asks; undefined when it may. */
export function recheck(tx: Tx, cmd: Command): string | undefined {
  if (!cmd.caller || cmd.caller.authRevision === authRevisionIn(tx)) return undefined; // no view built on the hot path
  return callerRefusal(txView(tx), cmd.caller, () => commandNeed(cmd));
}

/**
 * etcd's LeaseRevoke rule (its apply-time checkLeasePuts): the caller must be allowed to write
 * every key attached to the lease, since the revoke deletes them. Checked when the revoke is
 * applied, against the keys attached at that point of the log, on every replica alike. Undefined
 * when there is nothing to check (auth off, or a revoke made by the cluster itself).
 */
export function leaseKeyWriteCheck(tx: Tx, cmd: Command): ((key: Uint8Array) => string | undefined) | undefined {
  const c = cmd.caller;
  if (!c || !authEnabledIn(tx)) return undefined;
  const user = c.user ? userIn(tx, c.user) : undefined;
  return (key) => {
    if (!c.user) return AUTH_ERR.userEmpty;
    const need: Need = { kind: 'keys', keys: [{ key, rangeEnd: EMPTY, access: 'write' }] };
    return permitted(user, need, (name) => roleIn(tx, name)) ? undefined : AUTH_ERR.permissionDenied;
  };
}

const EMPTY = new Uint8Array(0);
