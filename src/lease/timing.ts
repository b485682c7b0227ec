// Lease timing: the arithmetic of expiry, pure (no clock, no timers), so that the bound can be
// checked with a fake clock at every point of a lease's life (test/lease/expiry.test.ts).
//
// Notation (src/lease/README.md has the argument):
//   E  the longest a follower waits for a leader before it campaigns: its election timeout is
//      drawn from [electionTicks, 2 × electionTicks) ticks, so E = 2 × electionTicks × tickMs.
//   G  the grace a new leader may give a lease it inherits: G = E.
//   T  a lease's TTL; at least 1.5 × E (shorter requests are raised, as etcd does).
//   a  the leader time stamped on the last renewal (or the grant) that committed.
// The replicated expiry is a + T. A leader that took office at P ends the lease at
//   deadline = min(a + T + G, max(a + T, P + G)):
// never before a + T; at least G after it took office, so that holders who could not reach
// anyone during the election can renew; and never after a + T + G, whatever the number of
// leaders: every one of them computes the same cap from the same replicated a + T.
//
// A keep-alive reaching the leader is answered at once, without a new renewal command, while the
// replicated expiry is within D of what a renewal now would give (a + T >= now + T - D): the
// acknowledgement is then already covered by a committed renewal, to within D. D is small enough
// that a holder renewing every T/3 keeps half of its margin against a leader change (see
// renewalSlackMs and the README).

export interface LeaseTimingConfig {
  tickMs: number;
  electionTicks: number;
}

export interface LeaseTiming {
  /** E: the longest election timeout a follower draws. */
  electionTimeoutMs: number;
  /** G: the most a new leader extends an inherited lease beyond its replicated expiry. */
  graceMs: number;
  /** Minimum TTL (1.5 × E, rounded up); shorter grants are raised to it. */
  minTtlMs: number;
  /**
   * S: the stated slack between a lease's deadline and the commit of its deletion while a leader
   * is in office: the expiry timer, one proposal, its replication and apply, with room for a
   * loaded event loop.
   */
  slackMs: number;
}

export const EXPIRY_SLACK_MS = 250;

export function leaseTiming(cfg: LeaseTimingConfig): LeaseTiming {
  const e = 2 * cfg.electionTicks * cfg.tickMs;
  return { electionTimeoutMs: e, graceMs: e, minTtlMs: Math.ceil(1.5 * e), slackMs: EXPIRY_SLACK_MS };
}

/**
 * When the leader that took office at `promotedAtMs` ends a lease whose replicated expiry is
 * `expiresAtMs` (see the header): min(expiry + G, max(expiry, promotedAt + G)).
 */
export function expiryDeadline(expiresAtMs: number, promotedAtMs: number, graceMs: number): number {
  return Math.min(expiresAtMs + graceMs, Math.max(expiresAtMs, promotedAtMs + graceMs));
}

/**
 * The documented bound, beyond the TTL: a lease whose holder stopped renewing is deleted at most
 * G + S after its replicated expiry while a leader is in office then; if the office is vacant at
 * that moment, within S of the next leader taking office (it computes the same deadline, already
 * past).
 */
export function expiryMarginMs(t: LeaseTiming): number {
  return t.graceMs + t.slackMs;
}

/**
 * The most D ever is. D is how stale a follower's TimeToLive can read (the leader's reads its
 * floor, table.ts), and how much earlier than receipt + T a lease answered at once may end if
 * leadership moves before its next renewal (src/lease/README.md).
 */
export const MAX_RENEWAL_SLACK_MS = 5000;

/**
 * D for a lease of TTL `ttlMs`: how far the replicated expiry may lag a renewal made now while a
 * keep-alive is still answered from it. A holder renewing every T/3 is safe across a leader change
 * when its replicated expiry is not before the new leader's promotion, which the old design met
 * with a margin of 2T/3 - E (minus the commit latency); D takes at most half of that margin, at
 * most a tenth of the TTL and MAX_RENEWAL_SLACK_MS, and is 0 (every keep-alive is a committed
 * renewal) for TTLs up to 1.5 × E.
 */
export function renewalSlackMs(ttlMs: number, t: LeaseTiming): number {
  const margin = (2 * ttlMs) / 3 - t.electionTimeoutMs;
  return margin <= 0 ? 0 : Math.min(MAX_RENEWAL_SLACK_MS, Math.floor(ttlMs / 10), Math.floor(margin / 2));
}

/**
 * Whether a keep-alive at `nowMs` is already covered by the replicated expiry (a + T >= now + T - D):
 * 'covered' when it lags a renewal made now by at most D/2, 'soon' (covered, but a renewal is due)
 * up to D, 'no' beyond D or when D is 0.
 */
export function renewalCover(e: { ttlMs: number; expiresAtMs: number }, nowMs: number, t: LeaseTiming): 'covered' | 'soon' | 'no' {
  const d = renewalSlackMs(e.ttlMs, t);
  if (d === 0) return 'no';
  const lag = nowMs + e.ttlMs - e.expiresAtMs;
  return lag <= d / 2 ? 'covered' : lag <= d ? 'soon' : 'no';
}

/** The TTL actually granted for a request of `requestedMs`: raised to the minimum. */
export function grantedTtlMs(requestedMs: number, t: LeaseTiming): number {
  return Math.max(requestedMs, t.minTtlMs);
}

/**
 * How long a keep-alive of a lease of TTL `ttlMs` may wait for others to share its renewal command
 * (the member's cap, --lease-renew-batch-ms, applies on top): a hundredth of the TTL. The holder
 * learns of its renewal that much later, out of a margin of two thirds of the TTL; the wait costs
 * the bound nothing (a renewal is stamped when it is proposed, after the keep-alive arrived).
 */
export function renewalWaitMs(ttlMs: number): number {
  return Math.floor(ttlMs / 100);
}
