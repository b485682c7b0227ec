// `npm run bench:ab -- NAME=VALUE|--node-flag ...`: our 3-member cluster with its defaults (A)
// against the same cluster with the given environment and/or extra Node.js flags for its members
// (B, e.g. PLACEMENT_WAL_PREALLOCATE_BYTES=0 or --max-semi-space-size=16, which comes after the
// launchers' own flags and so wins),
// interleaved for BENCH_ROUNDS rounds (default 5), each round a fresh cluster per side. Rows
// (BENCH_ROWS, a comma list; default put@1,put@64), each with the raw unary client of
// bench:etcd-api on the leader: etcd KV Put (`put@N`), linearizable Range of one key
// (`range@N`) and serializable Range (`rs@N`) at N in flight, over 1,000 keys written first, and
// `watch@N`: a Put whose operation ends when a watcher on a follower received its event
// (put-to-event latency on the member that did not take the write, bench:watch's figure), and
// `sdk@N`: our SDK's kv.set (operations multiplexed on its session stream, every member known).
// It prints each round, then per row the median of the rounds and the median of the paired
// ratios (B / A): the VM's speed moves within minutes, so only pairs taken back to back are
// compared. Options (env): BENCH_SECONDS (5 per row), BENCH_ROUNDS (5), BENCH_ROWS,
// BENCH_AT=follower (the client calls a follower: writes take the forward path),
// BENCH_SRC=1 (members from src/ through tsx), BENCH_WATCH_AT=leader (watch@N's watcher on the
// leader instead of a follower), BENCH_B_CHECKOUT=DIR (side B runs the compiled server of another
// checkout of this repository, e.g. a `git worktree` of another commit after `npm run build`
// there: a code change measured in paired rounds; both sides start node with this checkout's
// flags, and B may then need no environment or flags of its own).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startCluster } from '../test/support/cluster.js';
import { CHANNEL_OPTIONS, put, range, RAW_CLIENT, rawClient, VALUE, type RawClient } from './etcd-raw.js';
import { PlacementClient } from '../src/client/index.js';
import { WatchRequest, WatchResponse } from '../proto/gen/etcd/etcdserverpb/rpc.js';
import { decodeWatchResponse } from '../src/client/watch-decode.js';
import { benchUsesDist, cpuSeconds, drive, keepRawOutput, rssMiB } from './measure.js';
import { median } from './compare-table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Which member the client calls: the leader, or a follower (its writes are forwarded). */
const AT = process.env.BENCH_AT ?? 'leader';
if (AT !== 'leader' && AT !== 'follower') throw new Error(`BENCH_AT must be leader or follower, not ${AT}`);

/** A watcher on a follower: resolves the wait for a key once its event arrived. */
class FollowerWatch {
  private readonly waiting = new Map<string, () => void>();
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<WatchRequest, WatchResponse>;
  readonly created: Promise<void>;

