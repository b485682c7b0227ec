// Requests that need a leader wait for one. While an election is under way a member knows no
// leader; its reads and writes wait up to --leader-wait-ms for one rather than failing at once
// (as an etcd member holds proposals through an election), and every wait ends the moment a
// leader becomes known or the member stops.
import { PlacementError } from '../errors.js';

export interface LeaderWaitHost {
  /** The leader this member knows, 0 for none. */
  leaderId(): number;
  stopped(): boolean;
  /** What a request gets when no leader came in time. */
  noLeader(): PlacementError;
}

export class LeaderWait {
  private waiters: (() => void)[] = [];

  constructor(
    private readonly host: LeaderWaitHost,
    private readonly waitMs: number,
  ) {}

  /** Resolves with the leader id; waits at most waitMs (and never past `deadline`). */
  async leader(deadline: number): Promise<number> {
    const known = this.host.leaderId();
    if (known) return known;
    const until = Math.min(deadline, Date.now() + this.waitMs);
    while (!this.host.leaderId()) {
      if (this.host.stopped()) throw new PlacementError('UNAVAILABLE', 'node is shutting down');
      const left = until - Date.now();
      if (left <= 0) throw this.host.noLeader();
      await this.changeOrTimeout(left);
    }
    return this.host.leaderId();
  }

  /** Resolves when wake() is called (a leader became known, or the member stops), or after `ms`. */
  changeOrTimeout(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** Ends every wait. */
  wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
