// `npm run bench:etcd`: the write part of `npm run bench`, run against a local 3-member etcd
// cluster (the `etcd` binary on PATH, e.g. Debian's etcd-server 3.4) for a head-to-head number.
//
// Same client technique as bench/cluster.ts: one @grpc/grpc-js channel to the leader, unary calls
// (`/etcdserverpb.KV/Put` with a hand-encoded PutRequest, response body ignored), the same
// warm-up, the same drive loop and percentile method, BENCH_SECONDS (default 5) per level, and the
// same columns: writes/s, p50/p99, CPU (user+sys) per op of all members, of the leader, and of
// this load generator; RSS per member at the end. Data dirs live under os.tmpdir() like the
// Placement Center bench. Options (env): BENCH_SECONDS, BENCH_CONCURRENCY, ETCD_BIN.
import * as grpc from '@grpc/grpc-js';
import { requireEtcd, startEtcdCluster, type EtcdCluster } from '../test/support/etcd.js';
import { cpuSeconds, drive, header, keepRawOutput, line, rssMiB } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64,256').split(',').map(Number);
const VALUE = Buffer.alloc(256, 0x61);

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}
function putRequest(key: string, value: Buffer): Buffer {
  const k = Buffer.from(key);
  return Buffer.concat([Buffer.from([0x0a, ...varint(k.length)]), k, Buffer.from([0x12, ...varint(value.length)]), value]);
}

async function main(): Promise<void> {
  keepRawOutput('etcd');
  let client: grpc.Client | null = null;
  let etcd: EtcdCluster | null = null;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  try {
    const version = requireEtcd();
    console.log(`starting a 3-member etcd cluster (${version}) ...`);
    etcd = await startEtcdCluster();
    const members = etcd.members;
    const leader = await etcd.leader();
    client = new grpc.Client(leader.grpcAddress, grpc.credentials.createInsecure(), {
      'grpc.max_concurrent_streams': 1000,
      'grpc.enable_channelz': 0,
    } as grpc.ChannelOptions);
    const c = client;
    const put = (key: string): Promise<void> =>
      new Promise((res, rej) => {
        c.makeUnaryRequest('/etcdserverpb.KV/Put', (b: Buffer) => b, (b: Buffer) => b, putRequest(key, VALUE), (err) => (err ? rej(err) : res()));
      });
    console.log(`leader: ${leader.name} (pid ${leader.pid}); ${SECONDS} s per measurement; 256-byte values\n`);
    console.log(header());
    await drive('warm-up', 16, 1.5, (i) => put(`bench/warm/${i % 1000}`));
    const keys = 10_000;
    for (const n of LEVELS) {
      const n0 = members.reduce((a, m) => a + cpuSeconds(m.pid), 0);
      const l0 = cpuSeconds(leader.pid);
      const c0 = process.cpuUsage();
      const r = await drive('write (Put)', n, SECONDS, (i) => put(`bench/${n}/${i % keys}`));
      const cu = process.cpuUsage(c0);
      const n1 = members.reduce((a, m) => a + cpuSeconds(m.pid), 0);
      const l1 = cpuSeconds(leader.pid);
      console.log(line(r, n1 - n0, (cu.user + cu.system) / 1e6, l1 - l0));
    }
    const still = await etcd.leader();
    if (still !== leader) console.log(`\nnote: leadership moved to ${still.name} during the run`);
    console.log(`\nRSS per member (MiB): ${members.map((m) => `${m.name}${m === leader ? ' (leader)' : ''}: ${rssMiB(m.pid)}`).join(', ')}`);
  } finally {
    client?.close();
    await etcd?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
