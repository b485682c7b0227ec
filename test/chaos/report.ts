// Run report: a JSON file with the whole history, the faults and the verdicts, and a
// self-contained HTML page (inline SVG and CSS, no external assets) with a timeline of the
// operations per client and the fault intervals, plus a close-up of every anomaly.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckResult } from './checker/index.js';
import { describeOp, type HistoryOp } from './checker/history.js';
import type { FaultRecord } from './nemesis.js';
import type { MembershipChange } from './membership.js';
import type { WatchCheckResult } from './watch.js';
import type { LockCheckResult } from './locks.js';
import type { BrokerCheckResult } from './brokers.js';
import type { SecurityCheckResult } from './secure.js';

export interface ConvergenceResult {
  ok: boolean;
  /** Per node: applied index, revision and state hash after healing (null: no answer). */
  nodes: { id: number; appliedIndex: number | null; revision: number | null; hash: string | null }[];
  message: string;
}

export interface AckedWritesResult {
  ok: boolean;
  /** Per key: acknowledged writes, indeterminate writes, and the final version the cluster reports. */
  keys: { key: string; acked: number; indeterminate: number; finalVersion: number | null; finalValue: string | null }[];
  message: string;
}

export interface ChaosReport {
  meta: {
    seed: number;
    nodes: number;
    clients: number;
    keys: string[];
    nemeses: string[];
    timeSec: number;
    plantedBug: string;
    /** TLS and auth on (--secure). */
    secure?: boolean;
    command: string;
    startedAt: string;
    durationMs: number;
    dataDir: string;
  };
  verdict: 'pass' | 'fail';
  reasons: string[];
  stats: { ops: number; ok: number; fail: number; info: number; reads: number; writes: number; cas: number; faults: number };
  linearizability: CheckResult;
  convergence: ConvergenceResult;
  ackedWrites: AckedWritesResult;
  /** Watchers on every member against the committed history (absent in older reports). */
  watches?: WatchCheckResult;
  locks?: LockCheckResult;
  shards?: BrokerCheckResult;
  /** A secure run's check that auth and TLS were enforced (absent otherwise). */
  security?: SecurityCheckResult;
  faults: FaultRecord[];
  /** Membership changes made through the API during the run (member-replace), in order. */
  membership?: MembershipChange[];
  history: HistoryOp[];
}

export function historyStats(history: HistoryOp[], faults: FaultRecord[]): ChaosReport['stats'] {
  const s = { ops: history.length, ok: 0, fail: 0, info: 0, reads: 0, writes: 0, cas: 0, faults: faults.length };
  for (const o of history) {
    s[o.status]++;
    if (o.call.kind === 'read') s.reads++;
    else if (o.call.kind === 'write') s.writes++;
    else s.cas++;
  }
  return s;
}

export function writeReport(dir: string, name: string, report: ChaosReport): { json: string; html: string } {
  mkdirSync(dir, { recursive: true });
  const json = join(dir, `${name}.json`);
  const html = join(dir, `${name}.html`);
  writeFileSync(json, JSON.stringify(report, null, 1));
  writeFileSync(html, renderHtml(report));
  return { json, html };
}

// ---------------------------------------------------------------------------------------- HTML

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const FAULT_COLORS: Record<string, string> = {
  kill: '#e74c3c',
  pause: '#9b59b6',
  partition: '#f39c12',
  'partition-leader': '#d35400',
  delay: '#16a085',
  'member-replace': '#2c3e50',
  'member-grow-shrink': '#1f618d',
};

function opColor(o: HistoryOp, blamed: Set<number>): string {
  if (blamed.has(o.id)) return '#e74c3c';
  if (o.status === 'fail') return '#bbbbbb';
  if (o.status === 'info') return '#f5b041';
  return o.call.kind === 'read' ? '#2e86c1' : o.call.kind === 'write' ? '#27ae60' : '#8e44ad';
}

function opClass(o: HistoryOp, blamed: Set<number>): string {
  const parts = ['op', o.call.kind, o.status];
  if (blamed.has(o.id)) parts.push('blamed');
  return parts.join(' ');
}

interface TimelineOpts {
  ops: HistoryOp[];
  faults: FaultRecord[];
  t0: number;
  t1: number;
  pxPerMs: number;
  blamed: Set<number>;
  labels: boolean;
  rowOf: (o: HistoryOp) => number;
  rowNames: string[];
}

