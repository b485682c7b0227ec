// The linearizability checker must bite: hand-made histories with known verdicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory, type HistoryOp } from './checker/index.js';
import { generateLegalHistory, mulberry32 } from './checker/gen.js';

let nextId = 0;
type Spec = [client: number, invoke: number, complete: number];
const w = ([client, invoke, complete]: Spec, value: string | null, key = 'x'): HistoryOp => ({
  id: nextId++, client, key, call: { kind: 'write', value }, status: 'ok', result: { kind: 'write' }, invoke, complete,
});
const r = ([client, invoke, complete]: Spec, value: string | null, key = 'x'): HistoryOp => ({
  id: nextId++, client, key, call: { kind: 'read' }, status: 'ok', result: { kind: 'read', value }, invoke, complete,
});
const cas = ([client, invoke, complete]: Spec, expected: string | null, value: string, succeeded: boolean, key = 'x'): HistoryOp => ({
  id: nextId++, client, key, call: { kind: 'cas', expected, value }, status: 'ok', result: { kind: 'cas', succeeded }, invoke, complete,
});
const info = (op: HistoryOp): HistoryOp => {
  const { result: _drop, ...rest } = op;
  return { ...rest, status: 'info' };
};
const fail = (op: HistoryOp): HistoryOp => {
  const { result: _drop, ...rest } = op;
  return { ...rest, status: 'fail' };
};
const verdict = (h: HistoryOp[]) => checkHistory(h, { timeBudgetMs: 10_000 }).verdict;

test('empty history and single ops are linearizable', () => {
  assert.equal(verdict([]), 'ok');
  assert.equal(verdict([r([0, 0, 1], null)]), 'ok');
  assert.equal(verdict([w([0, 0, 1], 'a'), r([0, 2, 3], 'a')]), 'ok');
});

test('stale read after a completed write is illegal', () => {
  const h = [w([0, 0, 10], '1'), w([0, 20, 30], '2'), r([1, 40, 50], '1')];
  const res = checkHistory(h);
  assert.equal(res.verdict, 'illegal');
  const k = res.keys[0]!;
  assert.equal(k.key, 'x');
  assert.deepEqual(k.blamed, [h[2]!.id]);
  assert.match(k.message ?? '', /not linearizable/);
});

test('lost write (acknowledged, then read as absent) is illegal', () => {
  assert.equal(verdict([w([0, 0, 10], 'a'), r([1, 20, 30], null)]), 'illegal');
  // Lost among concurrent traffic: w(b) completes, later reads go back to a.
  assert.equal(
    verdict([w([0, 0, 10], 'a'), r([1, 5, 15], 'a'), w([2, 20, 30], 'b'), r([1, 40, 50], 'b'), r([3, 60, 70], 'a')]),
    'illegal',
  );
});

test('read of a value never written is illegal', () => {
  const res = checkHistory([w([0, 0, 10], 'a'), r([1, 5, 15], 'zzz')]);
  assert.equal(res.verdict, 'illegal');
  assert.match(res.keys[0]!.message ?? '', /no operation ever wrote/);
  // A definitely failed write does not count as written.
  const rejected = checkHistory([fail(w([0, 0, 10], 'a')), r([1, 20, 30], 'a')]);
  assert.equal(rejected.verdict, 'illegal');
  assert.match(rejected.keys[0]!.message ?? '', /written only by .* definitely rejected/);
});

test('concurrent overlapping operations that are legal', () => {
  // A long write; reads during it may see either value, but never go back.
  assert.equal(verdict([w([0, 0, 100], '1'), r([1, 10, 20], null), r([2, 30, 40], '1'), r([1, 50, 60], '1')]), 'ok');
  // Two concurrent writes; reads afterwards agree on either winner.
  for (const winner of ['1', '2']) {
    assert.equal(verdict([w([0, 0, 50], '1'), w([1, 0, 50], '2'), r([2, 60, 70], winner), r([3, 80, 90], winner)]), 'ok');
  }
  // Reads concurrent with both writes may observe both orders' intermediate states.
  assert.equal(verdict([w([0, 0, 50], '1'), w([1, 0, 50], '2'), r([2, 10, 20], '2'), r([3, 25, 45], '1')]), 'ok');
});

test('concurrent operations with no valid order are illegal', () => {
  // After both writes complete the value cannot flip back and forth.
  assert.equal(verdict([w([0, 0, 50], '1'), w([1, 0, 50], '2'), r([2, 60, 70], '1'), r([3, 80, 90], '2')]), 'illegal');
  // Once a reader saw the new value, a later read cannot see the old one.
  assert.equal(verdict([w([0, 0, 100], '1'), r([1, 10, 20], '1'), r([2, 30, 40], null)]), 'illegal');
});

