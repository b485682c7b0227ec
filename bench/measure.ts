// Measurement helpers shared by `npm run bench` (bench/cluster.ts), `npm run bench:etcd`
// (bench/etcd.ts) and `npm run bench:zk` (bench/zookeeper.ts), so the three systems are measured
// by exactly the same loop, read spread, percentile method and CPU accounting.
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/support/cluster.js';

/**
 * Whether our members run the shipped build (dist/, what users run) rather than src/ through tsx:
 * when it is built, unless BENCH_SRC=1. Through tsx each member carries the compiler and its caches.
 */
export function benchUsesDist(): boolean {
  return !process.env.BENCH_SRC && existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'server.js'));
}

export interface Result {
  name: string;
  inFlight: number;
  ops: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

export function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * How reads are spread over the members. `caller` (the default): each of the in-flight callers
 * sticks to one member (caller w to member w % n), as brokers do: every broker's SDK sends its
 * reads to its own preferred member, so a member gets the operations of the brokers attached to
 * it. `op` (BENCH_READ_SPREAD=op): consecutive operations alternate between members whoever
 * issues them, so the operations one reply makes a caller issue are split three ways. Kept to
 * compare with numbers measured that way (README, "Performance").
 */
export const READ_SPREAD: 'caller' | 'op' = (() => {
  const v = process.env.BENCH_READ_SPREAD ?? 'caller';
  if (v !== 'caller' && v !== 'op') throw new Error(`BENCH_READ_SPREAD: "${v}" is neither "caller" nor "op"`);
  return v;
})();

/**
 * In-flight levels of the read rows (BENCH_READ_CONCURRENCY, default "64,256"). At 64, the level
 * of the write target, a linearizable read row is bound by round-trip latency (the cores are not
 * saturated); 256 shows what the cluster serves when they are.
 */
export const READ_LEVELS: number[] = (() => {
  const v = (process.env.BENCH_READ_CONCURRENCY ?? '64,256').split(',').map((x) => Number(x.trim()));
  if (v.length === 0 || v.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_READ_CONCURRENCY: "${process.env.BENCH_READ_CONCURRENCY}" is not a list of positive integers`);
  return v;
})();

/**
 * Each read row's rate divided by the write rate measured at the same in-flight level (or, if
 * writes were not measured there, at the highest write level not above it), one line per row.
 */
export function readRatios(results: Result[], isWrite: (r: Result) => boolean): string[] {
  const rate = (r: Result): number => r.ops / r.seconds;
  const writes = results.filter(isWrite).sort((a, b) => a.inFlight - b.inFlight);
  const out: string[] = [];
  for (const r of results) {
    if (isWrite(r)) continue;
    const base = [...writes].reverse().find((w) => w.inFlight <= r.inFlight);
    if (!base || rate(base) === 0) continue;
    out.push(`${r.name} at ${r.inFlight} in flight: ${(rate(r) / rate(base)).toFixed(2)}× the writes/s at ${base.inFlight}`);
  }
  return out;
}

/** The member (0..n-1) operation `i` of caller `worker` reads from (see READ_SPREAD). */
export function readTarget(i: number, worker: number, n: number): number {
  return (READ_SPREAD === 'op' ? i : worker) % n;
}

/**
 * Runs `op` from `inFlight` concurrent callers for `seconds`. `i` numbers the operations across
 * all callers; `worker` (0..inFlight-1) is the caller issuing it.
 */
export async function drive(name: string, inFlight: number, seconds: number, op: (i: number, worker: number) => Promise<unknown>): Promise<Result> {
  const lat: number[] = [];
  let errors = 0;
  let i = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async (_: unknown, w: number): Promise<void> => {
    while (performance.now() < end) {
      const s = performance.now();
      try {
        await op(i++, w);
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

export function rssMiB(pid: number | null | undefined): string {
  if (!pid) return '-';
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? (Number(m[1]) / 1024).toFixed(0) : '-';
  } catch {
    return '-';
  }
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number | null | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / 100; // utime, stime in clock ticks (100 Hz)
  } catch {
    return 0;
  }
}

export function line(r: Result, nodeCpu: number, clientCpu: number, leaderCpu: number): string {
  const rate = r.ops / r.seconds;
  const perOp = (s: number): string => (r.ops > 0 ? ((s * 1e6) / r.ops).toFixed(0) : '-');
  return `${r.name.padEnd(24)} ${String(r.inFlight).padStart(9)} ${rate.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.errors).padStart(7)} ${perOp(nodeCpu).padStart(12)} ${perOp(leaderCpu).padStart(12)} ${perOp(clientCpu).padStart(12)}`;
}

/** Column headers matching line(). */
export function header(): string {
  return `${'operation'.padEnd(24)} ${'in-flight'.padStart(9)} ${'ops/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)} ${'node µs/op'.padStart(12)} ${'leader µs/op'.padStart(12)} ${'client µs/op'.padStart(12)}`;
}

/** Where a bench keeps its raw output (see keepRawOutput). */
export interface RawOutput {
  textPath: string;
  jsonPath: string;
  /** Writes `data` as the run's JSON next to its text. */
  json(data: unknown): void;
}

/**
 * Copies everything this process prints (stdout and stderr) to reports/bench/<name>-<time>.txt
 * (git-ignored), so a figure quoted later can be traced to the run that produced it.
 */
export function keepRawOutput(name: string): RawOutput {
  const dir = join(REPO_ROOT, 'reports', 'bench');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const textPath = join(dir, `${name}-${stamp}.txt`);
  const jsonPath = join(dir, `${name}-${stamp}.json`);
  const fd = openSync(textPath, 'a');
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      try {
        if (typeof chunk === 'string') writeSync(fd, chunk);
        else writeSync(fd, chunk as Uint8Array);
      } catch {
        // the copy is best effort; the console output is what matters to the person running it
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
  writeSync(fd, `# ${process.argv.slice(1).join(' ')}; ${Object.entries(process.env).filter(([k]) => k.startsWith('BENCH_')).map(([k, v]) => `${k}=${v}`).join(' ') || 'no BENCH_* options'}\n`);
  return { textPath, jsonPath, json: (data) => writeFileSync(jsonPath, `${JSON.stringify(data, null, 2)}\n`) };
}