function timeline(o: TimelineOpts): string {
  const rowH = o.labels ? 22 : 12;
  const left = 70;
  const top = 24;
  const width = Math.max(400, Math.ceil((o.t1 - o.t0) * o.pxPerMs)) + left + 20;
  const height = top + o.rowNames.length * rowH + 10;
  const x = (t: number) => left + (Math.min(Math.max(t, o.t0), o.t1) - o.t0) * o.pxPerMs;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" class="timeline">`);
  // Fault bands.
  for (const f of o.faults) {
    const end = f.end ?? o.t1;
    if (end < o.t0 || f.start > o.t1) continue;
    const color = FAULT_COLORS[f.nemesis] ?? '#888';
    out.push(
      `<rect x="${x(f.start).toFixed(1)}" y="${top - 4}" width="${Math.max(1, x(end) - x(f.start)).toFixed(1)}" height="${height - top}" fill="${color}" opacity="0.13"><title>${esc(f.what)} (${(f.start / 1000).toFixed(2)}s–${(end / 1000).toFixed(2)}s)</title></rect>`,
      `<text x="${(x(f.start) + 2).toFixed(1)}" y="${top - 8}" fill="${color}" font-family="monospace" font-size="10" font-weight="bold">${esc(f.what)}</text>`,
    );
  }
  // Time axis.
  const span = o.t1 - o.t0;
  const step = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000].find((s) => (s * o.pxPerMs) >= 80) ?? 60000;
  for (let t = Math.ceil(o.t0 / step) * step; t <= o.t0 + span; t += step) {
    out.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top}" y2="${height}" stroke="#eee"/>`);
    out.push(`<text x="${(x(t) + 2).toFixed(1)}" y="${height - 1}" fill="#888" font-family="monospace" font-size="10">${(t / 1000).toFixed(step < 1000 ? 2 : 0)}s</text>`);
  }
  o.rowNames.forEach((name, i) => {
    out.push(`<text x="2" y="${top + i * rowH + rowH - 4}" fill="#444" font-family="monospace" font-size="10">${esc(name)}</text>`);
  });
  for (const op of o.ops) {
    const row = o.rowOf(op);
    const y = top + row * rowH + 2;
    const x0 = x(op.invoke);
    const x1 = Math.max(x0 + 2, x(op.complete));
    const title = `${describeOp(op)}  [${(op.invoke / 1000).toFixed(3)}s → ${(op.complete / 1000).toFixed(3)}s]${op.node ? ` via node ${op.node}` : ''}${op.error ? `  ${op.error}` : ''}`;
    out.push(`<g class="${opClass(op, o.blamed)}"><title>${esc(title)}</title>`);
    const fill = opColor(op, o.blamed);
    const stroke = o.blamed.has(op.id) ? ' stroke="#000" stroke-width="1.5"' : '';
    out.push(`<rect x="${x0.toFixed(1)}" y="${y}" width="${(x1 - x0).toFixed(1)}" height="${rowH - 4}" rx="2" fill="${fill}"${stroke}/>`);
    if (op.status === 'info') {
      // Indeterminate: may take effect any time later — draw a faint tail to the end.
      out.push(`<rect x="${x1.toFixed(1)}" y="${y + (rowH - 4) / 2 - 1}" width="${Math.max(0, x(o.t1) - x1).toFixed(1)}" height="2" fill="${fill}" opacity="0.25"/>`);
    }
    if (o.labels) {
      const lbl = describeOp(op).replace(/^#\d+ c-?\d+ /, '');
      out.push(`<text x="${(x0 + 3).toFixed(1)}" y="${y + rowH - 8}" fill="#fff" font-family="monospace" font-size="10">${esc(lbl)}</text>`);
    }
    out.push('</g>');
  }
  out.push('</svg>');
  return out.join('\n');
}

function clientRows(ops: HistoryOp[]): { rowOf: (o: HistoryOp) => number; names: string[] } {
  const clients = [...new Set(ops.map((o) => o.client))].sort((a, b) => a - b);
  const idx = new Map(clients.map((c, i) => [c, i]));
  const nodeOf = new Map<number, number | undefined>();
  for (const o of ops) if (!nodeOf.has(o.client)) nodeOf.set(o.client, o.node);
  return {
    rowOf: (o) => idx.get(o.client)!,
    names: clients.map((c) => (c < 0 ? 'final' : `c${c}${nodeOf.get(c) ? ` →n${nodeOf.get(c)}` : ''}`)),
  };
}

/**
 * A plain-words reason for a blamed read, when there is a simple one: the value it returned
 * had provably been overwritten (a definite write that started after the value's writer
 * finished and completed before the read began), or was never written.
 */
