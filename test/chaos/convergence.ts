// Whether the members' state machines converged, from the state hashes they report over a while
// (GET /v1/debug/hash: the hash of the state at the applied index it names). Members that keep
// applying (brokers' lease renewals go on after the run) are rarely all at one applied index in the
// same poll, so every report is kept: the members converged once each of them reported the same
// applied index, and two reports of one applied index with different hashes are a divergence,
// whenever they came.
export interface HashReport {
  appliedIndex: number;
  hash: string;
}

export class ConvergenceTracker {
  /** applied index → member → the hash it reported there. */
  private readonly byIndex = new Map<number, Map<number, string>>();
  private diverged: string | null = null;

  add(member: number, r: HashReport): void {
    let at = this.byIndex.get(r.appliedIndex);
    if (!at) this.byIndex.set(r.appliedIndex, (at = new Map()));
    for (const [other, hash] of at) {
      if (hash !== r.hash && this.diverged === null) {
        this.diverged = `members ${other} and ${member} differ at applied index ${r.appliedIndex} (${hash.slice(0, 16)}… vs ${r.hash.slice(0, 16)}…)`;
      }
    }
    at.set(member, r.hash);
  }

  /** The first divergence seen, if any. */
  get divergence(): string | null {
    return this.diverged;
  }

  /** The highest applied index every one of `members` reported (with one hash), if any. */
  agreed(members: readonly number[]): { appliedIndex: number; hash: string } | null {
    if (this.diverged !== null) return null;
    let best: { appliedIndex: number; hash: string } | null = null;
    for (const [appliedIndex, at] of this.byIndex) {
      if (members.every((m) => at.has(m)) && (!best || appliedIndex > best.appliedIndex)) best = { appliedIndex, hash: at.get(members[0]!)! };
    }
    return best;
  }
}
