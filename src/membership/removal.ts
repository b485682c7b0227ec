// How a member learns it was removed when nobody told it: removed while it was down, or the
// leader's notice was lost. The change took effect on the other members without it (it gets no
// more log entries), and they refuse its handshakes as "not in this cluster's configuration".
// When a quorum of the other voters it knows refuses it that way, for longer than a lagging
// member could take to apply an add, the cluster has committed a configuration without it.
import type { ForwardRequest } from '../../proto/gen/placement/v1/peer.js';
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

/**
 * This member's own removal, whichever way it learns it (the change applied here, the leader's
 * notice, the refusals above); the process is told once, through `onRemoved`.
 */
export class RemovalWatch {
  private readonly detector = new RemovalDetector();
  private removed = false;
  /** Called once when this member learns it was removed (src/node/index.ts stops the process). */
  onRemoved: (() => void) | null = null;

  constructor(
    private readonly selfId: number,
    private readonly log: { warn(obj: object, msg?: string): void },
  ) {}

  learned(how: string): void {
    if (this.removed) return;
    this.removed = true;
    this.log.warn({ how }, 'this member was removed from the cluster: shutting down');
    if (this.onRemoved) setImmediate(this.onRemoved);
  }

  /** Peer `peer` refused this member's handshake as not in its configuration. */
  refused(peer: number, voters: readonly number[]): void {
    if (this.detector.refused(peer, voters, this.selfId, Date.now())) this.learned('a quorum of the other voters refuses it as not in their configuration');
  }

  heardFrom(peer: number): void {
    this.detector.heardFrom(peer);
  }

  /**
   * The leader's notice that member `id` was removed (only a member of this one's configuration
   * gets it through: the transport checks). Null when accepted, else why it was refused.
   */
  notice(id: number, from: number): string | null {
    if (id !== this.selfId) return `removal notice names member ${id}, not ${this.selfId}`;
    this.learned(`member ${from} (leader) says it was removed`);
    return null;
  }
}

/**
 * Leader side, once member `gone`'s removal is applied: it gets no more entries (the change took
 * effect when appended), so it would never apply its own removal. Tell it, then forget its address.
 */
export function tellRemoved(
  transport: { forward(id: number, req: Pick<ForwardRequest, 'kind'>, deadline: number): Promise<unknown>; removePeer(id: number): void },
  gone: number,
): void {
  void transport
    .forward(gone, { kind: { $case: 'membership', value: { op: 'removed', id: gone, address: '', isLearner: false } } }, Date.now() + 1000)
    .catch(() => undefined)
    .finally(() => transport.removePeer(gone));
}