test('indeterminate write later observed is legal, even long after its timeout', () => {
  assert.equal(verdict([info(w([0, 0, 10], 'a')), r([1, 100, 110], 'a')]), 'ok');
  // Not visible at first, visible later: took effect late.
  assert.equal(verdict([info(w([0, 0, 10], 'a')), r([1, 20, 30], null), r([1, 100, 110], 'a')]), 'ok');
  // But it cannot take effect before it was invoked.
  assert.equal(verdict([r([1, 0, 5], 'a'), info(w([0, 10, 20], 'a'))]), 'illegal');
  // Nor flip back once it took effect and was overwritten.
  assert.equal(
    verdict([info(w([0, 0, 10], 'a')), r([1, 20, 30], 'a'), w([1, 40, 50], 'b'), r([1, 60, 70], 'a')]),
    'illegal',
  );
});

test('indeterminate write never observed is legal', () => {
  assert.equal(verdict([info(w([0, 0, 10], 'a')), r([1, 100, 110], null)]), 'ok');
  assert.equal(verdict([w([1, 0, 5], 'b'), info(w([0, 10, 20], 'a')), r([1, 100, 110], 'b')]), 'ok');
  // Many of them, all concurrent with everything after them (would blow up without pruning).
  const h: HistoryOp[] = [w([0, 0, 1], 'base')];
  for (let i = 0; i < 200; i++) h.push(info(w([1 + (i % 10), 2 + i, 3 + i], `u${i}`)));
  for (let i = 0; i < 200; i++) h.push(r([11, 300 + 2 * i, 301 + 2 * i], 'base'));
  assert.equal(verdict(h), 'ok');
  // Indeterminate reads carry no information.
  assert.equal(verdict([w([0, 0, 10], 'a'), info(r([1, 20, 30], null))]), 'ok');
});

test('compare-and-swap', () => {
  // Legal chain.
  assert.equal(verdict([w([0, 0, 10], '1'), cas([1, 20, 30], '1', '2', true), r([0, 40, 50], '2')]), 'ok');
  assert.equal(verdict([cas([0, 0, 10], null, '1', true), cas([1, 20, 30], null, '2', false), r([0, 40, 50], '1')]), 'ok');
  // Two concurrent CAS from absent cannot both succeed.
  assert.equal(verdict([cas([0, 0, 10], null, '1', true), cas([1, 0, 10], null, '2', true)]), 'illegal');
  // ...but one may succeed and the other report a mismatch.
  assert.equal(verdict([cas([0, 0, 10], null, '1', true), cas([1, 0, 10], null, '2', false), r([2, 20, 30], '1')]), 'ok');
  // A mismatch while the value equals the expectation is illegal.
  assert.equal(verdict([w([0, 0, 10], '1'), cas([1, 20, 30], '1', '2', false)]), 'illegal');
  // Success against a stale value is illegal.
  assert.equal(verdict([w([0, 0, 10], '1'), w([0, 20, 30], '2'), cas([1, 40, 50], '1', '3', true)]), 'illegal');
  // An indeterminate CAS observed later is legal; so is one never applied.
  assert.equal(verdict([w([0, 0, 10], '1'), info(cas([1, 20, 30], '1', '2', true)), r([0, 100, 110], '2')]), 'ok');
  assert.equal(verdict([w([0, 0, 10], '1'), info(cas([1, 20, 30], '1', '2', true)), r([0, 100, 110], '1')]), 'ok');
  // An indeterminate write that makes a later CAS mismatch legal must not be pruned.
  assert.equal(verdict([w([0, 0, 10], '1'), info(w([1, 20, 30], 'q')), cas([0, 100, 110], '1', '2', false)]), 'ok');
  assert.equal(verdict([w([0, 0, 10], '1'), cas([0, 100, 110], '1', '2', false)]), 'illegal');
});

test('deletes are writes of absent', () => {
  assert.equal(verdict([w([0, 0, 10], 'a'), w([0, 20, 30], null), r([1, 40, 50], null)]), 'ok');
  assert.equal(verdict([w([0, 0, 10], 'a'), w([0, 20, 30], null), r([1, 40, 50], 'a')]), 'illegal');
});

test('keys are checked independently, and one bad key fails the history', () => {
  const h = [w([0, 0, 10], 'a', 'k1'), r([1, 20, 30], 'a', 'k1'), w([0, 40, 50], 'b', 'k2'), r([1, 60, 70], null, 'k2')];
  const res = checkHistory(h);
  assert.equal(res.verdict, 'illegal');
  assert.deepEqual(
    res.keys.map((k) => [k.key, k.verdict]),
    [['k1', 'ok'], ['k2', 'illegal']],
  );
});

test('a search that runs out of budget says unknown, never ok', () => {
  // 22 concurrent writes, then two reads that no order explains: the search must explore
  // every subset of the writes before it can conclude; with a tiny budget it gives up.
  const h: HistoryOp[] = [];
  for (let i = 0; i < 22; i++) h.push(w([i, 0, 100], `v${i}`));
  h.push(r([30, 200, 210], 'v1'), r([31, 220, 230], 'v2'));
  const byTime = checkHistory(h, { timeBudgetMs: 30 });
  assert.equal(byTime.verdict, 'unknown');
  assert.match(byTime.keys[0]!.message ?? '', /time budget/);
  const byMemory = checkHistory(h, { timeBudgetMs: 60_000, memoryBudgetBytes: 100_000 });
  assert.equal(byMemory.verdict, 'unknown');
  assert.match(byMemory.keys[0]!.message ?? '', /memo table/);
});

