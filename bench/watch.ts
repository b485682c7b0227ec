// `npm run bench:watch`: watch delivery of a 3-member etcd (the `etcd` binary on PATH, e.g.
// Debian's etcd-server 3.4) and a 3-node Placement Center, in the same run on the same machine,
// with the same raw gRPC watch client (/etcdserverpb.Watch/Watch, responses decoded with our
// generated code): W watchers on one prefix spread over the members (one stream per member).
//
// - latency: put-to-event, paced writes (BENCH_RATE/s, default 200) whose value carries the send
//   time; every event at every watcher is a sample; p50/p99 with 1, 100 and 1,000 watchers.
// - throughput at 1,000 watchers: writes as fast as 16 writers go; events delivered/s.
// - node CPU (user+sys of all members) per delivered event, and RSS per member at the end.
// Each system is warmed up first the same way (BENCH_WARMUP seconds of writes with ten watchers
// on every member; see warmUp).
// Writes are etcd KV/Put calls to the leader on both systems (the same bytes, the same client).
// Options (env): BENCH_ROUNDS (1; more: the rows measured in rounds alternating the systems'
// order, each row's ratio per round and their median), BENCH_SECONDS (5), BENCH_WARMUP (15), BENCH_WATCHERS
// (1,100,1000), BENCH_RATE (200), BENCH_SYSTEMS (etcd,placement: which to run, e.g. only ours while
// profiling), BENCH_NODE_ARGS (extra Node.js flags for our members, e.g. "--cpu-prof
// --cpu-prof-dir=/tmp/prof"), BENCH_SRC=1 (run src/ through tsx even when dist/ is built).
import * as grpc from '@grpc/grpc-js';
import { WatchRequest, WatchResponse } from '../proto/gen/etcd/etcdserverpb/rpc.js';
import { decodeWatchResponse } from '../src/client/watch-decode.js';
import { requireEtcd, startEtcdCluster } from '../test/support/etcd.js';
import { startCluster } from '../test/support/cluster.js';
import { benchUsesDist, cpuSeconds, keepRawOutput, pct, rssMiB } from './measure.js';
import { median } from './compare-table.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEVELS = (process.env.BENCH_WATCHERS ?? '1,100,1000').split(',').map(Number);
const RATE = Number(process.env.BENCH_RATE ?? 200);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 15);
const SYSTEMS = (process.env.BENCH_SYSTEMS ?? 'etcd,placement').split(',');
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1);

interface System {
  name: string;
  members: Array<{ address: string; pid: number }>;
  put(key: string, value: Buffer): Promise<void>;
  stop(): Promise<void>;
}

interface Row {
  round?: number;
  system: string;
  watchers: number;
  phase: string;
  writes: number;
  events: number;
  seconds: number;
  p50: number;
  p99: number;
  nodeCpuUsPerEvent: number;
  /** Responses that carried events: how much the server packed per message. */
  responses: number;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
const etcdPut = (key: string, value: Buffer): Buffer => {
  const k = Buffer.from(key);
  return Buffer.concat([Buffer.from([0x0a, ...varint(k.length)]), k, Buffer.from([0x12, ...varint(value.length)]), value]);
};

const unary = (c: grpc.Client, path: string, body: Buffer): Promise<void> =>
  new Promise((res, rej) => c.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, body, (err) => (err ? rej(err) : res())));

async function startEtcd(): Promise<System> {
  const etcd = await startEtcdCluster();
  const leader = await etcd.leader();
  const c = new grpc.Client(leader.grpcAddress, grpc.credentials.createInsecure());
  return {
    name: 'etcd 3.4',
    members: etcd.members.map((m) => ({ address: m.grpcAddress, pid: m.pid })),
    put: (key, value) => unary(c, '/etcdserverpb.KV/Put', etcdPut(key, value)),
    stop: async () => {
      c.close();
      await etcd.stop();
    },
  };
}

async function startOurs(): Promise<System> {
  // The compiled server when built (what users run): through tsx each member carries the
  // compiler and its caches (an idle member ~150 MiB RSS instead of ~90), which is not the product.
  const useDist = benchUsesDist();
  console.log(`our members run ${useDist ? 'dist/' : 'src/ via tsx (npm run build for dist/)'}`);
  const cl = await startCluster({ nodes: 3, nodeArgs: NODE_ARGS, useDist, env: { PLACEMENT_LOG_LEVEL: 'warn' } });
  const leader = await cl.waitForLeader();
  const c = new grpc.Client(cl.node(leader).grpcAddress, grpc.credentials.createInsecure());
  return {
    name: 'placement',
    members: cl.nodes.map((n) => ({ address: n.grpcAddress, pid: n.pid ?? 0 })),
    put: (key, value) => unary(c, '/etcdserverpb.KV/Put', etcdPut(key, value)),
    stop: async () => {
      c.close();
      // A profiled member writes its profile only when it exits by itself: stop it gracefully.
      if (NODE_ARGS.length > 0) await Promise.all(cl.nodes.map((n) => cl.stopNode(n.id, 30_000)));
      await cl.stop();
    },
  };
}

