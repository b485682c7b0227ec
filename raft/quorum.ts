// Majority arithmetic over a set of voters. Single-server membership changes mean one
// configuration is active at a time, so a simple majority is all the core needs.

import type { NodeId } from './types.js';

export function quorumSize(voters: number): number {
  return (voters >> 1) + 1;
}

const scratch: number[] = [];

/**
 * Highest index that a majority of voters have matched. `matchOf` returns a voter's match
 * (the leader's own entry counts only once durable). With no voters nothing can commit.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  if (n === 1) return matchOf(voters[0]!);
  scratch.length = n;
  for (let i = 0; i < n; i++) scratch[i] = matchOf(voters[i]!);
  // Insertion sort, descending: n is tiny (3–7), cheaper than Array.prototype.sort's callback.
  for (let i = 1; i < n; i++) {
    const v = scratch[i]!;
    let j = i - 1;
    while (j >= 0 && scratch[j]! < v) {
      scratch[j + 1] = scratch[j]!;
      j--;
    }
    scratch[j + 1] = v;
  }
  return scratch[quorumSize(n) - 1]!;
}

export enum VoteResult {
  Pending = 0,
  Won = 1,
  Lost = 2,
}

/** Outcome of an election among `voters` given the votes recorded so far. */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  const q = quorumSize(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= q) return VoteResult.Won;
  if (rejected > voters.length - q) return VoteResult.Lost;
  return VoteResult.Pending;
}