export function explainBlamed(op: HistoryOp, history: HistoryOp[]): string | undefined {
  if (op.call.kind !== 'read' || op.result?.kind !== 'read') return undefined;
  const v = op.result.value;
  const mutations = history.filter((o) => o.key === op.key && o.status !== 'fail' && o.call.kind !== 'read');
  const writer = mutations.find((o) => (o.call.kind === 'write' || o.call.kind === 'cas') && o.call.value === v);
  if (v !== null && !writer) {
    const rejected = history.find((o) => o.key === op.key && o.status === 'fail' && o.call.kind !== 'read' && o.call.value === v);
    return rejected
      ? `${describeOp(op)} returned the value of ${describeOp(rejected)}, which the server had definitely rejected (${rejected.error ?? 'failed'})`
      : `${describeOp(op)} returned a value nobody wrote`;
  }
  const after = writer ? writer.complete : -Infinity;
  const newer = mutations.find(
    (o) =>
      o.status === 'ok' &&
      o !== writer &&
      (o.call.kind === 'write' || (o.result?.kind === 'cas' && o.result.succeeded)) &&
      o.invoke > after &&
      o.complete < op.invoke,
  );
  if (!newer) return undefined;
  return (
    `stale read: ${describeOp(op)} (${(op.invoke / 1000).toFixed(3)}s–${(op.complete / 1000).toFixed(3)}s${op.node ? `, node ${op.node}` : ''}) ` +
    `returned ${writer ? `the value of ${describeOp(writer)}` : 'the initial (absent) value'}, but ${describeOp(newer)} had started after that ` +
    `and completed at ${(newer.complete / 1000).toFixed(3)}s, before the read began`
  );
}

