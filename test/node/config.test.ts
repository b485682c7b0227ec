// Configuration: flag > env > file > default, validation with clear messages, exit code 2.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, fromFile, ConfigError } from '../../src/config/index.js';
import { parseArgs } from '../../src/cli/server.js';
import { inspect } from 'node:util';
import { REPO_ROOT } from '../support/cluster.js';

const peers = '1=127.0.0.1:1228,2=127.0.0.1:1238,3=127.0.0.1:1248';
/** Several members need a peer secret (or peer certificates): every multi-member config here names one. */
const secret = { peerSecretFile: '/run/secrets/peer' };

describe('config', () => {
  it('applies defaults and parses peers', () => {
    const c = resolveConfig({ id: '2', peers, ...secret }, {});
    assert.equal(c.id, 2);
    assert.equal(c.listen, '127.0.0.1:1228');
    assert.equal(c.http, '127.0.0.1:1227');
    assert.equal(c.peers.get(3), '127.0.0.1:1248');
    assert.equal(c.maxKeyBytes, 4096);
    assert.equal(c.maxValueBytes, 1024 * 1024);
    assert.equal(c.clusterId, 'placement');
    assert.equal(c.plantedBug, '');
    assert.equal(c.walPreallocateBytes, 4 * 1024 * 1024);
    assert.equal(c.grpcDirectUnary, true);
    assert.equal(c.grpcDirectStreams, true);
    assert.equal(resolveConfig({ id: '2', peers, ...secret }, { PLACEMENT_GRPC_DIRECT_STREAMS: 'false' }).grpcDirectStreams, false);
    assert.equal(c.etcdMetricNames, true);
    assert.equal(resolveConfig({ id: '2', peers, ...secret, etcdMetricNames: 'false' }, {}).etcdMetricNames, false);
  });

  it('uses precedence flag > env > file > default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-config-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify({ id: 1, peers: { 1: '127.0.0.1:1', 2: '127.0.0.1:2' }, tickMs: 11, electionTicks: 7, clusterId: 'from-file', maxKeyBytes: 10 }));
      const env = { PLACEMENT_TICK_MS: '22', PLACEMENT_CLUSTER_ID: 'from-env', PLACEMENT_PEER_SECRET_FILE: '/run/secrets/peer' };
      const c = resolveConfig({ tickMs: '33' }, env, fromFile(file));
      assert.equal(c.tickMs, 33);
      assert.equal(c.clusterId, 'from-env');
      assert.equal(c.electionTicks, 7);
      assert.equal(c.maxKeyBytes, 10);
      assert.equal(c.peers.size, 2);
      const viaCli = parseArgs(['--config', file, '--cluster-id', 'from-flag'], env);
      assert.equal(viaCli.clusterId, 'from-flag');
      assert.equal(viaCli.tickMs, 22);
      writeFileSync(file, JSON.stringify({ id: 1, bogus: true }));
      assert.throws(() => fromFile(file), /unknown key "bogus"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('explains what is wrong', () => {
    const bad = (flags: Record<string, string>, re: RegExp): void => {
      assert.throws(() => resolveConfig({ ...secret, ...flags }, {}), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message));
    };
    bad({ peers }, /id: required/);
    bad({ id: '0', peers }, /id \(--id \/ PLACEMENT_ID\): must be >= 1/);
    bad({ id: '4', peers }, /must include this node's id 4/);
    bad({ id: '1', peers: '1=nohost' }, /must be host:port/);
    bad({ id: '1', peers: 'x=127.0.0.1:1' }, /not a positive integer id/);
    bad({ id: '1', peers, heartbeatTicks: '10' }, /smaller than electionTicks/);
    bad({ id: '1', peers, dial: '9=127.0.0.1:5' }, /names id 9/);
    bad({ id: '1', peers, logLevel: 'loud' }, /logLevel/);
    bad({ id: '1', peers, walPreallocateBytes: '-1' }, /walPreallocateBytes \(--wal-preallocate-bytes \/ PLACEMENT_WAL_PREALLOCATE_BYTES\): must be >= 0/);
    bad({ id: '1', peers, walPreallocateBytes: String(128 * 1024 * 1024) }, /walPreallocateBytes .*must be <= 67108864/);
    bad({ id: '1', peers, raftLogMemoryBytes: '-1' }, /raftLogMemoryBytes \(--raft-log-memory-bytes \/ PLACEMENT_RAFT_LOG_MEMORY_BYTES\): must be >= 0/);
    bad({ id: '1', peers, raftLogMemoryBytes: '8MiB' }, /raftLogMemoryBytes/);
    bad({ id: '1', peers, etcdMetricNames: 'maybe' }, /etcdMetricNames \(--etcd-metric-names \/ PLACEMENT_ETCD_METRIC_NAMES\): must be true or false/);
  });

  it('the executable exits 2 on bad configuration and 0 for --help', async () => {
    const run = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/server.ts', ...args], { cwd: REPO_ROOT, env: { ...process.env, PLACEMENT_ID: '' } });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
        p.on('close', (status) => {
          clearTimeout(t);
          resolve({ status, stdout, stderr });
        });
      });
    const [r, u, h] = await Promise.all([run(['--id', '0', '--peers', peers, '--peer-secret-file', '/x']), run(['--no-such-flag']), run(['--help'])]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /invalid configuration/);
    assert.equal(u.status, 2);
    assert.equal(h.status, 0);
    for (const s of ['--id', '--data-dir', '--listen', '--http', '--peers', '--dial', '--cluster-id', 'PLACEMENT_PEERS', '--snapshot-every', '--raft-log-memory-bytes', '--config']) assert.ok(h.stdout.includes(s), s);
    for (const s of ['--cert-file', '--key-file', '--trusted-ca-file', '--client-cert-auth', '--peer-cert-file', '--peer-key-file', '--peer-trusted-ca-file', '--peer-client-cert-auth', '--peer-secret-file', '--peer-listen', 'PLACEMENT_CLIENT_CERT_AUTH']) {
      assert.ok(h.stdout.includes(s), s);
    }
  });

  it('peer traffic is authenticated by default: several members need a secret or peer client certificates', () => {
    const noSecret = (flags: Record<string, string>, env: Record<string, string> = {}): void => {
      assert.throws(() => resolveConfig(flags, env), /peerSecretFile \(--peer-secret-file \/ PLACEMENT_PEER_SECRET_FILE\): peer traffic must be authenticated/);
    };
    noSecret({ id: '1', peers });
    // One member: nothing to share yet (it generates its own secret when it starts).
    assert.equal(resolveConfig({ id: '1' }, {}).peerSecretFile, '');
    assert.equal(resolveConfig({ id: '1', peers }, { PLACEMENT_PEER_SECRET_FILE: '/s' }).peerSecretFile, '/s');
    const fromEnv = resolveConfig({ id: '1', peers }, { PLACEMENT_PEER_SECRET: 'x'.repeat(32) });
    assert.equal(fromEnv.peerSecret?.reveal(), 'x'.repeat(32));
    // The secret value never prints: not in JSON, not through util.inspect, not as a string.
    assert.ok(!JSON.stringify(fromEnv).includes('x'.repeat(32)));
    assert.ok(!inspect(fromEnv, { depth: 5 }).includes('x'.repeat(32)));
    assert.equal(String(fromEnv.peerSecret), '[redacted]');
    assert.throws(() => resolveConfig({ id: '1', peers }, { PLACEMENT_PEER_SECRET: 'short' }), /at least 32 characters/);
    assert.throws(() => resolveConfig({ id: '1', peers, peerSecretFile: '/s' }, { PLACEMENT_PEER_SECRET: 'x'.repeat(32) }), /give the peer secret once/);
    // Peer certificates instead of a secret.
    const certs = { peerListen: '127.0.0.1:2380', peerAddresses: '1=127.0.0.1:2380,2=127.0.0.1:2381,3=127.0.0.1:2382', peerCertFile: '/c', peerKeyFile: '/k', peerTrustedCaFile: '/ca' };
    noSecret({ id: '1', peers, ...certs });
    const c = resolveConfig({ id: '1', peers, ...certs, peerClientCertAuth: 'true' }, {});
    assert.equal(c.peerClientCertAuth, true);
    assert.equal(c.peerAddresses.get(3), '127.0.0.1:2382');
  });

  it('TLS settings: each port on its own, checked for consistency', () => {
    const ok = (flags: Record<string, string>, env: Record<string, string> = {}) => resolveConfig({ id: '1', peers, ...secret, ...flags }, env);
    const bad = (flags: Record<string, string>, re: RegExp): void => {
      assert.throws(() => ok(flags), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message), String(re));
    };
    const d = ok({});
    assert.deepEqual([d.certFile, d.keyFile, d.trustedCaFile, d.clientCertAuth, d.httpTls, d.peerListen], ['', '', '', false, 'client', '']);
    const t = ok({ certFile: '/c', keyFile: '/k', trustedCaFile: '/ca' }, { PLACEMENT_CLIENT_CERT_AUTH: '1', PLACEMENT_HTTP_TLS: 'no-client-cert' });
    assert.equal(t.clientCertAuth, true);
    assert.equal(t.httpTls, 'no-client-cert');
    // A switch given alone on the command line means true; "false" turns it off.
    assert.equal(parseArgs(['--id', '1', '--cert-file', '/c', '--key-file', '/k', '--trusted-ca-file', '/ca', '--client-cert-auth'], {}).clientCertAuth, true);
    assert.equal(parseArgs(['--id', '1', '--client-cert-auth', 'false'], {}).clientCertAuth, false);
    bad({ certFile: '/c' }, /keyFile \(--key-file \/ PLACEMENT_KEY_FILE\): required with --cert-file/);
    bad({ keyFile: '/k' }, /certFile .*required with --key-file/);
    bad({ trustedCaFile: '/ca' }, /trustedCaFile .*client certificates can only be checked with TLS on/);
    bad({ certFile: '/c', keyFile: '/k', clientCertAuth: 'true' }, /clientCertAuth .*needs --cert-file, --key-file and --trusted-ca-file/);
    bad({ clientCertAuth: 'maybe' }, /clientCertAuth .*must be true or false/);
    bad({ httpTls: 'no-client-cert' }, /httpTls .*no-client-cert/);
    bad({ httpTls: 'sometimes' }, /httpTls/);
    // Peer TLS lives on its own port.
    bad({ peerCertFile: '/c', peerKeyFile: '/k' }, /peerCertFile .*peer TLS needs its own port: set --peer-listen/);
    bad({ peerClientCertAuth: 'true' }, /peerClientCertAuth .*set --peer-listen/);
    bad({ peerListen: '127.0.0.1:2380' }, /peerAddresses .*must name the peer port of every member \(id 1 is missing\)/);
    bad({ peerAddresses: '1=127.0.0.1:2380' }, /peerAddresses .*only used with --peer-listen/);
    const pl = { peerListen: '127.0.0.1:2380', peerAddresses: '1=127.0.0.1:2380,2=127.0.0.1:2381,3=127.0.0.1:2382' };
    bad({ ...pl, peerAddresses: `${pl.peerAddresses},7=127.0.0.1:1` }, /peerAddresses .*names id 7/);
    bad({ ...pl, peerTrustedCaFile: '/ca' }, /peerTrustedCaFile .*needs --peer-cert-file/);
    bad({ ...pl, peerCertFile: '/c', peerKeyFile: '/k', peerClientCertAuth: 'true' }, /peerClientCertAuth .*needs --peer-cert-file, --peer-key-file and --peer-trusted-ca-file/);
    const p = ok({ ...pl, peerCertFile: '/c', peerKeyFile: '/k', peerTrustedCaFile: '/ca', peerClientCertAuth: 'true' });
    assert.equal(p.peerListen, '127.0.0.1:2380');
  });
});
