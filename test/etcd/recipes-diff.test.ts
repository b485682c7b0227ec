// Differential: the same etcdctl `elect` / `lock` scenario against a real etcd 3.4 and against a
// 3-member Placement Center cluster gives the same transcript: what the observer, each candidate
// and a lock holder's command print, and their exit codes. Contender keys end in the lease id in
// hex, which differs between the servers (etcd's are random): each is written as L1, L2… in order
// of first appearance.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { poll, startCluster, type Cluster } from '../support/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { ETCDCTL_BIN, etcdctl } from '../support/etcdctl.js';

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

async function scenario(endpoints: string[], procs: Proc[]): Promise<string> {
  const start = (...args: string[]): Proc => {
    const p = new Proc(spawn(ETCDCTL_BIN, ['--endpoints', endpoints.join(','), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } }));
    procs.push(p);
    return p;
  };
  const keys = async (prefix: string): Promise<number> => {
    const r = await etcdctl(endpoints, ['get', prefix, '--prefix', '--keys-only']);
    return r.stdout.split('\n').filter((l) => l !== '').length;
  };
  const observer = start('elect', '-l', 'd/e');
  const one = start('elect', 'd/e', 'one');
  await poll(async () => one.out.endsWith('one\n'), { what: 'one elected' });
  const two = start('elect', 'd/e', 'two');
  await poll(async () => (await keys('d/e/')) === 2, { what: 'two a candidate' });
  const twoBefore = two.out;
  one.signal('SIGINT');
  const oneCode = await one.closed;
  await poll(async () => two.out.endsWith('two\n'), { what: 'two elected' });
  await poll(async () => observer.out.split('\n').length >= 5, { what: 'two observed' });
  two.signal('SIGINT');
  const twoCode = await two.closed;
  observer.signal('SIGINT');
  const observerCode = await observer.closed;
  const holder = start('lock', 'd/l');
  await poll(async () => holder.out.includes('\n'), { what: 'the lock held' });
  const cmd = start('lock', 'd/l', '--', 'sh', '-c', 'echo "got $ETCD_LOCK_KEY"');
  await poll(async () => (await keys('d/l/')) === 2, { what: 'the command queued' });
  const cmdBefore = cmd.out;
  holder.signal('SIGINT');
  const holderCode = await holder.closed;
  const cmdCode = await cmd.closed;
  return [
    `one: ${JSON.stringify(one.out)} exit ${oneCode}`,
    `two before one resigned: ${JSON.stringify(twoBefore)}`,
    `two: ${JSON.stringify(two.out)} exit ${twoCode}`,
    `observer: ${JSON.stringify(observer.out)} exit ${observerCode}`,
    `holder: ${JSON.stringify(holder.out)} exit ${holderCode}`,
    `command before the holder left: ${JSON.stringify(cmdBefore)}`,
    `command: ${JSON.stringify(cmd.out)} exit ${cmdCode}`,
    `keys left: ${await keys('d/')}`,
  ].join('\n');
}

function normalize(transcript: string): string {
  const ids = new Map<string, string>();
  return transcript.replace(/(d\/[el]\/)([0-9a-f]+)/g, (_, p: string, hex: string) => {
    if (!ids.has(hex)) ids.set(hex, `L${ids.size + 1}`);
    return p + ids.get(hex)!;
  });
}

test('etcdctl elect and lock: the same transcript against etcd 3.4 and Placement Center', { timeout: 240_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  const procs: Proc[] = [];
  try {
    etcd = await startEtcdCluster({ members: 3 });
    ours = await startCluster({ nodes: 3 });
    const expected = normalize(await scenario(etcd.endpoints, procs));
    const actual = normalize(await scenario(ours.nodes.map((n) => n.grpcAddress), procs));
    assert.equal(actual, expected);
    assert.match(expected, /observer: "d\/e\/L1\\none\\nd\/e\/L2\\ntwo\\n" exit 0/);
  } finally {
    for (const p of procs) p.signal('SIGKILL');
    await etcd?.stop();
    await ours?.stop();
  }
});
