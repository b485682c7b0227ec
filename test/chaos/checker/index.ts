// Linearizability checker for a per-key register (read / write / delete / compare-and-swap).
//
// P-compositionality: a history is linearizable iff the sub-history of every key is, so each
// key is checked on its own (Herlihy & Wing's locality). Within a key the Wing & Gong / Lowe
// search in search.ts does the work. Before searching, the history is simplified in ways that
// provably do not change the verdict:
//  - definitely failed ops never took effect: dropped;
//  - indeterminate reads have no observable effect: dropped;
//  - an indeterminate write/CAS whose value nobody ever observed (no read returned it, no CAS
//    expected it) may be dropped when the key has no CAS that reported a mismatch: in any
//    linearization containing it, the next op touching the state it produced is an
//    overwrite, so removing it leaves a valid linearization.
// A quick pre-check also reports reads of values no operation ever wrote, with a readable
// explanation, without a search.

import type { HistoryOp } from './history.js';
import { describeOp } from './history.js';
import { searchLinearization, type CompiledPartition } from './search.js';

export type { HistoryOp, OpCall, OpResult, OpStatus } from './history.js';
export { describeOp } from './history.js';

export type Verdict = 'ok' | 'illegal' | 'unknown';

export interface KeyResult {
  key: string;
  verdict: Verdict;
  /** Ops of this key in the recorded history. */
  totalOps: number;
  /** Ops that entered the search after simplification. */
  searchedOps: number;
  indeterminateOps: number;
  /** Human-readable explanation for 'illegal' / 'unknown'. */
  message?: string;
  /** Op ids of the longest linearizable prefix found (illegal / unknown). */
  longestPrefix?: number[];
  /** Op ids the checker blames (illegal). */
  blamed?: number[];
  elapsedMs: number;
}

export interface CheckResult {
  verdict: Verdict;
  keys: KeyResult[];
  elapsedMs: number;
}

export interface CheckOptions {
  /** Total time budget for the whole history. Default 60 s. */
  timeBudgetMs?: number;
  /** Approximate memory budget for one key's memo table. Default 256 MiB. */
  memoryBudgetBytes?: number;
}

const enum K {
  Read = 0,
  Write = 1,
  CasOk = 2,
  CasFail = 3,
  CasUnknown = 4,
}

/** One op as the search sees it after simplification. */
interface PlannedOp {
  src: HistoryOp;
  kind: K;
  /** read: value returned; write: value written; cas: expected. */
  a: string | null;
  /** cas: new value. */
  b: string | null;
  invoke: number;
  /** +Infinity for indeterminate. */
  complete: number;
  /** Unobserved indeterminate write/CAS: its value is replaced by "⊥" and it joins a symmetry class. */
  pool: boolean;
}

interface KeyPlan {
  ops: PlannedOp[];
  preIllegal?: { message: string; blamed: number[] };
}