export function renderHtml(r: ChaosReport): string {
  const blamed = new Set<number>();
  for (const k of r.linearizability.keys) for (const id of k.blamed ?? []) blamed.add(id);
  const h = r.history;
  const t0 = 0;
  const t1 = Math.max(1, ...h.map((o) => o.complete), ...r.faults.map((f) => f.end ?? f.start));
  const rows = clientRows(h);
  const overview = timeline({
    ops: h,
    faults: r.faults,
    t0,
    t1,
    pxPerMs: Math.min(0.5, Math.max(0.02, 3000 / t1)) * 1.5,
    blamed,
    labels: false,
    rowOf: rows.rowOf,
    rowNames: rows.names,
  });

  const anomalies: string[] = [];
  for (const k of r.linearizability.keys) {
    if (k.verdict === 'ok') continue;
    const ids = new Set(k.blamed ?? []);
    const focus = h.filter((o) => ids.has(o.id));
    let a0: number;
    let a1: number;
    if (focus.length > 0) {
      a0 = Math.min(...focus.map((o) => o.invoke)) - 1500;
      a1 = Math.max(...focus.map((o) => o.complete)) + 300;
    } else {
      const keyOps = h.filter((o) => o.key === k.key);
      a0 = Math.min(...keyOps.map((o) => o.invoke));
      a1 = Math.min(a0 + 3000, Math.max(...keyOps.map((o) => o.complete)));
    }
    const ops = h.filter((o) => o.key === k.key && o.status !== 'fail' && o.complete >= a0 && o.invoke <= a1).sort((x, y) => x.invoke - y.invoke);
    const rr = clientRows(ops);
    const why = focus.map((f) => explainBlamed(f, h)).filter((x): x is string => x !== undefined);
    anomalies.push(
      `<section class="anomaly"><h3>key <code>${esc(k.key)}</code>: ${k.verdict}</h3><p>${esc(k.message ?? '')}</p>${why.map((w) => `<p><b>${esc(w)}</b></p>`).join('')}` +
        `<div class="scroll">${timeline({ ops, faults: r.faults, t0: a0, t1: a1, pxPerMs: Math.max(0.3, 1600 / Math.max(1, a1 - a0)), blamed, labels: true, rowOf: rr.rowOf, rowNames: rr.names })}</div>` +
        `<details><summary>${ops.length} operations on this key in the window</summary><pre>${esc(ops.map((o) => `${(o.invoke / 1000).toFixed(3)}–${(o.complete / 1000).toFixed(3)}s  ${describeOp(o)}${o.node ? ` (n${o.node})` : ''}${o.error ? `  ${o.error}` : ''}`).join('\n'))}</pre></details></section>`,
    );
  }

  const keyRows = r.linearizability.keys
    .map(
      (k) =>
        `<tr class="${k.verdict}"><td><code>${esc(k.key)}</code></td><td>${k.verdict}</td><td>${k.totalOps}</td><td>${k.searchedOps}</td><td>${k.indeterminateOps}</td><td>${k.elapsedMs.toFixed(0)} ms</td><td>${esc(k.message ?? '')}</td></tr>`,
    )
    .join('\n');
  const nodeRows = r.convergence.nodes
    .map((n) => `<tr><td>${n.id}</td><td>${n.appliedIndex ?? '—'}</td><td>${n.revision ?? '—'}</td><td><code>${esc(n.hash ?? 'no answer')}</code></td></tr>`)
    .join('\n');
  const ackRows = r.ackedWrites.keys
    .map((k) => `<tr><td><code>${esc(k.key)}</code></td><td>${k.acked}</td><td>${k.indeterminate}</td><td>${k.finalVersion ?? '—'}</td><td><code>${esc(k.finalValue ?? '∅')}</code></td></tr>`)
    .join('\n');
  const faultRows = r.faults
    .map((f) => `<tr><td>${(f.start / 1000).toFixed(2)}s</td><td>${f.end !== undefined ? (f.end / 1000).toFixed(2) + 's' : 'active'}</td><td>${f.nemesis}</td><td>${esc(f.what)}</td></tr>`)
    .join('\n');
  const memberRows = (r.membership ?? [])
    .map((m) => `<tr><td>${(m.at / 1000).toFixed(2)}s</td><td>${esc(m.op)}</td><td>${m.id}</td><td>${esc(m.address ?? '')}</td></tr>`)
    .join('\n');
  const s = r.stats;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>chaos ${r.verdict} — seed ${r.meta.seed}</title>
<style>
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}
h1 .pass{color:#1e8449}h1 .fail{color:#c0392b}
table{border-collapse:collapse;margin:6px 0 14px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
tr.illegal td{background:#fde2e0}tr.unknown td{background:#fff3cd}
.scroll{overflow-x:auto;border:1px solid #ddd;margin:6px 0}
.op:hover rect{opacity:.7}
.legend span{display:inline-block;padding:0 6px;margin-right:6px;color:#fff;border-radius:3px}
code{font-size:12px}pre{font-size:11px;max-height:300px;overflow:auto;background:#f7f7f7;padding:6px}
</style></head><body>
<h1>Chaos run: <span class="${r.verdict}">${r.verdict.toUpperCase()}</span></h1>
<p>${r.reasons.map(esc).join('<br>') || 'all checks passed'}</p>
<p><code>${esc(r.meta.command)}</code><br>seed ${r.meta.seed} · ${r.meta.nodes} nodes · ${r.meta.clients} clients · keys ${r.meta.keys.map(esc).join(', ')} · nemeses ${r.meta.nemeses.map(esc).join(', ')}${r.meta.plantedBug ? ` · <b>planted bug: ${esc(r.meta.plantedBug)}</b>` : ''} · started ${esc(r.meta.startedAt)} · ${(r.meta.durationMs / 1000).toFixed(1)} s</p>
<p>${s.ops} operations (${s.ok} ok, ${s.info} indeterminate, ${s.fail} failed; ${s.reads} reads, ${s.writes} writes, ${s.cas} CAS) · ${s.faults} faults</p>
<h2>Linearizability: ${r.linearizability.verdict}</h2>
<table><tr><th>key</th><th>verdict</th><th>ops</th><th>searched</th><th>indeterminate</th><th>time</th><th>detail</th></tr>${keyRows}</table>
${anomalies.join('\n')}
<h2>Timeline</h2>
<p class="legend"><span style="background:#2e86c1">read</span><span style="background:#27ae60">write</span><span style="background:#8e44ad">cas</span><span style="background:#f5b041">indeterminate</span><span style="background:#bbb">failed</span><span style="background:#e74c3c">blamed</span> shaded bands: faults (hover for details)</p>
<div class="scroll">${overview}</div>
<h2>Faults</h2>
<table><tr><th>start</th><th>end</th><th>nemesis</th><th>what</th></tr>${faultRows}</table>
${r.membership && r.membership.length > 0 ? `<h2>Membership changes</h2>\n<table><tr><th>at</th><th>change</th><th>member</th><th>address</th></tr>${memberRows}</table>` : ''}
<h2>Convergence: ${r.convergence.ok ? 'ok' : 'FAILED'}</h2><p>${esc(r.convergence.message)}</p>
<table><tr><th>node</th><th>applied</th><th>revision</th><th>state hash</th></tr>${nodeRows}</table>
<h2>Acknowledged writes: ${r.ackedWrites.ok ? 'ok' : 'FAILED'}</h2><p>${esc(r.ackedWrites.message)}</p>
<table><tr><th>key</th><th>acked writes</th><th>indeterminate</th><th>final version</th><th>final value</th></tr>${ackRows}</table>
<p>Data: <code>${esc(r.meta.dataDir)}</code></p>
</body></html>
`;
}
