// placement-ctl elect / lock (real child processes) against a real single-member cluster, and
// mixed with etcdctl (3.4) on the same names: they queue on the same keys, print what etcdctl
// prints, release on Ctrl-C, and run a command holding the lock.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { startCluster, type Cluster } from '../support/cluster.js';
import { ETCDCTL_BIN } from '../support/etcdctl.js';
import { PlacementClient } from '../../src/client/index.js';
import { ctlCommand, runCtl } from './support/run-ctl.js';

const EXIT = { OK: 0, FAILURE: 1, USAGE: 2 };

/** A long-running child (a holder or a waiter): output so far, and its exit. */
class Proc {
  out = '';
  err = '';
  readonly closed: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.stdout!.on('data', (d: Buffer) => (this.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.err += d.toString()));
    this.closed = new Promise((r) => child.once('close', (code) => r(code)));
  }
  signal(sig: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) process.kill(this.child.pid!, sig);
  }
}

describe('placement-ctl elect and lock', { timeout: 180_000 }, () => {
  let c: Cluster;
  let ep: string;
  let client: PlacementClient;
  const procs: Proc[] = [];
  const ctl = (...args: string[]) => runCtl(['--endpoints', ep, ...args]);
  const startCtl = async (...args: string[]): Promise<Proc> => {
    const p = new Proc(spawn(process.execPath, [...(await ctlCommand()), '--endpoints', ep, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    procs.push(p);
    return p;
  };
  const startEtcdctl = (...args: string[]): Proc => {
    const p = new Proc(spawn(ETCDCTL_BIN, ['--endpoints', ep, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } }));
    procs.push(p);
    return p;
  };
  const count = async (prefix: string): Promise<number> => (await client.etcd.range(prefix, { prefix: true, countOnly: true })).count;

  before(async () => {
    c = await startCluster({ nodes: 1 });
    ep = c.nodes[0]!.grpcAddress;
    client = new PlacementClient({ endpoints: [ep] });
  });
  after(async () => {
    for (const p of procs) p.signal('SIGKILL');
    client?.close();
    await c?.stop();
  });

  it('usage errors exit 2 and write nothing', async () => {
    for (const args of [['elect', 'e0'], ['elect', '-l', 'e0', 'x'], ['lock'], ['elect', 'e0', 'x', '--ttl', 'soon']]) {
      const r = await ctl(...args);
      assert.equal(r.code, EXIT.USAGE, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    }
    assert.equal(await count('e0/'), 0);
  });

  it('lock -- command runs the command holding the lock, with the key and token in its environment, then unlocks', async () => {
    const r = await ctl('lock', 'l1', '--', 'sh', '-c', 'echo "$ETCD_LOCK_KEY $PLACEMENT_FENCING_TOKEN"; test "$ETCD_LOCK_REV" = "$PLACEMENT_FENCING_TOKEN"');
    assert.equal(r.code, EXIT.OK, r.stderr);
    const m = /^(l1\/[0-9a-f]+) (\d+)\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(await count('l1/'), 0, 'the lock key was left behind');
    const failed = await ctl('lock', 'l1', '--', 'sh', '-c', 'exit 3');
    assert.equal(failed.code, EXIT.FAILURE);
    assert.match(failed.stderr, /exited with code 3/);
    assert.equal(await count('l1/'), 0);
  });

  it('elect holds until Ctrl-C while a second candidate waits; the observer sees both; etcdctl elect -l agrees', async () => {
    const observer = await startCtl('elect', '-l', 'e1');
    const etcdObserver = startEtcdctl('elect', '-l', 'e1');
    const first = await startCtl('elect', 'e1', 'one');
    await c.waitFor(async () => first.out.endsWith('one\n'), { what: 'the first candidate elected' });
    const key1 = first.out.split('\n')[0]!;
    assert.match(key1, /^e1\/[0-9a-f]+$/);
    assert.equal(first.out, `${key1}\none\n`);
    const second = await startCtl('elect', 'e1', 'two');
    await c.waitFor(async () => (await count('e1/')) === 2, { what: 'the second candidate queued' });
    assert.equal(second.out, '');
    first.signal('SIGINT');
    assert.equal(await first.closed, EXIT.OK, first.err);
    await c.waitFor(async () => second.out.endsWith('two\n'), { what: 'the second candidate elected' });
    const key2 = second.out.split('\n')[0]!;
    const expected = `${key1}\none\n${key2}\ntwo\n`;
    await c.waitFor(async () => observer.out === expected && etcdObserver.out === expected, { what: `both observers printing ${JSON.stringify(expected)}` });
    second.signal('SIGINT');
    assert.equal(await second.closed, EXIT.OK, second.err);
    observer.signal('SIGINT');
    etcdObserver.signal('SIGINT');
    assert.equal(await observer.closed, EXIT.OK, observer.err);
    assert.equal(await count('e1/'), 0);
  });

  it('placement-ctl lock and etcdctl lock exclude each other on the same name', async () => {
    const holder = await startCtl('lock', 'l2');
    await c.waitFor(async () => /^l2\/[0-9a-f]+\n\n$/.test(holder.out), { what: 'placement-ctl holds l2' });
    const waiter = startEtcdctl('lock', 'l2', 'echo', 'etcdctl-ran');
    await c.waitFor(async () => (await count('l2/')) === 2, { what: 'etcdctl queued' });
    assert.equal(waiter.out, '');
    holder.signal('SIGINT');
    assert.equal(await holder.closed, EXIT.OK, holder.err);
    assert.equal(await waiter.closed, EXIT.OK, waiter.err);
    assert.equal(waiter.out, 'etcdctl-ran\n');
    assert.equal(await count('l2/'), 0);
  });
});
