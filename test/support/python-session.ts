// Running a Python client session (test/etcd/python/*.py) against one member or etcd endpoint,
// for the differential tests that compare what Debian's Python etcd clients print against etcd 3.4
// and against us (python-clients-diff, patroni-diff, tooz-diff).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './cluster.js';

/** Debian's interpreter, where the apt packages are (a python3 earlier on PATH may not see them). */
export const PYTHON = process.env.PYTHON_BIN ?? '/usr/bin/python3';

/** Fails with the apt package to install when `module` (comma-separated modules too) does not import. */
export function requirePython(module: string, pkg: string): void {
  const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PYTHON} cannot import ${module}: \`apt-get install -y ${pkg}\` provides it (.ci/run installs it)\n${r.stderr}`);
}

/** Runs test/etcd/python/`script` against host:port; its printed lines, or the error with what it printed. */
export function pythonSession(script: string, address: string): Promise<string[]> {
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

/** The two transcripts are equal; the message names the first line that differs. */
export function sameLines(what: string, etcd: string[], ours: string[]): void {
  const i = etcd.findIndex((line, k) => line !== ours[k]);
  assert.deepEqual(ours, etcd, `${what}: first difference at line ${i + 1}:\n  etcd: ${etcd[i]}\n  ours: ${ours[i]}`);
}
