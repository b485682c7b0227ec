// Configuration: flag > env > file > default, validation with clear messages, exit code 2.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, fromFile, ConfigError } from '../../src/config/index.js';
import { parseArgs } from '../../src/cli/server.js';
import { REPO_ROOT } from '../support/cluster.js';

const peers = '1=127.0.0.1:1228,2=127.0.0.1:1238,3=127.0.0.1:1248';

describe('config', () => {
  it('applies defaults and parses peers', () => {
    const c = resolveConfig({ id: '2', peers }, {});
    assert.equal(c.id, 2);
    assert.equal(c.listen, '127.0.0.1:1228');
    assert.equal(c.http, '127.0.0.1:1227');
    assert.equal(c.peers.get(3), '127.0.0.1:1248');
    assert.equal(c.maxKeyBytes, 4096);
    assert.equal(c.maxValueBytes, 1024 * 1024);
    assert.equal(c.clusterId, 'placement');
    assert.equal(c.plantedBug, '');
  });

  it('uses precedence flag > env > file > default', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-config-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify({ id: 1, peers: { 1: '127.0.0.1:1', 2: '127.0.0.1:2' }, tickMs: 11, electionTicks: 7, clusterId: 'from-file', maxKeyBytes: 10 }));
      const env = { PLACEMENT_TICK_MS: '22', PLACEMENT_CLUSTER_ID: 'from-env' };
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
      assert.throws(() => resolveConfig(flags, {}), (e: unknown) => e instanceof ConfigError && re.test((e as Error).message));
    };
    bad({ peers }, /id: required/);
    bad({ id: '0', peers }, /id \(--id \/ PLACEMENT_ID\): must be >= 1/);
    bad({ id: '4', peers }, /must include this node's id 4/);
    bad({ id: '1', peers: '1=nohost' }, /must be host:port/);
    bad({ id: '1', peers: 'x=127.0.0.1:1' }, /not a positive integer id/);
    bad({ id: '1', peers, heartbeatTicks: '10' }, /smaller than electionTicks/);
    bad({ id: '1', peers, dial: '9=127.0.0.1:5' }, /names id 9/);
    bad({ id: '1', peers, logLevel: 'loud' }, /logLevel/);
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
    const [r, u, h] = await Promise.all([run(['--id', '0', '--peers', peers]), run(['--no-such-flag']), run(['--help'])]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /invalid configuration/);
    assert.equal(u.status, 2);
    assert.equal(h.status, 0);
    for (const s of ['--id', '--data-dir', '--listen', '--http', '--peers', '--dial', '--cluster-id', 'PLACEMENT_PEERS', '--snapshot-every', '--config']) assert.ok(h.stdout.includes(s), s);
  });
});
