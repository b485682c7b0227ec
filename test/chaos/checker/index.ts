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

interface KeyPlan {
  ops: HistoryOp[];
  preIllegal?: { message: string; blamed: number[] };
}

function planKey(all: HistoryOp[]): KeyPlan {
  const live = all.filter((o) => o.status !== 'fail' && !(o.status === 'info' && o.call.kind === 'read'));
  // Values some op may have written (definite or indeterminate).
  const written = new Set<string | null>([null]);
  for (const o of live) {
    if (o.call.kind === 'write' || o.call.kind === 'cas') written.add(o.call.value);
  }
  for (const o of live) {
    if (o.status !== 'ok' || !o.result) continue;
    if (o.result.kind === 'read' && !written.has(o.result.value)) {
      return {
        ops: live,
        preIllegal: { message: `${describeOp(o)}: read a value no operation ever wrote`, blamed: [o.id] },
      };
    }
    if (o.call.kind === 'cas' && o.result.kind === 'cas' && o.result.succeeded && !written.has(o.call.expected)) {
      return {
        ops: live,
        preIllegal: { message: `${describeOp(o)}: succeeded against a value no operation ever wrote`, blamed: [o.id] },
      };
    }
  }
  const observed = new Set<string | null>();
  let anyCasMismatch = false;
  for (const o of live) {
    if (o.status === 'ok' && o.result?.kind === 'read') observed.add(o.result.value);
    if (o.call.kind === 'cas') observed.add(o.call.expected);
    if (o.status === 'ok' && o.result?.kind === 'cas' && !o.result.succeeded) anyCasMismatch = true;
  }
  // The initial state (absent) is observable too: a write of null that nobody distinguishes is still a write.
  const ops = anyCasMismatch
    ? live
    : live.filter((o) => {
        if (o.status !== 'info') return true;
        const c = o.call;
        if (c.kind === 'write' || c.kind === 'cas') return observed.has(c.value);
        return true;
      });
  return { ops };
}

function compile(ops: HistoryOp[]): CompiledPartition & { valueName(v: number): string } {
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
  ops.forEach((o, i) => {
    invoke[i] = o.invoke;
    complete[i] = o.status === 'info' ? Infinity : Math.max(o.complete, o.invoke);
    const c = o.call;
    if (c.kind === 'read') {
      kind[i] = K.Read;
      a[i] = intern(o.result?.kind === 'read' ? o.result.value : null);
    } else if (c.kind === 'write') {
      kind[i] = K.Write;
      a[i] = intern(c.value);
    } else {
      a[i] = intern(c.expected);
      b[i] = intern(c.value);
      if (o.status === 'info') kind[i] = K.CasUnknown;
      else kind[i] = o.result?.kind === 'cas' && o.result.succeeded ? K.CasOk : K.CasFail;
    }
  });
  return {
    n,
    invoke,
    complete,
    initialState: 0,
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
          return s === a[op] ? b[op] : s;
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
    const toIds = (l: number[]) => l.map((i) => plan.ops[i]!.id);
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
      const blocked = out.blockedOp >= 0 ? plan.ops[out.blockedOp] : undefined;
      const lastOk = out.longestPrefix.length > 0 ? plan.ops[out.longestPrefix[out.longestPrefix.length - 1]!] : undefined;
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