function planKey(all: HistoryOp[]): KeyPlan {
  // Definitely failed ops never happened; indeterminate reads tell nothing.
  const live = all.filter((o) => o.status !== 'fail' && !(o.status === 'info' && o.call.kind === 'read'));
  // Who may have written each value (definite or indeterminate).
  const writers = new Map<string | null, HistoryOp[]>();
  for (const o of live) {
    if (o.call.kind === 'write' || o.call.kind === 'cas') {
      const l = writers.get(o.call.value);
      if (l) l.push(o);
      else writers.set(o.call.value, [o]);
    }
  }
  // Definite ops that require the state to hold a value: ok reads and successful CASes.
  const requires = (o: HistoryOp): { value: string | null } | undefined => {
    if (o.status !== 'ok' || !o.result) return undefined;
    if (o.result.kind === 'read') return { value: o.result.value };
    if (o.result.kind === 'cas' && o.result.succeeded && o.call.kind === 'cas') return { value: o.call.expected };
    return undefined;
  };
  // Earliest completion among definite observers of each value.
  const firstObserver = new Map<string | null, HistoryOp>();
  const observed = new Set<string | null>();
  let anyCasMismatch = false;
  for (const o of live) {
    const req = requires(o);
    if (req) {
      if (req.value !== null && !writers.has(req.value)) {
        const v = req.value;
        const failed = all.find((x) => x.status === 'fail' && (x.call.kind === 'write' || x.call.kind === 'cas') && x.call.value === v);
        const what = o.call.kind === 'read' ? 'read a value' : 'succeeded against a value';
        const message = failed
          ? `${describeOp(o)}: ${what} written only by ${describeOp(failed)}, which was definitely rejected (${failed.error ?? 'failed'})`
          : `${describeOp(o)}: ${what} no operation ever wrote`;
        return { ops: [], preIllegal: { message, blamed: failed ? [o.id, failed.id] : [o.id] } };
      }
      observed.add(req.value);
      const f = firstObserver.get(req.value);
      if (!f || o.complete < f.complete) firstObserver.set(req.value, o);
    }
    if (o.call.kind === 'cas') observed.add(o.call.expected);
    if (o.status === 'ok' && o.result?.kind === 'cas' && !o.result.succeeded) anyCasMismatch = true;
  }

  const ops: PlannedOp[] = [];
  for (const o of live) {
    const c = o.call;
    const base = { src: o, invoke: o.invoke, complete: o.status === 'info' ? Infinity : Math.max(o.complete, o.invoke), pool: false };
    if (c.kind === 'read') {
      ops.push({ ...base, kind: K.Read, a: o.result?.kind === 'read' ? o.result.value : null, b: null });
      continue;
    }
    const value = c.value;
    const unique = value !== null && writers.get(value)?.length === 1;
    if (o.status === 'info' && unique) {
      const obs = firstObserver.get(value);
      if (obs) {
        // Only this op writes `value` and a definite op saw it: it must have taken effect,
        // before that observer completed.
        if (obs.complete < o.invoke) {
          return {
            ops: [],
            preIllegal: { message: `${describeOp(obs)} completed before ${describeOp(o)}, the only write of that value, was invoked`, blamed: [obs.id] },
          };
        }
        if (c.kind === 'write') ops.push({ ...base, kind: K.Write, a: value, b: null, complete: obs.complete });
        else ops.push({ ...base, kind: K.CasOk, a: c.expected, b: value, complete: obs.complete });
        continue;
      }
      if (!observed.has(value)) {
        // Nobody ever depended on `value`: without CAS mismatches the op is irrelevant
        // (see the header comment); otherwise all such writes are interchangeable.
        if (!anyCasMismatch) continue;
        if (c.kind === 'write') ops.push({ ...base, kind: K.Write, a: value, b: null, pool: true });
        else ops.push({ ...base, kind: K.CasUnknown, a: c.expected, b: value, pool: true });
        continue;
      }
    }
    if (c.kind === 'write') ops.push({ ...base, kind: K.Write, a: value, b: null });
    else if (o.status === 'info') ops.push({ ...base, kind: K.CasUnknown, a: c.expected, b: value });
    else if (o.result?.kind === 'cas' && o.result.succeeded) ops.push({ ...base, kind: K.CasOk, a: c.expected, b: value });
    else ops.push({ ...base, kind: K.CasFail, a: c.expected, b: value });
  }
  return { ops };
}

const BOTTOM = '\u22a5unobserved';

function compile(ops: PlannedOp[]): CompiledPartition & { valueName(v: number): string } {
  const ids = new Map<string | null, number>([[null, 0]]);
  const names: (string | null)[] = [null];
  const intern = (v: string | null) => {
    let id = ids.get(v);
    if (id === undefined) {
      id = names.length;
      ids.set(v, id);
      names.push(v);
    }
    return id;
  };
  const n = ops.length;
  const invoke = new Float64Array(n);
  const complete = new Float64Array(n);
  const kind = new Uint8Array(n);
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  const symmetryClass = new Int32Array(n);
  const readOnly = new Uint8Array(n);
  const classes = new Map<string, number>();
  ops.forEach((o, i) => {
    invoke[i] = o.invoke;
    complete[i] = o.complete;
    kind[i] = o.kind;
    readOnly[i] = o.kind === K.Read || o.kind === K.CasFail ? 1 : 0;
    if (o.pool && o.kind === K.Write) {
      a[i] = intern(BOTTOM);
    } else if (o.pool) {
      a[i] = intern(o.a);
      b[i] = intern(BOTTOM);
    } else {
      a[i] = intern(o.a);
      b[i] = intern(o.b);
    }
    if (o.pool) {
      const ck = `${o.kind}:${a[i]}`;
      let id = classes.get(ck);
      if (id === undefined) classes.set(ck, (id = classes.size + 1));
      symmetryClass[i] = id;
    }
  });
  return {
    n,
    invoke,
    complete,
    initialState: 0,
    symmetryClass,
    readOnly,
    // An unobserved indeterminate write only matters to make a CAS mismatch (see planKey).
    poolHelps: (s: number, op: number) => kind[op] === K.CasFail && s === a[op],
    step(s: number, op: number): number {
      switch (kind[op] as K) {
        case K.Read:
          return s === a[op] ? s : -1;
        case K.Write:
          return a[op];
        case K.CasOk:
          return s === a[op] ? b[op] : -1;
        case K.CasFail:
          return s !== a[op] ? s : -1;
        case K.CasUnknown:
          // When it would be a no-op it is left out instead (same effect, fewer states).
          return s === a[op] ? b[op] : -1;
      }
    },
    valueName: (v: number) => names[v] ?? '∅',
  };
}

