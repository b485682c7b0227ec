// Wing & Gong's linearizability search with Lowe's memoization, the way Porcupine does it:
// the history of one partition is a doubly linked list of call and return entries in time
// order; the search repeatedly picks a pending call whose model step is legal, "lifts" it
// (removes its call and return from the list) and backtracks when it meets the return of an
// operation it has not linearized yet. Each (set of linearized ops, model state) pair is
// visited at most once (the cache), which is what keeps the search tractable.
//
// Indeterminate operations complete at +infinity: they may be linearized at any point after
// their invoke, and they may be left out — the search succeeds as soon as every *definite*
// operation is linearized (an indeterminate op still pending then is simply omitted: it never
// happened, which its unknown outcome allows).
//
// On top of Lowe's algorithm, three sound reductions keep real histories tractable (see the
// comments at each): read-only ops that are legal now are committed to without branching;
// indeterminate ops are only tried when no definite op can proceed; interchangeable
// indeterminate ops form symmetry classes of which one member is tried per level. They are
// checked against an exhaustive oracle in checker.test.ts.
//
// The search is bounded in time and memory: on exhaustion it returns 'unknown', never 'ok'.

/** One partition compiled to integers: states and operations are small ints. */
export interface CompiledPartition {
  /** Number of operations. */
  readonly n: number;
  readonly invoke: Float64Array;
  /** +Infinity for indeterminate operations. */
  readonly complete: Float64Array;
  readonly initialState: number;
  /** New state after applying op in state, or -1 when the op's recorded outcome is impossible there. */
  step(state: number, op: number): number;
  /**
   * Optional symmetry classes (0 = none): indeterminate ops with the same class id have the
   * same step function and no deadline, so they are interchangeable — at each search level
   * only the first available member of a class needs to be tried (an exchange argument: any
   * linearization using another member now can use this one now and that one later).
   */
  readonly symmetryClass?: Int32Array;
  /**
   * Ops with a non-zero symmetry class are "pool" ops whose only possible use is to unblock a
   * definite op that cannot step in the current state (the model proves that placing them
   * anywhere else can be undone). When given, pool ops are tried at a level only if some
   * definite candidate op failed to step there and this returns true for it.
   */
  poolHelps?(state: number, op: number): boolean;
  /** Ops that never change the state when legal (reads, CAS mismatches); enables the commit rule. */
  readonly readOnly?: Uint8Array;
}

export interface SearchBudget {
  /** Absolute deadline (performance.now() milliseconds). */
  deadline: number;
  /** Maximum number of memoized (bitset, state) pairs for this search. */
  maxCacheEntries: number;
}

export type SearchOutcome =
  | { verdict: 'ok'; linearization: number[] }
  | {
      verdict: 'illegal';
      /** The longest prefix the search managed to linearize. */
      longestPrefix: number[];
      /** State after that prefix. */
      stateAfterPrefix: number;
      /** The definite op with the earliest completion that could not be placed after that prefix. */
      blockedOp: number;
    }
  | { verdict: 'unknown'; reason: string; longestPrefix: number[] };

