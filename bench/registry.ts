// `npm run bench:registry`: the broker registry and shard placement on a 3-member cluster.
//   1. BENCH_BROKERS simulated brokers (default 1000) register (TTL BENCH_TTL_S, default 3 s) and
//      heartbeat every BENCH_HEARTBEAT_MS (1000), spread evenly, over BENCH_CLIENTS SDK clients
//      (8), for BENCH_SECONDS (10): heartbeat p50/p99 and each member's CPU as % of one core;
//   2. BENCH_SHARDS shards (200, two replicas) are placed, then BENCH_VICTIMS brokers (10) stop
//      heartbeating at staggered times while the rest go on: the time from each victim's last
//      acknowledged heartbeat to none of its shards naming it (seen by a watch on the shard
//      prefix), p50/p99 — the lease TTL + the expiry bound + the controller's pass.
// No reference system has this API, so there is no ratio: these numbers size one cluster here.
import { PlacementClient, type ShardInfo } from '../src/client/index.js';
import { startCluster } from '../test/support/cluster.js';
import { cpuSeconds, keepRawOutput, pct } from './measure.js';

const BROKERS = Number(process.env.BENCH_BROKERS ?? 1000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const TTL_S = Number(process.env.BENCH_TTL_S ?? 3);
const HEARTBEAT_MS = Number(process.env.BENCH_HEARTBEAT_MS ?? 1000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const SHARDS = Number(process.env.BENCH_SHARDS ?? 200);
const VICTIMS = Number(process.env.BENCH_VICTIMS ?? 10);
const CL = 'bench';
const f = (n: number, d = 0): string => n.toFixed(d);

async function main(): Promise<void> {
  keepRawOutput('registry');
  console.log(`starting a 3-member Placement Center cluster (src/ via tsx) ...`);
  const c = await startCluster({ nodes: 3, env: { PLACEMENT_LOG_LEVEL: 'warn' } });
  const eps = c.nodes.map((n) => n.grpcAddress);
  const clients = Array.from({ length: CLIENTS }, () => new PlacementClient({ endpoints: eps, deadlineMs: 15_000 }));
  const stopped = new Set<number>();
  const lastAck = new Map<number, number>();
  const lat: number[] = [];
  let errors = 0;
  let running = true;
  try {
    // Each broker registers, then heartbeats every period (its lease must not lapse while the
    // others register); registrations go 100 at a time.
    const t0 = Date.now();
    let registered = 0;
    const gate = { n: 0, waiters: [] as Array<() => void> };
    const admit = async (): Promise<void> => {
      while (gate.n >= 100) await new Promise<void>((r) => gate.waiters.push(r));
      gate.n++;
    };
    const release = (): void => {
      gate.n--;
      gate.waiters.shift()?.();
    };
    const loops = Array.from({ length: BROKERS }, (_, k) => k + 1).map(async (id) => {
      const cl = clients[id % CLIENTS]!;
      await admit();
      try {
        await cl.registry.register(CL, id, { zone: `z${id % 3}`, ttlSeconds: TTL_S, addresses: [`10.0.${id >> 8}.${id & 255}:9092`] });
        registered++;
      } finally {
        release();
      }
      while (running && !stopped.has(id)) {
        const start = performance.now();
        try {
          await cl.registry.heartbeat(CL, id);
          lat.push(performance.now() - start);
          lastAck.set(id, Date.now());
        } catch (err) {
          if (errors++ === 0) console.log(`first heartbeat error: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, HEARTBEAT_MS - (performance.now() - start))));
      }
    });
    while (registered < BROKERS) await new Promise((r) => setTimeout(r, 100));
    console.log(`${BROKERS} brokers registered in ${Date.now() - t0} ms`);

    // 1. Steady heartbeats: CPU and latency.
    await new Promise((r) => setTimeout(r, 2000));
    lat.length = 0;
    const cpu0 = c.nodes.map((n) => cpuSeconds(n.pid));
    const w0 = Date.now();
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const wall = (Date.now() - w0) / 1000;
    const cpu = c.nodes.map((n, i) => ((cpuSeconds(n.pid) - cpu0[i]!) / wall) * 100);
    const sorted = [...lat].sort((a, b) => a - b);
    const leader = await c.waitForLeader();
    console.log(
      `heartbeats: ${f(lat.length / wall)}/s answered (${errors} errors), p50 ${f(pct(sorted, 50), 1)} ms, p99 ${f(pct(sorted, 99), 1)} ms; member CPU (% of a core): ${c.nodes.map((n, i) => `${n.id}${n.id === leader ? ' (leader)' : ''} ${f(cpu[i]!)}`).join(', ')}`,
    );

    // 2. Shards, then victims stop heartbeating.
    // Its own client, as an operator's would be.
    const admin = new PlacementClient({ endpoints: eps, deadlineMs: 30_000 });
    clients.push(admin);
    const tc = Date.now();
    for (let i = 0; i < SHARDS; i += 5) {
      await Promise.all(Array.from({ length: Math.min(5, SHARDS - i) }, (_, k) => admin.placement.createShard(CL, `s${i + k}`, 2)));
    }
    console.log(`${SHARDS} shards created in ${Date.now() - tc} ms (5 at a time, while the heartbeats go on)`);
    const shards = new Map<string, ShardInfo>((await admin.placement.listShards(CL)).shards.map((s) => [s.shardName, s]));
    const held = (id: number): number => [...shards.values()].filter((s) => s.replicas.includes(id)).length;
    const victims = [...new Set([...shards.values()].flatMap((s) => s.replicas))].sort((a, b) => a - b).slice(0, VICTIMS);
    const watch = admin.watch(`/placement/shards/${CL}/`, { prefix: true, startRevision: (await admin.placement.listShards(CL)).revision + 1 });
    const gone = new Map<number, number>();
    const watching = (async () => {
      for await (const b of watch) {
        for (const e of b.events) {
          if (e.type !== 'put') continue;
          const name = e.kv.key.slice(`/placement/shards/${CL}/`.length);
          const j = JSON.parse(e.kv.value.toString()) as { replicas: number[]; leader: number; epoch: number };
          shards.set(name, { ...shards.get(name)!, replicas: j.replicas, leader: j.leader, epoch: j.epoch });
        }
        for (const v of victims) if (stopped.has(v) && !gone.has(v) && held(v) === 0) gone.set(v, Date.now());
        if (gone.size === victims.length) return;
      }
    })();
    for (const v of victims) {
      stopped.add(v);
      await new Promise((r) => setTimeout(r, 200));
    }
    const deadline = Date.now() + 60_000;
    while (gone.size < victims.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    watch.close();
    await watching.catch(() => undefined);
    const times = victims.filter((v) => gone.has(v)).map((v) => gone.get(v)! - (lastAck.get(v) ?? 0)).sort((a, b) => a - b);
    console.log(
      `broker death → its shards reassigned (${times.length}/${victims.length} victims, ${SHARDS} shards, TTL ${TTL_S} s): p50 ${f(pct(times, 50))} ms, p99 ${f(pct(times, 99))} ms, max ${f(times[times.length - 1] ?? NaN)} ms`,
    );
    running = false;
    await Promise.race([Promise.all(loops), new Promise((r) => setTimeout(r, HEARTBEAT_MS * 3))]);
  } finally {
    running = false;
    for (const cl of clients) cl.close();
    await c.stop();
  }
}

await main();
process.exit(0);
