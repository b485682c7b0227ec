// `npm run bench:compare`: etcd 3.4, ZooKeeper 3.8 and Placement Center under the same load,
// interleaved for BENCH_ROUNDS rounds (default 3; the system order rotates every round, so a slow
// minute of this VM does not land on one system only), then one table of ratios — min / median /
// max across rounds — against issue 24's targets. This is the figure the README quotes.
//
// Each round starts each system fresh (3 members on loopback), warms it up for BENCH_WARMUP
// seconds (default 3: writes at 16 in flight, then reads at 64), and measures for BENCH_SECONDS
// (default 5) per row, 256-byte values:
//   - write@1 and write@64: etcd Put / ZooKeeper setData on pre-created znodes / ours, to the leader;
//   - read@64: linearizable reads, each caller on one member (w % 3): etcd Range (linearizable),
//     ZooKeeper sync+getData on one session (its recipe for an up-to-date read), ours;
//   - RSS of every member at the end of the system's rows.
// Placement Center is driven twice on the same cluster: by the raw etcd-API client of bench/etcd-raw.ts
// (the very code that drives etcd: one unary call per request, what every etcd client does) and by
// our SDK (operations multiplexed on Session streams).
// Raw output (this text and a JSON of every row of every round) goes to reports/bench/.
// Options (env): BENCH_ROUNDS, BENCH_SECONDS, BENCH_WARMUP, BENCH_SYSTEMS (default
// "etcd,zookeeper,placement"; a subset skips the others' rows and ratios), BENCH_SRC=1 (nodes from
// src/ through tsx instead of dist/), BENCH_NODE_ARGS="--flag ..." (extra Node.js/V8 flags for our
// nodes, e.g. --max-semi-space-size=2 to trade scavenges for memory), BENCH_CLIENTS (default
// "etcd-api,sdk": which clients drive Placement Center), BENCH_PROFILE=DIR (our nodes run with
// --cpu-prof into DIR; the profiles are written when the nodes are stopped gracefully at the end
// of each Placement Center round).
import { PlacementClient } from '../src/client/index.js';
import { startCluster } from '../test/support/cluster.js';
import { requireEtcd, startEtcdCluster } from '../test/support/etcd.js';
import { RAW_CLIENT, VALUE, put, range, rawClient, type RawClient } from './etcd-raw.js';
import { benchUsesDist, cpuSeconds, drive, header, keepRawOutput, line, rssMiB, type Result } from './measure.js';
import { findLeader, getData, open, populate, setData, startZooKeeper, sync, versions, create } from './zk-ensemble.js';
import { ratioTable, type Sample } from './compare-table.js';

const ROUNDS = positive('BENCH_ROUNDS', 3);
const SECONDS = positive('BENCH_SECONDS', 5);
const WARMUP = positive('BENCH_WARMUP', 3);
const SYSTEMS = (process.env.BENCH_SYSTEMS ?? 'etcd,zookeeper,placement').split(',').map((s) => s.trim());
const KEYS = 10_000;
const READ_KEYS = 1000;
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const CLIENTS = (process.env.BENCH_CLIENTS ?? 'etcd-api,sdk').split(',').map((s) => s.trim());
for (const c of CLIENTS) if (c !== 'etcd-api' && c !== 'sdk') throw new Error(`BENCH_CLIENTS: unknown client "${c}" (etcd-api, sdk)`);
const PROFILE_DIR = process.env.BENCH_PROFILE;

