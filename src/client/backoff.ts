// Exponential back-off with jitter, and a small seedable PRNG so tests can replay delays exactly.

export interface BackoffOptions {
  /** Delay before the first retry, before jitter (default 25 ms). */
  initialMs?: number;
  /** Upper bound of the delay, before jitter (default 1000 ms). */
  maxMs?: number;
  /** Growth factor per retry (default 2). */
  multiplier?: number;
  /**
   * Fraction of the delay that is randomised (default 0.5: "equal jitter", the delay is uniform
   * in [d/2, d]). 0 gives exact exponential delays, 1 gives "full jitter" in [0, d].
   */
  jitter?: number;
}

export interface ResolvedBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  readonly jitter: number;
}

export function resolveBackoff(options: BackoffOptions = {}): ResolvedBackoff {
  const initialMs = options.initialMs ?? 25;
  const maxMs = options.maxMs ?? 1000;
  const multiplier = options.multiplier ?? 2;
  const jitter = options.jitter ?? 0.5;
  if (!(initialMs >= 0) || !(maxMs >= initialMs) || !(multiplier >= 1) || !(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(
      `invalid back-off: initialMs=${initialMs} maxMs=${maxMs} multiplier=${multiplier} jitter=${jitter} ` +
        '(need 0 <= initialMs <= maxMs, multiplier >= 1, 0 <= jitter <= 1)',
    );
  }
  return { initialMs, maxMs, multiplier, jitter };
}

/** Delay before retry number `retry` (0 = the first retry), using `random()` in [0, 1). */
export function backoffDelay(retry: number, b: ResolvedBackoff, random: () => number): number {
  const base = Math.min(b.maxMs, b.initialMs * Math.pow(b.multiplier, Math.max(0, retry)));
  const delay = base * (1 - b.jitter) + base * b.jitter * random();
  return Math.max(0, Math.round(delay));
}

/** mulberry32: a tiny, fast, seedable PRNG returning numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
