// A real 3-node cluster (separate processes, test/support/cluster.ts): every node's /metrics
// agrees with its /v1/cluster/status and the nodes agree with each other; the output of busy
// nodes passes promtool; and a real Prometheus server, started with deploy/prometheus.yml's
// scrape settings pointed at the three local nodes, reports every target up.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { KVClient, RangeRequest, type RangeResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster, freePorts, poll, REPO_ROOT, type Cluster, type NodeStatus } from '../support/cluster.js';
import { localPrometheusConfig } from './prometheus-config.js';
import { lintNames, parseExposition, promtoolAvailable, promtoolCheck, sampleValue, withoutEtcdNames, type Family } from './exposition.js';

async function scrape(httpAddress: string): Promise<string> {
  const res = await fetch(`http://${httpAddress}/metrics`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
  return res.text();
}

async function adminJson(httpAddress: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: { code: number; data: unknown; error?: string } }> {
  const res = await fetch(`http://${httpAddress}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as { code: number; data: unknown; error?: string } };
}

/** A scrape bracketed by two identical statuses, so the metrics and the status describe one state. */
async function consistentView(c: Cluster, id: number): Promise<{ status: NodeStatus; families: Map<string, Family>; text: string }> {
  const addr = c.node(id).httpAddress;
  return poll(
    async () => {
      const before = await c.status(id);
      const text = await scrape(addr);
      const afterStatus = await c.status(id);
      const same = (['term', 'leaderId', 'role', 'commitIndex', 'appliedIndex'] as const).every((k) => before[k] === afterStatus[k]);
      return same ? { status: afterStatus, families: parseExposition(text), text } : null;
    },
    { timeoutMs: 20_000, what: `a stable status/metrics view of node ${id}` },
  );
}

describe('metrics of a real 3-node cluster', () => {
  let c: Cluster;

  before(async () => {
    c = await startCluster({ nodes: 3 });
  });

  after(async () => {
    await c?.stop();
  });

  it('every /metrics agrees with /v1/cluster/status, and the nodes agree with each other', async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    // A little traffic: writes through a follower (forwarded) and the leader, reads everywhere.
    for (let i = 0; i < 30; i++) {
      const via = i % 2 === 0 ? follower : c.node(leader);
      const put = await adminJson(via.httpAddress, 'PUT', `/v1/kv/metrics-test/${i}`, { value: `v${i}` });
      assert.equal(put.status, 200, JSON.stringify(put.body));
    }
    for (const n of c.nodes) {
      const get = await adminJson(n.httpAddress, 'GET', '/v1/kv/metrics-test/29');
      assert.equal(get.status, 200, JSON.stringify(get.body));
    }
    const del = await adminJson(follower.httpAddress, 'DELETE', '/v1/kv/metrics-test/0');
    assert.equal(del.status, 200, JSON.stringify(del.body));
    // A page of the prefix as it was before the delete, on the follower: it keeps the 30 keys
    // held then for the next pages (placement_storage_past_list_keys there, 0 elsewhere).
    const etcd = new KVClient(follower.grpcAddress, grpc.credentials.createInsecure());
    try {
      const range = (req: Partial<RangeRequest>) =>
        new Promise<RangeResponse>((resolve, reject) => etcd.range(RangeRequest.fromPartial(req), (err, rep) => (err ? reject(err) : resolve(rep))));
      const now = await range({ key: Buffer.from('metrics-test/0') });
      const page = await range({ key: Buffer.from('metrics-test/'), rangeEnd: Buffer.from('metrics-test0'), limit: 5, revision: now.header!.revision - 1 });
      assert.deepEqual([page.count, page.kvs.length, page.more], [30, 5, true], 'the page before the delete');
    } finally {
      etcd.close();
    }
    // Quiesce: every node has applied the same commit index.
    await c.waitFor(
      async () => {
        const all = await Promise.all(c.nodes.map((n) => c.status(n.id)));
        const commit = all[0]!.commitIndex;
        return all.every((s) => s.commitIndex === commit && s.appliedIndex === commit && s.leaderId === leader);
      },
      { timeoutMs: 20_000, what: 'all nodes applied the same commit index' },
    );

    // One view per node; retried as a whole if an election or a commit slipped in between the
    // nodes' views (each view is itself consistent: see consistentView).
    const views = await c.waitFor(
      async () => {
        const vs: Array<Awaited<ReturnType<typeof consistentView>>> = [];
        for (const n of c.nodes) vs.push(await consistentView(c, n.id));
        const agree = (k: 'term' | 'leaderId' | 'commitIndex') => new Set(vs.map((x) => x.status[k])).size === 1;
        return agree('term') && agree('leaderId') && agree('commitIndex') ? vs : null;
      },
      { timeoutMs: 30_000, what: 'views of all three nodes taken in one term at one commit index' },
    );
    for (const { status, families } of views) {
      const v = (name: string, labels?: Record<string, string>) => sampleValue(families, name, labels);
      const who = `node ${status.id}`;
      assert.equal(v('placement_raft_term'), status.term, `${who} term`);
      assert.equal(v('placement_raft_leader_id'), status.leaderId, `${who} leader id`);
      assert.equal(v('placement_raft_is_leader'), status.role === 'leader' ? 1 : 0, `${who} is_leader`);
      assert.equal(v('placement_raft_has_leader'), status.leaderId !== 0 ? 1 : 0, `${who} has_leader`);
      assert.equal(v('placement_raft_commit_index'), status.commitIndex, `${who} commit index`);
      assert.equal(v('placement_raft_applied_index'), status.appliedIndex, `${who} applied index`);
      // 30 keys written, one deleted: every member holds the same 29 current keys.
      assert.equal(v('placement_storage_current_keys'), 29, `${who} current keys`);
      assert.equal(v('placement_storage_past_list_keys'), status.id === follower.id ? 30 : 0, `${who} past list keys`);
      assert.ok((v('placement_raft_leader_changes_total') ?? 0) >= 1, `${who} saw the election`);
      assert.ok(
        (sampleValue(families, 'placement_http_requests_total', { method: 'GET', route: '/v1/cluster/status', code: '200' }) ?? 0) >= 2,
        `${who} counts its admin requests`,
      );
    }
    // One leader, one term, one commit index.
    assert.equal(views.filter((x) => sampleValue(x.families, 'placement_raft_is_leader') === 1).length, 1);
    assert.equal(new Set(views.map((x) => sampleValue(x.families, 'placement_raft_leader_id'))).size, 1);
    assert.equal(new Set(views.map((x) => sampleValue(x.families, 'placement_raft_term'))).size, 1);
    assert.equal(new Set(views.map((x) => sampleValue(x.families, 'placement_raft_commit_index'))).size, 1);
    // The leader reports its two peers' replication lag; followers report none.
    const leaderView = views.find((x) => x.status.role === 'leader')!;
    const peers = leaderView.families.get('placement_raft_peer_replication_lag_entries')!.samples.map((s) => s.labels.peer).sort();
    assert.deepEqual(peers, c.nodes.filter((n) => n.id !== leader).map((n) => String(n.id)).sort());
    for (const x of views.filter((y) => y !== leaderView)) {
      assert.equal(x.families.get('placement_raft_peer_replication_lag_entries')?.samples.length ?? 0, 0);
    }
    // Heartbeat round trips to both peers are measured on the leader (a loopback RTT is well under a second).
    for (const n of c.nodes.filter((m) => m.id !== leader)) {
      const count = sampleValue(leaderView.families, 'placement_raft_peer_round_trip_seconds_count', { peer: String(n.id) }) ?? 0;
      const sum = sampleValue(leaderView.families, 'placement_raft_peer_round_trip_seconds_sum', { peer: String(n.id) }) ?? 0;
      assert.ok(count >= 1, `leader measured round trips to peer ${n.id}: ${count}`);
      assert.ok(sum / count > 0 && sum / count < 1, `mean round trip to peer ${n.id}: ${sum / count} s`);
    }
    const committed = views.reduce((a, x) => a + (sampleValue(x.families, 'placement_raft_proposals_committed_total') ?? 0), 0);
    assert.ok(committed >= 30, `proposals committed across nodes: ${committed}`);

    // The real output of a busy node follows the naming rules.
    for (const { status, text } of views) {
      assert.deepEqual(lintNames(parseExposition(withoutEtcdNames(text))), [], `node ${status.id} naming`);
    }
  });

  it('promtool check metrics reports nothing for any node', async (t) => {
    if (!promtoolAvailable()) {
      t.diagnostic('promtool not installed (apt-get install prometheus): skipped the promtool run; naming rules were checked in TypeScript');
      return;
    }
    for (const n of c.nodes) {
      const { status, output } = promtoolCheck(withoutEtcdNames(await scrape(n.httpAddress)));
      assert.equal(output, '', `node ${n.id}: promtool output`);
      assert.equal(status, 0);
    }
  });

  it('/livez and /readyz answer 200 with their checks on every node', async () => {
    for (const n of c.nodes) {
      for (const path of ['/livez', '/readyz']) {
        const body = await poll(
          async () => {
            const res = await fetch(`http://${n.httpAddress}${path}`, { signal: AbortSignal.timeout(5000) });
            const b = (await res.json()) as { checks: Array<{ name: string; ok: boolean }> };
            return res.status === 200 ? b : null;
          },
          { timeoutMs: 10_000, what: `${path} of node ${n.id}` },
        );
        assert.ok(Array.isArray(body.checks) && body.checks.length > 0);
        assert.ok(body.checks.every((x) => x.ok));
      }
    }
  });

  it('a real Prometheus server with deploy/prometheus.yml\'s scrape settings reports all three targets up', async (t) => {
    if (spawnSync('prometheus', ['--version']).status !== 0) {
      t.diagnostic('prometheus not installed (apt-get install prometheus): the live scrape test did not run');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'placement-prom-'));
    const [promPort] = await freePorts(1);
    const promAddr = `127.0.0.1:${promPort}`;
    const config = localPrometheusConfig(
      readFileSync(join(REPO_ROOT, 'deploy', 'prometheus.yml'), 'utf8'),
      c.nodes.map((n) => n.httpAddress),
      promAddr,
    );
    writeFileSync(join(dir, 'prometheus.yml'), config);
    if (existsSync(join(REPO_ROOT, 'deploy', 'alerts.yml'))) copyFileSync(join(REPO_ROOT, 'deploy', 'alerts.yml'), join(dir, 'alerts.yml'));
    const check = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
    if (check.status !== null && promtoolAvailable()) assert.equal(check.status, 0, `promtool check config: ${check.stdout}${check.stderr}`);

    const logFd = openSync(join(dir, 'prometheus.log'), 'w');
    let prom: ChildProcess | null = null;
    try {
      prom = spawn(
        'prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=${promAddr}`,
        ],
        { stdio: ['ignore', logFd, logFd] },
      );
      const api = async <T>(path: string): Promise<T> => {
        const res = await fetch(`http://${promAddr}${path}`, { signal: AbortSignal.timeout(3000) });
        const body = (await res.json()) as { status: string; data: T };
        assert.equal(body.status, 'success');
        return body.data;
      };
      type Target = { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string };
      const targets = await poll(
        async () => {
          if (prom!.exitCode !== null) throw new Error(`prometheus exited: ${readFileSync(join(dir, 'prometheus.log'), 'utf8').slice(-2000)}`);
          const data = await api<{ activeTargets: Target[] }>('/api/v1/targets?state=active');
          const ours = data.activeTargets.filter((x) => x.labels.job === 'placement-center');
          return ours.length === 3 && ours.every((x) => x.health === 'up') ? ours : null;
        },
        { timeoutMs: 45_000, intervalMs: 500, what: 'all placement-center targets up in Prometheus' },
      );
      assert.deepEqual(
        targets.map((x) => x.labels.instance).sort(),
        c.nodes.map((n) => n.httpAddress).sort(),
      );
      // The scraped series are queryable: exactly one leader across the cluster.
      const leaders = await poll(
        async () => {
          const r = await api<{ result: Array<{ value: [number, string] }> }>(
            `/api/v1/query?query=${encodeURIComponent('sum(placement_raft_is_leader{job="placement-center"})')}`,
          );
          return r.result.length === 1 ? Number(r.result[0]!.value[1]) : null;
        },
        { timeoutMs: 15_000, intervalMs: 500, what: 'placement_raft_is_leader queryable' },
      );
      assert.equal(leaders, 1);
    } finally {
      if (prom?.pid !== undefined && prom.exitCode === null && prom.signalCode === null) {
        const exited = new Promise((r) => prom!.once('exit', r));
        process.kill(prom.pid, 'SIGKILL');
        await exited;
      }
      closeSync(logFd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
