// How a member learns it was removed when nobody told it: removed while it was down, or the
// leader's notice was lost. The change took effect on the other members without it (it gets no
// more log entries), and they refuse its handshakes as "not in this cluster's configuration".
// When a quorum of the other voters it knows refuses it that way, for longer than a lagging
// member could take to apply an add, the cluster has committed a configuration without it.
import { quorum } from './policy.js';

/** Refusals must persist this long (a member that has just been added is refused by no quorum for long). */
export const REMOVAL_EVIDENCE_MS = 3000;
/** Refusals older than this no longer count. */
const FORGET_MS = 15_000;

export class RemovalDetector {
  private readonly refusals = new Map<number, { first: number; last: number }>();

  /** Records that `peer` refused this member; true once the evidence says it was removed. */
  refused(peer: number, voters: readonly number[], selfId: number, now: number): boolean {
    const r = this.refusals.get(peer);
    if (r && now - r.last <= FORGET_MS) r.last = now;
    else this.refusals.set(peer, { first: now, last: now });
    // Only a member that believes it is a voter campaigns and hears from every voter.
    if (!voters.includes(selfId)) return false;
    // Had it been removed, the configuration without it is `others`, committed by a quorum of them.
    const others = voters.filter((v) => v !== selfId);
    const sustained = others.filter((v) => {
      const x = this.refusals.get(v);
      return x !== undefined && now - x.last <= FORGET_MS && now - x.first >= REMOVAL_EVIDENCE_MS;
    });
    return others.length > 0 && sustained.length >= quorum(others.length);
  }

  /** Any message from `peer` means it still talks to this member. */
  heardFrom(peer: number): void {
    if (this.refusals.size > 0) this.refusals.delete(peer);
  }
}
