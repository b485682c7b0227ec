// placement-ctl as a real child process against an in-process fake cluster: output, --json,
// exit codes and every error path (usage, not found, rejected, unreachable).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeCluster, deadAddress } from '../client/support/fake-cluster.js';
import { PlacementClient } from '../../src/client/index.js';
import { runCtl, type CtlResult } from './support/run-ctl.js';
import { createServer, type AddressInfo } from 'node:net';

const EXIT = { OK: 0, FAILURE: 1, USAGE: 2, UNAVAILABLE: 3, NOT_FOUND: 4, REJECTED: 5, COMPARE_FAILED: 6, UNHEALTHY: 7 };

function noStack(r: CtlResult): void {
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, `stack trace in stderr: ${r.stderr}`);
  assert.doesNotMatch(r.stdout + r.stderr, /\x1b\[/, 'colour codes on a non-TTY');
}

describe('placement-ctl against a fake cluster', () => {
  let fc: FakeCluster;
  let ep: string;
  before(async () => {
    fc = await FakeCluster.start(3);
    ep = fc.nodes.map((n) => n.address).join(',');
  });
  after(async () => {
    await fc.stop();
  });

  test('--help documents commands and exit codes; usage errors exit 2', async () => {
    const [help, unknownOpt, missingArg, badTimeout, badEndpoint] = await Promise.all([
      runCtl(['--help']),
      runCtl(['--endpoints', ep, '--bogus', 'kv', 'get', 'a']),
      runCtl(['--endpoints', ep, 'kv', 'get']),
      runCtl(['--endpoints', ep, '--timeout', 'soon', 'kv', 'get', 'a']),
      runCtl(['--endpoints', 'localhost', 'kv', 'get', 'a']),
    ]);
    assert.equal(help.code, EXIT.OK);
    assert.match(help.stdout, /Exit codes:/);
    for (const line of [/0\s+success/, /2\s+usage error/, /3\s+cluster unreachable/, /4\s+key not found/, /7\s+cluster not healthy/]) assert.match(help.stdout, line);
    assert.match(help.stdout, /endpoint\s+per-endpoint health and status/);
    assert.match(help.stdout, /PLACEMENT_ENDPOINTS/);
    for (const r of [unknownOpt, missingArg, badTimeout, badEndpoint]) {
      assert.equal(r.code, EXIT.USAGE, `${r.stderr}`);
      noStack(r);
      assert.equal(r.stdout, '');
    }
    assert.match(unknownOpt.stderr, /unknown option '--bogus'/);
    assert.match(missingArg.stderr, /missing required argument 'key'/);
    assert.match(badTimeout.stderr, /--timeout/);
    assert.match(badEndpoint.stderr, /bad endpoint "localhost": expected host:port/);
  });

  test('kv put / get / exists / ls / del, text and --json', async () => {
    const put = await runCtl(['--endpoints', ep, 'kv', 'put', '/brokers/1', '{"host":"10.0.0.1","port":9092}']);
    assert.equal(put.code, EXIT.OK, put.stderr);
    assert.equal(put.stdout, 'OK\n');
    const stdinPut = await runCtl(['--endpoints', ep, '--json', 'kv', 'put', '/from-stdin', '-'], { input: 'line1\nline2\n' });
    assert.equal(stdinPut.code, EXIT.OK);
    const pj = JSON.parse(stdinPut.stdout) as { key: string; revision: number };
    assert.equal(pj.key, '/from-stdin');
    assert.ok(pj.revision > 0);
    const sdk = new PlacementClient({ endpoints: [fc.node(1).address] });
    try {
      await sdk.kv.set('/brokers/2', 'b2');
      await sdk.kv.set('/brokers/3', 'b3');
    } finally {
      sdk.close();
    }

    const [get, getJson, getMeta, exists, ls, lsLimit, keysOnly, stdinGet] = await Promise.all([
      runCtl(['--endpoints', ep, 'kv', 'get', '/brokers/1']),
      runCtl(['--endpoints', ep, '--json', 'kv', 'get', '/brokers/1']),
      runCtl(['--endpoints', ep, 'kv', 'get', '-w', '/brokers/1']),
      runCtl(['--endpoints', ep, '--json', 'kv', 'exists', '/brokers/1']),
      runCtl(['--endpoints', ep, 'kv', 'ls', '--prefix', '/brokers/']),
      runCtl(['--endpoints', ep, '--json', 'kv', 'ls', '/brokers/', '--limit', '2']),
      runCtl(['--endpoints', ep, 'kv', 'ls', '--prefix', '/brokers/', '--keys-only']),
      runCtl(['--endpoints', ep, 'kv', 'get', '/from-stdin']),
    ]);
    assert.equal(get.code, EXIT.OK);
    assert.equal(get.stdout, '{"host":"10.0.0.1","port":9092}\n');
    const gj = JSON.parse(getJson.stdout) as Record<string, unknown>;
    assert.equal(gj.found, true);
    assert.equal(gj.value, '{"host":"10.0.0.1","port":9092}');
    assert.equal(gj.version, 1);
    assert.equal(typeof gj.modRevision, 'number');
    assert.match(getMeta.stdout, /^KEY\s+VALUE\s+CREATE_REV\s+MOD_REV\s+VERSION\s+LEASE\n\/brokers\/1\s+/);
    assert.deepEqual(JSON.parse(exists.stdout), { key: '/brokers/1', exists: true });
    assert.equal(ls.code, EXIT.OK);
    const lines = ls.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^KEY\s+VALUE\s+MOD_REV\s+VERSION$/);
    assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]), ['/brokers/1', '/brokers/2', '/brokers/3']);
    // Columns are aligned: every row's VALUE column starts where the header's does.
    const col = lines[0]!.indexOf('VALUE');
    for (const l of lines.slice(1)) {
      assert.equal(l.slice(col - 2, col), '  ');
      assert.notEqual(l[col], ' ');
    }
    const ll = JSON.parse(lsLimit.stdout) as { count: number; more: boolean; kvs: Array<{ key: string; value: string }> };
    assert.equal(ll.count, 2);
    assert.equal(ll.more, true);
    assert.equal(ll.kvs[1]!.value, 'b2');
    assert.equal(keysOnly.stdout, '/brokers/1\n/brokers/2\n/brokers/3\n');
    assert.equal(stdinGet.stdout, 'line1\nline2\n');

    const del = await runCtl(['--endpoints', ep, 'kv', 'del', '/brokers/3']);
    assert.equal(del.code, EXIT.OK);
    assert.equal(del.stdout, 'deleted /brokers/3\n');
  });

  test('key not found: exit 4 from get, del and exists, also with --json', async () => {
    const [get, getJson, delJson, exists] = await Promise.all([
      runCtl(['--endpoints', ep, 'kv', 'get', '/nope']),
      runCtl(['--endpoints', ep, '--json', 'kv', 'get', '/nope']),
      runCtl(['--endpoints', ep, '--json', 'kv', 'del', '/nope']),
      runCtl(['--endpoints', ep, 'kv', 'exists', '/nope']),
    ]);
    for (const r of [get, getJson, delJson, exists]) {
      assert.equal(r.code, EXIT.NOT_FOUND, r.stderr);
      noStack(r);
    }
    assert.equal(get.stdout, '');
    assert.equal(get.stderr, 'placement-ctl: error: key "/nope" not found\n');
    assert.deepEqual(JSON.parse(getJson.stdout), { found: false, key: '/nope' });
    assert.deepEqual(JSON.parse(delJson.stdout), { key: '/nope', deleted: false, revision: fc.revision });
    assert.equal(exists.stdout, 'false\n');
  });

  test('rejected by the server: exit 5; compare failed: exit 6', async () => {
    const [empty, emptyJson, casOk, casFail, casNoExpect] = await Promise.all([
      runCtl(['--endpoints', ep, 'kv', 'put', '', 'x']),
      runCtl(['--endpoints', ep, '--json', 'kv', 'get', '']),
      runCtl(['--endpoints', ep, 'kv', 'cas', '/lock', 'me', '--expect-absent']),
      runCtl(['--endpoints', ep, '--json', 'kv', 'cas', '/lock-2', 'other', '--expect-value', 'nobody']),
      runCtl(['--endpoints', ep, 'kv', 'cas', '/lock', 'other']),
    ]);
    assert.equal(empty.code, EXIT.REJECTED);
    assert.equal(empty.stderr, 'placement-ctl: error: rejected by the server: key is empty\n');
    noStack(empty);
    assert.equal(emptyJson.code, EXIT.REJECTED);
    const ej = JSON.parse(emptyJson.stderr) as { error: { code: string; message: string; exitCode: number } };
    assert.equal(ej.error.code, 'INVALID_ARGUMENT');
    assert.equal(ej.error.exitCode, EXIT.REJECTED);
    assert.equal(casOk.code, EXIT.OK, casOk.stderr);
    assert.equal(casFail.code, EXIT.COMPARE_FAILED);
    assert.equal((JSON.parse(casFail.stdout) as { succeeded: boolean }).succeeded, false);
    assert.equal(casNoExpect.code, EXIT.USAGE);
  });

  test('unreachable cluster: exit 3 naming every endpoint tried; PLACEMENT_ENDPOINTS is honoured', async () => {
    const a = await deadAddress();
    const b = await deadAddress();
    const [text, json, viaEnv, envOk] = await Promise.all([
      runCtl(['--endpoints', `${a},${b}`, '--timeout', '3s', 'kv', 'get', '/x']),
      runCtl(['--endpoints', `${a},${b}`, '--timeout', '3s', '--json', 'cluster', 'status']),
      runCtl(['--timeout', '2s', 'member', 'list'], { env: { PLACEMENT_ENDPOINTS: a } }),
      runCtl(['kv', 'exists', '/nope'], { env: { PLACEMENT_ENDPOINTS: fc.node(2).address } }),
    ]);
    assert.equal(text.code, EXIT.UNAVAILABLE);
    assert.equal(text.stderr, `placement-ctl: error: cannot reach any of ${a}, ${b}: connection refused\n`);
    noStack(text);
    assert.equal(json.code, EXIT.UNAVAILABLE);
    assert.equal(json.stdout, '');
    const ej = JSON.parse(json.stderr) as { error: { code: string; message: string } };
    assert.equal(ej.error.code, 'UNAVAILABLE');
    assert.equal(ej.error.message, `cannot reach any of ${a}, ${b}: connection refused`);
    assert.equal(viaEnv.code, EXIT.UNAVAILABLE);
    assert.match(viaEnv.stderr, new RegExp(`cannot reach any of ${a}: connection refused`));
    assert.equal(envOk.code, EXIT.NOT_FOUND, envOk.stderr);
  });

  test('every endpoint refusing connections fails in about a second, not at --timeout; one that never answers keeps the timeout', async () => {
    const a = await deadAddress();
    const b = await deadAddress();
    // A socket that accepts connections and never says a word (a hung process, a black hole).
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    const quiet = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const t0 = performance.now();
      const refused = await runCtl(['--endpoints', `${a},${b}`, '--timeout', '60s', 'kv', 'put', '/x', 'y']);
      const refusedMs = performance.now() - t0;
      assert.equal(refused.code, EXIT.UNAVAILABLE);
      assert.equal(refused.stderr, `placement-ctl: error: cannot reach any of ${a}, ${b}: connection refused\n`);
      // Behaviour, not speed: it gave up on its own, long before the 60 s timeout.
      assert.ok(refusedMs < 30_000, `refused endpoints took ${Math.round(refusedMs)} ms`);

      const t1 = performance.now();
      const hung = await runCtl(['--endpoints', `${quiet},${a}`, '--timeout', '1500ms', 'kv', 'get', '/x']);
      const hungMs = performance.now() - t1;
      assert.equal(hung.code, EXIT.UNAVAILABLE, hung.stderr);
      assert.doesNotMatch(hung.stderr, new RegExp(`${quiet}: connection refused`));
      assert.match(hung.stderr, /connection not established in time|no answer/);
      assert.ok(hungMs >= 1500, `an endpoint that never answers waits out --timeout (took ${Math.round(hungMs)} ms)`);
      noStack(hung);
    } finally {
      silent.close();
    }
  });

  test('no leader: exit 3 with the servers\' reason', async () => {
    for (const n of fc.nodes) n.fault = { kind: 'unavailable', message: 'no leader elected' };
    try {
      const r = await runCtl(['--endpoints', ep, '--timeout', '2s', 'kv', 'put', '/x', 'y']);
      assert.equal(r.code, EXIT.UNAVAILABLE);
      assert.match(r.stderr, /^placement-ctl: error: .*no leader elected/);
      noStack(r);
    } finally {
      for (const n of fc.nodes) n.fault = undefined;
    }
  });

  test('cluster status and member list: aligned tables and --json; a stopped member shows as unreachable', async () => {
    const [st, stJson, ml] = await Promise.all([
      runCtl(['--endpoints', fc.node(2).address, 'cluster', 'status']),
      runCtl(['--endpoints', fc.node(2).address, '--json', 'cluster', 'status']),
      runCtl(['--endpoints', ep, 'member', 'list']),
    ]);
    assert.equal(st.code, EXIT.OK, st.stderr);
    const rows = st.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^ID\s+ADDRESS\s+REACHABLE\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+LEADER$/);
    assert.equal(rows.length, 4);
    assert.match(rows[1]!, new RegExp(`^1\\s+${fc.node(1).address}\\s+yes\\s+leader\\s+7\\s+\\d+\\s+\\d+\\s+0\\s+\\*$`));
    assert.match(rows[2]!, new RegExp(`^2\\s+${fc.node(2).address}\\s+yes\\s+follower\\s+7\\s+\\d+\\s+\\d+\\s+1$`));
    const headerCol = rows[0]!.indexOf('ROLE');
    for (const r of rows.slice(1)) assert.match(r.slice(headerCol), /^(leader|follower)/);
    const sj = JSON.parse(stJson.stdout) as { leaderId: number; members: Array<{ id: number; role: string; isLeader: boolean; lag: number }> };
    assert.equal(sj.leaderId, 1);
    assert.deepEqual(sj.members.map((m) => [m.id, m.role, m.isLeader]), [[1, 'leader', true], [2, 'follower', false], [3, 'follower', false]]);
    assert.equal(ml.code, EXIT.OK);
    assert.match(ml.stdout, /^ID\s+ADDRESS\s+HTTP\s+ROLE\s+LEADER\n1\s+\S+\s+\S+\s+voter\s+\*\n2\s+/);

    await fc.node(3).stop();
    try {
      const down = await runCtl(['--endpoints', ep, '--timeout', '2s', 'cluster', 'status']);
      assert.equal(down.code, EXIT.UNHEALTHY, down.stderr);
      assert.match(down.stdout, new RegExp(`\\n3\\s+${fc.node(3).address}\\s+no\\s+unreachable\\s+-\\s+-\\s+-\\s+-`));
      assert.equal(down.stderr, `cluster is not healthy: member 3 (${fc.node(3).address}) unreachable: connection refused\n`);
      noStack(down);
    } finally {
      await fc.node(3).start();
    }
  });

  test('check perf: a short load, --json parses, no progress bar off a TTY, keys cleaned up', async () => {
    const [text, json, fail] = await Promise.all([
      runCtl(['--endpoints', ep, 'check', 'perf', '--duration', '400ms', '--concurrency', '4', '--prefix', '/perf-a/']),
      runCtl(['--endpoints', ep, '--json', 'check', 'perf', '--duration', '400ms', '--concurrency', '40', '--value-size', '64', '--prefix', '/perf-b/']),
      runCtl(['--endpoints', ep, 'check', 'perf', '--duration', '200ms', '--min-throughput', '100000000', '--prefix', '/perf-c/']),
    ]);
    assert.equal(text.code, EXIT.OK, text.stderr);
    assert.equal(text.stderr, '', 'no progress bar on a non-TTY stderr');
    assert.match(text.stdout, /^Throughput\s+[\d.]+ writes\/s\nLatency\s+p50 [\d.]+ ms\s+p90 [\d.]+ ms\s+p99 [\d.]+ ms/);
    assert.match(text.stdout, /PASS/);
    assert.equal(json.code, EXIT.OK, json.stderr);
    const pj = JSON.parse(json.stdout) as { writes: number; errors: number; throughput: number; pass: boolean; latencyMs: Record<string, number> };
    assert.ok(pj.writes > 0);
    assert.equal(pj.errors, 0);
    assert.ok(pj.throughput > 0);
    assert.equal(pj.pass, true);
    assert.ok(pj.latencyMs.p50! <= pj.latencyMs.p99! && pj.latencyMs.p99! <= pj.latencyMs.max!);
    assert.equal([...fc.store.keys()].filter((k) => k.startsWith('/perf-')).length, 0, 'keys cleaned up');
    assert.equal(fail.code, EXIT.FAILURE);
    assert.match(fail.stdout, /FAIL: throughput .* is below 100000000/);
  });
});