export function checkHistory(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  const t0 = performance.now();
  const timeBudget = options.timeBudgetMs ?? 60_000;
  const memBudget = options.memoryBudgetBytes ?? 256 * 1024 * 1024;
  const deadline = t0 + timeBudget;

  const byKey = new Map<string, HistoryOp[]>();
  for (const o of history) {
    let l = byKey.get(o.key);
    if (!l) byKey.set(o.key, (l = []));
    l.push(o);
  }
  const keys = [...byKey.keys()].sort();
  const results: KeyResult[] = [];
  keys.forEach((key, idx) => {
    const k0 = performance.now();
    const all = byKey.get(key)!;
    const plan = planKey(all);
    const base = {
      key,
      totalOps: all.length,
      searchedOps: plan.ops.length,
      indeterminateOps: all.filter((o) => o.status === 'info').length,
    };
    if (plan.preIllegal) {
      results.push({ ...base, verdict: 'illegal', message: plan.preIllegal.message, blamed: plan.preIllegal.blamed, elapsedMs: performance.now() - k0 });
      return;
    }
    const p = compile(plan.ops);
    const words = (p.n + 31) >>> 5;
    const maxCacheEntries = Math.max(1000, Math.floor(memBudget / (words * 4 + 96)));
    const keysLeft = keys.length - idx;
    const keyDeadline = k0 + Math.max(0, deadline - k0) / keysLeft;
    const out = searchLinearization(p, { deadline: keyDeadline, maxCacheEntries });
    const elapsedMs = performance.now() - k0;
    const toIds = (l: number[]) => l.map((i) => plan.ops[i]!.src.id);
    if (out.verdict === 'ok') {
      results.push({ ...base, verdict: 'ok', elapsedMs });
    } else if (out.verdict === 'unknown') {
      results.push({
        ...base,
        verdict: 'unknown',
        message: `search gave up: ${out.reason} after linearizing ${out.longestPrefix.length}/${p.n} ops`,
        longestPrefix: toIds(out.longestPrefix),
        elapsedMs,
      });
    } else {
      const blocked = out.blockedOp >= 0 ? plan.ops[out.blockedOp]!.src : undefined;
      const lastOk = out.longestPrefix.length > 0 ? plan.ops[out.longestPrefix[out.longestPrefix.length - 1]!]!.src : undefined;
      const message =
        `not linearizable: the longest linearizable prefix has ${out.longestPrefix.length}/${p.n} ops ` +
        `and leaves the value ${p.valueName(out.stateAfterPrefix)}` +
        (lastOk ? ` (last: ${describeOp(lastOk)})` : '') +
        (blocked ? `; no order lets ${describeOp(blocked)} complete` : '');
      results.push({
        ...base,
        verdict: 'illegal',
        message,
        longestPrefix: toIds(out.longestPrefix),
        blamed: blocked ? [blocked.id] : [],
        elapsedMs,
      });
    }
  });
  const verdict: Verdict = results.some((r) => r.verdict === 'illegal')
    ? 'illegal'
    : results.some((r) => r.verdict === 'unknown')
      ? 'unknown'
      : 'ok';
  return { verdict, keys: results, elapsedMs: performance.now() - t0 };
}
