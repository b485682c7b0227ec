// The report: JSON round-trips the history, the HTML is self-contained and shows the anomaly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkHistory, type HistoryOp } from './checker/index.js';
import { explainBlamed, historyStats, renderHtml, writeReport, type ChaosReport } from './report.js';
import { ackedWritesCheck } from './run.js';
import type { FaultRecord } from './nemesis.js';

const history: HistoryOp[] = [
  { id: 0, client: 0, key: 'k', call: { kind: 'write', value: 'a' }, status: 'ok', result: { kind: 'write' }, invoke: 0, complete: 10, node: 1 },
  { id: 1, client: 1, key: 'k', call: { kind: 'write', value: 'b' }, status: 'ok', result: { kind: 'write' }, invoke: 20, complete: 30, node: 2 },
  { id: 2, client: 2, key: 'k', call: { kind: 'read' }, status: 'ok', result: { kind: 'read', value: 'a' }, invoke: 40, complete: 45, node: 3 },
  { id: 3, client: 0, key: 'k', call: { kind: 'write', value: 'c' }, status: 'info', invoke: 50, complete: 1050, node: 3, error: 'DEADLINE_EXCEEDED: <deadline>' },
  { id: 4, client: 1, key: 'j', call: { kind: 'cas', expected: null, value: 'x' }, status: 'ok', result: { kind: 'cas', succeeded: true }, invoke: 5, complete: 8, node: 1 },
];
const faults: FaultRecord[] = [{ nemesis: 'partition', what: 'partition: isolate leader 3', nodes: [3], start: 15, end: 60, groups: [[3], [1, 2]] }];

function makeReport(): ChaosReport {
  const lin = checkHistory(history);
  const acked = ackedWritesCheck(history, new Map([['k', { version: 2, value: 'b' }], ['j', { version: 1, value: 'x' }]]));
  return {
    meta: { seed: 1, nodes: 3, clients: 3, keys: ['k', 'j'], nemeses: ['partition'], timeSec: 1, plantedBug: '', command: 'npm run chaos -- --seed 1', startedAt: new Date(0).toISOString(), durationMs: 1100, dataDir: '/tmp/x' },
    verdict: 'fail',
    reasons: ['linearizability (k): illegal'],
    stats: historyStats(history, faults),
    linearizability: lin,
    convergence: { ok: true, nodes: [{ id: 1, appliedIndex: 5, revision: 3, hash: 'abc' }], message: 'converged' },
    ackedWrites: acked,
    faults,
    history,
  };
}

test('acknowledged-write bounds: lost and doubled writes are flagged', () => {
  assert.ok(ackedWritesCheck(history, new Map([['k', { version: 2, value: 'b' }]])).ok);
  assert.ok(ackedWritesCheck(history, new Map([['k', { version: 3, value: 'c' }]])).ok, 'the indeterminate write may have landed');
  const lost = ackedWritesCheck(history, new Map([['k', { version: 1, value: 'b' }]]));
  assert.equal(lost.ok, false);
  assert.match(lost.message, /lost writes/);
  const doubled = ackedWritesCheck(history, new Map([['k', { version: 4, value: 'c' }]]));
  assert.equal(doubled.ok, false);
  assert.match(doubled.message, /applied twice/);
});

test('report files: JSON keeps the history, HTML is self-contained and shows the anomaly', () => {
  const r = makeReport();
  assert.equal(r.linearizability.verdict, 'illegal');
  assert.deepEqual(r.stats, { ops: 5, ok: 4, fail: 0, info: 1, reads: 1, writes: 3, cas: 1, faults: 1 });
  const dir = mkdtempSync(join(tmpdir(), 'chaos-report-'));
  try {
    const files = writeReport(dir, 'r', r);
    const json = JSON.parse(readFileSync(files.json, 'utf8')) as ChaosReport;
    assert.deepEqual(json.history, history);
    assert.equal(json.verdict, 'fail');
    const html = readFileSync(files.html, 'utf8');
    assert.equal(html, renderHtml(r));
    assert.match(html, /<svg/);
    assert.doesNotMatch(html, /<(script|link|img|iframe)\b|\b(src|href)=|url\(|@import/, 'no external assets');
    assert.match(html, /partition: isolate leader 3/);
    assert.match(html, /stale read: #2 c2 read\(k\) = a/);
    assert.match(html, /stroke="#000"/, 'the blamed op is outlined');
    assert.match(html, /&lt;deadline&gt;/, 'text is escaped');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('explainBlamed names the overwriting write', () => {
  const why = explainBlamed(history[2]!, history);
  assert.ok(why);
  assert.match(why, /#1 c1 write\(k, b\)/);
  assert.equal(explainBlamed(history[0]!, history), undefined);
});
