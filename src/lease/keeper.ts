// The node's lessor: the lease table (table.ts) kept by applied changes, the keep-alive batcher
// (renewals.ts) and, on the leader, the expiry timer that proposes LeaseExpireOp commands when
// leases reach their deadline (timing.ts). The node calls four hooks: open (after the state
// machine), leadership (role changes), applied (applied index moves), snapshotInstalled; the
// lease API (src/api/etcd/lease.ts, the admin HTTP routes) calls the rest.
//
// The leader acts only once it has applied every entry of earlier terms (its own no-op included):
// before that its table may miss renewals a previous leader committed. Promotion time P is that
// moment, on this member's clock.

import type { Command, CommandResult, Lease, LeaseLimits, CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { StateMachine } from '../../storage/index.js';
import type { Logger } from '../log.js';
import { answerResult } from '../results.js';
import { LeaseTable, type DueLease, type LeaseEntry } from './table.js';
import { RenewalBatcher } from './renewals.js';
import { expiryMarginMs, leaseTiming, renewalCover, renewalWaitMs, type LeaseTiming } from './timing.js';
import type { LeaseMetrics } from './metrics.js';

export interface LeaseKeeperConfig {
  tickMs: number;
  electionTicks: number;
  requestTimeoutMs: number;
  maxLeases: number;
  maxKeysPerLease: number;
  leaseRenewBatchMs: number;
}

export interface LeaseKeeperDeps {
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
  log: Logger;
  metrics?: LeaseMetrics;
}

/** Expiry proposals in flight at most; the rest wait for the next timer. */
const MAX_EXPIRING = 1024;
/** An expiry proposal that came back void while the lease is unchanged is retried after this. */
const RETRY_MS = 100;
/** The timer never sleeps longer than this (a wall-clock step is noticed within it). */
const MAX_SLEEP_MS = 1000;

export class LeaseKeeper {
  readonly timing: LeaseTiming;
  readonly table = new LeaseTable();
  private readonly renewals: RenewalBatcher;
  private sm: StateMachine | null = null;
  private leaderSince = 0;
  private term = 0;
  private appliedIndex = 0;
  private timer: NodeJS.Timeout | null = null;
  private inFlight = 0;
  private closed = false;

  constructor(
    private readonly cfg: LeaseKeeperConfig,
    private readonly deps: LeaseKeeperDeps,
  ) {
    this.timing = leaseTiming(cfg);
    this.renewals = new RenewalBatcher({
      propose: deps.propose,
      batchMs: cfg.leaseRenewBatchMs,
      timeoutMs: cfg.requestTimeoutMs,
      onBatch: () => deps.metrics?.renewalCommands.inc(),
    });
    deps.metrics?.bind({
      count: () => this.table.size,
      nearestExpirySeconds: () => this.nearestExpirySeconds(Date.now()),
    });
  }

  /** Beyond the TTL, the most a lease outlives its last renewal while a leader is in office. */
  get expiryMarginMs(): number {
    return expiryMarginMs(this.timing);
  }

  // ---- node hooks ---------------------------------------------------------------------------

  async open(sm: StateMachine): Promise<void> {
    this.sm = sm;
    this.table.load(await sm.listLeases());
    this.appliedIndex = sm.appliedIndex;
    sm.leaseObserver = (changes) => {
      this.table.apply(changes);
      if (this.table.isPrimary) this.arm();
    };
  }

  /** The table is rebuilt from the installed state. Called on the apply chain (no batch runs meanwhile). */
  async snapshotInstalled(): Promise<void> {
    if (!this.sm) return;
    const primary = this.table.isPrimary;
    this.table.load(await this.sm.listLeases());
    this.appliedIndex = this.sm.appliedIndex;
    // A leader does not install snapshots; if it ever did, it acts again only after re-promotion.
    if (primary) this.demote();
  }

  /**
   * Leadership changed: `leaderSinceIndex` is the index of this leader's first entry of its term
   * (0: not leader).
   */
  leadership(leaderSinceIndex: number, term: number): void {
    if (leaderSinceIndex === 0 || term !== this.term) this.demote();
    this.leaderSince = leaderSinceIndex;
    this.term = term;
    this.maybePromote();
  }

  applied(index: number): void {
    this.appliedIndex = index;
    this.maybePromote();
  }

  close(): void {
    this.closed = true;
    this.demote();
    this.renewals.close(new Error('node is shutting down'));
  }

  // ---- the lease API ------------------------------------------------------------------------

  /**
   * One keep-alive: resolves once the renewal is applied, with the lease (null: it does not exist).
   * It waits up to a hundredth of its lease's TTL for others to share the command (timing.ts:
   * renewalWaitMs): a holder loses that much of its margin, and a busy member proposes fewer
   * commands.
   */
  renew(id: number): Promise<Lease | null> {
    const ttlMs = this.table.get(id)?.ttlMs ?? this.timing.minTtlMs;
    return this.renewals.renew(id, renewalWaitMs(ttlMs)).then((l) => {
      // A keep-alive for a lease that does not exist renewed nothing: not counted.
      if (l) this.deps.metrics?.keepAlives.inc();
      return l;
    });
  }

  /**
   * A keep-alive answered at once, on the leader only: the lease as replicated when its replicated
   * expiry already covers a renewal made now to within D (timing.ts: renewalCover), else undefined
   * (the caller renews through renew(), and is answered once that renewal is applied). Past half of
   * D the first keep-alive goes the long way — it is the one its renewal is for — and those that
   * follow while that renewal is under way are answered at once; so a lease kept alive
   * continuously is renewed through Raft about once per D/2 whatever its keep-alive rate, and
   * every renewal committed is one a holder's keep-alive waited for. This leader then does not end
   * the lease before receipt + TTL (table.holdUntil), as if it had been renewed. Only the leader's table
   * counts: it has applied every earlier term's renewals, revokes and expiries (isPrimary), and is
   * where an expiry would be decided.
   */
  renewNow(id: number, nowMs: number): LeaseEntry | undefined {
    if (!this.table.isPrimary) return undefined;
    const e = this.table.get(id);
    if (!e) return undefined;
    const cover = renewalCover(e, nowMs, this.timing);
    if (cover === 'no' || (cover === 'soon' && !this.renewals.renewing(id))) return undefined;
    this.table.holdUntil(id, nowMs + e.ttlMs);
    this.deps.metrics?.keepAlives.inc();
    return e;
  }

  /** `by`: the caller of the request (src/auth/context.ts). */
  async grant(ttlMs: number, id: number, deadline: number, by: CommandCaller | undefined): Promise<Lease> {
    const r = answerResult(await this.deps.propose(command({ $case: 'leaseGrant', value: { id, ttlMs } }), deadline, by));
    this.deps.metrics?.granted.inc();
    return r.lease!;
  }

  async revoke(id: number, deadline: number, by: CommandCaller | undefined): Promise<CommandResult> {
    const r = answerResult(await this.deps.propose(command({ $case: 'leaseRevoke', value: { id } }), deadline, by), { what: `lease ${id}` });
    this.deps.metrics?.revoked.inc();
    return r;
  }

  /**
   * How long the lease has left as this member sees it: on the leader, until its deadline (grace
   * included); elsewhere until the replicated expiry (clocks assumed close, see README).
   */
  remainingMs(e: LeaseEntry, nowMs: number): number {
    return Math.max(0, (this.table.deadlineOf(e) ?? e.expiresAtMs) - nowMs);
  }

  // ---- leader: expiry -----------------------------------------------------------------------

  private maybePromote(): void {
    if (this.closed || this.table.isPrimary || this.leaderSince === 0 || this.appliedIndex < this.leaderSince) return;
    this.table.promote(Date.now(), this.timing.graceMs);
    this.deps.log.info({ leases: this.table.size, term: this.term, graceMs: this.timing.graceMs }, 'lease expiry: this leader now ends leases');
    this.arm();
    void this.replicateLimits();
  }

  private demote(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.table.demote();
  }

  /** Proposes this leader's configured lease limits when the replicated ones differ. */
  private async replicateLimits(): Promise<void> {
    if (!this.sm) return;
    const want: LeaseLimits = { maxLeases: this.cfg.maxLeases, maxKeysPerLease: this.cfg.maxKeysPerLease };
    try {
      const have = await this.sm.leaseLimits();
      if (have.maxLeases === want.maxLeases && have.maxKeysPerLease === want.maxKeysPerLease) return;
      answerResult(await this.deps.propose(command({ $case: 'leaseLimits', value: want }), Date.now() + this.cfg.requestTimeoutMs, undefined));
      this.deps.log.info({ ...want }, 'lease limits replicated');
    } catch (err) {
      if (this.table.isPrimary) this.deps.log.warn({ err: (err as Error).message }, 'could not replicate the lease limits; the next leader will try');
    }
  }

  /** (Re)arms the expiry timer for the nearest deadline. */
  private arm(): void {
    if (this.closed || !this.table.isPrimary) return;
    const next = this.table.nextDeadline();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (next === undefined) return;
    const wait = Math.min(MAX_SLEEP_MS, Math.max(0, next - Date.now()));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.expireDue();
    }, wait);
  }

  private expireDue(): void {
    if (!this.table.isPrimary) return;
    const now = Date.now();
    for (const d of this.table.due(now, MAX_EXPIRING - this.inFlight)) this.proposeExpiry(d);
    this.arm();
  }

  private proposeExpiry(d: DueLease): void {
    this.inFlight++;
    const cmd = command({ $case: 'leaseExpire', value: { id: d.id, expiresAtMs: d.expiresAtMs, term: this.term } });
    const settle = (expired: boolean): void => {
      this.inFlight--;
      if (expired) this.deps.metrics?.expired.inc();
      this.table.settle(d, Date.now() + RETRY_MS);
      this.arm();
    };
    this.deps.propose(cmd, Date.now() + this.cfg.requestTimeoutMs, undefined).then(
      (r) => settle(r.code === 0),
      (err: unknown) => {
        if (this.table.isPrimary) this.deps.log.debug({ lease: d.id, err: (err as Error).message }, 'lease expiry proposal failed; retrying');
        settle(false);
      },
    );
  }

  private nearestExpirySeconds(nowMs: number): number | undefined {
    const at = this.table.nextDeadline() ?? this.table.earliestExpiry();
    return at === undefined ? undefined : (at - nowMs) / 1000;
  }
}

function command(op: NonNullable<Command['op']>): Command {
  return { clientId: '', seq: 0, leaderTimeMs: 0, op };
}
