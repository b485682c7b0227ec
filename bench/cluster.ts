// `npm run bench`: load generator against a local 3-node cluster (separate processes, loopback).
//
// Measures, each for BENCH_SECONDS (default 5) after a short warm-up:
//   - writes/s and p50/p99 latency at 1, 16 and 64 requests in flight, 256-byte values, sent to
//     the leader (what the SDK does once it knows the leader);
//   - linearizable reads/s (ReadIndex) and serializable reads/s at 64 in flight, spread over all
//     three nodes;
//   - RSS of every node at the end;
//   - CPU (user+sys) per operation of all nodes, of the leader alone, and of this load generator.
// Options (env): BENCH_SECONDS, BENCH_CONCURRENCY (e.g. "1,16,64"), BENCH_SRC=1 runs the nodes
// from src/ through tsx instead of dist/ (dist is used when built).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startCluster, REPO_ROOT } from '../test/support/cluster.js';
import { kvClient, type KvClient } from '../test/support/kv.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);
const VALUE = Buffer.alloc(256, 0x61);
// BENCH_PROFILE=DIR: run the nodes with --cpu-prof into DIR (profiles are written on the graceful
// stop at the end). BENCH_ONLY=write|lin|ser: run only that part.
const PROFILE_DIR = process.env.BENCH_PROFILE;
const ONLY = process.env.BENCH_ONLY ?? '';

interface Result {
  name: string;
  inFlight: number;
  ops: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function drive(name: string, inFlight: number, seconds: number, op: (i: number) => Promise<unknown>): Promise<Result> {
  const lat: number[] = [];
  let errors = 0;
  let i = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        await op(i++);
        lat.push(performance.now() - s);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const elapsed = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { name, inFlight, ops: lat.length, errors, seconds: elapsed, p50: pct(lat, 50), p99: pct(lat, 99) };
}

function rssMiB(pid: number | null): string {
  if (!pid) return '-';
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? (Number(m[1]) / 1024).toFixed(0) : '-';
  } catch {
    return '-';
  }
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number | null): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

function line(r: Result, nodeCpu: number, clientCpu: number, leaderCpu: number): string {
  const rate = r.ops / r.seconds;
  const perOp = (s: number): string => (r.ops > 0 ? ((s * 1e6) / r.ops).toFixed(0) : '-');
  return `${r.name.padEnd(24)} ${String(r.inFlight).padStart(9)} ${rate.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.errors).padStart(7)} ${perOp(nodeCpu).padStart(12)} ${perOp(leaderCpu).padStart(12)} ${perOp(clientCpu).padStart(12)}`;
}

async function main(): Promise<void> {
  const useDist = !process.env.BENCH_SRC && existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'server.js'));
  console.log(`starting a 3-node cluster (${useDist ? 'dist/' : 'src/ via tsx'}) ...`);
  const c = await startCluster({ nodes: 3, useDist, env: { PLACEMENT_LOG_LEVEL: 'warn' },
    nodeArgs: PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
  });
  const clients: KvClient[] = [];
  try {
    const leader = await c.waitForLeader();
    const lk = kvClient(c.node(leader).grpcAddress, { 'grpc.max_concurrent_streams': 1000, 'grpc.enable_channelz': 0 } as grpc.ChannelOptions);
    clients.push(lk);
    const all = c.nodes.map((n) => {
      const k = kvClient(n.grpcAddress, { 'grpc.enable_channelz': 0 } as grpc.ChannelOptions);
      clients.push(k);
      return k;
    });
    console.log(`leader: node ${leader}; ${SECONDS} s per measurement; 256-byte values\n`);
    console.log(`${'operation'.padEnd(24)} ${'in-flight'.padStart(9)} ${'ops/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)} ${'node µs/op'.padStart(12)} ${'leader µs/op'.padStart(12)} ${'client µs/op'.padStart(12)}`);
    // Warm-up (JIT, connections, first snapshot of keys).
    await drive('warm-up', 16, 1.5, (i) => lk.set({ key: `bench/warm/${i % 1000}`, value: VALUE }));
    const keys = 10_000;
    const measure = async (name: string, n: number, op: (i: number) => Promise<unknown>): Promise<void> => {
      const n0 = c.nodes.reduce((a, h) => a + cpuSeconds(h.pid), 0);
      const l0 = cpuSeconds(c.node(leader).pid);
      const c0 = process.cpuUsage();
      const r = await drive(name, n, SECONDS, op);
      const cu = process.cpuUsage(c0);
      const n1 = c.nodes.reduce((a, h) => a + cpuSeconds(h.pid), 0);
      const l1 = cpuSeconds(c.node(leader).pid);
      console.log(line(r, n1 - n0, (cu.user + cu.system) / 1e6, l1 - l0));
    };
    if (!ONLY || ONLY === 'write') for (const n of LEVELS) await measure('write (Set)', n, (i) => lk.set({ key: `bench/${n}/${i % keys}`, value: VALUE }));
    const readKey = (i: number): string => `bench/warm/${i % 1000}`;
    if (!ONLY || ONLY === 'lin') await measure('read linearizable', 64, (i) => all[i % 3]!.get({ key: readKey(i) }));
    if (!ONLY || ONLY === 'ser') await measure('read serializable', 64, (i) => all[i % 3]!.get({ key: readKey(i), serializable: true }));
    console.log(`\nRSS per node (MiB): ${c.nodes.map((n) => `node ${n.id}${n.id === leader ? ' (leader)' : ''}: ${rssMiB(n.pid)}`).join(', ')}`);
  } finally {
    for (const k of clients) k.close();
    if (PROFILE_DIR) await Promise.all(c.nodes.map((n) => c.stopNode(n.id).catch(() => {})));
    await c.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