  constructor(address: string, prefix: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    const encode = (r: WatchRequest): Buffer => Buffer.from(WatchRequest.encode(r).finish());
    this.call = this.client.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', encode, decodeWatchResponse, new grpc.Metadata());
    this.created = new Promise((resolve, reject) => {
      this.call.on('error', reject);
      this.call.on('data', (r: WatchResponse) => {
        if (r.created) resolve();
        for (const e of r.events) {
          const key = Buffer.from(e.kv!.key).toString();
          this.waiting.get(key)?.();
          this.waiting.delete(key);
        }
      });
    });
    const key = Buffer.from(prefix);
    const rangeEnd = Buffer.from(prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1));
    this.call.write({ requestUnion: { $case: 'createRequest', value: { key, rangeEnd, startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false } } });
  }

  event(key: string): Promise<void> {
    return new Promise((resolve) => this.waiting.set(key, resolve));
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

interface Ctx {
  client: RawClient;
  watch: FollowerWatch;
  sdk: PlacementClient;
}
type Op = (ctx: Ctx, i: number) => Promise<unknown>;
const KEY = (i: number): string => `bench/ab/${i % 1000}`;
const WATCHED = 'bench/ab-watched/';
const OPS: Record<string, Op> = {
  put: (c, i) => put(c.client, KEY(i)),
  range: (c, i) => range(c.client, KEY(i)),
  rs: (c, i) => range(c.client, KEY(i), { serializable: true }),
  watch: (c, i) => {
    const key = `${WATCHED}${i % 1000}`;
    return Promise.all([c.watch.event(key), put(c.client, key)]);
  },
  sdk: (c, i) => c.sdk.kv.set(KEY(i), VALUE),
};
interface RowSpec {
  name: string;
  inFlight: number;
  op: Op;
}
const ROWS: RowSpec[] = (process.env.BENCH_ROWS ?? 'put@1,put@64').split(',').map((spec) => {
  const m = /^(put|range|rs|watch|sdk)@([1-9][0-9]*)$/.exec(spec.trim());
  if (!m) {
    console.error(`bench:ab: BENCH_ROWS: "${spec}" is not put@N, range@N, rs@N, watch@N or sdk@N (N in flight, e.g. rs@64)`);
    process.exit(2);
  }
  return { name: `${m[1]}@${m[2]}`, inFlight: Number(m[2]), op: OPS[m[1]!]! };
});

/** Side B's checkout (BENCH_B_CHECKOUT), checked before any cluster starts. */
const B_CHECKOUT = process.env.BENCH_B_CHECKOUT ? resolve(process.env.BENCH_B_CHECKOUT) : undefined;
if (B_CHECKOUT !== undefined) {
  if (!benchUsesDist()) {
    console.error('bench:ab: BENCH_B_CHECKOUT compares compiled servers: run `npm run build` here first (and not BENCH_SRC=1)');
    process.exit(2);
  }
  for (const f of ['bin/placement-center.js', 'dist/src/cli/server.js']) {
    if (!existsSync(join(B_CHECKOUT, f))) {
      console.error(`bench:ab: BENCH_B_CHECKOUT=${B_CHECKOUT} has no ${f} (a checkout of this repository, built with \`npm run build\`)`);
      process.exit(2);
    }
  }
}

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
if (Object.keys(variant).length === 0 && variantFlags.length === 0 && B_CHECKOUT === undefined) {
  console.error('bench:ab: give the environment or Node.js flags of side B, e.g. npm run bench:ab -- PLACEMENT_WAL_PREALLOCATE_BYTES=0');
  process.exit(2);
}

interface Row {
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU of all members per operation, µs. */
  cpuUs: number;
  /** The largest member's RSS after the row, MiB. */
  rssMiB: number;
}

async function side(env: Record<string, string>, nodeArgs: string[], checkout?: string): Promise<Row[]> {
  const c = await startCluster({ nodes: 3, useDist: benchUsesDist(), checkout, env: { PLACEMENT_LOG_LEVEL: 'warn', ...env }, nodeArgs });
  try {
    const leaderId = await c.waitForLeader();
    const target = AT === 'follower' ? c.nodes.find((n) => n.id !== leaderId)! : c.node(leaderId);
    const client = rawClient(target.grpcAddress);
    const watcherAt = process.env.BENCH_WATCH_AT === 'leader' ? c.node(leaderId) : c.nodes.find((n) => n.id !== leaderId && n.id !== target.id)!;
    const watch = new FollowerWatch(watcherAt.grpcAddress, WATCHED);
    const sdk = new PlacementClient({ endpoints: c.nodes.map((n) => n.grpcAddress) });
    const ctx: Ctx = { client, watch, sdk };
    try {
      await watch.created;
      await sdk.connect();
      // The keys the reads read, then some of each row's operation: the first calls of a fresh
      // process run through the interpreter, so both sides are warmed alike.
      for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => put(client, KEY(i + k))));
      for (const row of ROWS) await drive('warm-up', 4, 1, (i) => row.op(ctx, i));
      const rows: Row[] = [];
      for (const row of ROWS) {
        const pids = c.nodes.map((n) => n.pid);
        const c0 = pids.map(cpuSeconds);
        const r = await drive(row.name, row.inFlight, SECONDS, (i) => row.op(ctx, i));
        const cpu = pids.reduce<number>((s, p, i) => s + cpuSeconds(p) - c0[i]!, 0);
        rows.push({ perSecond: r.ops / r.seconds, p50: r.p50, p99: r.p99, cpuUs: (cpu / r.ops) * 1e6, rssMiB: Math.max(...pids.map((p) => Number(rssMiB(p)) || 0)) });
      }
      return rows;
    } finally {
      sdk.close();
      watch.close();
      client.close();
    }
  } finally {
    await c.stop();
  }
}

