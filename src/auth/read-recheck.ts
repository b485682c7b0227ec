// The read-time re-check. A read is judged when it arrives, on this member's auth state; a
// linearizable read then waits until the member has applied everything the leader had committed
// (its read barrier) and is served from that newer state. etcd checks a linearizable read's
// permission there, after the barrier (its Range: linearizableReadNotify, then the permission
// check), so a member that applies behind never serves a read whose permission was revoked, or
// whose user was deleted, before the read arrived. The rule is the apply-time re-check of writes
// (storage/auth/recheck.ts): only a caller checked at an older auth revision is checked again.
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { AUTH_ERR, callerRefusal, snapshotView, type AuthSnapshot, type Need } from '../../storage/index.js';
import { PlacementError } from '../errors.js';
import { authOf } from './context.js';

/**
 * Throws the caller's refusal (etcd's message; UNAUTHENTICATED without a user, PERMISSION_DENIED
 * without the permission, as the entry points answer them) when `auth`, the state the read is
 * served from, no longer lets `by` do what `need` asks. `by` undefined: a read no entry point
 * judged (the cluster's own), never refused here.
 */
export function assertStillPermitted(auth: AuthSnapshot | undefined, by: CommandCaller | undefined, need: () => Need): void {
  if (!auth || !by || by.authRevision === auth.revision) return;
  const refused = callerRefusal(snapshotView(auth), by, need);
  if (refused !== undefined) throw new PlacementError(refused === AUTH_ERR.userEmpty ? 'UNAUTHENTICATED' : 'PERMISSION_DENIED', refused);
}

/** The same for a request whose entry point recorded what it needs (the admin API's middleware). */
export function assertRequestStillPermitted(auth: AuthSnapshot | undefined, request: object): void {
  const judged = authOf(request);
  const need = judged?.need;
  if (judged && need) assertStillPermitted(auth, judged.caller, () => need);
}
