// `npm run bench:ab -- NAME=VALUE|--node-flag ...`: our 3-member cluster with its defaults (A)
// against the same cluster with the given environment and/or extra Node.js flags for its members
// (B, e.g. PLACEMENT_WAL_PREALLOCATE_BYTES=0 or --max-semi-space-size=16, which comes after the
// launchers' own flags and so wins),
// interleaved for BENCH_ROUNDS rounds (default 5), each round a fresh cluster per side. Rows:
// etcd KV Put at 1 in flight and at BENCH_INFLIGHT (64) with the raw unary client of
// bench:etcd-api. It prints each round, then per row the median of the rounds and the median of
// the paired ratios (B / A): the VM's speed moves within minutes, so only pairs taken back to back
// are compared. Options (env): BENCH_SECONDS (5 per row), BENCH_ROUNDS (5), BENCH_INFLIGHT (64),
// BENCH_SRC=1 (members from src/ through tsx).
import * as grpc from '@grpc/grpc-js';
import { startCluster } from '../test/support/cluster.js';
import { CHANNEL_OPTIONS, put } from './etcd-raw.js';
import { benchUsesDist, cpuSeconds, drive, keepRawOutput, rssMiB } from './measure.js';
import { median } from './compare-table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const INFLIGHT = Number(process.env.BENCH_INFLIGHT ?? 64);
/** The rows: Put at 1 in flight and at INFLIGHT. */
const LEVELS = [1, INFLIGHT];

const variant: Record<string, string> = {};
const variantFlags: string[] = [];
for (const a of process.argv.slice(2)) {
  if (/^--[a-z]/.test(a)) {
    variantFlags.push(a);
    continue;
  }
  const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(a);
  if (!m) {
    console.error(`bench:ab: "${a}" is neither NAME=VALUE nor a --node-flag (example: npm run bench:ab -- PLACEMENT_WAL_PREALLOCATE_BYTES=0)`);
    process.exit(2);
  }
  variant[m[1]!] = m[2]!;
}
if (Object.keys(variant).length === 0 && variantFlags.length === 0) {
  console.error('bench:ab: give the environment or Node.js flags of side B, e.g. npm run bench:ab -- PLACEMENT_WAL_PREALLOCATE_BYTES=0');
  process.exit(2);
}

interface Row {
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU of all members per write, µs. */
  cpuUs: number;
  /** The largest member's RSS after the row, MiB. */
  rssMiB: number;
}

async function side(env: Record<string, string>, nodeArgs: string[]): Promise<Row[]> {
  const c = await startCluster({ nodes: 3, useDist: benchUsesDist(), env: { PLACEMENT_LOG_LEVEL: 'warn', ...env }, nodeArgs });
  try {
    const leader = c.node(await c.waitForLeader());
    const client = new grpc.Client(leader.grpcAddress, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    try {
      // The first writes of a fresh process run through the interpreter: warm both sides alike.
      await drive('warm-up', 4, 2, (i) => put(client, `bench/ab/${i % 1000}`));
      const rows: Row[] = [];
      for (const inFlight of LEVELS) {
        const pids = c.nodes.map((n) => n.pid);
        const c0 = pids.map(cpuSeconds);
        const r = await drive(`put@${inFlight}`, inFlight, SECONDS, (i) => put(client, `bench/ab/${i % 1000}`));
        const cpu = pids.reduce<number>((s, p, i) => s + cpuSeconds(p) - c0[i]!, 0);
        rows.push({ perSecond: r.ops / r.seconds, p50: r.p50, p99: r.p99, cpuUs: (cpu / r.ops) * 1e6, rssMiB: Math.max(...pids.map((p) => Number(rssMiB(p)) || 0)) });
      }
      return rows;
    } finally {
      client.close();
    }
  } finally {
    await c.stop();
  }
}

const raw = keepRawOutput('ab');
const log = (s: string): void => console.log(s);
const f = (x: number, d = 0): string => x.toFixed(d);
const label = [...Object.entries(variant).map(([k, v]) => `${k}=${v}`), ...variantFlags].join(' ');
log(`A: defaults; B: ${label}; ${ROUNDS} rounds, ${SECONDS} s per row, members from ${benchUsesDist() ? 'dist/' : 'src/ via tsx'}`);
const rounds: { a: Row[]; b: Row[] }[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  // Alternate which side goes first, so that a drift of the VM's speed does not favour one.
  const first = r % 2 === 1 ? 'a' : 'b';
  const x = first === 'a' ? await side({}, []) : await side(variant, variantFlags);
  const y = first === 'a' ? await side(variant, variantFlags) : await side({}, []);
  const round = first === 'a' ? { a: x, b: y } : { a: y, b: x };
  rounds.push(round);
  for (const [i, level] of LEVELS.entries()) {
    const [a, b] = [round.a[i]!, round.b[i]!];
    log(`round ${r} put@${level}: A ${f(a.perSecond)}/s p50 ${f(a.p50, 2)} p99 ${f(a.p99, 2)} ms ${f(a.cpuUs)} µs CPU/write ${f(a.rssMiB)} MiB | B ${f(b.perSecond)}/s p50 ${f(b.p50, 2)} p99 ${f(b.p99, 2)} ms ${f(b.cpuUs)} µs ${f(b.rssMiB)} MiB | B/A ${f(b.perSecond / a.perSecond, 2)}x`);
  }
}
log(`\n== medians of ${ROUNDS} rounds (B: ${label})`);
for (const [i, level] of LEVELS.entries()) {
  const col = (s: 'a' | 'b', k: keyof Row): number => median(rounds.map((r) => r[s][i]![k]));
  const paired = (k: keyof Row): number => median(rounds.map((r) => r.b[i]![k] / r.a[i]![k]));
  log(
    `put@${level}: A ${f(col('a', 'perSecond'))}/s p50 ${f(col('a', 'p50'), 2)} p99 ${f(col('a', 'p99'), 2)} ms ${f(col('a', 'cpuUs'))} µs ${f(col('a', 'rssMiB'))} MiB | ` +
      `B ${f(col('b', 'perSecond'))}/s p50 ${f(col('b', 'p50'), 2)} p99 ${f(col('b', 'p99'), 2)} ms ${f(col('b', 'cpuUs'))} µs ${f(col('b', 'rssMiB'))} MiB | ` +
      `paired B/A: writes/s ${f(paired('perSecond'), 2)}x, p50 ${f(paired('p50'), 2)}x, p99 ${f(paired('p99'), 2)}x, CPU/write ${f(paired('cpuUs'), 2)}x, RSS ${f(paired('rssMiB'), 2)}x`,
  );
}
raw.json({ variant, variantFlags, rounds });
process.exit(0);
