// `npm run bench:memory`: RSS per member after the same fixed work, etcd 3.4 against Placement
// Center under one or more sets of Node.js/V8 flags, interleaved for BENCH_ROUNDS rounds (default
// 2). bench:compare's RSS row depends on how many writes each system managed in its fixed-time
// rows; here every system does exactly BENCH_MEM_WRITES writes (default 30,000 puts of 256-byte
// values over 10,000 keys, 64 in flight, through the raw etcd-API client of bench/etcd-raw.ts, to
// the leader), then BENCH_MEM_READS linearizable reads spread over the members (default 30,000),
// and RSS is read from /proc at the end (after a 2 s settle).
// Options (env): BENCH_ROUNDS, BENCH_MEM_WRITES, BENCH_MEM_READS, BENCH_MEM_CONFIGS — flag sets for
// our nodes separated by ";" (default "default": the flags every launcher passes,
// src/cli/v8-heap.ts; "none" runs with no flags at all; anything else replaces the defaults, e.g.
// "none;default;--max-semi-space-size=2"), BENCH_SRC=1 (nodes from src/ through tsx).
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from '../test/support/cluster.js';
import { requireEtcd, startEtcdCluster } from '../test/support/etcd.js';
import { SERVER_NODE_FLAGS } from '../src/cli/v8-heap.js';
import { put, range, rawClient, type RawClient } from './etcd-raw.js';
import { benchUsesDist, cpuSeconds, keepRawOutput, rssMiB } from './measure.js';

const count = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name}: "${process.env[name]}" is not a whole number`);
  return v;
};
const ROUNDS = Math.max(1, count('BENCH_ROUNDS', 2));
const WRITES = count('BENCH_MEM_WRITES', 30_000);
const READS = count('BENCH_MEM_READS', 30_000);
const CONFIGS = (process.env.BENCH_MEM_CONFIGS ?? 'default').split(';').map((s) => s.trim()).filter((s) => s !== '');
const KEYS = 10_000;
const IN_FLIGHT = 64;

function flagsOf(config: string): string[] {
  if (config === 'default') return [...SERVER_NODE_FLAGS];
  if (config === 'none') return [];
  return config.split(' ').filter((a) => a !== '');
}

/** Runs `n` operations from IN_FLIGHT callers. */
async function run(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
    for (let i = next++; i < n; i = next++) await op(i);
  }));
  return (performance.now() - t0) / 1000;
}

interface Row {
  round: number;
  system: string;
  rssMiB: number[];
  cpuSeconds: number;
  writeSeconds: number;
  readSeconds: number;
}

async function workload(system: string, round: number, pids: number[], leader: RawClient, members: RawClient[]): Promise<Row> {
  const cpu0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
  const writeSeconds = await run(WRITES, (i) => put(leader, `bench/mem/${i % KEYS}`));
  const readSeconds = await run(READS, (i) => range(members[i % members.length]!, `bench/mem/${i % KEYS}`));
  await sleep(2000);
  const row = { round, system, rssMiB: pids.map((p) => Number(rssMiB(p))), cpuSeconds: pids.reduce((a, p) => a + cpuSeconds(p), 0) - cpu0, writeSeconds, readSeconds };
  console.log(`${system.padEnd(40)} RSS MiB ${row.rssMiB.join(', ').padEnd(16)} max ${String(Math.max(...row.rssMiB)).padStart(4)}   members' CPU ${row.cpuSeconds.toFixed(1)} s   writes ${(WRITES / writeSeconds).toFixed(0)}/s reads ${(READS / readSeconds).toFixed(0)}/s`);
  return row;
}

async function etcdRound(round: number): Promise<Row> {
  const etcd = await startEtcdCluster();
  const leader = rawClient((await etcd.leader()).grpcAddress);
  const members = etcd.members.map((m) => rawClient(m.grpcAddress));
  try {
    return await workload('etcd', round, etcd.members.map((m) => m.pid), leader, members);
  } finally {
    leader.close();
    for (const m of members) m.close();
    await etcd.stop();
  }
}

async function placementRound(round: number, config: string): Promise<Row> {
  const useDist = benchUsesDist();
  const c = await startCluster({ nodes: 3, useDist, env: { PLACEMENT_LOG_LEVEL: 'warn' }, nodeFlags: flagsOf(config) });
  const leader = rawClient(c.node(await c.waitForLeader()).grpcAddress);
  const members = c.nodes.map((n) => rawClient(n.grpcAddress));
  try {
    return await workload(`placement [${config}]${useDist ? '' : ' (src/)'}`, round, c.nodes.map((n) => n.pid ?? 0), leader, members);
  } finally {
    leader.close();
    for (const m of members) m.close();
    await c.stop();
  }
}

async function main(): Promise<void> {
  requireEtcd();
  const raw = keepRawOutput('memory');
  console.log(`bench:memory — ${ROUNDS} rounds; ${WRITES} puts then ${READS} linearizable reads at ${IN_FLIGHT} in flight; Placement Center configs: ${CONFIGS.map((c) => `[${c}] = ${flagsOf(c).join(' ') || '(no flags)'}`).join('; ')}`);
  const rows: Row[] = [];
  const systems = ['etcd', ...CONFIGS];
  for (let round = 1; round <= ROUNDS; round++) {
    console.log(`\n[round ${round}]`);
    // Rotate the order every round so that the VM's drift is spread over the systems.
    for (let i = 0; i < systems.length; i++) {
      const s = systems[(i + round - 1) % systems.length]!;
      rows.push(s === 'etcd' ? await etcdRound(round) : await placementRound(round, s));
    }
  }
  console.log('\nmax RSS per member ÷ etcd\'s in the same round (min / median / max over rounds):');
  for (const config of CONFIGS) {
    const ratios: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const e = rows.find((r) => r.round === round && r.system === 'etcd');
      const p = rows.find((r) => r.round === round && r.system.startsWith(`placement [${config}]`));
      if (e && p) ratios.push(Math.max(...p.rssMiB) / Math.max(...e.rssMiB));
    }
    ratios.sort((a, b) => a - b);
    const med = ratios[Math.floor(ratios.length / 2)]!;
    console.log(`  [${config}] ${ratios[0]!.toFixed(2)} / ${med.toFixed(2)} / ${ratios[ratios.length - 1]!.toFixed(2)}   (target ≤ 1)`);
  }
  raw.json({ rounds: ROUNDS, writes: WRITES, reads: READS, configs: CONFIGS, rows });
  console.log(`\nraw output: ${raw.textPath} and ${raw.jsonPath}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
