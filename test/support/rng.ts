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

/** rng() from TEST_SEED, or a fresh seed, printed with `label` so that a failure can be replayed. */
export function printedRng(label: string): () => number {
  const seed = process.env.TEST_SEED ? Number(process.env.TEST_SEED) : Math.floor(Math.random() * 2 ** 31) + 1;
  console.log(`# ${label}: seed ${seed} (rerun with TEST_SEED=${seed})`);
  return rng(seed);
}
