// Generates random histories that are linearizable by construction: every op gets a
// linearization point inside its [invoke, complete] interval, the ops are applied to a
// sequential register in that order, and their outputs are recorded. Indeterminate ops take
// effect (or not) at their point, but the client only learns "unknown".

import type { HistoryOp, OpCall, OpResult } from './history.js';

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenOptions {
  seed: number;
  clients: number;
  keys: number;
  opsPerClient: number;
  /** Probability that an op is indeterminate. */
  indeterminate?: number;
  /** Probability that an op is a CAS (the rest split between reads and writes). */
  cas?: number;
  /** Probability that a write is a delete. */
  deletes?: number;
}

export function generateLegalHistory(o: GenOptions): HistoryOp[] {
  const rnd = mulberry32(o.seed);
  const pInfo = o.indeterminate ?? 0.05;
  const pCas = o.cas ?? 0.15;
  const pDel = o.deletes ?? 0.05;
  interface Pending {
    op: HistoryOp;
    at: number;
    applies: boolean;
  }
  const pending: Pending[] = [];
  let id = 0;
  let valueCounter = 0;
  const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
  for (let c = 0; c < o.clients; c++) {
    let t = rnd() * 5;
    for (let i = 0; i < o.opsPerClient; i++) {
      const invoke = t;
      const lat = 0.5 + rnd() * 10;
      const at = invoke + rnd() * lat;
      const complete = invoke + lat;
      const key = keys[Math.floor(rnd() * keys.length)]!;
      const r = rnd();
      let call: OpCall;
      if (r < pCas) call = { kind: 'cas', expected: null, value: `v${++valueCounter}` };
      else if (r < pCas + (1 - pCas) / 2) call = { kind: 'read' };
      else call = { kind: 'write', value: rnd() < pDel ? null : `v${++valueCounter}` };
      const info = rnd() < pInfo;
      const op: HistoryOp = { id: id++, client: c, key, call, status: info ? 'info' : 'ok', invoke, complete };
      pending.push({ op, at, applies: !info || rnd() < 0.5 });
      // A client whose op timed out moves on; the op may still be in flight.
      t = complete + rnd() * 2;
    }
  }
  pending.sort((a, b) => a.at - b.at);
  const state = new Map<string, string | null>();
  const recentValues = new Map<string, (string | null)[]>();
  for (const p of pending) {
    const cur = state.get(p.op.key) ?? null;
    const recent = recentValues.get(p.op.key) ?? [null];
    const c = p.op.call;
    let result: OpResult;
    if (c.kind === 'read') {
      result = { kind: 'read', value: cur };
    } else if (c.kind === 'write') {
      if (p.applies) {
        state.set(p.op.key, c.value);
        recent.push(c.value);
      }
      result = { kind: 'write' };
    } else {
      // Half the CASes expect the current value (and succeed), the rest a recent one.
      const expected = rnd() < 0.5 ? cur : recent[Math.floor(rnd() * recent.length)]!;
      p.op.call = { kind: 'cas', expected, value: c.value };
      const ok = expected === cur;
      if (ok && p.applies) {
        state.set(p.op.key, c.value);
        recent.push(c.value);
      }
      result = { kind: 'cas', succeeded: ok };
    }
    if (recent.length > 4) recent.shift();
    recentValues.set(p.op.key, recent);
    if (p.op.status === 'ok') p.op.result = result;
  }
  return pending.map((p) => p.op).sort((a, b) => a.invoke - b.invoke);
}
