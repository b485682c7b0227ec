// The apply-time re-check: a command carries the user that asked and the auth revision its
// permission was checked at (Command.caller). If the auth state moved since (a permission revoked
// while the command was being forwarded or waited in the log), every replica checks it again here,
// against the state at the command's own place in the log, and refuses it the same way.

import type { Command } from '../../proto/gen/placement/v1/command.js';
import type { Tx } from '../state-machine/tx.js';
import { AUTH_ERR } from './errors.js';
import { commandNeed, permitted, type Need } from './perms.js';
import { authEnabledIn, authRevisionIn, roleIn, userIn } from './store.js';

/** etcd's message when the command's caller may no longer do what it asks; undefined when it may. */
export function recheck(tx: Tx, cmd: Command): string | undefined {
  const c = cmd.caller;
  if (!c) return undefined; // made by the cluster itself
  if (c.authRevision === authRevisionIn(tx)) return undefined; // checked against this very state
  if (!authEnabledIn(tx)) return undefined;
  if (!c.user) return AUTH_ERR.userEmpty;
  const need = commandNeed(cmd);
  if (need.kind === 'none') return undefined;
  if (!permitted(userIn(tx, c.user), need, (name) => roleIn(tx, name))) return AUTH_ERR.permissionDenied;
  return undefined;
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
