// deploy/prometheus.yml and deploy/alerts.yml checked by promtool (Debian package `prometheus`,
// installed by .ci/run), and the alert rules exercised by promtool's rule unit tests in
// alerts.promtest.yml. Every metric an alert uses must be one the node exports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { REPO_ROOT, dashboardExpressions, type DashboardPanel } from './compose.js';

const execFileP = promisify(execFile);

async function promtool(...args: string[]): Promise<string> {
  try {
    const { stdout, stderr } = await execFileP('promtool', args, { cwd: REPO_ROOT, timeout: 60_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stdout?: string; stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('promtool is not installed: `apt-get install prometheus` (Debian) provides it; .ci/run installs it');
    }
    throw new Error(`promtool ${args.join(' ')} failed:\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

test('promtool check config deploy/prometheus.yml (with its rule files)', async () => {
  const out = await promtool('check', 'config', 'deploy/prometheus.yml');
  assert.match(out, /SUCCESS/);
});

test('promtool check config deploy/prometheus-tls.yml (the compose TLS profile)', async () => {
  const out = await promtool('check', 'config', 'deploy/prometheus-tls.yml');
  assert.match(out, /SUCCESS/);
});

test('promtool check rules deploy/alerts.yml', async () => {
  const out = await promtool('check', 'rules', 'deploy/alerts.yml');
  assert.match(out, /SUCCESS: \d+ rules found/);
});

test('promtool test rules: each alert fires on its condition and stays quiet otherwise', async () => {
  const out = await promtool('test', 'rules', 'test/deploy/alerts.promtest.yml');
  assert.match(out, /SUCCESS/);
});

test('alerts cover the operator\'s list, and use only metrics the node exports', () => {
  const rules = parse(readFileSync(join(REPO_ROOT, 'deploy/alerts.yml'), 'utf8')) as {
    groups: { rules: { alert?: string; expr: string }[] }[];
  };
  const all = rules.groups.flatMap((g) => g.rules);
  const names = all.map((r) => r.alert);
  for (const required of [
    'PlacementCenterNodeDown',
    'PlacementCenterNoLeader',
    'PlacementCenterFrequentLeaderChanges',
    'PlacementCenterFollowerLagging',
    'PlacementCenterSlowWalSync',
  ]) {
    assert.ok(names.includes(required), `alert ${required} defined`);
  }
  // Each alert has a unit test case.
  const tests = readFileSync(join(REPO_ROOT, 'test/deploy/alerts.promtest.yml'), 'utf8');
  for (const n of names) assert.match(tests, new RegExp(`alertname: ${n}\\b`), `${n} has a promtool unit test`);

  const metricsSource = readFileSync(join(REPO_ROOT, 'src/metrics/metrics.ts'), 'utf8');
  for (const r of all) {
    for (const m of r.expr.matchAll(/\bplacement_[a-z_]+/g)) {
      // Histograms are exported as _bucket/_sum/_count series of the declared name.
      const base = m[0].replace(/_(bucket|sum|count)$/, '');
      const declared = base.replace(/^placement_/, '');
      assert.ok(metricsSource.includes(`'${declared}'`), `${r.alert}: ${m[0]} is declared in src/metrics/metrics.ts`);
    }
  }
});

test('grafana dashboard: valid JSON, unique panel ids, in-grid layout, only exported metrics', () => {
  const dash = JSON.parse(readFileSync(join(REPO_ROOT, 'deploy/grafana-dashboard.json'), 'utf8')) as {
    uid: string;
    panels: DashboardPanel[];
    templating: { list: { name: string; type: string }[] };
  };
  assert.ok(dash.uid);
  assert.ok(dash.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'), 'datasource chosen at import');
  const ids = dash.panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids unique');
  for (const p of dash.panels) {
    assert.ok(p.gridPos.x >= 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: inside the 24-column grid`);
    if (p.type !== 'row') assert.ok((p.targets ?? []).length > 0, `${p.title}: has queries`);
  }
  // The series the issue asks for are on it.
  const exprs = dashboardExpressions().map((e) => e.expr).join('\n');
  for (const m of ['placement_raft_is_leader', 'placement_raft_term', 'placement_raft_commit_index', 'placement_raft_applied_index', 'placement_grpc_request_duration_seconds_bucket', 'placement_raft_peer_replication_lag_entries']) {
    assert.ok(exprs.includes(m), `dashboard shows ${m}`);
  }
  const metricsSource = readFileSync(join(REPO_ROOT, 'src/metrics/metrics.ts'), 'utf8');
  for (const { title, expr } of dashboardExpressions()) {
    for (const m of expr.matchAll(/\bplacement_[a-z_]+/g)) {
      const declared = m[0].replace(/_(bucket|sum|count)$/, '').replace(/^placement_/, '');
      assert.ok(metricsSource.includes(`'${declared}'`), `${title}: ${m[0]} is declared in src/metrics/metrics.ts`);
    }
  }
});
