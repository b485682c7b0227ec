// The docker-compose topology on real network namespaces (no container engine here): three
// hosts named like the compose services, each running one node with exactly the environment
// docker-compose.yml gives it, plus a real Prometheus started with the compose service's own
// command line and deploy/prometheus.yml, and a client host. Names resolve like on a compose
// network (each namespace gets a hosts table), so the compose values are used verbatim; only
// the named volumes are replaced by temporary directories.
//
// Nodes run from source: `node --import tsx <repo>/src/cli/server.ts`, as the image runs
// `node bin/placement-center.js` (= the compiled server) with the same environment.
//
// Checks: the cluster forms (one leader, all ready, gRPC health SERVING, the image's
// HEALTHCHECK script passes in every host); a gRPC write entering through one host is read
// through the others, and so is an admin-API write; Prometheus scrapes the three targets and
// loaded the alert rules; cutting the leader's link leaves the other two electing a leader and
// serving writes and reads while the cut host accepts no write and Prometheus sees it down;
// once the link is back the host rejoins and catches up (reads the writes it missed, same state
// hash as the others).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { resolveConfig } from '../../src/config/index.js';
import { Agent, AgentError, FatalWaitError, NetLab, netnsUnavailableReason, waitFor } from './netns.js';
import { REPO_ROOT, dashboardExpressions, loadCompose, mapContainerPaths, portOf, type ComposeService } from './compose.js';

interface Envelope<T> {
  code: number;
  data: T;
  error?: string;
}

interface Status {
  id: number;
  leaderId: number;
  term: number;
  role: string;
  commitIndex: number;
  appliedIndex: number;
  members: { id: number; address: string; role: string }[];
}

interface NodeRun {
  service: ComposeService;
  id: number;
  env: Record<string, string>;
  grpcPort: number;
  httpPort: number;
  log: string;
  child?: ChildProcess;
}

interface PromTarget {
  labels: Record<string, string>;
  scrapeUrl: string;
  health: string;
  lastError: string;
}

function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

