// placement-ctl watch (a real child process) against a real 3-node cluster: lines per event with
// --prev-kv, --json per revision, --rev replays history, the member it watches on is kill -9'd
// and it carries on from another one without a gap or a repeat, Ctrl-C exits 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { startCluster, type Cluster } from '../support/cluster.js';
import { PlacementClient } from '../../src/client/index.js';
import { ctlCommand } from './support/run-ctl.js';

interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
}

async function startWatch(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [...(await ctlCommand()), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return { child, out: () => out, err: () => err };
}

async function interrupt(r: Running): Promise<number | null> {
  const exited = once(r.child, 'exit');
  r.child.kill('SIGINT');
  const killer = setTimeout(() => r.child.pid && process.kill(r.child.pid, 'SIGKILL'), 10_000);
  const [code] = (await exited) as [number | null];
  clearTimeout(killer);
  return code;
}

describe('placement-ctl watch', { timeout: 240_000 }, () => {
  let c: Cluster;
  let client: PlacementClient;
  before(async () => {
    c = await startCluster({ nodes: 3 });
    await c.waitForLeader();
    client = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress) });
  });
  after(async () => {
    client?.close();
    await c?.stop();
  });

  it('streams one line per event with --prev-kv, resumes after kill -9 of its member, exits 0 on Ctrl-C', async () => {
    const leader = await c.waitForLeader();
    const member = c.nodes.find((n) => n.id !== leader)!;
    const first = (await client.kv.set('w/a', '1')).revision;
    const r = await startWatch(['--endpoints', member.grpcAddress, 'watch', 'w/', '--prefix', '--prev-kv', '--rev', String(first)]);
    try {
      await c.waitFor(async () => r.out().includes(`${first} PUT w/a 1`), { what: 'the replayed first event' });
      await client.kv.set('w/a', '2');
      await client.kv.set('w/b', '3');
      await c.waitFor(async () => r.out().includes('w/b 3'), { what: 'live events' });
      await c.kill(member.id);
      await client.kv.set('w/a', '4');
      const d = await client.kv.delete('w/b');
      await c.waitFor(async () => r.out().includes(`${d.revision} DELETE`), { timeoutMs: 30_000, what: 'events after the member died' });
      assert.equal(await interrupt(r), 0, r.err());
      assert.equal(
        r.out(),
        [
          `${first} PUT w/a 1 (prev: -)`,
          `${first + 1} PUT w/a 2 (prev: 1)`,
          `${first + 2} PUT w/b 3 (prev: -)`,
          `${first + 3} PUT w/a 4 (prev: 2)`,
          `${first + 4} DELETE w/b (prev: 3)`,
          '',
        ].join('\n'),
      );
    } finally {
      if (r.child.exitCode === null && r.child.pid) process.kill(r.child.pid, 'SIGKILL');
      await c.start(member.id);
    }
  });

  it('--json prints one object per revision', async () => {
    const rev = (await client.kv.set('j/x', 'v')).revision;
    const r = await startWatch(['--endpoints', c.nodes.map((n) => n.grpcAddress).join(','), '--json', 'watch', 'j/x', '--rev', String(rev)]);
    try {
      await c.waitFor(async () => r.out().includes('\n'), { what: 'a line' });
      assert.equal(await interrupt(r), 0);
      assert.deepEqual(JSON.parse(r.out()), {
        revision: rev,
        events: [{ type: 'PUT', kv: { key: 'j/x', value: 'v', createRevision: rev, modRevision: rev, version: 1, lease: 0 } }],
      });
    } finally {
      if (r.child.exitCode === null && r.child.pid) process.kill(r.child.pid, 'SIGKILL');
    }
  });
});
