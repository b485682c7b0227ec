// etcd's own tools as clients of Placement Center, each run the same way against a real 3-member
// etcd 3.4 and compared:
// - `etcd grpc-proxy` (watch coalescing, its own lease keep-alive streams, its KV cache) in front
//   of each cluster: the scripted etcdctl KV session, a watch, leases and a lock through it;
// - `etcdctl make-mirror` from each cluster into the other: its initial copy (a Range at one
//   revision) and then its watch from the next revision, replayed as Txns on the destination;
// - `etcdctl check datascale`, which also reads the member's /metrics on its client URL.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { freePorts } from '../support/cluster.js';
import { etcdAndOurs } from '../support/differential.js';
import { ETCD_BIN } from '../support/etcd.js';
import { ETCDCTL_BIN, etcdctl, etcdctlWatch, firstDifference, Normalizer, runSession } from '../support/etcdctl.js';
import { SESSION } from './kv-session.js';

const children: ChildProcess[] = [];

function spawnKept(cmd: string, args: string[]): { child: ChildProcess; output: () => string } {
  let out = '';
  const child = spawn(cmd, args, { env: { ...process.env, ETCDCTL_API: '3' }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  children.push(child);
  return { child, output: () => out };
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  const closed = new Promise<void>((r) => child.once('close', () => r()));
  process.kill(child.pid, 'SIGKILL');
  return closed;
}

/** Retries `probe` until it holds (each try is a real request, so no sleep stands in for an event). */
async function until(what: string, probe: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`${what}: not after ${ms} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

/** `etcd grpc-proxy start` in front of `endpoints`; resolves once it answers a Range. */
async function grpcProxy(endpoints: string[]): Promise<string> {
  const [port, metrics] = await freePorts(2);
  const p = spawnKept(ETCD_BIN, ['grpc-proxy', 'start', '--endpoints', endpoints.join(','), '--listen-addr', `127.0.0.1:${port}`, '--metrics-addr', `http://127.0.0.1:${metrics}`]);
  const ep = `127.0.0.1:${port}`;
  await until(`grpc-proxy on ${ep}`, async () => {
    if (p.child.exitCode !== null) throw new Error(`grpc-proxy exited ${p.child.exitCode}:\n${p.output()}`);
    return (await etcdctl([ep], ['get', 'proxy-ready'])).code === 0;
  });
  return ep;
}

/** A watch, leases and a lock through `ep`, normalized (lease ids, cluster and member ids, terms). */
async function watchLeaseLock(ep: string): Promise<string> {
  const n = new Normalizer();
  const steps: string[] = [];
  const ctl = async (...args: string[]): Promise<string> => {
    const r = await etcdctl([ep], args);
    const line = `$ ${args.join(' ')}\n[${r.code}] ${r.stdout}${r.stderr}`;
    steps.push(line);
    return r.stdout;
  };
  let id = '';
  // The watch starts at the next revision and its first event is a marker: the writes below wait
  // for it, so none races the watch's creation through the proxy (etcdctl prints nothing when its
  // watch is created; a write made before would be missed, one caught up would share a response).
  const head = await etcdctl([ep], ['get', 'w/', '--prefix', '-w', 'json']);
  const from = Number(/"revision":(\d+)/.exec(head.stdout)?.[1]) + 1;
  assert.ok(from > 1, `the current revision: ${head.stdout}${head.stderr}`);
  const lines = (out: string): number => out.split('\n').filter((l) => l.startsWith('{')).length;
  const watched = await etcdctlWatch([ep], ['w/', '--prefix', '--prev-kv', '--rev', String(from), '-w', 'json'], (out) => lines(out) >= 7, {
    whileRunning: async (output) => {
      await ctl('put', 'w/0', 'marker');
      await until('the watch saw the marker', async () => lines(output()) >= 1);
      await ctl('put', 'w/1', 'a');
      await ctl('put', 'w/2', 'b');
      await ctl('del', 'w/1');
      id = /lease ([0-9a-f]+) granted/.exec(await ctl('lease', 'grant', '30'))?.[1] ?? '';
      await ctl('put', 'w/l', 'x', '--lease', id);
      await ctl('lease', 'keep-alive', '--once', id);
      await ctl('lease', 'timetolive', id, '--keys');
      await ctl('lease', 'list');
      await ctl('lease', 'revoke', id);
      await ctl('put', 'w/3', 'c');
    },
  });
  await ctl('get', 'w/', '--prefix', '-w', 'json');
  await ctl('lock', 'tools-lock', 'echo', 'held');
  // The lease id in hex where etcdctl prints it bare (lease list), then the normalizer's names
  // for ids in text and JSON; remaining(29s) or (30s) is the clock, not the server.
  const text = `${steps.join('\n')}\n--- watch\n${watched.stdout}`.split(id).join('<lease>');
  return n.text(text).replace(/remaining\(\d+s\)/g, 'remaining(N)');
}

describe("etcd's tools against Placement Center and against etcd 3.4", { timeout: 300_000 }, () => {
  const pair = etcdAndOurs(() => Promise.all(children.map(stop)));

  test('etcd grpc-proxy in front of each: the KV session, a watch, leases and a lock answer the same', async () => {
    const theirs = await grpcProxy(pair.etcd.endpoints);
    const mine = await grpcProxy(pair.ours.nodes.map((n) => n.grpcAddress));
    const a = await runSession([theirs], SESSION);
    const b = await runSession([mine], SESSION);
    assert.equal(firstDifference(a, b), null);
    assert.ok(a.steps.some((s) => /required revision has been compacted/.test(s.result.stderr)), 'the session reached its error steps through the proxy');
    const x = await watchLeaseLock(theirs);
    const y = await watchLeaseLock(mine);
    assert.match(x, /"type":1/, `etcd's run saw a delete event:\n${x}`);
    assert.match(x, /attached keys\(\[w\/l\]\)/);
    assert.match(x, /\n\[0\] held\n/);
    assert.equal(y, x);
  });

  test('etcdctl make-mirror copies each cluster into the other: the initial copy, then every change', async () => {
    const mirror = async (srcEps: string[], dstEp: string, tag: string): Promise<void> => {
      const prefix = `/mirror-${tag}/`;
      for (let i = 0; i < 4; i++) assert.equal((await etcdctl(srcEps, ['put', `${prefix}k${i}`, `v${i}`])).code, 0);
      await etcdctl(srcEps, ['put', `/elsewhere-${tag}`, 'not mirrored']);
      const mm = spawnKept(ETCDCTL_BIN, ['--endpoints', srcEps.join(','), 'make-mirror', '--prefix', prefix, dstEp]);
      const listing = async (eps: string[]): Promise<string> => (await etcdctl(eps, ['get', prefix, '--prefix'])).stdout;
      await until(`${tag}: the initial copy`, async () => (await listing([dstEp])) === (await listing(srcEps)));
      // Changes after the copy arrive through make-mirror's watch: puts, a delete, a Txn.
      await etcdctl(srcEps, ['put', `${prefix}k4`, 'v4']);
      await etcdctl(srcEps, ['del', `${prefix}k0`]);
      await etcdctl(srcEps, ['txn'], { stdin: `\nput ${prefix}k1 one\nput ${prefix}k5 five\n\n\n` });
      const expected = [1, 2, 3, 4, 5].map((i) => `${prefix}k${i}\n${i === 1 ? 'one' : i === 5 ? 'five' : `v${i}`}\n`).join('');
      assert.equal(await listing(srcEps), expected);
      await until(`${tag}: every change mirrored`, async () => (await listing([dstEp])) === expected);
      assert.equal((await etcdctl([dstEp], ['get', `/elsewhere-${tag}`])).stdout, '', 'only the prefix is mirrored');
      await stop(mm.child);
    };
    await mirror(pair.ours.nodes.map((n) => n.grpcAddress), pair.etcd.endpoints[0]!, 'ours-to-etcd');
    await mirror(pair.etcd.endpoints, pair.ours.nodes[1]!.grpcAddress, 'etcd-to-ours');
  });

  test('etcdctl check datascale: 10,000 puts from 50 clients, memory read from /metrics on the client port', async () => {
    // It reads process_resident_memory_bytes from http://<endpoint>/metrics before and after.
    const run = async (ep: string): Promise<{ code: number; verdict: string[] }> => {
      const r = await etcdctl([ep], ['check', 'datascale', '--load=s'], { timeoutMs: 120_000 });
      const verdict = (r.stdout + r.stderr)
        .split(/[\r\n]+/)
        .filter((l) => /^(PASS|FAIL)/.test(l))
        .map((l) => l.replace(/[\d.]+ MB/, 'N MB'));
      return { code: r.code, verdict };
    };
    const theirs = await run(pair.etcd.endpoints[0]!);
    const mine = await run(pair.ours.nodes[0]!.grpcAddress);
    assert.deepEqual(theirs, { code: 0, verdict: ['PASS: Approximate system memory used : N MB.'] });
    assert.deepEqual(mine, theirs);
    // It deletes what it wrote.
    assert.equal((await etcdctl([pair.ours.nodes[0]!.grpcAddress], ['get', '/etcdctl-check-datascale', '--prefix', '--keys-only'])).stdout, '');
  });
});