const raw = keepRawOutput('ab');
const log = (s: string): void => console.log(s);
const f = (x: number, d = 0): string => x.toFixed(d);
const label = [...(B_CHECKOUT ? [`the server of ${B_CHECKOUT}`] : []), ...Object.entries(variant).map(([k, v]) => `${k}=${v}`), ...variantFlags].join(' ');
log(`A: defaults; B: ${label}; ${ROUNDS} rounds, ${SECONDS} s per row, members from ${benchUsesDist() ? 'dist/' : 'src/ via tsx'}, raw client on ${RAW_CLIENT}`);
const rounds: { a: Row[]; b: Row[] }[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  // Alternate which side goes first, so that a drift of the VM's speed does not favour one.
  const first = r % 2 === 1 ? 'a' : 'b';
  const x = first === 'a' ? await side({}, []) : await side(variant, variantFlags, B_CHECKOUT);
  const y = first === 'a' ? await side(variant, variantFlags, B_CHECKOUT) : await side({}, []);
  const round = first === 'a' ? { a: x, b: y } : { a: y, b: x };
  rounds.push(round);
  for (const [i, row] of ROWS.entries()) {
    const [a, b] = [round.a[i]!, round.b[i]!];
    log(`round ${r} ${row.name}: A ${f(a.perSecond)}/s p50 ${f(a.p50, 2)} p99 ${f(a.p99, 2)} ms ${f(a.cpuUs)} µs CPU/op ${f(a.rssMiB)} MiB | B ${f(b.perSecond)}/s p50 ${f(b.p50, 2)} p99 ${f(b.p99, 2)} ms ${f(b.cpuUs)} µs ${f(b.rssMiB)} MiB | B/A ${f(b.perSecond / a.perSecond, 2)}x`);
  }
}
log(`\n== medians of ${ROUNDS} rounds (B: ${label})`);
for (const [i, row] of ROWS.entries()) {
  const col = (s: 'a' | 'b', k: keyof Row): number => median(rounds.map((r) => r[s][i]![k]));
  const paired = (k: keyof Row): number => median(rounds.map((r) => r.b[i]![k] / r.a[i]![k]));
  log(
    `${row.name}: A ${f(col('a', 'perSecond'))}/s p50 ${f(col('a', 'p50'), 2)} p99 ${f(col('a', 'p99'), 2)} ms ${f(col('a', 'cpuUs'))} µs ${f(col('a', 'rssMiB'))} MiB | ` +
      `B ${f(col('b', 'perSecond'))}/s p50 ${f(col('b', 'p50'), 2)} p99 ${f(col('b', 'p99'), 2)} ms ${f(col('b', 'cpuUs'))} µs ${f(col('b', 'rssMiB'))} MiB | ` +
      `paired B/A: ops/s ${f(paired('perSecond'), 2)}x, p50 ${f(paired('p50'), 2)}x, p99 ${f(paired('p99'), 2)}x, CPU/op ${f(paired('cpuUs'), 2)}x, RSS ${f(paired('rssMiB'), 2)}x`,
  );
}
raw.json({ variant, variantFlags, rows: ROWS.map((r) => r.name), rounds });
process.exit(0);
