// tooz, OpenStack's coordination library (Debian's python3-tooz, its etcd3+http driver unchanged,
// over etcd's JSON gateway), compared with etcd 3.4: test/etcd/python/tooz_session.py runs four
// coordinators through locks (contention, timeouts, heartbeats, break, leases that expire) and group
// membership (create, join, capabilities, leave, delete and their errors, stop) against a fresh
// 3-member etcd and a fresh 3-node Placement Center; both must print the same lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cluster.js';
import { etcdAndOurs } from '../support/differential.js';

/** Debian's interpreter, where the apt packages are (a python3 earlier on PATH may not see them). */
const PYTHON = process.env.PYTHON_BIN ?? '/usr/bin/python3';
const SCRIPT = join(REPO_ROOT, 'test', 'etcd', 'python', 'tooz_session.py');

function requirePython(module: string, pkg: string): void {
  const r = spawnSync(PYTHON, ['-c', `import ${module}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${PYTHON} cannot import ${module}: \`apt-get install -y ${pkg}\` provides it (.ci/run installs it)\n${r.stderr}`);
}

/** Runs the session against host:port; its printed lines, or the error with what it printed. */
function session(address: string): Promise<string[]> {
  const i = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, address.slice(0, i), address.slice(i + 1)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', (e) => reject(e));
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trimEnd().split('\n'));
      else reject(new Error(`tooz_session.py against ${address} exited ${code}:\n${out}\n${err}`));
    });
  });
}

describe("tooz's etcd3+http driver, compared with etcd 3.4", () => {
  const pair = etcdAndOurs();

  test('the same coordination session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('tooz.coordination, tooz.drivers.etcd3gw', 'python3-tooz');
    const etcd = await session(pair.etcd.endpoints[0]!);
    const ours = await session(pair.ours.nodes[0]!.grpcAddress);
    assert.ok(etcd.length >= 100, `etcd's session printed ${etcd.length} lines:\n${etcd.join('\n')}`);
    for (const line of [
      'started, hearts beating: [[true, true], [true, false], [true, true], [true, false]]',
      'bob acquire(blocking=False) while alice holds it: false',
      'bob acquire(blocking=True) returns once alice released: [true, "waited"]',
      'get_members g1: ["alice", "bob"]',
      'get_member_capabilities g1 alice, updated: {"role": "conductor", "tags": ["a", "b"], "weight": 2}',
      'alice acquire(blocking=20) dave-res once dave\'s lease expired: [true, "after ttl"]',
      'carol still holds carol-res past the ttl: [false, true]',
      'get_groups at the end: []',
    ]) {
      assert.ok(etcd.includes(line), `etcd's session lacks ${JSON.stringify(line)}:\n${etcd.join('\n')}`);
    }
    const i = etcd.findIndex((line, k) => line !== ours[k]);
    assert.deepEqual(ours, etcd, `first difference at line ${i + 1}:\n  etcd: ${etcd[i]}\n  ours: ${ours[i]}`);
  });
});
