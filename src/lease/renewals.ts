// Keep-alives batched into renewal commands. Every keep-alive that reaches this member within
// `batchMs` (several streams, many leases) becomes ONE LeaseRenewOp, proposed through the node
// (forwarded to the leader from a follower), and each keep-alive is answered only once that
// command is applied: an acknowledged renewal is a replicated one, stamped with the leader's time.
// 10,000 sessions renewing every few seconds cost a few commands per second per member.

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
      if (this.pending.size >= MAX_RENEW_IDS) this.flush();
      else if (!this.timer) this.timer = setTimeout(() => this.flush(), this.deps.batchMs);
    });
  }

  /** Proposes what is pending now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const ids = [...batch.keys()];
    this.deps.onBatch?.(ids.length);
    const cmd: Command = { clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'leaseRenew', value: { ids } } };
    this.deps.propose(cmd, Date.now() + this.deps.timeoutMs).then(
      (r) => {
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