function positive(name: string, fallback: number): number {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name}: "${process.env[name]}" is not a positive number`);
  return v;
}

/** What one system (or one client of it) supplies to the shared row loop. */
interface Driver {
  /** Label in the samples: "etcd", "zookeeper", "placement/etcd-api", "placement/sdk". */
  system: string;
  write(key: number): Promise<unknown>;
  /** A linearizable read of read key `key` from member `member` (0..2). */
  read(member: number, key: number): Promise<unknown>;
}

/** Warm-up, then the three rows, each pushed to `samples` with this round's number. */
async function rows(d: Driver, pids: number[], round: number, samples: Sample[]): Promise<void> {
  await drive('warm-up', 16, WARMUP, (i) => d.write(i % KEYS));
  await drive('warm-up reads', 64, WARMUP, (i, w) => d.read(w % 3, i % READ_KEYS));
  const row = async (name: string, inFlight: number, op: (i: number, w: number) => Promise<unknown>): Promise<void> => {
    const n0 = pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const c0 = process.cpuUsage();
    const r: Result = await drive(`${d.system} ${name}`, inFlight, SECONDS, op);
    const cu = process.cpuUsage(c0);
    const nodeCpu = pids.reduce((a, p) => a + cpuSeconds(p), 0) - n0;
    console.log(line(r, nodeCpu, (cu.user + cu.system) / 1e6, 0));
    samples.push({ round, system: d.system, row: name, opsPerSec: r.ops / r.seconds, p50: r.p50, p99: r.p99, errors: r.errors, nodeCpuPerOp: r.ops > 0 ? nodeCpu / r.ops : NaN });
  };
  await row('write@1', 1, (i) => d.write(i % KEYS));
  await row('write@64', 64, (i) => d.write(i % KEYS));
  await row('read@64', 64, (i, w) => d.read(w % 3, i % READ_KEYS));
}

function recordRss(system: string, pids: number[], round: number, samples: Sample[]): void {
  const mib = pids.map((p) => Number(rssMiB(p)));
  console.log(`${system}: RSS per member (MiB) ${mib.join(', ')}`);
  samples.push({ round, system, row: 'rss', rssMiB: Math.max(...mib) });
}

async function etcdRound(round: number, samples: Sample[]): Promise<void> {
  console.log(`\n[round ${round}] etcd (${requireEtcd()}) ...`);
  const etcd = await startEtcdCluster();
  const leader = rawClient((await etcd.leader()).grpcAddress);
  const members = etcd.members.map((m) => rawClient(m.grpcAddress));
  try {
    const pids = etcd.members.map((m) => m.pid);
    console.log(header());
    await rows(rawDriver('etcd', leader, members), pids, round, samples);
    recordRss('etcd', pids, round, samples);
  } finally {
    leader.close();
    for (const m of members) m.close();
    await etcd.stop();
  }
}

function rawDriver(system: string, leader: RawClient, members: RawClient[]): Driver {
  return {
    system,
    write: (k) => put(leader, `bench/kv/${k}`),
    read: (m, k) => range(members[m]!, `bench/kv/${k}`),
  };
}

async function zookeeperRound(round: number, samples: Sample[]): Promise<void> {
  console.log(`\n[round ${round}] ZooKeeper ...`);
  const zk = await startZooKeeper();
  try {
    const leader = await findLeader(zk.members);
    console.log(await versions(leader));
    const lc = await open(leader.clientPort);
    const all = await Promise.all(zk.members.map((m) => open(m.clientPort)));
    await create(lc, '/bench', Buffer.alloc(0));
    await populate(lc, '/bench/kv', KEYS); // setData needs the znodes; etcd and ours create keys on the first put
    const pids = zk.members.map((m) => m.pid);
    console.log(header());
    await rows(
      {
        system: 'zookeeper',
        write: (k) => setData(lc, `/bench/kv/${k}`, VALUE),
        read: (m, k) => Promise.all([sync(all[m]!, `/bench/kv/${k}`), getData(all[m]!, `/bench/kv/${k}`)]),
      },
      pids,
      round,
      samples,
    );
    recordRss('zookeeper', pids, round, samples);
  } finally {
    await zk.stop();
  }
}

async function placementRound(round: number, samples: Sample[]): Promise<void> {
  const useDist = benchUsesDist();
  console.log(`\n[round ${round}] Placement Center (${useDist ? 'dist/' : 'src/ via tsx'}${NODE_ARGS.length > 0 ? `, node ${NODE_ARGS.join(' ')}` : ''}) ...`);
  const c = await startCluster({ nodes: 3, useDist, env: { PLACEMENT_LOG_LEVEL: 'warn' }, nodeArgs: [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), ...NODE_ARGS] });
  const leaderAddress = c.node(await c.waitForLeader()).grpcAddress;
  const leader = rawClient(leaderAddress);
  const members = c.nodes.map((n) => rawClient(n.grpcAddress));
  const endpoints = c.nodes.map((n) => n.grpcAddress);
  const writer = new PlacementClient({ endpoints, discoverMembers: true, channelOptions: { 'grpc.enable_channelz': 0 } });
  const readers = endpoints.map((e) => new PlacementClient({ endpoints: [e], discoverMembers: false, channelOptions: { 'grpc.enable_channelz': 0 } }));
  try {
    await writer.connect();
    const pids = c.nodes.map((n) => n.pid ?? 0);
    console.log(header());
    if (CLIENTS.includes('etcd-api')) await rows(rawDriver('placement/etcd-api', leader, members), pids, round, samples);
    if (CLIENTS.includes('sdk')) await rows(
      {
        system: 'placement/sdk',
        write: (k) => writer.kv.set(`bench/kv/${k}`, VALUE),
        read: (m, k) => readers[m]!.kv.get(`bench/kv/${k}`),
      },
      pids,
      round,
      samples,
    );
    recordRss('placement', pids, round, samples);
  } finally {
    leader.close();
    for (const m of members) m.close();
    writer.close();
    for (const r of readers) r.close();
    if (PROFILE_DIR) await Promise.all(c.nodes.map((n) => c.stopNode(n.id).catch(() => {})));
    await c.stop();
  }
}

const ROUND_OF: Record<string, (round: number, samples: Sample[]) => Promise<void>> = {
  etcd: etcdRound,
  zookeeper: zookeeperRound,
  placement: placementRound,
};

async function main(): Promise<void> {
  for (const s of SYSTEMS) if (!ROUND_OF[s]) throw new Error(`BENCH_SYSTEMS: unknown system "${s}" (etcd, zookeeper, placement)`);
  const raw = keepRawOutput('compare');
  console.log(`bench:compare — ${ROUNDS} rounds of ${SYSTEMS.join(', ')}; ${SECONDS} s per row after ${WARMUP} s + ${WARMUP} s of warm-up; 256-byte values; raw etcd-API client on ${RAW_CLIENT === 'h2' ? 'node:http2' : 'grpc-js'} (BENCH_RAW_CLIENT)`);
  const samples: Sample[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    // Rotate the order every round so that the VM's drift is spread over the systems.
    const order = SYSTEMS.map((_, i) => SYSTEMS[(i + round - 1) % SYSTEMS.length]!);
    for (const s of order) await ROUND_OF[s]!(round, samples);
  }
  console.log(`\n${ratioTable(samples, ROUNDS).join('\n')}`);
  raw.json({ rounds: ROUNDS, seconds: SECONDS, warmup: WARMUP, systems: SYSTEMS, rawClient: RAW_CLIENT, samples });
  console.log(`\nraw output: ${raw.textPath} and ${raw.jsonPath}`);
}

main().then(
  () => process.exit(0), // node-zookeeper-client may hold timers after close()
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
