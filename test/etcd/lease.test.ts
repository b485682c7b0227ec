// Differential: the same etcdctl lease session against a real etcd 3.4 and against a 3-member
// Placement Center cluster (every member as an endpoint: requests reaching a follower are
// forwarded) gives the same normalized transcript: output texts and JSON, error strings, gRPC
// codes, exit codes. Lease ids differ (etcd's are random, ours the Raft index) and are mapped to
// L1, L2… by the normalizer; steps name a lease by `{L1}`, replaced by that server's own id.
// A remaining TTL may differ by seconds (the two servers are asked at different moments): one
// within SLACK_S of the granted TTL is written as `<ttl>`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { spawn } from 'node:child_process';
import { ETCDCTL_BIN, Normalizer, etcdctl, firstDifference, type Transcript } from '../support/etcdctl.js';

// Leases of the minimum TTL (2 s) are revoked by the very next step, so that neither server can
// expire them first (that would be a timing difference, not a behaviour one).
const session: string[][] = [
  ['lease', 'grant', '60'],
  ['lease', 'grant', '1'], // raised to the minimum TTL (2 s on both with their default election timeouts)
  ['lease', 'revoke', '{L2}'],
  ['lease', 'revoke', '{L2}'], // not found
  ['lease', 'grant', '0'],
  ['lease', 'revoke', '{L3}'],
  ['lease', 'timetolive', '{L2}'], // already expired
  ['lease', 'timetolive', '{L2}', '-w', 'json'],
  ['lease', 'keep-alive', '--once', '{L2}'], // not found, exit 2
  ['lease', 'grant', '120'],
  ['lease', 'list'],
  ['lease', 'list', '-w', 'json'],
  ['lease', 'timetolive', '{L1}'],
  ['lease', 'timetolive', '{L1}', '--keys'],
  ['lease', 'timetolive', '{L1}', '-w', 'json'],
  ['lease', 'keep-alive', '--once', '{L1}'],
  ['lease', 'keep-alive', '--once', '{L4}', '-w', 'json'],
  ['lease', 'grant', '9000000001'], // too large
  ['lease', 'timetolive', '7fffffffffffffff'], // an id beyond 2^53: no such lease
  ['lease', 'revoke', '7fffffffffffffff'],
  ['lease', 'keep-alive', '--once', '7fffffffffffffff'],
  ['lease', 'revoke', '{L1}', '-w', 'json'],
  ['lease', 'list'],
];

/**
 * `lease list` prints bare hex ids (normalized here like any other lease id), in no particular
 * order on etcd (a map): the lines, or the JSON items, are sorted after normalizing.
 */
function list(norm: Normalizer, args: string[], out: string): string {
  if (args[1] !== 'list') return out;
  if (args.includes('json')) return out.replace(/"leases":\[(.*?)\]/, (_, items: string) => `"leases":[${(items.match(/\{[^}]*\}/g) ?? []).sort().join(',')}]`);
  const [head, ...rest] = out.trimEnd().split('\n');
  const ids = rest.map((id) => (/^[0-9a-f]{1,16}$/.test(id) ? norm.text(`lease ${id}`).slice('lease '.length) : id));
  return [head, ...ids.sort()].join('\n') + '\n';
}

/** Seconds a remaining TTL may be below the granted one: the steps between a grant and a read of
 *  its TTL are separate etcdctl runs, each up to a second or two on a loaded machine. */
const SLACK_S = 5;
/** A remaining TTL within SLACK_S of the granted one (never above it), as `<ttl>`. */
function remaining(out: string): string {
  return out
    .replace(/TTL\((\d+)s\), remaining\((\d+)s\)/g, (m, g: string, r: string) => (Number(g) - Number(r) <= SLACK_S && Number(r) <= Number(g) ? `TTL(${g}s), remaining(<ttl>)` : m))
    .replace(/"ttl":(\d+),"granted-ttl":(\d+)/g, (m, r: string, g: string) => (Number(g) - Number(r) <= SLACK_S && Number(r) <= Number(g) ? `"ttl":"<ttl>","granted-ttl":${g}` : m));
}

