// Python's etcd clients, unchanged, against etcd 3.4 and against us: python3-etcd3gw (OpenStack's
// client, which tooz uses for locks and group membership; it speaks etcd's JSON gateway) and
// python3-etcd3 (gRPC), both from Debian. Each runs one session (test/etcd/python/*.py: KV, txn,
// leases, locks, watches, compaction, errors) against a fresh 3-member etcd and a fresh 3-node
// Placement Center, and the lines they print must be the same, revisions and error texts included.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cluster.js';
import { etcdAndOurs } from '../support/differential.js';

/** Debian's interpreter, where the apt packages are (a python3 earlier on PATH may not see them). */
const PYTHON = process.env.PYTHON_BIN ?? '/usr/bin/python3';

function requirePython(module: string, pkg: string): void {
  const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PYTHON} cannot import ${module}: \`apt-get install -y ${pkg}\` provides it (.ci/run installs it)\n${r.stderr}`);
}

/** Runs one session script against host:port; its printed lines, or the error with what it printed. */
function session(script: string, address: string): Promise<string[]> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [join(REPO_ROOT, 'test', 'etcd', 'python', script), address.slice(0, i), address.slice(i + 1)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', (e) => reject(e));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trimEnd().split('\n'));
      else reject(new Error(`${script} against ${address} exited ${code}:\n${out}\n${err}`));
    });
  });
}

function compare(script: string, etcd: string[], ours: string[]): void {
  const i = etcd.findIndex((line, k) => line !== ours[k]);
  assert.deepEqual(ours, etcd, `${script}: first difference at line ${i + 1}:\n  etcd: ${etcd[i]}\n  ours: ${ours[i]}`);
}

describe('Python etcd clients, compared with etcd 3.4', () => {
  const pair = etcdAndOurs();

  test('python3-etcd3gw (the JSON gateway): the same session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('etcd3gw', 'python3-etcd3gw');
    const etcd = await session('etcd3gw_session.py', pair.etcd.endpoints[0]!);
    const ours = await session('etcd3gw_session.py', pair.ours.nodes[0]!.grpcAddress);
    assert.ok(etcd.length >= 40, `etcd's session printed ${etcd.length} lines`);
    compare('etcd3gw', etcd, ours);
  });

  test('python3-etcd3 (gRPC): the same session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('etcd3', 'python3-etcd3');
    const etcd = await session('etcd3_session.py', pair.etcd.endpoints[1]!);
    const ours = await session('etcd3_session.py', pair.ours.nodes[1]!.grpcAddress);
    assert.ok(etcd.length >= 40, `etcd's session printed ${etcd.length} lines`);
    compare('etcd3', etcd, ours);
  });
});
