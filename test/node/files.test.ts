// Files a node keeps private: an existing data dir (and its WAL, snapshot and state-machine
// directories) with loose permissions is tightened to 0700 on start (etcd CVE-2020-15113); a
// single-member cluster without a configured secret generates one in its data dir, 0600, and
// keeps it across restarts; a secret file readable by others is tightened; an unusable secret
// or certificate file stops the node with exit code 2 and a message naming it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, startCluster } from '../support/cluster.js';

const mode = (p: string): number => statSync(p).mode & 0o777;

function runServer(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/server.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, PLACEMENT_LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stderr });
    });
  });
}

describe('private files', { timeout: 120_000 }, () => {
  const roots: string[] = [];
  after(() => {
    for (const r of roots) rmSync(r, { recursive: true, force: true });
  });

  it('tightens a loose existing data dir; a single member generates and keeps its peer secret', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pc-files-'));
    roots.push(root);
    const data = join(root, 'node-1');
    for (const d of ['', 'wal', 'snap', 'sm']) mkdirSync(join(data, d), { recursive: true });
    for (const d of ['', 'wal', 'snap', 'sm']) chmodSync(join(data, d), 0o777);
    const c = await startCluster({ nodes: 1, dataDir: root, keepData: true, nodeEnv: () => ({ PLACEMENT_PEER_SECRET_FILE: '' }) });
    try {
      for (const d of ['', 'wal', 'snap', 'sm']) assert.equal(mode(join(data, d)), 0o700, `${d || 'data dir'} is private`);
      const secretFile = join(data, 'peer-secret');
      assert.equal(mode(secretFile), 0o600);
      const secret = readFileSync(secretFile, 'utf8');
      assert.match(secret, /^[0-9a-f]{64}\n$/);
      assert.match(c.logs(1), /generated this single-member cluster's peer secret/);
      assert.ok(!c.logs(1).includes(secret.trim()), 'the secret itself is not logged');
      await c.restart(1);
      assert.equal(readFileSync(secretFile, 'utf8'), secret, 'reused after a restart');
    } finally {
      await c.stop();
    }
  });

  it('tightens a peer secret file readable by others', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pc-files-'));
    roots.push(root);
    const secretFile = join(root, 'shared-secret');
    writeFileSync(secretFile, `${'ab'.repeat(32)}\n`);
    chmodSync(secretFile, 0o644);
    const c = await startCluster({ nodes: 1, dataDir: root, keepData: true, nodeEnv: () => ({ PLACEMENT_PEER_SECRET_FILE: secretFile }) });
    try {
      assert.equal(mode(secretFile), 0o600);
      assert.match(c.logs(1), /peer secret file was readable by other users: permissions tightened/);
    } finally {
      await c.stop();
    }
  });

  it('an unusable secret or certificate file stops the node with exit code 2, naming the file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'pc-files-'));
    roots.push(root);
    const short = join(root, 'short');
    writeFileSync(short, 'too-short\n', { mode: 0o600 });
    const base = ['--id', '1', '--data-dir', join(root, 'd'), '--listen', '127.0.0.1:0', '--http', 'off'];
    const r1 = await runServer([...base, '--peer-secret-file', short]);
    assert.equal(r1.code, 2, r1.stderr);
    assert.match(r1.stderr, /invalid configuration:\n {2}peer secret file .*short: the secret must be at least 32 characters \(got 9\)/);
    const r2 = await runServer([...base, '--peer-secret-file', join(root, 'missing')]);
    assert.equal(r2.code, 2);
    assert.match(r2.stderr, /peer secret file .*missing: ENOENT/);
    const r3 = await runServer([...base, '--cert-file', join(root, 'no.crt'), '--key-file', join(root, 'no.key')]);
    assert.equal(r3.code, 2);
    assert.match(r3.stderr, /certificate .*no\.crt: ENOENT/);
    assert.doesNotMatch(r1.stderr + r2.stderr + r3.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  });
});
