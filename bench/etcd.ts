// `npm run bench:etcd`: the write part of `npm run bench`, run against a local 3-member etcd
// cluster (the `etcd` binary on PATH, e.g. Debian's etcd-server 3.4) for a head-to-head number.
//
// Same client technique as bench/cluster.ts: one @grpc/grpc-js channel to the leader, unary calls
// (`/etcdserverpb.KV/Put` with a hand-encoded PutRequest, response body ignored), the same
// warm-up, the same drive loop and percentile method, BENCH_SECONDS (default 5) per level, and the
// same columns: writes/s, p50/p99, CPU (user+sys) per op of all members, of the leader, and of
// this load generator; RSS per member at the end. Data dirs live under os.tmpdir() like the
// Placement Center bench. Options (env): BENCH_SECONDS, BENCH_CONCURRENCY, ETCD_BIN.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { freePorts, poll } from '../test/support/cluster.js';
import { Children } from './children.js';
import { cpuSeconds, drive, header, line, rssMiB } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64,256').split(',').map(Number);
const VALUE = Buffer.alloc(256, 0x61);
const ETCD = process.env.ETCD_BIN ?? 'etcd';

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
function putRequest(key: string, value: Buffer): Buffer {
  const k = Buffer.from(key);
  return Buffer.concat([Buffer.from([0x0a, ...varint(k.length)]), k, Buffer.from([0x12, ...varint(value.length)]), value]);
}

// ---- the etcd cluster ----
interface Member { name: string; clientUrl: string; grpcAddress: string; proc: ChildProcess; pid: number }
const children = new Children();

async function startEtcd(root: string): Promise<Member[]> {
  const ports = await freePorts(6);
  const names = ['m1', 'm2', 'm3'];
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const initialCluster = names.map((n, i) => `${n}=${peerUrl(i)}`).join(',');
  const members = names.map((name, i) => {
    const clientUrl = `http://127.0.0.1:${ports[2 * i]}`;
    const fd = openSync(join(root, `${name}.log`), 'a');
    const proc = spawn(ETCD, [
      '--name', name,
      '--data-dir', join(root, name),
      '--listen-client-urls', clientUrl,
      '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl(i),
      '--initial-advertise-peer-urls', peerUrl(i),
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', 'bench-etcd',
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-level', 'warn',
    ], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    children.add(proc);
    if (proc.pid === undefined) throw new Error(`could not start ${ETCD}`);
    return { name, clientUrl, grpcAddress: `127.0.0.1:${ports[2 * i]}`, proc, pid: proc.pid };
  });
  for (const m of members) {
    await poll(async () => {
      if (m.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited; see ${join(root, `${m.name}.log`)}`);
      const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      return ((await res.json()) as { health?: string }).health === 'true';
    }, { what: `etcd ${m.name} healthy`, timeoutMs: 30_000 });
  }
  return members;
}

/** The member whose /metrics says etcd_server_is_leader 1. */
async function findLeader(members: Member[]): Promise<Member> {
  return poll(async () => {
    for (const m of members) {
      const text = await (await fetch(`${m.clientUrl}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
      if (/^etcd_server_is_leader 1$/m.test(text)) return m;
    }
    return null;
  }, { what: 'an etcd leader', timeoutMs: 30_000 });
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'etcd-bench-'));
  let client: grpc.Client | null = null;
  try {
    const version = await new Promise<string>((res) => {
      const p = spawn(ETCD, ['--version']);
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.on('error', () => res('?'));
      p.on('close', () => res(out.split('\n')[0] ?? '?'));
    });
    console.log(`starting a 3-member etcd cluster (${version}) under ${root} ...`);
    const members = await startEtcd(root);
    const leader = await findLeader(members);
    client = new grpc.Client(leader.grpcAddress, grpc.credentials.createInsecure(), {
      'grpc.max_concurrent_streams': 1000,
      'grpc.enable_channelz': 0,
    } as grpc.ChannelOptions);
    const c = client;
    const put = (key: string): Promise<void> =>
      new Promise((res, rej) => {
        c.makeUnaryRequest('/etcdserverpb.KV/Put', (b: Buffer) => b, (b: Buffer) => b, putRequest(key, VALUE), (err) => (err ? rej(err) : res()));
      });
    console.log(`leader: ${leader.name} (pid ${leader.pid}); ${SECONDS} s per measurement; 256-byte values\n`);
    console.log(header());
    await drive('warm-up', 16, 1.5, (i) => put(`bench/warm/${i % 1000}`));
    const keys = 10_000;
    for (const n of LEVELS) {
      const n0 = members.reduce((a, m) => a + cpuSeconds(m.pid), 0);
      const l0 = cpuSeconds(leader.pid);
      const c0 = process.cpuUsage();
      const r = await drive('write (Put)', n, SECONDS, (i) => put(`bench/${n}/${i % keys}`));
      const cu = process.cpuUsage(c0);
      const n1 = members.reduce((a, m) => a + cpuSeconds(m.pid), 0);
      const l1 = cpuSeconds(leader.pid);
      console.log(line(r, n1 - n0, (cu.user + cu.system) / 1e6, l1 - l0));
    }
    const still = await findLeader(members);
    if (still !== leader) console.log(`\nnote: leadership moved to ${still.name} during the run`);
    console.log(`\nRSS per member (MiB): ${members.map((m) => `${m.name}${m === leader ? ' (leader)' : ''}: ${rssMiB(m.pid)}`).join(', ')}`);
  } finally {
    client?.close();
    await children.stopAll();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
