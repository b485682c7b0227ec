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
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startCluster, REPO_ROOT } from '../test/support/cluster.js';
import { kvClient, type KvClient } from '../test/support/kv.js';
import { cpuSeconds, drive, header, line, rssMiB } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);
const VALUE = Buffer.alloc(256, 0x61);
// BENCH_PROFILE=DIR: run the nodes with --cpu-prof into DIR (profiles are written on the graceful
// stop at the end). BENCH_ONLY=write|lin|ser: run only that part.
const PROFILE_DIR = process.env.BENCH_PROFILE;
const ONLY = process.env.BENCH_ONLY ?? '';

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
    console.log(header());
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
