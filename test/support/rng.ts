// A seeded pseudo-random generator (xorshift32) for tests that must replay from a printed seed.

/** Numbers in [0, 1) from `seed`; the same seed gives the same sequence. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
