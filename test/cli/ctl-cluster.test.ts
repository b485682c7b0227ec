// placement-ctl (real child process) against a real 3-node cluster: output, --json parsing,
// and every error path: not found, rejected input, a dead member, no quorum, cluster down.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl, type CtlResult } from './support/run-ctl.js';

/** Runs examples/sdk-basics.ts (through tsx) against `endpoint`. */
async function spawnExample(endpoint: string): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../examples/sdk-basics.ts', import.meta.url))], {
    env: { ...process.env, PLACEMENT_ENDPOINTS: endpoint, BROKER_ID: '4' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(killer);
  return { code, output };
}

const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, UNAVAILABLE: 3, NOT_FOUND: 4, REJECTED: 5, COMPARE_FAILED: 6, UNHEALTHY: 7 };

function clean(r: CtlResult): void {
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `stack trace in stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /\x1b\[/, 'colour codes on a non-TTY');
}

interface StatusJson {
  clusterId: string;
  leaderId: number;
  healthy: boolean;
  problems: string[];
  members: Array<{
    id: number;
    address: string;
    role: string;
    isLeader: boolean;
    reachable: boolean;
    reachableAtAddress: boolean;
    reachedVia: string | null;
    term: number | null;
    commitIndex: number | null;
    appliedIndex: number | null;
    lag: number | null;
  }>;
}

interface HealthJson {
  endpoint: string;
  health: boolean;
  took: string;
  tookMs: number;
  error?: string;
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('placement-ctl against a real 3-node cluster', { timeout: 170_000 }, () => {
  let c: Cluster;
  let all: string;
  before(async () => {
    c = await startCluster({ nodes: 3 });
    all = c.nodes.map((n) => n.grpcAddress).join(',');
  });
  after(async () => {
    await c?.stop();
  });

  test('kv commands and --json through a single member', async () => {
    const leader = await c.waitForLeader();
    const follower = c.nodes.find((n) => n.id !== leader)!.grpcAddress;
    const put = await runCtl(['--endpoints', follower, 'kv', 'put', '/brokers/1', '{"host":"10.0.0.1"}']);
    assert.equal(put.code, EXIT.OK, put.stderr);
    assert.equal(put.stdout, 'OK\n');
    const putJson = await runCtl(['--endpoints', follower, '--json', 'kv', 'put', '/brokers/2', 'two']);
    const [get, getJson, exists, ls, lsJson] = await Promise.all([
      runCtl(['--endpoints', follower, 'kv', 'get', '/brokers/1']),
      runCtl(['--endpoints', follower, '--json', 'kv', 'get', '/brokers/1']),
      runCtl(['--endpoints', follower, 'kv', 'exists', '/brokers/1']),
      runCtl(['--endpoints', follower, 'kv', 'ls', '--prefix', '/brokers/']),
      runCtl(['--endpoints', all, '--json', 'kv', 'ls', '--prefix', '/brokers/', '--limit', '1']),
    ]);
    for (const r of [putJson, get, getJson, exists, ls, lsJson]) {
      assert.equal(r.code, EXIT.OK, r.stderr);
      clean(r);
    }
    assert.ok((JSON.parse(putJson.stdout) as { revision: number }).revision > 0);
    assert.equal(get.stdout, '{"host":"10.0.0.1"}\n');
    const gj = JSON.parse(getJson.stdout) as { found: boolean; value: string; version: number; modRevision: number };
    assert.equal(gj.found, true);
    assert.equal(gj.value, '{"host":"10.0.0.1"}');
    assert.equal(gj.version, 1);
    assert.equal(exists.stdout, 'true\n');
    assert.match(ls.stdout, /^KEY\s+VALUE\s+MOD_REV\s+VERSION\n\/brokers\/1\s+\{"host":"10\.0\.0\.1"\}\s+\d+\s+1\n\/brokers\/2\s+two\s+\d+\s+1\n$/);
    const lj = JSON.parse(lsJson.stdout) as { count: number; more: boolean; kvs: Array<{ key: string }> };
    assert.equal(lj.count, 1);
    assert.equal(lj.more, true);
    assert.equal(lj.kvs[0]!.key, '/brokers/1');

    const [cas, casFail, del] = await Promise.all([
      runCtl(['--endpoints', all, 'kv', 'cas', '/brokers/2', 'TWO', '--expect-value', 'two']),
      runCtl(['--endpoints', all, 'kv', 'cas', '/brokers/2', 'x', '--expect-absent']),
      runCtl(['--endpoints', all, 'kv', 'del', '/brokers/1']),
    ]);
    assert.equal(cas.code, EXIT.OK, cas.stderr);
    assert.equal(casFail.code, EXIT.COMPARE_FAILED, casFail.stderr);
    assert.equal(del.code, EXIT.OK, del.stderr);
  });

  test('error paths: not found (4), rejected input (5), usage (2)', async () => {
    const [get, getJson, del, exists, emptyKey, bigKey, usage] = await Promise.all([
      runCtl(['--endpoints', all, 'kv', 'get', '/nope']),
      runCtl(['--endpoints', all, '--json', 'kv', 'get', '/nope']),
      runCtl(['--endpoints', all, 'kv', 'del', '/nope']),
      runCtl(['--endpoints', all, 'kv', 'exists', '/nope']),
      runCtl(['--endpoints', all, 'kv', 'put', '', 'x']),
      runCtl(['--endpoints', all, '--json', 'kv', 'put', 'k'.repeat(5000), 'x']),
      runCtl(['--endpoints', all, 'kv', 'put', 'only-key']),
    ]);
    for (const r of [get, getJson, del, exists, emptyKey, bigKey, usage]) clean(r);
    assert.equal(get.code, EXIT.NOT_FOUND);
    assert.equal(get.stderr, 'placement-ctl: error: key "/nope" not found\n');
    assert.equal(getJson.code, EXIT.NOT_FOUND);
    assert.deepEqual(JSON.parse(getJson.stdout), { found: false, key: '/nope' });
    assert.equal(del.code, EXIT.NOT_FOUND);
    assert.equal(exists.code, EXIT.NOT_FOUND);
    assert.equal(exists.stdout, 'false\n');
    assert.equal(emptyKey.code, EXIT.REJECTED, emptyKey.stderr);
    assert.match(emptyKey.stderr, /^placement-ctl: error: rejected by the server: .*key/);
    assert.equal(bigKey.code, EXIT.REJECTED, bigKey.stderr);
    const bj = JSON.parse(bigKey.stderr) as { error: { code: string; message: string; exitCode: number } };
    assert.equal(bj.error.code, 'INVALID_ARGUMENT');
    assert.match(bj.error.message, /4096|limit/);
    assert.equal(usage.code, EXIT.USAGE);
    assert.match(usage.stderr, /missing required argument 'value'/);
  });

  test('cluster status, member list and check perf', async () => {
    const leader = await c.waitForLeader();
    const example = spawnExample(c.node(2).grpcAddress);
    const [st, stJson, ml, perf, health, epStatus] = await Promise.all([
      runCtl(['--endpoints', c.node(1).grpcAddress, 'cluster', 'status']),
      runCtl(['--endpoints', all, '--json', 'cluster', 'status']),
      runCtl(['--endpoints', all, '--json', 'member', 'list']),
      runCtl(['--endpoints', all, '--json', 'check', 'perf', '--duration', '1s', '--concurrency', '8']),
      runCtl(['--endpoints', c.node(1).grpcAddress, '--json', 'endpoint', 'health', '--cluster']),
      runCtl(['--endpoints', all, '--json', 'endpoint', 'status']),
    ]);
    for (const r of [st, stJson, ml, perf, health, epStatus]) {
      assert.equal(r.code, EXIT.OK, r.stderr);
      clean(r);
    }
    const hj = JSON.parse(health.stdout) as HealthJson[];
    assert.deepEqual(hj.map((h) => [h.endpoint, h.health]), c.nodes.map((n) => [n.grpcAddress, true]), '--cluster: every member');
    const ej = JSON.parse(epStatus.stdout) as Array<{ endpoint: string; id: number; isLeader: boolean; isLearner: boolean; raftIndex: number; errors: string[] }>;
    assert.deepEqual(ej.map((e) => [e.endpoint, e.id, e.isLeader, e.isLearner, e.errors]), c.nodes.map((n) => [n.grpcAddress, n.id, n.id === leader, false, []]));
    for (const e of ej) assert.ok(e.raftIndex > 0);
    const rows = st.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^ID\s+ADDRESS\s+REACHABLE\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+LEADER$/);
    assert.equal(rows.length, 4);
    const leaderRow = rows.find((r) => r.endsWith('*'))!;
    assert.match(leaderRow, new RegExp(`^${leader}\\s+${c.node(leader).grpcAddress.replace(/\./g, '\\.')}\\s+yes\\s+leader\\s+\\d+\\s+\\d+\\s+\\d+\\s+0\\s+\\*$`));
    assert.equal(st.stderr, '', 'a healthy cluster: no warning');
    const sj = JSON.parse(stJson.stdout) as StatusJson;
    assert.equal(sj.healthy, true);
    assert.deepEqual(sj.problems, []);
    assert.equal(sj.leaderId, leader);
    assert.deepEqual(sj.members.map((m) => m.id), [1, 2, 3]);
    assert.equal(sj.members.filter((m) => m.isLeader).length, 1);
    for (const m of sj.members) {
      assert.equal(m.reachable, true);
      assert.equal(m.reachableAtAddress, true);
      assert.equal(m.reachedVia, m.address);
      assert.ok((m.commitIndex ?? 0) > 0);
      assert.ok(['leader', 'follower'].includes(m.role));
    }
    const mj = JSON.parse(ml.stdout) as { leaderId: number; members: Array<{ id: number; address: string; httpAddress: string }> };
    assert.deepEqual(mj.members.map((m) => m.address), c.nodes.map((n) => n.grpcAddress));
    const ex = await example;
    assert.equal(ex.code, 0, ex.output);
    assert.match(ex.output, /connected; members: 1@.*, 2@.*, 3@.*, leader \d/);
    assert.match(ex.output, /registered \/brokers\/ids\/4 at revision \d+/);
    assert.match(ex.output, /cluster test: leader \d, term \d+, commit \d+, applied \d+/);
    const pj = JSON.parse(perf.stdout) as { writes: number; errors: number; throughput: number; latencyMs: { p50: number; p99: number } };
    assert.ok(pj.writes > 0);
    assert.equal(pj.errors, 0);
    assert.ok(pj.latencyMs.p50 > 0 && pj.latencyMs.p50 <= pj.latencyMs.p99);
  });

  test('a dead member, then no quorum, then the whole cluster down', async () => {
    const leader = await c.waitForLeader();
    const victim = c.nodes.find((n) => n.id !== leader)!;
    await c.kill(victim.id);
    // The dead member first in --endpoints: the command still works, status marks it.
    const others = c.nodes.filter((n) => n.id !== victim.id).map((n) => n.grpcAddress);
    // The live members must answer within this: generous, since six CLIs start at once and a
    // loaded 2-core machine took more than 3 s to serve a linearizable read right after the kill.
    const LIVE_TIMEOUT = '15s';
    const [put, st, stJson, health, healthJson, eps] = await Promise.all([
      runCtl(['--endpoints', [victim.grpcAddress, ...others].join(','), 'kv', 'put', '/while-down', '1']),
      runCtl(['--endpoints', all, '--timeout', LIVE_TIMEOUT, 'cluster', 'status']),
      runCtl(['--endpoints', all, '--timeout', LIVE_TIMEOUT, '--json', 'cluster', 'status']),
      runCtl(['--endpoints', others[0]!, '--timeout', LIVE_TIMEOUT, 'endpoint', 'health', '--cluster']),
      runCtl(['--endpoints', all, '--timeout', LIVE_TIMEOUT, '--json', 'endpoint', 'health']),
      runCtl(['--endpoints', all, '--timeout', LIVE_TIMEOUT, 'endpoint', 'status']),
    ]);
    assert.equal(put.code, EXIT.OK, put.stderr);
    // A member down: the table still shows everyone, and the exit code says "not healthy".
    assert.equal(st.code, EXIT.UNHEALTHY, st.stderr);
    assert.match(st.stdout, new RegExp(`\\n${victim.id}\\s+${esc(victim.grpcAddress)}\\s+no\\s+unreachable\\s+-`));
    assert.equal(st.stderr, `cluster is not healthy: member ${victim.id} (${victim.grpcAddress}) unreachable: connection refused\n`);
    clean(st);
    assert.equal(stJson.code, EXIT.UNHEALTHY);
    const sj = JSON.parse(stJson.stdout) as StatusJson;
    assert.equal(sj.healthy, false);
    assert.deepEqual(sj.problems, [`member ${victim.id} (${victim.grpcAddress}) unreachable: connection refused`]);
    assert.equal(sj.members.find((m) => m.id === victim.id)!.reachable, false);
    // endpoint health: one line per member, the dead one false with its error.
    assert.equal(health.code, EXIT.UNHEALTHY, health.stderr);
    const hrows = health.stdout.trimEnd().split('\n');
    assert.match(hrows[0]!, /^ENDPOINT\s+HEALTH\s+TOOK\s+ERROR$/);
    assert.equal(hrows.length, 4);
    for (const n of c.nodes) {
      const row = hrows.find((r) => r.startsWith(`${n.grpcAddress} `))!;
      if (n.id === victim.id) assert.match(row, new RegExp(`^${esc(n.grpcAddress)}\\s+false\\s+[\\d.]+ms\\s+cannot reach any of ${esc(n.grpcAddress)}: connection refused$`));
      else assert.match(row, new RegExp(`^${esc(n.grpcAddress)}\\s+true\\s+[\\d.]+ms$`));
    }
    clean(health);
    assert.equal(healthJson.code, EXIT.UNHEALTHY);
    const hj = JSON.parse(healthJson.stdout) as HealthJson[];
    assert.deepEqual(hj.map((h) => [h.endpoint, h.health]), c.nodes.map((n) => [n.grpcAddress, n.id !== victim.id]), healthJson.stdout);
    for (const h of hj) {
      assert.match(h.took, /^[\d.]+ms$/);
      assert.equal(typeof h.tookMs, 'number');
      assert.equal(h.error === undefined, h.health);
    }
    assert.equal(eps.code, EXIT.UNHEALTHY);
    assert.match(eps.stdout, /^ENDPOINT\s+ID\s+VERSION\s+IS LEADER\s+IS LEARNER\s+RAFT TERM\s+RAFT INDEX\s+RAFT APPLIED INDEX\s+REVISION\s+ERRORS\n/);
    assert.match(eps.stdout, new RegExp(`\\n${esc(victim.grpcAddress)}\\s+-\\s+-\\s+-\\s+-\\s+-\\s+-\\s+-\\s+-\\s+cannot reach any of`));

    // Only one member left: no leader, writes fail UNAVAILABLE within the timeout → exit 3.
    await c.kill(leader);
    const last = c.nodes.find((n) => n.id !== leader && n.id !== victim.id)!;
    const [noQuorum, stNoLeader, healthNoLeader] = await Promise.all([
      runCtl(['--endpoints', last.grpcAddress, '--timeout', '3s', 'kv', 'put', '/no-quorum', 'x']),
      runCtl(['--endpoints', last.grpcAddress, '--timeout', '3s', '--json', 'cluster', 'status']),
      runCtl(['--endpoints', last.grpcAddress, '--timeout', '2s', '--json', 'endpoint', 'health']),
    ]);
    assert.equal(noQuorum.code, EXIT.UNAVAILABLE, noQuorum.stderr);
    assert.match(noQuorum.stderr, /^placement-ctl: error: /);
    clean(noQuorum);
    // The last member answers, but there is no leader: not healthy, and the probe fails.
    assert.equal(stNoLeader.code, EXIT.UNHEALTHY, stNoLeader.stderr);
    const nl = JSON.parse(stNoLeader.stdout) as StatusJson;
    assert.equal(nl.leaderId, 0);
    assert.ok(nl.problems.includes('no leader'), nl.problems.join('; '));
    assert.equal(healthNoLeader.code, EXIT.UNHEALTHY, healthNoLeader.stderr);
    const hn = JSON.parse(healthNoLeader.stdout) as HealthJson[];
    assert.equal(hn.length, 1);
    assert.equal(hn[0]!.health, false);
    assert.ok(hn[0]!.error, 'the reason it is unhealthy');

    await c.kill(last.id);
    const [down, downJson] = await Promise.all([
      runCtl(['--endpoints', all, '--timeout', '2s', 'kv', 'get', '/x']),
      runCtl(['--endpoints', all, '--timeout', '2s', '--json', 'member', 'list']),
    ]);
    assert.equal(down.code, EXIT.UNAVAILABLE);
    assert.equal(down.stderr, `placement-ctl: error: cannot reach any of ${c.nodes.map((n) => n.grpcAddress).join(', ')}: connection refused\n`);
    clean(down);
    assert.equal(downJson.code, EXIT.UNAVAILABLE);
    assert.equal(downJson.stdout, '');
    assert.equal((JSON.parse(downJson.stderr) as { error: { code: string } }).error.code, 'UNAVAILABLE');
  });
});