/** Deterministic 32-bit PRNG (mulberry32), used for Zobrist hashing of the linearized set. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

interface CacheEntry {
  bits: Uint32Array;
  state: number;
}

export function searchLinearization(p: CompiledPartition, budget: SearchBudget): SearchOutcome {
  const n = p.n;
  if (n === 0) return { verdict: 'ok', linearization: [] };

  // ---- entries: 0..2n-1, call of op i and return of op i; sentinels HEAD=2n, TAIL=2n+1 ----
  const order: number[] = [];
  for (let i = 0; i < n; i++) order.push(i, n + i); // call i = i, return i = n + i
  const time = (e: number) => (e < n ? p.invoke[e] : p.complete[e - n]);
  order.sort((a, b) => {
    const ta = time(a);
    const tb = time(b);
    if (ta !== tb) return ta < tb ? -1 : 1;
    // Equal times: calls before returns (touching intervals count as concurrent).
    const ca = a < n ? 0 : 1;
    const cb = b < n ? 0 : 1;
    if (ca !== cb) return ca - cb;
    return a - b;
  });
  const HEAD = 2 * n;
  const TAIL = 2 * n + 1;
  const next = new Int32Array(2 * n + 2);
  const prev = new Int32Array(2 * n + 2);
  let last = HEAD;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = TAIL;
  prev[TAIL] = last;
  next[TAIL] = TAIL; // the tail behaves like a return entry: it ends a phase scan
  prev[HEAD] = -1;

  const lift = (call: number) => {
    const ret = call + n;
    next[prev[call]] = next[call];
    prev[next[call]] = prev[call];
    next[prev[ret]] = next[ret];
    prev[next[ret]] = prev[ret];
  };
  const unlift = (call: number) => {
    const ret = call + n;
    next[prev[ret]] = ret;
    prev[next[ret]] = ret;
    next[prev[call]] = call;
    prev[next[call]] = call;
  };

  const definite = new Uint8Array(n);
  let remainingDefinite = 0;
  for (let i = 0; i < n; i++) {
    if (p.complete[i] !== Infinity) {
      definite[i] = 1;
      remainingDefinite++;
    }
  }

  // ---- memo: Zobrist hash of the bitset mixed with the state ----
  const rnd = mulberry32(0x9e3779b9 ^ n);
  const zob = new Uint32Array(n);
  for (let i = 0; i < n; i++) zob[i] = rnd();
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  let hash = 0;
  const cache = new Map<number, CacheEntry[]>();
  let cacheSize = 0;
  const mix = (h: number, s: number) => (Math.imul(h ^ Math.imul(s + 0x27d4eb2d, 0x165667b1), 0x9e3779b1) ^ s) >>> 0;
  const sameBits = (a: Uint32Array, b: Uint32Array) => {
    for (let i = 0; i < words; i++) if (a[i] !== b[i]) return false;
    return true;
  };

  const cls = p.symmetryClass ?? new Int32Array(n);
  const poolHelps = p.poolHelps;
  const readOnly = p.readOnly ?? new Uint8Array(n);
  // Each level of the search scans the candidates (the calls before the first return left in
  // the list) in three phases:
  //  0. a definite read-only op (one that never changes the state when legal: a read, a CAS
  //     mismatch) that is legal now is linearized at once and the level is *committed* to it: any
  //     linearization from here can be rearranged to start with it (it changes nothing, and
  //     no remaining op must precede it in real time since it is a candidate), so if it
  //     fails, the level fails;
  //  1. the other definite ops;
  //  2. indeterminate ops: they are only needed when definite ops cannot proceed.
  // The stack holds, per level: the op chosen, the state before it, the phase, the symmetry
  // classes already tried, whether a pool op could help, and whether the level was committed.
  const PH_PRESERVE = 0;
  const PH_DEFINITE = 1;
  const PH_INDETERMINATE = 2;
  const stackCall: number[] = [];
  const stackState: number[] = [];
  const stackPhase: number[] = [];
  const stackTried: (Set<number> | null)[] = [];
  const stackPoolUseful: boolean[] = [];
  let poolUseful = poolHelps === undefined; // at this level: did a definite candidate need a pool op?
  let state = p.initialState;
  let best: number[] = [];
  let bestState = state;
  let phase = PH_PRESERVE;
  let tried: Set<number> | null = null; // symmetry classes already tried at this level

  let iterations = 0;
  let entry = next[HEAD];
  while (remainingDefinite > 0) {
    if ((++iterations & 0xfff) === 0 && performance.now() > budget.deadline) {
      return { verdict: 'unknown', reason: 'time budget exhausted', longestPrefix: best };
    }
    if (entry < 0) {
      return { verdict: 'unknown', reason: 'internal: ran off the entry list', longestPrefix: best };
    }
    if (entry < n) {
      const op = entry;
      entry = next[entry];
      if ((phase === PH_INDETERMINATE) === (definite[op] === 1)) continue;
      const c = cls[op];
      if (c !== 0) {
        if (!poolUseful || tried?.has(c)) continue;
        (tried ??= new Set()).add(c);
      }
      const ns = p.step(state, op);
      if (ns < 0) {
        if (!poolUseful && phase === PH_PRESERVE && poolHelps!(state, op)) poolUseful = true;
        continue;
      }
      if (phase === PH_PRESERVE && !readOnly[op]) continue;
      if (phase === PH_DEFINITE && readOnly[op]) continue; // handled in phase 0
      const w = op >>> 5;
      const m = 1 << (op & 31);
      bits[w] |= m;
      const nh = (hash ^ zob[op]) >>> 0;
      const key = mix(nh, ns);
      let bucket = cache.get(key);
      let seen = false;
      if (bucket) {
        for (const ce of bucket) {
          if (ce.state === ns && sameBits(ce.bits, bits)) {
            seen = true;
            break;
          }
        }
      }
      if (seen) {
        bits[w] &= ~m;
        if (phase === PH_PRESERVE) {
          // Committed choice already explored and failed: this level fails.
          phase = PH_INDETERMINATE;
          entry = TAIL;
        }
        continue;
      }
      if (cacheSize >= budget.maxCacheEntries) {
        return { verdict: 'unknown', reason: `memo table limit (${budget.maxCacheEntries} states) reached`, longestPrefix: best };
      }
      const ce: CacheEntry = { bits: bits.slice(), state: ns };
      if (bucket) bucket.push(ce);
      else cache.set(key, [ce]);
      cacheSize++;
      stackCall.push(op);
      stackState.push(state);
      stackPhase.push(phase);
      stackTried.push(tried);
      stackPoolUseful.push(poolUseful);
      state = ns;
      hash = nh;
      lift(op);
      if (definite[op]) remainingDefinite--;
      if (stackCall.length > best.length) {
        best = stackCall.slice();
        bestState = state;
      }
      phase = PH_PRESERVE;
      tried = null;
      poolUseful = poolHelps === undefined;
      entry = next[HEAD];
    } else {
      // Reached a return (or the tail): every candidate of this phase has been tried.
      if (phase !== PH_INDETERMINATE) {
        phase++;
        entry = next[HEAD];
        continue;
      }
      // Undo the last choice.
      if (stackCall.length === 0) {
        return { verdict: 'illegal', longestPrefix: best, stateAfterPrefix: bestState, blockedOp: blockedAfter(p, best) };
      }
      const op = stackCall.pop()!;
      state = stackState.pop()!;
      phase = stackPhase.pop()!;
      tried = stackTried.pop()!;
      poolUseful = stackPoolUseful.pop()!;
      bits[op >>> 5] &= ~(1 << (op & 31));
      hash = (hash ^ zob[op]) >>> 0;
      unlift(op);
      if (definite[op]) remainingDefinite++;
      if (phase === PH_PRESERVE) {
        // That level was committed to `op`: it fails as a whole.
        phase = PH_INDETERMINATE;
        entry = TAIL;
      } else {
        entry = next[op];
      }
    }
  }
  return { verdict: 'ok', linearization: stackCall.slice() };
}

/** The definite op not in `prefix` with the earliest completion: the one that could not be placed. */
function blockedAfter(p: CompiledPartition, prefix: number[]): number {
  const inPrefix = new Uint8Array(p.n);
  for (const op of prefix) inPrefix[op] = 1;
  let bestOp = -1;
  for (let i = 0; i < p.n; i++) {
    if (inPrefix[i] || p.complete[i] === Infinity) continue;
    if (bestOp < 0 || p.complete[i] < p.complete[bestOp]) bestOp = i;
  }
  return bestOp;
}
