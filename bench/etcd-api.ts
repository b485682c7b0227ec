// `npm run bench:etcd-api`: the etcd v3 KV API, served by a 3-member etcd 3.4 and by a 3-node
// Placement Center, driven in the same run by the same raw grpc-js client (unary calls of
// `/etcdserverpb.KV/*` with our generated encoders; what any etcd client library does per call).
//
// Rows, each BENCH_SECONDS (default 5) after a warm-up, 256-byte values:
//   - Put at 64 in flight, to the leader;
//   - Range of one key at 64 in flight, linearizable and serializable, each caller reading from
//     one member (caller w → member w % 3), as clients attached to different members do;
//   - Txn at 64 in flight: compare the key's mod_revision, then put (each caller owns a key, so a
//     compare fails only if a reply was lost — counted as an error);
//   - with BENCH_HISTORY (default 1,000,000) revisions retained: Range of one key at an old
//     revision and at the current one, 64 in flight, to show a read into history does not scan it;
//     and a page of 10 of the 1,001 keys of that history's prefix (limit 10, count exact), at the
//     old revision and at the current one.
// Then the ratio Placement Center / etcd of every row. The systems run one after the other
// (BENCH_ORDER, default "etcd,placement"), never at the same time; the VM's speed drifts, so
// compare ratios from one run, and run it twice with the order swapped before concluding.
// Options (env): BENCH_SECONDS, BENCH_WARMUP (1.5), BENCH_HISTORY (0 skips the history rows), BENCH_ORDER, BENCH_SRC=1
// (run the nodes from src/ through tsx instead of dist/), BENCH_NODE_ARGS="--flag ..." (extra
// Node.js/V8 flags for our members, e.g. --trace-gc, whose lines go to each member's log).
import { Compare, Compare_CompareResult, Compare_CompareTarget, PutRequest, TxnRequest } from '../proto/gen/etcd/etcdserverpb/rpc.js';
import { RAW_CLIENT, VALUE, call, put, range, rawClient, revisionOf, varintAt } from './etcd-raw.js';
import { requireEtcd, startEtcdCluster } from '../test/support/etcd.js';
import { startCluster } from '../test/support/cluster.js';
import { benchUsesDist, cpuSeconds, drive, header, keepRawOutput, line, rssMiB, type Result } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const HISTORY = Number(process.env.BENCH_HISTORY ?? 1_000_000);
const ORDER = (process.env.BENCH_ORDER ?? 'etcd,placement').split(',');
const IN_FLIGHT = 64;
/**
 * Seconds of writes (then two thirds of that of reads) before the rows. V8 keeps optimizing our
 * members' hot paths for ~20 s of load; etcd's Go code needs no warm-up.
 */
const WARMUP = Number(process.env.BENCH_WARMUP ?? 1.5);
/** Extra Node.js/V8 flags for our members, after the launchers' own (e.g. "--trace-gc"). */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const KEYS = 10_000;

/** A running 3-member system serving the etcd API. */
interface System {
  name: string;
  leaderAddress: string;
  addresses: string[];
  pids: number[];
  leaderPid: number;
  stop(): Promise<void>;
}

async function startEtcd(): Promise<System> {
  const version = requireEtcd();
  console.log(`\nstarting a 3-member etcd cluster (${version}) ...`);
  const etcd = await startEtcdCluster();
  const leader = await etcd.leader();
  return {
    name: 'etcd',
    leaderAddress: leader.grpcAddress,
    addresses: etcd.members.map((m) => m.grpcAddress),
    pids: etcd.members.map((m) => m.pid),
    leaderPid: leader.pid,
    stop: () => etcd.stop(),
  };
}

async function startPlacement(): Promise<System> {
  const useDist = benchUsesDist();
  console.log(`\nstarting a 3-node Placement Center cluster (${useDist ? 'dist/' : 'src/ via tsx'}) ...`);
  const c = await startCluster({ nodes: 3, useDist, env: { PLACEMENT_LOG_LEVEL: 'warn' }, nodeArgs: NODE_ARGS });
  const leader = c.node(await c.waitForLeader());
  return {
    name: 'placement',
    leaderAddress: leader.grpcAddress,
    addresses: c.nodes.map((n) => n.grpcAddress),
    pids: c.nodes.map((n) => n.pid ?? 0),
    leaderPid: leader.pid ?? 0,
    stop: () => c.stop(),
  };
}

