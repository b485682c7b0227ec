// Keep-alives batched into renewal commands. Keep-alives that reach this member close together
// (several streams, many leases) become ONE LeaseRenewOp, proposed through the node (forwarded to
// the leader from a follower), and each keep-alive is answered only once that command is applied:
// an acknowledged renewal is a replicated one, stamped with the leader's time.
// Each keep-alive says how long it may wait to share a command (its lease's share of the TTL,
// keeper.ts), never more than `batchMs`; the command goes when the most impatient one's wait is up.
// Every command costs each member a replication round whatever it carries (on a small VM, a few
// milliseconds of CPU across the members), so 10,000 sessions with 30 s TTLs, renewing every 10 s,
// cost 5 commands a second with the default 200 ms cap instead of 20 with a fixed 50 ms window.
// Every lease in a command has a keep-alive waiting for it: a renewal is never committed on nobody's
// behalf, so its leader time is never later than the acknowledgement of the keep-alive it renews
// (the expiry bound rests on that, src/lease/README.md). renewing() tells the leader's
// answered-at-once path (keeper.ts) that a renewal of a lease is already under way.

import type { Command, CommandResult, Lease, CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { answerResult } from '../results.js';
import { MAX_RENEW_IDS } from '../validation/command.js';

export interface RenewalDeps {
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
  /** The longest a keep-alive waits to share a command. */
  batchMs: number;
  /** Deadline of one renewal command. */
  timeoutMs: number;
  /** Told the size of each batch proposed (metrics). */
  onBatch?: (ids: number) => void;
}

interface Waiter {
  resolve(lease: Lease | null): void;
  reject(err: unknown): void;
}

export class RenewalBatcher {
  private pending = new Map<number, Waiter[]>();
  /** Leases in a proposed command not yet answered (how many such commands). */
  private readonly proposed = new Map<number, number>();
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (Date.now()). */
  private flushAt = 0;
  private closed = false;

  constructor(private readonly deps: RenewalDeps) {}

  /**
   * Resolves with the renewed lease once the renewal is applied, or null when the lease does not
   * exist. `maxWaitMs`: how long this keep-alive may wait for others to share its command (capped
   * at `batchMs`).
   */
  renew(id: number, maxWaitMs: number = this.deps.batchMs): Promise<Lease | null> {
    if (this.closed) return Promise.reject(new Error('lease renewals stopped'));
    return new Promise<Lease | null>((resolve, reject) => {
      const w = this.pending.get(id);
      if (w) w.push({ resolve, reject });
      else this.pending.set(id, [{ resolve, reject }]);
      this.arm(Math.max(0, Math.min(maxWaitMs, this.deps.batchMs)));
    });
  }

  /** Whether a renewal of `id` waits for the window or for its command. */
  renewing(id: number): boolean {
    return this.pending.has(id) || this.proposed.has(id);
  }

  private arm(waitMs: number): void {
    if (this.pending.size >= MAX_RENEW_IDS) {
      this.flush();
      return;
    }
    const at = Date.now() + waitMs;
    if (this.timer && this.flushAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.flushAt = at;
    this.timer = setTimeout(() => this.flush(), waitMs);
  }

  /** Proposes what is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const ids = [...batch.keys()];
    for (const id of ids) this.proposed.set(id, (this.proposed.get(id) ?? 0) + 1);
    const settled = (): void => {
      for (const id of ids) {
        const n = this.proposed.get(id)! - 1;
        if (n === 0) this.proposed.delete(id);
        else this.proposed.set(id, n);
      }
    };
    this.deps.onBatch?.(ids.length);
    const cmd: Command = { clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'leaseRenew', value: { ids } } };
    // The cluster's own command: one batch renews the leases of many streams' keep-alives.
    this.deps.propose(cmd, Date.now() + this.deps.timeoutMs, undefined).then(
      (r) => {
        settled();
        let renewed: Map<number, Lease>;
        try {
          renewed = new Map(answerResult(r).leases.map((l) => [l.id, l]));
        } catch (err) {
          for (const ws of batch.values()) for (const w of ws) w.reject(err);
          return;
        }
        for (const [id, ws] of batch) {
          const l = renewed.get(id) ?? null;
          for (const w of ws) w.resolve(l);
        }
      },
      (err: unknown) => {
        settled();
        for (const ws of batch.values()) for (const w of ws) w.reject(err);
      },
    );
  }

  /** Fails what is pending (shutdown). */
  close(err: Error): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = new Map();
    for (const ws of batch.values()) for (const w of ws) w.reject(err);
  }
}
