// Patroni's etcd3 DCS (Debian's patroni 3.0.2, unchanged, over etcd's JSON gateway), compared with
// etcd 3.4 without PostgreSQL: test/etcd/python/patroni_session.py drives two Patroni "nodes" through
// the DCS calls Patroni's HA loop makes (initialize, members, the leader race and its CAS writes,
// config/failover/sync/history/status keys, watch wake-ups, a leader lease that expires) against a
// fresh 3-member etcd and a fresh 3-node Placement Center; both must print the same lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cluster.js';
import { etcdAndOurs } from '../support/differential.js';

/** Debian's interpreter, where the apt packages are (a python3 earlier on PATH may not see them). */
const PYTHON = process.env.PYTHON_BIN ?? '/usr/bin/python3';
const SCRIPT = join(REPO_ROOT, 'test', 'etcd', 'python', 'patroni_session.py');

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
      else reject(new Error(`patroni_session.py against ${address} exited ${code}:\n${out}\n${err}`));
    });
  });
}

describe("Patroni's etcd3 DCS, compared with etcd 3.4", () => {
  const pair = etcdAndOurs();

  test('the same HA-loop session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('patroni.dcs.etcd3', 'patroni');
    const etcd = await session(pair.etcd.endpoints[0]!);
    const ours = await session(pair.ours.nodes[0]!.grpcAddress);
    assert.ok(etcd.length >= 60, `etcd's session printed ${etcd.length} lines:\n${etcd.join('\n')}`);
    for (const line of [
      'Etcd3() for pg1 and pg2: "ok"',
      'pg1 attempt_to_acquire_leader: true',
      'pg2 watch, the leader key goes: [true, true, "woken"]',
      'pg2 attempt_to_acquire_leader: true',
      'pg2 acquires once the lease expired: [true, "after ttl"]',
    ]) {
      assert.ok(etcd.includes(line), `etcd's session lacks ${JSON.stringify(line)}:\n${etcd.join('\n')}`);
    }
    const i = etcd.findIndex((line, k) => line !== ours[k]);
    assert.deepEqual(ours, etcd, `first difference at line ${i + 1}:\n  etcd: ${etcd[i]}\n  ours: ${ours[i]}`);
  });
});
