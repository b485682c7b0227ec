// placement-ctl lease … (real child process) against a real single-member cluster: grant, keys
// attached with kv put --lease, timetolive --keys, keep-alive --once and until interrupted, list,
// revoke deleting the keys, and the not-found exit code on every command that names a lease.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { startCluster, type Cluster } from '../support/cluster.js';
import { CTL_ENTRY, runCtl } from './support/run-ctl.js';

const EXIT = { OK: 0, USAGE: 2, NOT_FOUND: 4 };

describe('placement-ctl lease', { timeout: 180_000 }, () => {
  let c: Cluster;
  let ep: string;
  const ctl = (...args: string[]) => runCtl(['--endpoints', ep, ...args]);

  before(async () => {
    c = await startCluster({ nodes: 1 });
    ep = c.nodes[0]!.grpcAddress;
  });
  after(async () => {
    await c?.stop();
  });

  it('grant, kv put --lease, timetolive --keys, keep-alive --once, list, revoke', async () => {
    const g = await ctl('lease', 'grant', '60');
    assert.equal(g.code, EXIT.OK, g.stderr);
    const id = /^lease (\d+) granted with TTL 60s\n$/.exec(g.stdout)?.[1];
    assert.ok(id, g.stdout);
    const gj = await ctl('--json', 'lease', 'grant', '1');
    assert.deepEqual(Object.keys(JSON.parse(gj.stdout)), ['id', 'ttlSeconds']);
    assert.equal(JSON.parse(gj.stdout).ttlSeconds, 2, 'raised to the minimum TTL');

    assert.equal((await ctl('kv', 'put', '/l/a', '1', '--lease', id)).code, EXIT.OK);
    assert.equal((await ctl('kv', 'put', '/l/b', '2', '--lease', id)).code, EXIT.OK);
    const t = await ctl('lease', 'timetolive', id, '--keys');
    assert.equal(t.code, EXIT.OK, t.stderr);
    // Each command is a process start (seconds on a loaded machine): the time left is only bounded.
    const left = new RegExp(`^lease ${id} granted with TTL 60s, remaining (\\d+)s\\n/l/a\\n/l/b\\n$`).exec(t.stdout);
    assert.ok(left && Number(left[1]) > 30 && Number(left[1]) <= 60, t.stdout);
    const tj = JSON.parse((await ctl('--json', 'lease', 'timetolive', id)).stdout) as Record<string, unknown>;
    assert.equal(tj.found, true);
    assert.equal(tj.grantedTtlSeconds, 60);

    const k = await ctl('lease', 'keep-alive', '--once', id);
    assert.equal(k.stdout, `lease ${id} keepalived with TTL 60s\n`);
    const list = await ctl('lease', 'list');
    assert.ok(list.stdout.split('\n').includes(id), list.stdout);

    const r = await ctl('lease', 'revoke', id);
    assert.equal(r.stdout, `lease ${id} revoked\n`);
    assert.equal((await ctl('kv', 'get', '/l/a')).code, EXIT.NOT_FOUND, 'the revoke deleted the attached keys');
    for (const args of [
      ['lease', 'revoke', id],
      ['lease', 'keep-alive', '--once', id],
      ['lease', 'timetolive', id],
      ['kv', 'put', '/l/c', 'x', '--lease', id],
    ]) {
      const res = await ctl(...args);
      assert.equal(res.code, EXIT.NOT_FOUND, `${args.join(' ')}: ${res.stdout}${res.stderr}`);
      assert.match(res.stderr, /not found/);
    }
    assert.deepEqual(JSON.parse((await ctl('--json', 'lease', 'timetolive', id)).stdout), { id: Number(id), found: false });
    assert.equal((await ctl('lease', 'grant', 'soon')).code, EXIT.USAGE);
    assert.equal((await ctl('lease', 'revoke', '-1')).code, EXIT.USAGE);
  });

  it('keep-alive without --once renews every TTL/3 until interrupted', async () => {
    // TTL 9 s: the child's first keep-alive must come before the TTL runs out, and starting it
    // through tsx takes seconds on a loaded machine.
    const id = /^lease (\d+)/.exec((await ctl('lease', 'grant', '9')).stdout)![1]!;
    const child = spawn(process.execPath, ['--import', 'tsx', CTL_ENTRY, '--endpoints', ep, 'lease', 'keep-alive', id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // Three renewals, or the child's early exit (a failure named below instead of a hang).
    const renewals = new Promise<void>((resolve) => {
      child.once('close', () => resolve());
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').filter((l) => l.includes('keepalived')).length >= 3) resolve();
      });
    });
    try {
      await renewals;
      assert.ok(child.exitCode === null && child.signalCode === null, `keep-alive exited early (${child.exitCode}): ${out}${err}`);
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
      assert.equal(code, EXIT.OK, out);
      assert.match(out, new RegExp(`^(lease ${id} keepalived with TTL 9s\\n){3,}$`));
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