/** W watchers on `prefix`, spread over the members, one stream per member; records put-to-event latency. */
async function openWatchers(sys: System, prefix: string, w: number, onEvent: (latencyMs: number) => void, onResponse: () => void): Promise<() => void> {
  const clients: grpc.Client[] = [];
  const calls: grpc.ClientDuplexStream<WatchRequest, WatchResponse>[] = [];
  let created = 0;
  const key = Buffer.from(prefix);
  const end = Buffer.from(prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1));
  for (let m = 0; m < sys.members.length; m++) {
    const count = Math.floor(w / sys.members.length) + (m < w % sys.members.length ? 1 : 0);
    if (count === 0) continue;
    const c = new grpc.Client(sys.members[m]!.address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
    clients.push(c);
    const call = c.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', (r: WatchRequest) => Buffer.from(WatchRequest.encode(r).finish()), (b: Buffer) => decodeWatchResponse(b), new grpc.Metadata());
    calls.push(call);
    call.on('data', (r: WatchResponse) => {
      if (r.created) created++;
      if (r.events.length > 0) onResponse();
      const now = performance.now() + performance.timeOrigin;
      for (const e of r.events) onEvent(now - Number(Buffer.from(e.kv!.value).toString()));
    });
    call.on('error', () => {});
    for (let i = 0; i < count; i++) {
      call.write({ requestUnion: { $case: 'createRequest', value: { key, rangeEnd: end, startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false } } });
    }
  }
  const until = Date.now() + 30_000;
  while (created < w && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  if (created < w) throw new Error(`${sys.name}: only ${created} of ${w} watchers created`);
  return () => {
    for (const call of calls) call.cancel();
    for (const c of clients) c.close();
  };
}

const stamp = (): Buffer => Buffer.from(String(performance.now() + performance.timeOrigin));

async function measure(sys: System, w: number, phase: 'paced' | 'flood'): Promise<Row> {
  const lat: number[] = [];
  let events = 0;
  let responses = 0;
  const prefix = `bw/${phase}/${w}/`;
  const close = await openWatchers(sys, prefix, w, (ms) => {
    events++;
    if (lat.length < 2_000_000) lat.push(ms);
  }, () => void responses++);
  const cpu0 = sys.members.reduce((a, m) => a + cpuSeconds(m.pid), 0);
  const t0 = performance.now();
  const end = t0 + SECONDS * 1000;
  let writes = 0;
  if (phase === 'paced') {
    const interval = 1000 / RATE;
    let next = performance.now();
    const inflight: Promise<void>[] = [];
    while (performance.now() < end) {
      inflight.push(sys.put(`${prefix}${writes % 100}`, stamp()).then(() => void writes++));
      next += interval;
      const wait = next - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    await Promise.allSettled(inflight);
  } else {
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (performance.now() < end) {
          await sys.put(`${prefix}${writes % 100}`, stamp());
          writes++;
        }
      }),
    );
  }
  // Let delivery finish (bounded), so events/s counts what the writes caused.
  const expected = writes * w;
  const until = performance.now() + 30_000;
  while (events < expected && performance.now() < until) await new Promise((r) => setTimeout(r, 20));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = sys.members.reduce((a, m) => a + cpuSeconds(m.pid), 0) - cpu0;
  close();
  lat.sort((a, b) => a - b);
  return { system: sys.name, watchers: w, phase, writes, events, seconds, p50: pct(lat, 50), p99: pct(lat, 99), nodeCpuUsPerEvent: events > 0 ? (cpu * 1e6) / events : NaN, responses };
}

/**
 * The same for both systems before anything is measured: ten watchers on every member (one
 * stream each, so a revision fans out within a stream as in the rows), 16 writers for WARMUP
 * seconds. A fresh Node.js process runs its first few hundred requests through the interpreter
 * and keeps compiling for many seconds more (the first ~30 paced writes took 5-23 ms instead of
 * ~3; on a follower the optimizing compiler still took 15% of its CPU 15 s in), which is
 * start-up, not the steady state the rows compare; etcd's compiled code has none. Same hour,
 * 2026-12-05: with 3 s of warm-up the paced rows' p99 at 1 watcher was 6.41x etcd's, with 15 s
 * 2.29x.
 */
