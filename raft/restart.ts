// What a restarting member's durable state may look like. A correctly working member never
// persists a commit index beyond its log, and never applies an entry its log does not hold:
// entries are durable before they are acknowledged, and committed before they are applied.
// State that breaks this lost entries the member had acknowledged (an old copy of its log
// restored under a newer hard state or state machine, or a disk that dropped writes). Such a
// member must not rejoin as if nothing happened: entries counted as committed because of its
// acknowledgement may now exist on fewer than a quorum, and its vote could elect a leader
// that lacks them (etcd refuses the same state: "commit N is out of range [lastIndex M]").

import type { RaftInitialState } from './types.js';

export class LostLogError extends Error {
  override readonly name = 'LostLogError';
  constructor(
    /** Which durable index lies beyond the log. */
    readonly what: 'commit' | 'applied',
    readonly index: number,
    readonly lastIndex: number,
  ) {
    super(
      what === 'commit'
        ? `commit ${index} is out of range [lastIndex ${lastIndex}]: the log lost entries this member acknowledged`
        : `applied ${index} is out of range [lastIndex ${lastIndex}]: the state machine holds entries the log lost`,
    );
  }
}

/** The last index of the log `initial` describes (the snapshot's index when it has no entries). */
export function initialLastIndex(initial: RaftInitialState): number {
  const n = initial.entries.length;
  return n > 0 ? initial.entries[n - 1]!.index : (initial.snapshot?.index ?? 0);
}

/** Undefined when `initial` is a state a correctly working member can leave behind. */
export function checkRestartState(initial: RaftInitialState): LostLogError | undefined {
  const last = initialLastIndex(initial);
  if (initial.applied > last) return new LostLogError('applied', initial.applied, last);
  if (initial.hardState.commit > last) return new LostLogError('commit', initial.hardState.commit, last);
  return undefined;
}