async function run(endpoints: string[]): Promise<Transcript> {
  const norm = new Normalizer();
  const ids: string[] = [];
  const out: Transcript = { steps: [] };
  for (const s of session) {
    const args = s.map((a) => a.replace(/^\{L(\d)\}$/, (_, n: string) => ids[Number(n) - 1] ?? 'missing'));
    const raw = await etcdctl(endpoints, args);
    const granted = /^lease ([0-9a-f]+) granted/.exec(raw.stdout);
    if (args[1] === 'grant' && granted) ids.push(granted[1]!);
    const r = norm.result(raw);
    out.steps.push({ args: s, result: { code: r.code, stdout: remaining(list(norm, s, r.stdout)), stderr: r.stderr } });
  }
  return out;
}

test('etcdctl lease grant/list/timetolive/keep-alive --once/revoke: the same transcript against etcd 3.4 and us', { timeout: 180_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  try {
    [etcd, ours] = await Promise.all([startEtcdCluster({ members: 3 }), startCluster({ nodes: 3 })]);
    const expected = await run(etcd.endpoints);
    const actual = await run(ours.nodes.map((n) => n.grpcAddress));
    assert.equal(firstDifference(expected, actual), null);
    // The transcript holds what matters, so an empty or failing session cannot pass by itself.
    const at = (i: number): string => expected.steps[i]!.result.stdout + expected.steps[i]!.result.stderr;
    assert.match(at(0), /^lease L1 granted with TTL\(60s\)/);
    assert.match(at(1), /^lease L2 granted with TTL\(2s\)/);
    assert.match(at(2), /^lease L2 revoked/);
    assert.match(at(3), /NotFound desc = etcdserver: requested lease not found/);
    assert.match(at(4), /^lease L3 granted with TTL\(2s\)/);
    assert.match(at(6), /^lease L2 already expired/);
    assert.equal(expected.steps[8]!.result.code, 2);
    assert.match(at(10), /^found 2 leases\nL1\nL4\n$/);
    assert.match(at(12), /^lease L1 granted with TTL\(60s\), remaining\(<ttl>\)/);
    assert.match(at(15), /^lease L1 keepalived with TTL\(60\)/);
    assert.match(at(16), /"ID":"L4","TTL":120/);
    assert.match(at(17), /OutOfRange desc = etcdserver: too large lease TTL/);
    assert.match(at(22), /^found 1 leases\nL4\n$/);
  } finally {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  }
});

/**
 * `etcdctl lease keep-alive ID` (the streaming form): started, left to renew twice, then the
 * lease is revoked from another etcdctl; the keep-alive reports it and exits. Output and exit
 * code, normalized, must be the same on both servers.
 */
async function keepAliveUntilRevoked(endpoints: string[]): Promise<{ code: number | null; stdout: string }> {
  const grant = await etcdctl(endpoints, ['lease', 'grant', '6']);
  const id = /^lease ([0-9a-f]+) granted/.exec(grant.stdout)![1]!;
  const child = spawn(ETCDCTL_BIN, ['--endpoints', endpoints.join(','), 'lease', 'keep-alive', id], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if ((stdout.match(/keepalived/g) ?? []).length >= 2) resolve();
      });
    });
    const revoked = await etcdctl(endpoints, ['lease', 'revoke', id]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    const norm = new Normalizer();
    // How many renewals fit before the revoke is timing, not behaviour: the first two are kept.
    const lines = norm.text(stdout).trimEnd().split('\n');
    const renewals = lines.filter((l) => l.includes('keepalived'));
    const rest = lines.filter((l) => !l.includes('keepalived'));
    return { code, stdout: [...renewals.slice(0, 2), ...rest].join('\n') };
  } finally {
    clearTimeout(killer);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

test('etcdctl lease keep-alive (streaming) renews every TTL/3 and reports the revoke, as against etcd 3.4', { timeout: 180_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  try {
    [etcd, ours] = await Promise.all([startEtcdCluster({ members: 1 }), startCluster({ nodes: 3 })]);
    const expected = await keepAliveUntilRevoked(etcd.endpoints);
    const actual = await keepAliveUntilRevoked(ours.nodes.map((n) => n.grpcAddress));
    assert.match(expected.stdout, /^lease L1 keepalived with TTL\(6\)\nlease L1 keepalived with TTL\(6\)\nlease L1 expired or revoked\.$/);
    assert.deepEqual(actual, expected);
  } finally {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  }
});