async function measure(sys: System): Promise<Result[]> {
  const leader = rawClient(sys.leaderAddress);
  const members = sys.addresses.map((a) => rawClient(a));
  const results: Result[] = [];
  const row = async (name: string, op: (i: number, worker: number) => Promise<unknown>): Promise<void> => {
    const n0 = sys.pids.reduce((a, p) => a + cpuSeconds(p), 0);
    const l0 = cpuSeconds(sys.leaderPid);
    const c0 = process.cpuUsage();
    const r = await drive(name, IN_FLIGHT, SECONDS, op);
    const cu = process.cpuUsage(c0);
    console.log(line(r, sys.pids.reduce((a, p) => a + cpuSeconds(p), 0) - n0, (cu.user + cu.system) / 1e6, cpuSeconds(sys.leaderPid) - l0));
    results.push(r);
  };
  try {
    console.log(`${sys.name}: ${SECONDS} s per row, ${IN_FLIGHT} in flight, 256-byte values, raw client on ${RAW_CLIENT}\n${header()}`);
    await drive('warm-up', 16, WARMUP, (i) => put(leader, `bench/warm/${i % 1000}`));
    await drive('warm-up', 16, (WARMUP * 2) / 3, (i, w) => range(members[w % 3]!, `bench/warm/${i % 1000}`));
    await row('Put', (i) => put(leader, `bench/kv/${i % KEYS}`));
    await row('Range', (i, w) => range(members[w % 3]!, `bench/kv/${i % KEYS}`));
    await row('Range serializable', (i, w) => range(members[w % 3]!, `bench/kv/${i % KEYS}`, { serializable: true }));

    // Txn: compare-and-put on a key of the caller's own, chained by the revision each success returns.
    const mod = await Promise.all(Array.from({ length: IN_FLIGHT }, async (_, w) => revisionOf(await put(leader, `bench/txn/${w}`))));
    await row('Txn (cmp mod, put)', async (_i, w) => {
      const key = Buffer.from(`bench/txn/${w}`);
      const r = await call(
        leader,
        'Txn',
        TxnRequest,
        TxnRequest.fromPartial({
          compare: [Compare.fromPartial({ key, target: Compare_CompareTarget.MOD, result: Compare_CompareResult.EQUAL, targetUnion: { $case: 'modRevision', value: mod[w]! } })],
          success: [{ request: { $case: 'requestPut', value: PutRequest.fromPartial({ key, value: VALUE }) } }],
        }),
      );
      if (varintAt(r, [2]) !== 1) {
        mod[w] = varintAt(await range(leader, `bench/txn/${w}`), [2, 4]); // kvs[0].mod_revision
        throw new Error('compare failed');
      }
      mod[w] = revisionOf(r);
    });

    if (HISTORY > 0) {
      const t0 = performance.now();
      const base = revisionOf(await put(leader, 'bench/hist/start'));
      let done = 0;
      await Promise.all(
        Array.from({ length: 256 }, async () => {
          while (done < HISTORY) {
            const i = done++;
            await put(leader, `bench/hist/${i % 1000}`);
          }
        }),
      );
      const old = base + 1000; // every bench/hist/<n> exists from here on
      console.log(`# ${HISTORY} revisions written in ${((performance.now() - t0) / 1000).toFixed(0)} s; reading at revision ${old} and at the current one`);
      await row(`Range rev=old (${HISTORY / 1000}k hist)`, (i, w) => range(members[w % 3]!, `bench/hist/${i % 1000}`, { revision: old }));
      await row(`Range current (${HISTORY / 1000}k hist)`, (i, w) => range(members[w % 3]!, `bench/hist/${i % 1000}`));
      // A page of the whole prefix (1,001 keys, count exact), as a lister at a revision reads it.
      const page = { rangeEnd: Buffer.from('bench/hist0'), limit: 10 };
      await row(`Prefix page rev=old`, (_i, w) => range(members[w % 3]!, 'bench/hist/', { ...page, revision: old }));
      await row(`Prefix page current`, (_i, w) => range(members[w % 3]!, 'bench/hist/', page));
    }
    console.log(`RSS per member (MiB): ${sys.pids.map((p) => `${rssMiB(p)}${p === sys.leaderPid ? ' (leader)' : ''}`).join(', ')}`);
    return results;
  } finally {
    leader.close();
    for (const m of members) m.close();
  }
}

async function main(): Promise<void> {
  keepRawOutput('etcd-api');
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const byName = new Map<string, Result[]>();
  for (const name of ORDER) {
    if (name !== 'etcd' && name !== 'placement') throw new Error(`BENCH_ORDER: unknown system "${name}" (etcd or placement)`);
    const sys = await (name === 'etcd' ? startEtcd() : startPlacement());
    try {
      byName.set(name, await measure(sys));
    } finally {
      await sys.stop();
    }
  }
  const e = byName.get('etcd');
  const p = byName.get('placement');
  if (e && p) {
    console.log('\nPlacement Center / etcd, ops/s of the same row in this run:');
    for (const r of p) {
      const other = e.find((x) => x.name === r.name);
      if (other && other.ops > 0) console.log(`  ${r.name.padEnd(28)} ${(r.ops / r.seconds / (other.ops / other.seconds)).toFixed(2)}×`);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
