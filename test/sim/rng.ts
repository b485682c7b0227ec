// Seeded PRNG for the simulator: sfc32 (small fast counter), seeded through splitmix32.
// Every random choice in a simulation run comes from one of these, so a run is a pure
// function of (seed, options).

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) | 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    // Fold a possibly > 32-bit seed into the splitmix state.
    const st = { s: (seed | 0) ^ Math.floor(seed / 0x100000000) };
    this.a = splitmix32(st);
    this.b = splitmix32(st);
    this.c = splitmix32(st);
    this.d = splitmix32(st) | 1;
    for (let i = 0; i < 12; i++) this.u32();
  }

  /** Uniform 32-bit unsigned integer. */
  u32(): number {
    const a = this.a, b = this.b, c = this.c, d = this.d;
    const t = (((a + b) | 0) + d) | 0;
    this.d = (d + 1) | 0;
    this.a = b ^ (b >>> 9);
    this.b = (c + (c << 3)) | 0;
    this.c = ((c << 21) | (c >>> 11)) + t | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('rng.pick on empty array');
    return xs[this.int(xs.length)]!;
  }

  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i]!;
      xs[i] = xs[j]!;
      xs[j] = t;
    }
    return xs;
  }

  /** An independent generator derived from this one (consumes one draw). */
  fork(): Rng {
    return new Rng(this.u32() * 2 + 1);
  }
}

/** Incremental 2x32-bit hash used for trace fingerprints and state-machine chains. */
export class Hasher {
  h1 = 0x811c9dc5;
  h2 = 0x01000193;

  add(x: number): this {
    const v = x | 0;
    const hi = Math.floor(x / 0x100000000) | 0;
    this.h1 = Math.imul(this.h1 ^ v, 0x01000193);
    this.h1 ^= this.h1 >>> 15;
    this.h2 = Math.imul(this.h2 ^ v ^ hi, 0x5bd1e995);
    this.h2 ^= this.h2 >>> 13;
    if (hi !== 0) this.h1 = Math.imul(this.h1 ^ hi, 0x01000193);
    return this;
  }

  addBytes(b: Uint8Array): this {
    this.add(b.length);
    for (let i = 0; i < b.length; i++) {
      this.h1 = Math.imul(this.h1 ^ b[i]!, 0x01000193);
    }
    this.h2 = Math.imul(this.h2 ^ this.h1, 0x5bd1e995);
    return this;
  }

  addString(s: string): this {
    this.add(s.length);
    for (let i = 0; i < s.length; i++) this.h1 = Math.imul(this.h1 ^ s.charCodeAt(i), 0x01000193);
    this.h2 = Math.imul(this.h2 ^ this.h1, 0x5bd1e995);
    return this;
  }

  hex(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }
}

/** FNV-1a of a byte array (32 bits). */
export function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

/** Mix a chain value with an applied entry (index, term, data hash): the state-machine fingerprint. */
export function chainMix(prev: number, index: number, term: number, dataHash: number): number {
  let h = Math.imul(prev ^ index, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15) ^ term, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dataHash, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