test('large random legal histories pass in bounded time', () => {
  const seed = Number(process.env.CHECKER_SEED ?? 20261121);
  console.log(`# checker random-history seed ${seed}`);
  const rnd = mulberry32(seed);
  for (let round = 0; round < 3; round++) {
    const s = Math.floor(rnd() * 2 ** 31);
    const h = generateLegalHistory({ seed: s, clients: 12, keys: 5, opsPerClient: 600, indeterminate: 0.1, cas: 0.2, deletes: round === 0 ? 0.05 : 0 });
    const t0 = performance.now();
    const res = checkHistory(h, { timeBudgetMs: 60_000 });
    const ms = performance.now() - t0;
    assert.equal(res.verdict, 'ok', `seed ${s}: ${JSON.stringify(res.keys.filter((k) => k.verdict !== 'ok'))}`);
    console.log(`# ${h.length} ops (seed ${s}) checked in ${ms.toFixed(0)} ms`);
  }
});

test('mutated random histories are caught', () => {
  // Take a legal history, make one late read return the key's first written value after
  // a later definite write completed before the read began: always a stale read.
  const h = generateLegalHistory({ seed: 7, clients: 10, keys: 3, opsPerClient: 300, indeterminate: 0.05, cas: 0.1 });
  const firstWrite = h.find((o) => o.status === 'ok' && o.call.kind === 'write' && o.call.value !== null && o.key === 'k0')!;
  assert.ok(firstWrite.call.kind === 'write');
  const laterWrite = h.find(
    (o) => o.status === 'ok' && o.key === 'k0' && o.call.kind === 'write' && o.call.value !== null && o.invoke > firstWrite.complete,
  )!;
  const victim = h.find((o) => o.status === 'ok' && o.key === 'k0' && o.call.kind === 'read' && o.invoke > laterWrite.complete + 50)!;
  victim.result = { kind: 'read', value: firstWrite.call.value };
  assert.equal(checkHistory(h, { timeBudgetMs: 20_000 }).verdict, 'illegal');
});

/** Exhaustive oracle for tiny histories: every order that respects real time, indeterminate ops optional. */
function bruteForce(h: HistoryOp[]): boolean {
  const ops = h.filter((o) => o.status !== 'fail');
  const done = (o: HistoryOp) => (o.status === 'info' ? Infinity : o.complete);
  const used = ops.map(() => false);
  const rec = (state: string | null): boolean => {
    if (ops.every((o, i) => used[i] || o.status === 'info')) return true;
    for (let i = 0; i < ops.length; i++) {
      if (used[i]) continue;
      const o = ops[i]!;
      if (ops.some((p, j) => !used[j] && j !== i && done(p) < o.invoke)) continue;
      let next = state;
      const c = o.call;
      if (c.kind === 'read') {
        if (o.status === 'ok' && o.result?.kind === 'read' && o.result.value !== state) continue;
      } else if (c.kind === 'write') {
        next = c.value;
      } else {
        const match = state === c.expected;
        if (o.status === 'ok' && o.result?.kind === 'cas' && o.result.succeeded !== match) continue;
        if (match) next = c.value;
      }
      used[i] = true;
      const ok = rec(next);
      used[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return rec(null);
}

test('agrees with an exhaustive search on small random (often mutated) histories', () => {
  const seed = Number(process.env.CHECKER_SEED ?? 424242);
  const rnd = mulberry32(seed);
  let illegal = 0;
  for (let t = 0; t < 600; t++) {
    const h = generateLegalHistory({ seed: Math.floor(rnd() * 2 ** 31), clients: 4, keys: 1, opsPerClient: 3, indeterminate: 0.3, cas: 0.3, deletes: 0.15 });
    if (rnd() < 0.7) {
      // Mutate one outcome: a read returns another value, or a CAS flips.
      const o = h[Math.floor(rnd() * h.length)]!;
      if (o.status === 'ok' && o.result?.kind === 'read') {
        const values = h.flatMap((x) => (x.call.kind === 'read' ? [] : [x.call.value]));
        o.result = { kind: 'read', value: values[Math.floor(rnd() * values.length)] ?? null };
      } else if (o.status === 'ok' && o.result?.kind === 'cas') {
        o.result = { kind: 'cas', succeeded: !o.result.succeeded };
      }
    }
    const expected = bruteForce(h);
    if (!expected) illegal++;
    assert.equal(checkHistory(h).verdict, expected ? 'ok' : 'illegal', `seed ${seed} case ${t}: ${JSON.stringify(h)}`);
  }
  assert.ok(illegal > 50, `the mutations produced illegal histories (${illegal})`);
});