test('compose topology on network namespaces: forms, replicates, is scraped, survives and heals a cut link', { timeout: 300_000 }, async (t: TestContext) => {
  const reason = await netnsUnavailableReason();
  if (reason !== null) {
    t.skip(`network namespaces cannot be created here: ${reason}`);
    return;
  }

  try {
    execFileSync('prometheus', ['--version'], { stdio: 'ignore' });
  } catch {
    assert.fail('the `prometheus` binary is not installed: `apt-get install prometheus` (Debian); .ci/run installs it');
  }

  const compose = loadCompose();
  const tmp = mkdtempSync(join(tmpdir(), 'pc-netns-'));
  const lab = await NetLab.create();
  const nodes: NodeRun[] = [];
  let prometheusLog = '';
  let failed = true;
  try {
    // ---- hosts: one per compose node service, one for Prometheus, one for clients
    let octet = 11;
    for (const svc of compose.nodes) await lab.addHost(svc.name, octet++);
    await lab.addHost(compose.prometheus.name, 20);
    await lab.addHost('client', 30);
    t.diagnostic(`lab ${lab.runId}: ${[...lab.hosts.values()].map((h) => `${h.name}=${h.ip}`).join(' ')}`);

    // ---- one-shot services of the image that the nodes wait for (the peer secret), run the way
    // compose runs them: their entrypoint and command, image and volume paths mapped to the host
    for (const svc of compose.services.values()) {
      if (svc.entrypoint.length === 0 || !compose.nodes.some((n) => (n.raw.depends_on as Record<string, unknown> | undefined)?.[svc.name])) continue;
      const dirs: Record<string, string> = { '/app/deploy': join(REPO_ROOT, 'deploy') };
      for (const m of svc.mounts.filter((x) => x.type === 'volume')) dirs[m.target] = join(tmp, m.source);
      const [cmd, ...args] = mapContainerPaths([...svc.entrypoint, ...svc.command], [], dirs) as [string, ...string[]];
      execFileSync(cmd === 'node' ? process.execPath : cmd, args, { stdio: 'pipe' });
    }

    // ---- nodes, with the compose environment; named volumes become temporary directories
    for (const svc of compose.nodes) {
      const env: Record<string, string> = { ...svc.environment };
      const volumeDirs: Record<string, string> = {};
      for (const m of svc.mounts.filter((x) => x.type === 'volume')) volumeDirs[m.target] = join(tmp, m.source);
      for (const [k, v] of Object.entries(env)) env[k] = mapContainerPaths([v], [], volumeDirs)[0]!;
      const cfg = resolveConfig({}, env);
      const run: NodeRun = { service: svc, id: cfg.id, env, grpcPort: portOf(cfg.listen), httpPort: portOf(cfg.http), log: join(tmp, `${svc.name}.log`) };
      run.child = lab.spawn(svc.name, process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/server.ts')], {
        cwd: REPO_ROOT,
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, ...env },
        logFile: run.log,
      });
      nodes.push(run);
    }

    // ---- Prometheus, with the compose service's command line (container paths mapped to the repo)
    const promDirs: Record<string, string> = {};
    for (const m of compose.prometheus.mounts.filter((x) => x.type === 'volume')) promDirs[m.target] = join(tmp, m.source);
    const promArgs = mapContainerPaths(compose.prometheus.command, compose.prometheus.mounts, promDirs);
    prometheusLog = join(tmp, 'prometheus.log');
    const promChild = lab.spawn(compose.prometheus.name, 'prometheus', promArgs, { cwd: tmp, logFile: prometheusLog });
    const promPort = compose.prometheus.ports.find((p) => p.published === 9090)?.target ?? 9090;
    const prom = `http://${compose.prometheus.name}:${promPort}`;

    const client = await Agent.start(lab, 'client', join(tmp, 'agent-client.log'));
    const local = new Map<string, Agent>();
    for (const n of nodes) local.set(n.service.name, await Agent.start(lab, n.service.name, join(tmp, `agent-${n.service.name}.log`)));

    const statusOf = async (via: Agent, n: NodeRun): Promise<Status> => {
      const host = via === local.get(n.service.name) ? '127.0.0.1' : n.service.name;
      const r = await via.json<Envelope<Status>>(`http://${host}:${n.httpPort}/v1/cluster/status`, { timeoutMs: 2_000 });
      assert.equal(r.status, 200, `status of ${n.service.name}: ${JSON.stringify(r.body)}`);
      return r.body.data;
    };
    const byId = (id: number): NodeRun => {
      const n = nodes.find((x) => x.id === id);
      assert.ok(n, `node id ${id} is one of the compose nodes`);
      return n;
    };
    const grpcAddr = (n: NodeRun): string => `${n.service.name}:${n.grpcPort}`;

    // ---- 1. the cluster forms: every node ready, one leader all agree on
    await waitFor('all three nodes ready', async () => {
      for (const n of nodes) {
        if (n.child?.exitCode !== null) throw new FatalWaitError(`${n.service.name} exited with code ${n.child?.exitCode}:\n${tail(n.log)}`);
        const r = await client.http(`http://${n.service.name}:${n.httpPort}/readyz`, { timeoutMs: 2_000 });
        if (r.status !== 200) return undefined;
      }
      return true;
    }, 90_000, 500);
    const formed = await waitFor('one leader that every node agrees on', async () => {
      const ss = await Promise.all(nodes.map((n) => statusOf(client, n)));
      const leaders = new Set(ss.map((s) => s.leaderId));
      return leaders.size === 1 && !leaders.has(0) ? ss : undefined;
    }, 30_000);
    for (const s of formed) assert.equal(s.members.length, 3, `node ${s.id} knows three members`);
    const leader = byId(formed[0]!.leaderId);
    const followers = nodes.filter((n) => n !== leader);
    t.diagnostic(`leader: ${leader.service.name} (id ${leader.id}, term ${formed[0]!.term})`);

    for (const n of nodes) {
      assert.equal(await client.grpcHealth(grpcAddr(n)), 'SERVING', `${n.service.name}: grpc.health.v1 SERVING`);
      // The image's HEALTHCHECK, run inside the host with the compose environment.
      const hc = lab.spawn(n.service.name, process.execPath, [join(REPO_ROOT, 'deploy/healthcheck.mjs')], {
        env: { PATH: process.env.PATH ?? '', ...n.env },
      });
      const code = await new Promise<number | null>((r) => hc.once('exit', (c) => r(c)));
      assert.equal(code, 0, `${n.service.name}: deploy/healthcheck.mjs passes`);
    }

    // ---- 2. a write entering through one host is read through the others
    const [f1, f2] = followers as [NodeRun, NodeRun];
    await local.get(f1.service.name)!.grpcSet(`127.0.0.1:${f1.grpcPort}`, 'deploy/hello', 'from-' + f1.service.name);
    for (const n of nodes) {
      assert.equal(await client.grpcGet(grpcAddr(n), 'deploy/hello'), 'from-' + f1.service.name, `read through ${n.service.name}`);
    }
    const put = await client.json<Envelope<unknown>>(`http://${f2.service.name}:${f2.httpPort}/v1/kv/deploy/admin`, {
      method: 'PUT',
      body: { value: 'via-admin-api' },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    for (const n of nodes) {
      const r = await client.json<Envelope<{ value: string }>>(`http://${n.service.name}:${n.httpPort}/v1/kv/deploy/admin`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.data.value, 'via-admin-api');
    }

    // ---- 3. Prometheus scrapes the three nodes and loaded the alert rules
    const targets = await waitFor('Prometheus to report the three targets up', async () => {
      if (promChild.exitCode !== null) throw new FatalWaitError(`prometheus exited with code ${promChild.exitCode}:\n${tail(prometheusLog)}`);
      const r = await client.json<Envelope<{ activeTargets: PromTarget[] }> & { status: string }>(`${prom}/api/v1/targets`);
      const ours = (r.body.data?.activeTargets ?? []).filter((x) => x.labels.job === 'placement-center');
      return ours.length === 3 && ours.every((x) => x.health === 'up') ? ours : undefined;
    }, 60_000, 500);
    assert.deepEqual(
      targets.map((x) => x.labels.instance).sort(),
      nodes.map((n) => `${n.service.name}:${n.httpPort}`).sort(),
    );
    const leaders = await waitFor('sum(placement_raft_is_leader) to be 1 in Prometheus', async () => {
      const r = await client.json<{ data: { result: { value: [number, string] }[] } }>(
        `${prom}/api/v1/query?query=${encodeURIComponent('sum(placement_raft_is_leader{job="placement-center"})')}`,
      );
      const v = r.body.data.result[0]?.value[1];
      return v === '1' ? v : undefined;
    }, 30_000, 500);
    assert.equal(leaders, '1');
    const rules = await client.json<{ data: { groups: { name: string; rules: { name: string }[] }[] } }>(`${prom}/api/v1/rules`);
    const alertNames = rules.body.data.groups.flatMap((g) => g.rules.map((r) => r.name));
    assert.ok(alertNames.includes('PlacementCenterNodeDown') && alertNames.includes('PlacementCenterNoLeader'), `rules loaded: ${alertNames.join(', ')}`);
    // Every query of the Grafana dashboard is valid PromQL for this Prometheus, and the main
    // series (leader, term, commit/applied index) have data.
    for (const { title, expr } of dashboardExpressions()) {
      const r = await client.json<{ status: string; error?: string; data?: { result: unknown[] } }>(`${prom}/api/v1/query?query=${encodeURIComponent(expr)}`);
      assert.equal(r.body.status, 'success', `dashboard panel "${title}": ${expr}: ${r.body.error ?? ''}`);
      if (/^placement_raft_(is_leader|term|commit_index|applied_index)\{/.test(expr)) {
        assert.equal(r.body.data?.result.length, 3, `dashboard panel "${title}" has a series per node`);
      }
    }

    // ---- 4. cut the leader's link
    const cut = leader;
    const cutAgent = local.get(cut.service.name)!;
    await lab.linkDown(cut.service.name);
    const cutAt = Date.now();
    t.diagnostic(`cut ${cut.service.name}'s link`);
    const newLeader = await waitFor('the two connected nodes to elect a new leader', async () => {
      const ss = await Promise.all([f1, f2].map((n) => statusOf(client, n)));
      const ids = new Set(ss.map((s) => s.leaderId));
      return ids.size === 1 && !ids.has(0) && !ids.has(cut.id) ? ss[0]!.leaderId : undefined;
    }, 30_000);
    t.diagnostic(`new leader: ${byId(newLeader).service.name}, ${Date.now() - cutAt} ms after the cut`);

    // The other two keep serving: a write through each, read through the other.
    await waitFor('a write through a connected host to succeed', () => client.grpcSet(grpcAddr(f1), 'deploy/during-cut', 'written-while-cut').then(() => true), 15_000);
    assert.equal(await client.grpcGet(grpcAddr(f2), 'deploy/during-cut'), 'written-while-cut');
    await client.grpcSet(grpcAddr(f2), 'deploy/during-cut-2', 'also-while-cut');
    assert.equal(await client.grpcGet(grpcAddr(f1), 'deploy/during-cut-2'), 'also-while-cut');

    // The cut host accepts no write (whether it still believes it leads or knows no leader).
    await assert.rejects(
      cutAgent.grpcSet(`127.0.0.1:${cut.grpcPort}`, 'deploy/on-cut-host', 'must-not-be-acknowledged', 8_000),
      (err: unknown) => {
        assert.ok(err instanceof AgentError, String(err));
        t.diagnostic(`write on the cut host: ${err.message}`);
        assert.ok(['UNAVAILABLE', 'DEADLINE_EXCEEDED'].includes(err.code ?? ''), `write on the cut host fails UNAVAILABLE or DEADLINE_EXCEEDED, got ${err.message}`);
        return true;
      },
    );
    const adminOnCut = await cutAgent.http(`http://127.0.0.1:${cut.httpPort}/v1/kv/deploy/on-cut-host-admin`, {
      method: 'PUT',
      body: { value: 'must-not-be-acknowledged' },
      timeoutMs: 10_000,
    }).catch((err: unknown) => ({ status: 0, body: String(err) }));
    assert.notEqual(adminOnCut.status, 200, `admin write on the cut host is refused: ${adminOnCut.body}`);
    t.diagnostic(`admin write on the cut host: ${adminOnCut.status} ${adminOnCut.body.slice(0, 200)}`);
    // A linearizable read there cannot be served either.
    await assert.rejects(cutAgent.grpcGet(`127.0.0.1:${cut.grpcPort}`, 'deploy/during-cut', { timeoutMs: 5_000 }));

    // Prometheus sees the cut node down and the NodeDown alert becomes pending (it fires after 1m).
    const cutInstance = `${cut.service.name}:${cut.httpPort}`;
    await waitFor(`Prometheus to see ${cutInstance} down`, async () => {
      const r = await client.json<{ data: { activeTargets: PromTarget[] } }>(`${prom}/api/v1/targets`);
      const x = r.body.data.activeTargets.find((a) => a.labels.instance === cutInstance);
      return x && x.health === 'down' ? x : undefined;
    }, 30_000, 500);
    const alert = await waitFor('the PlacementCenterNodeDown alert to become active for the cut node', async () => {
      const r = await client.json<{ data: { alerts: { labels: Record<string, string>; state: string }[] } }>(`${prom}/api/v1/alerts`);
      return r.body.data.alerts.find((a) => a.labels.alertname === 'PlacementCenterNodeDown' && a.labels.instance === cutInstance);
    }, 45_000, 1_000);
    t.diagnostic(`PlacementCenterNodeDown ${alert.state} for ${cutInstance}, ${Date.now() - cutAt} ms after the cut`);

    // ---- 5. the link comes back: the host rejoins and catches up
    const before = await statusOf(client, f1);
    await lab.linkUp(cut.service.name);
    const healAt = Date.now();
    t.diagnostic(`restored ${cut.service.name}'s link`);
    const rejoined = await waitFor(`${cut.service.name} to rejoin and catch up`, async () => {
      const s = await statusOf(client, cut);
      return s.leaderId !== 0 && s.appliedIndex >= before.commitIndex ? s : undefined;
    }, 60_000);
    assert.ok(rejoined.term >= formed[0]!.term);
    t.diagnostic(`${cut.service.name} rejoined (term ${rejoined.term}, leader ${rejoined.leaderId}, applied ${rejoined.appliedIndex}) ${Date.now() - healAt} ms after the link came back`);
    await waitFor(`${cut.service.name} to read the writes it missed`, async () => {
      const v = await cutAgent.grpcGet(`127.0.0.1:${cut.grpcPort}`, 'deploy/during-cut', { timeoutMs: 3_000 });
      return v === 'written-while-cut' ? v : undefined;
    }, 30_000);
    assert.equal(await cutAgent.grpcGet(`127.0.0.1:${cut.grpcPort}`, 'deploy/during-cut-2', { serializable: true }), 'also-while-cut');
    // It accepts writes again, and the three replicas converge to the same state.
    await waitFor('a write through the rejoined host', () => cutAgent.grpcSet(`127.0.0.1:${cut.grpcPort}`, 'deploy/after-heal', 'ok').then(() => true), 20_000);
    assert.equal(await client.grpcGet(grpcAddr(f2), 'deploy/after-heal'), 'ok');
    await waitFor('the three replicas to reach the same state hash', async () => {
      const hs = await Promise.all(
        nodes.map((n) => client.json<Envelope<{ appliedIndex: number; hash: string }>>(`http://${n.service.name}:${n.httpPort}/v1/debug/hash`).then((r) => r.body.data)),
      );
      return hs.every((h) => h.appliedIndex === hs[0]!.appliedIndex && h.hash === hs[0]!.hash) ? hs : undefined;
    }, 30_000);
    await waitFor(`Prometheus to see ${cutInstance} up again`, async () => {
      const r = await client.json<{ data: { activeTargets: PromTarget[] } }>(`${prom}/api/v1/targets`);
      const x = r.body.data.activeTargets.find((a) => a.labels.instance === cutInstance);
      return x && x.health === 'up' ? x : undefined;
    }, 30_000, 500);

    // ---- 6. graceful stop: SIGTERM ends every node by itself
    for (const n of nodes) {
      const child = n.child!;
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
      process.kill(child.pid!, 'SIGTERM');
      const res = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000).unref())]);
      assert.ok(res !== null, `${n.service.name} stops within 20 s of SIGTERM`);
      assert.equal(res.code, 0, `${n.service.name} exits 0 after SIGTERM (signal ${res.signal})`);
    }
    failed = false;
  } finally {
    if (failed) {
      for (const n of nodes) t.diagnostic(`--- ${n.service.name} log tail:\n${tail(n.log, 25)}`);
      if (prometheusLog) t.diagnostic(`--- prometheus log tail:\n${tail(prometheusLog, 15)}`);
    }
    await lab.destroy();
    assert.deepEqual(await lab.liveNamespaces(), [], 'every namespace deleted');
    rmSync(tmp, { recursive: true, force: true });
  }
});
