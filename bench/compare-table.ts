// The ratio table of `npm run bench:compare`: issue 24's targets, each a ratio of two rows measured
// in the SAME round (the VM's speed drifts between rounds, not within a system's few seconds), then
// min / median / max of those ratios across rounds. Pure, so it is unit-tested.

/** One measured row of one system in one round, or (row "rss") its largest member's RSS. */
export interface Sample {
  round: number;
  /** "etcd", "zookeeper", "placement/etcd-api", "placement/sdk", or "placement" for RSS. */
  system: string;
  /** "write@1", "write@64", "read@64" or "rss". */
  row: string;
  opsPerSec?: number;
  p50?: number;
  p99?: number;
  errors?: number;
  nodeCpuPerOp?: number;
  rssMiB?: number;
}

type Lookup = (system: string, row: string) => Sample | undefined;

interface Target {
  what: string;
  /** The ratio in one round, or undefined when a needed row is missing. */
  ratio(get: Lookup): number | undefined;
  /** "≥ 1.5" means ratio ≥ 1.5 meets the target; "≤ 1" means ratio ≤ 1 does. */
  op: '≥' | '≤';
  bound: number;
}

const ops = (s: Sample | undefined): number | undefined => (s?.opsPerSec !== undefined && s.opsPerSec > 0 ? s.opsPerSec : undefined);
const div = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined || b === 0 ? undefined : a / b);

/** The faster of etcd and ZooKeeper at one request in flight (by ops/s) in this round. */
function fasterAtOne(get: Lookup): Sample | undefined {
  const e = get('etcd', 'write@1');
  const z = get('zookeeper', 'write@1');
  if (!e || !z) return undefined;
  return (ops(e) ?? 0) >= (ops(z) ?? 0) ? e : z;
}

export const TARGETS: Target[] = [
  { what: 'write@64 ops/s: ours (etcd-API client) ÷ etcd', op: '≥', bound: 1.5, ratio: (g) => div(ops(g('placement/etcd-api', 'write@64')), ops(g('etcd', 'write@64'))) },
  { what: 'read@64 ops/s (linearizable): ours (etcd-API client) ÷ etcd', op: '≥', bound: 1.5, ratio: (g) => div(ops(g('placement/etcd-api', 'read@64')), ops(g('etcd', 'read@64'))) },
  { what: 'write@1 ops/s: ours (etcd-API client) ÷ faster of etcd, ZooKeeper', op: '≥', bound: 1, ratio: (g) => div(ops(g('placement/etcd-api', 'write@1')), ops(fasterAtOne(g))) },
  { what: 'write@1 p50: ours (etcd-API client) ÷ faster of etcd, ZooKeeper', op: '≤', bound: 1, ratio: (g) => div(g('placement/etcd-api', 'write@1')?.p50, fasterAtOne(g)?.p50) },
  { what: 'RSS per member (largest): ours ÷ etcd', op: '≤', bound: 1, ratio: (g) => div(g('placement', 'rss')?.rssMiB, g('etcd', 'rss')?.rssMiB) },
  { what: 'write@64 ops/s: ours (SDK) ÷ etcd', op: '≥', bound: 2.5, ratio: (g) => div(ops(g('placement/sdk', 'write@64')), ops(g('etcd', 'write@64'))) },
  { what: 'read@64 ÷ write@64 ops/s, both ours (SDK)', op: '≥', bound: 3, ratio: (g) => div(ops(g('placement/sdk', 'read@64')), ops(g('placement/sdk', 'write@64'))) },
  ...(['write@1', 'write@64', 'read@64'] as const).flatMap((row): Target[] =>
    (['etcd-api', 'sdk'] as const).map((client) => ({
      what: `${row} ops/s: ours (${client === 'sdk' ? 'SDK' : 'etcd-API client'}) ÷ ZooKeeper`,
      op: '≥' as const,
      bound: 1,
      ratio: (g: Lookup) => div(ops(g(`placement/${client}`, row)), ops(g('zookeeper', row))),
    })),
  ),
  { what: 'RSS per member (largest): ours ÷ ZooKeeper', op: '≤', bound: 1, ratio: (g) => div(g('placement', 'rss')?.rssMiB, g('zookeeper', 'rss')?.rssMiB) },
];

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "min / median / max" of per-round figures, each with `digits` decimals. */
export function minMedianMax(xs: number[], digits: number): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[0]!.toFixed(digits)} / ${median(s).toFixed(digits)} / ${s[s.length - 1]!.toFixed(digits)}`;
}

export interface TargetResult {
  what: string;
  target: string;
  /** One ratio per round that had both rows. */
  ratios: number[];
  min: number;
  median: number;
  max: number;
  /** Judged on the median. */
  met: boolean;
}

/** Every target whose rows were measured in at least one round. */
export function evaluate(samples: Sample[], rounds: number): TargetResult[] {
  const out: TargetResult[] = [];
  for (const t of TARGETS) {
    const ratios: number[] = [];
    for (let round = 1; round <= rounds; round++) {
      const get: Lookup = (system, row) => samples.find((s) => s.round === round && s.system === system && s.row === row);
      const r = t.ratio(get);
      if (r !== undefined && Number.isFinite(r)) ratios.push(r);
    }
    if (ratios.length === 0) continue;
    const med = median(ratios);
    out.push({ what: t.what, target: `${t.op} ${t.bound}`, ratios, min: Math.min(...ratios), median: med, max: Math.max(...ratios), met: t.op === '≥' ? med >= t.bound : med <= t.bound });
  }
  return out;
}

/** The medians of every system's rows (ops/s, p50, p99, RSS), then the ratio table. */
export function ratioTable(samples: Sample[], rounds: number): string[] {
  const lines: string[] = [];
  const systems = [...new Set(samples.map((s) => s.system))];
  lines.push(`medians over ${rounds} round(s):`);
  lines.push(`  ${'system'.padEnd(20)} ${'row'.padEnd(9)} ${'ops/s'.padStart(8)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'errors'.padStart(7)} ${'RSS MiB'.padStart(8)}`);
  for (const system of systems) {
    for (const row of [...new Set(samples.filter((s) => s.system === system).map((s) => s.row))]) {
      const of = samples.filter((s) => s.system === system && s.row === row);
      const m = (f: (s: Sample) => number | undefined): string => {
        const xs = of.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x));
        return xs.length === 0 ? '-' : median(xs).toFixed(xs.every((x) => Number.isInteger(x)) ? 0 : 2);
      };
      lines.push(`  ${system.padEnd(20)} ${row.padEnd(9)} ${m((s) => (s.opsPerSec === undefined ? undefined : Math.round(s.opsPerSec))).padStart(8)} ${m((s) => s.p50).padStart(8)} ${m((s) => s.p99).padStart(8)} ${m((s) => s.errors).padStart(7)} ${m((s) => s.rssMiB).padStart(8)}`);
    }
  }
  lines.push('', `ratios (each within one round; min / median / max over rounds), issue 24's targets:`);
  lines.push(`  ${'ratio'.padEnd(66)} ${'target'.padStart(7)} ${'min'.padStart(6)} ${'median'.padStart(7)} ${'max'.padStart(6)}  met (median)`);
  for (const r of evaluate(samples, rounds)) {
    lines.push(`  ${r.what.padEnd(66)} ${r.target.padStart(7)} ${r.min.toFixed(2).padStart(6)} ${r.median.toFixed(2).padStart(7)} ${r.max.toFixed(2).padStart(6)}  ${r.met ? 'yes' : 'NO'}`);
  }
  return lines;
}
