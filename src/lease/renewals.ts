// Keep-alives batched into renewal commands. Every keep-alive that reaches this member within
// `batchMs` (several streams, many leases) becomes ONE LeaseRenewOp, proposed through the node
// (forwarded to the leader from a follower), and each keep-alive is answered only once that
// command is applied: an acknowledged renewal is a replicated one, stamped with the leader's time.
// 10,000 sessions renewing every few seconds cost a few commands per second per member.
// Every lease in a command has a keep-alive waiting for it: a renewal is never committed on nobody's
// behalf, so its leader time is never later than the acknowledgement of the keep-alive it renews
// (the expiry bound rests on that, src/lease/README.md). renewing() tells the leader's
// answered-at-once path (keeper.ts) that a renewal of a lease is already under way.

import type { Command, CommandResult, Lease } from '../../proto/gen/placement/v1/command.js';
import { answerResult } from '../results.js';
import { MAX_RENEW_IDS } from '../validation/command.js';

export interface RenewalDeps {
  propose(cmd: Command, deadline: number): Promise<CommandResult>;
  /** How long keep-alives wait to share a command. */
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
  private closed = false;

  constructor(private readonly deps: RenewalDeps) {}

  /** Resolves with the renewed lease once the renewal is applied, or null when the lease does not exist. */
  renew(id: number): Promise<Lease | null> {
    if (this.closed) return Promise.reject(new Error('lease renewals stopped'));
    return new Promise<Lease | null>((resolve, reject) => {
      const w = this.pending.get(id);
      if (w) w.push({ resolve, reject });
      else this.pending.set(id, [{ resolve, reject }]);
      this.arm();
    });
  }

  /** Whether a renewal of `id` waits for the window or for its command. */
  renewing(id: number): boolean {
    return this.pending.has(id) || this.proposed.has(id);
  }

  private arm(): void {
    if (this.pending.size >= MAX_RENEW_IDS) this.flush();
    else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.deps.batchMs);
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
    this.deps.propose(cmd, Date.now() + this.deps.timeoutMs).then(
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
