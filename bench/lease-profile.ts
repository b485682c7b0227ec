// CPU profile of a 3-member cluster under the keep-alive throughput load of bench/lease.ts
// (raw LeaseKeepAlive streams to the leader, a window of keep-alives in flight per stream).
// Every member runs with --cpu-prof; the members are stopped gracefully so the profiles are
// written, and the top self-time frames of the leader's profile are printed.
// With PROFILE_RATE (keep-alives per second) the load is bench/lease.ts's steady sessions instead:
// that many keep-alives a second spread over the leases (PROFILE_TTL s each, default 60).
//   tsx bench/lease-profile.ts    env: BENCH_SECONDS (5), BENCH_LEASES (1000), BENCH_STREAMS (8),
//                                      BENCH_WINDOW (64), PROFILE_RATE, PROFILE_TTL (60),
//                                      PROFILE_DIR (a temp dir), PROFILE_TOP (40),
//                                      PROFILE_FOLLOWERS=1 (the followers' profiles too)
import * as grpc from '@grpc/grpc-js';
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../test/support/cluster.js';
import { benchUsesDist } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEASES = Number(process.env.BENCH_LEASES ?? 1000);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 8);
const WINDOW = Number(process.env.BENCH_WINDOW ?? 64);
const TOP = Number(process.env.PROFILE_TOP ?? 40);
const RATE = Number(process.env.PROFILE_RATE ?? 0);
const TTL = BigInt(process.env.PROFILE_TTL ?? 60);
const DIR = process.env.PROFILE_DIR ?? mkdtempSync(join(tmpdir(), 'lease-prof-'));

const encodeId = (id: bigint): Buffer => Buffer.from(new BinaryWriter().uint32(8).int64(id).finish());
function varints(b: Uint8Array): Map<number, bigint> {
  const out = new Map<number, bigint>();
  const r = new BinaryReader(b);
  while (r.pos < r.len) {
    const [f, t] = r.tag();
    if (t === WireType.Varint) out.set(f, BigInt(r.int64()));
    else r.skip(t, f);
  }
  return out;
}
const m = (path: string, stream: boolean): grpc.MethodDefinition<Buffer, Map<number, bigint>> => ({
  path,
  requestStream: stream,
  responseStream: stream,
  requestSerialize: (b) => b,
  requestDeserialize: (b) => b,
  responseSerialize: () => Buffer.alloc(0),
  responseDeserialize: varints,
});
const Raw = grpc.makeGenericClientConstructor({ grant: m('/etcdserverpb.Lease/LeaseGrant', false), keepAlive: m('/etcdserverpb.Lease/LeaseKeepAlive', true) }, 'raw');

const t00 = performance.now();
const c = await startCluster({ nodes: 3, useDist: benchUsesDist(), env: { PLACEMENT_LOG_LEVEL: 'warn' }, nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${DIR}`] });
try {
  const leaderId = await c.waitForLeader();
  const leader = c.node(leaderId);
  const client = new Raw(leader.grpcAddress, grpc.credentials.createInsecure()) as unknown as grpc.Client & Record<string, Function>;
  const ids: bigint[] = [];
  const grant = (): Promise<bigint> =>
    new Promise<bigint>((res, rej) => client.grant!.call(client, Buffer.from(new BinaryWriter().uint32(8).int64(TTL).finish()), (e: Error | null, v: Map<number, bigint>) => (e ? rej(e) : res(v.get(2)!))));
  for (let i = 0; i < LEASES; i += 200) ids.push(...(await Promise.all(Array.from({ length: Math.min(200, LEASES - i) }, grant))));
  let answered = 0;
  const end = performance.now() + SECONDS * 1000;
  let next = 0;
  const profileStart = performance.now();
  if (RATE > 0) {
    const calls = Array.from({ length: STREAMS }, () => {
      const call = client.keepAlive!.call(client) as grpc.ClientDuplexStream<Buffer, Map<number, bigint>>;
      call.on('data', () => void answered++);
      call.on('error', () => undefined);
      return call;
    });
    const t0 = performance.now();
    while (performance.now() < end) {
      const due = Math.floor(((performance.now() - t0) * RATE) / 1000);
      for (; next < due; next++) calls[next % STREAMS]!.write(encodeId(ids[next % ids.length]!));
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const c of calls) c.end();
  } else await Promise.all(
    Array.from({ length: STREAMS }, async () => {
      const call = client.keepAlive!.call(client) as grpc.ClientDuplexStream<Buffer, Map<number, bigint>>;
      let inFlight = 0;
      await new Promise<void>((done) => {
        const send = (): void => {
          while (inFlight < WINDOW && performance.now() < end) {
            inFlight++;
            call.write(encodeId(ids[next++ % ids.length]!));
          }
          if (inFlight === 0) done();
        };
        call.on('data', () => {
          answered++;
          inFlight--;
          send();
        });
        call.on('error', () => done());
        send();
      });
      call.end();
    }),
  );
  console.log(`leader ${leaderId}: ${answered} keep-alives in ${SECONDS} s (${Math.round(answered / SECONDS)}/s); the load ran from ${((profileStart - t00) / 1000).toFixed(1)} s after start-up to ${((performance.now() - t00) / 1000).toFixed(1)} s`);
  client.close();
  const pids = new Map(c.nodes.map((n) => [n.id, n.pid]));
  for (const n of c.nodes) await c.stopNode(n.id);
  // Each member's profile is the one written by its pid: the leader's, then the followers'
  // (PROFILE_FOLLOWERS=1; a follower's cost is what the replicated renewals add to it).
  const members = [leader, ...(process.env.PROFILE_FOLLOWERS === '1' ? c.nodes.filter((n) => n.id !== leaderId) : [])];
  for (const n of members) {
    // One file per thread: the main thread's is the one with thread id 0.
    const pid = pids.get(n.id);
    const file = readdirSync(DIR).find((f) => f.includes(`.${pid}.0.`));
    console.log(`\nprofiles in ${DIR}; ${n.id === leaderId ? 'leader' : 'follower'} ${n.id}'s main thread: ${file}`);
    if (file) summarize(join(DIR, file));
  }
} finally {
  await c.stop();
}

interface Node { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
function summarize(path: string): void {
  const p = JSON.parse(readFileSync(path, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const byFrame = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const t = self.get(n.id) ?? 0;
    total += t;
    const url = n.callFrame.url.replace(/^.*\/(node_modules|src|storage|raft|proto)\//, '$1/');
    const k = `${n.callFrame.functionName || '(anon)'} ${url}:${n.callFrame.lineNumber + 1}`;
    byFrame.set(k, (byFrame.get(k) ?? 0) + t);
  }
  const idle = [...byFrame].filter(([k]) => k.startsWith('(idle)')).reduce((s, [, v]) => s + v, 0);
  console.log(`total ${(total / 1e6).toFixed(2)} s sampled, ${(idle / 1e6).toFixed(2)} s idle`);
  for (const [k, v] of [...byFrame].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${((v / (total - idle)) * 100).toFixed(1).padStart(5)} %  ${k}`);
}
process.exit(0);