async function warmUp(sys: System): Promise<void> {
  const close = await openWatchers(sys, 'bw/warm-up/', 10 * sys.members.length, () => undefined, () => undefined);
  const end = performance.now() + WARMUP * 1000;
  let i = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < end) await sys.put(`bw/warm-up/${i++ % 100}`, stamp());
    }),
  );
  close();
}

function print(r: Row): void {
  console.log(
    `${String(r.round ?? 1).padStart(5)} ${r.system.padEnd(10)} ${r.phase.padEnd(6)} ${String(r.watchers).padStart(8)} ${String(r.writes).padStart(7)} ${String(r.events).padStart(9)} ${(r.events / r.seconds).toFixed(0).padStart(10)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.nodeCpuUsPerEvent.toFixed(1).padStart(12)} ${(r.events / r.responses).toFixed(1).padStart(8)}`,
  );
}

function ratioOf(r: Row, e: Row): { p50: number; p99: number; rate: number; cpu: number } {
  return { p50: r.p50 / e.p50, p99: r.p99 / e.p99, rate: r.events / r.seconds / (e.events / e.seconds), cpu: r.nodeCpuUsPerEvent / e.nodeCpuUsPerEvent };
}

function spread(xs: number[]): string {
  const s = [...xs].sort((x, y) => x - y);
  return s.length === 1 ? `×${s[0]!.toFixed(2)}` : `×${median(s).toFixed(2)} (${s[0]!.toFixed(2)}–${s[s.length - 1]!.toFixed(2)})`;
}

async function main(): Promise<void> {
  keepRawOutput('watch');
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const version = requireEtcd();
  console.log(`bench:watch — ${version} vs Placement Center, 3 members each; ${SECONDS} s per measurement, paced ${RATE} writes/s, ${WARMUP} s of warm-up on each system, ${ROUNDS} round(s)\n`);
  console.log(`${'round'.padStart(5)} ${'system'.padEnd(10)} ${'phase'.padEnd(6)} ${'watchers'.padStart(8)} ${'writes'.padStart(7)} ${'events'.padStart(9)} ${'events/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'node µs/event'.padStart(12)} ${'ev/resp'.padStart(8)}`);
  const rows: Row[] = [];
  const starts = [...(SYSTEMS.includes('etcd') ? [startEtcd] : []), ...(SYSTEMS.includes('placement') ? [startOurs] : [])];
  const systems: System[] = [];
  try {
    for (const start of starts) {
      const sys = await start();
      systems.push(sys);
      await warmUp(sys);
    }
    // Rounds alternate the systems' order: the machine's speed moves within minutes, and a
    // ratio is only fair between measurements taken close together.
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? systems : [...systems].reverse();
      for (const sys of order) {
        for (const w of LEVELS) {
          const r = { ...(await measure(sys, w, 'paced')), round };
          rows.push(r);
          print(r);
        }
        const r = { ...(await measure(sys, Math.max(...LEVELS), 'flood')), round };
        rows.push(r);
        print(r);
      }
    }
    for (const sys of systems) console.log(`${sys.name}: RSS per member (MiB): ${sys.members.map((m) => rssMiB(m.pid)).join(', ')}`);
  } finally {
    for (const sys of systems) await sys.stop();
  }
  console.log(`\nratios (placement / etcd, per round; ${ROUNDS > 1 ? 'median (min–max) of the rounds; ' : ''}latency and CPU: lower is better, events/s: higher is better)`);
  for (const r of rows.filter((x) => x.system === 'placement' && x.round === 1)) {
    const per = rows
      .filter((x) => x.system === 'placement' && x.phase === r.phase && x.watchers === r.watchers)
      .map((o) => {
        const e = rows.find((x) => x.system !== 'placement' && x.round === o.round && x.watchers === o.watchers && x.phase === o.phase);
        return e ? ratioOf(o, e) : null;
      })
      .filter((x) => x !== null);
    if (per.length === 0) continue;
    console.log(
      `${r.phase.padEnd(6)} ${String(r.watchers).padStart(5)} watchers: p50 ${spread(per.map((x) => x.p50))}, p99 ${spread(per.map((x) => x.p99))}, events/s ${spread(per.map((x) => x.rate))}, node CPU/event ${spread(per.map((x) => x.cpu))}`,
    );
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
