// `npm run bench`: load generator against a local 3-node cluster (separate processes, loopback).
//
// Measures, each for BENCH_SECONDS (default 5) after a short warm-up, for each transport:
//   - `sdk`: the PlacementClient SDK as a broker uses it (KvService.Session streams, writes with a
//     client id and sequence number, so the server de-duplicates them);
//   - `unary`: one raw grpc-js unary call per operation, no client id (the cheapest thing a
//     plain gRPC client in any language can do);
// the rows:
//   - writes/s and p50/p99 latency at 1, 16, 64 and 256 requests in flight, 256-byte values, sent to
//     the leader (what the SDK does once it knows the leader);
//   - linearizable reads/s (ReadIndex) and serializable reads/s at 64 and 256 in flight
//     (BENCH_READ_CONCURRENCY), spread over all three nodes: each caller reads from one node, as
//     a broker reads from its own (BENCH_READ_SPREAD=op alternates nodes per operation instead;
//     see bench/measure.ts);
//   - each read row divided by the write rate at the same level (the design target is 3×);
//   - RSS of every node at the end;
//   - CPU (user+sys) per operation of all nodes, of the leader alone, and of this load generator.
// Options (env): BENCH_SECONDS, BENCH_CONCURRENCY (e.g. "1,16,64"), BENCH_SRC=1 runs the nodes (and the SDK)
// from src/ through tsx instead of dist/ (dist is used when built), BENCH_TRANSPORT=sdk|unary
// runs one transport only, BENCH_MESSAGES=1 prints the Raft messages per second of each row,
// BENCH_READ_SPREAD=caller|op how reads are spread over the nodes, BENCH_READ_CONCURRENCY (e.g.
// "64,256") the read rows' levels, BENCH_NODE_ARGS extra node flags.
// BENCH_TLS=on runs the cluster with TLS everywhere (client port with client certificates,
// which peers share, and admin HTTPS; certificates from deploy/make-certs.sh) and the SDK over
// TLS; BENCH_TLS=both alternates plain and TLS clusters BENCH_TLS_ROUNDS times (default 2: plain
// then TLS, then TLS then plain) and ends with the TLS/plain throughput ratio of each row per
// round. Only the SDK transport runs over TLS (the raw unary client is plaintext-only).
// BENCH_AUTH=on (with BENCH_TLS on or both): the TLS cluster also has auth enabled — the client
// certificate's CN is the user `bench`, whose role may read and write only under bench/ — so every
// request pays the permission check, as issue 20's "TLS and auth on vs off" asks.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { startCluster, REPO_ROOT } from '../test/support/cluster.js';
import { makeClusterCerts, type CertDir } from '../test/support/certs.js';
import { kvClient, type KvClient } from '../test/support/kv.js';
import type { PlacementClient } from '../src/client/index.js';
import { benchUsesDist, cpuSeconds, drive, header, keepRawOutput, line, READ_LEVELS, READ_SPREAD, readRatios, readTarget, rssMiB, type Result } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64,256').split(',').map(Number);
const VALUE = Buffer.alloc(256, 0x61);
// BENCH_PROFILE=DIR: run the nodes with --cpu-prof into DIR (profiles are written on the graceful
// stop at the end). BENCH_ONLY=write|lin|ser: run only that part.
const PROFILE_DIR = process.env.BENCH_PROFILE;
const ONLY = process.env.BENCH_ONLY ?? '';
// BENCH_NODE_ARGS="--flag ...": extra Node.js/V8 flags for the three nodes (experiments).
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
const TLS_MODE = process.env.BENCH_TLS ?? 'off';
const AUTH = process.env.BENCH_AUTH === 'on';
const TLS_ROUNDS = Number(process.env.BENCH_TLS_ROUNDS ?? 2);
const TRANSPORTS = (process.env.BENCH_TRANSPORT ?? (TLS_MODE === 'off' ? 'sdk,unary' : 'sdk')).split(',');

/** The operations a row drives, whichever transport carries them. */
interface Ops {
  set(key: string, value: Buffer): Promise<unknown>;
  /** Reads from node `target` (0..2; see READ_SPREAD). */
  get(target: number, key: string, serializable: boolean): Promise<unknown>;
}

/** One 3-node cluster, every row measured on it; `certs`: TLS everywhere with these certificates. */
async function runCluster(certs: CertDir | null): Promise<Result[]> {
  const useDist = benchUsesDist();
  console.log(`starting a 3-node cluster (${useDist ? 'dist/' : 'src/ via tsx'}, ${certs ? 'TLS with client certificates on every port' : 'plaintext'}) ...`);
  // The SDK as brokers load it: the package's compiled entry point (dist/) when built.
  const sdkPath = useDist ? join(REPO_ROOT, 'dist', 'src', 'client', 'index.js') : '../src/client/index.js';
  const { PlacementClient: Client } = (await import(useDist ? pathToFileURL(sdkPath).href : sdkPath)) as typeof import('../src/client/index.js');
  const client = certs ? certs.read(certs.client('bench')) : null;
  const c = await startCluster({ nodes: 3, useDist, env: { PLACEMENT_LOG_LEVEL: 'warn' },
    nodeArgs: [...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []), ...NODE_ARGS],
    ...(certs && client
      ? {
          extraArgs: (id: number) => ['--cert-file', certs.member(id).cert, '--key-file', certs.member(id).key, '--trusted-ca-file', certs.caFile, '--client-cert-auth'],
          https: { ca: certs.ca, ...client },
        }
      : {}),
  });
  const clients: KvClient[] = [];
  const sdks: PlacementClient[] = [];
  try {
    const leader = await c.waitForLeader();
    const lk = kvClient(c.node(leader).grpcAddress, { 'grpc.max_concurrent_streams': 1000, 'grpc.enable_channelz': 0 } as grpc.ChannelOptions);
    clients.push(lk);
    const all = c.nodes.map((n) => {
      const k = kvClient(n.grpcAddress, { 'grpc.enable_channelz': 0 } as grpc.ChannelOptions);
      clients.push(k);
      return k;
    });
    const unary: Ops = {
      set: (key, value) => lk.set({ key, value }),
      get: (target, key, serializable) => all[target]!.get({ key, serializable }),
    };
    // The SDK: one client for writes (it finds the leader), one pinned to each node for reads.
    const sdk = (endpoints: string[]): PlacementClient => {
      const p = new Client({ endpoints, discoverMembers: endpoints.length > 1, channelOptions: { 'grpc.enable_channelz': 0 }, ...(certs && client ? { tls: { ca: certs.ca, ...client } } : {}) });
      sdks.push(p);
      return p;
    };
    const writer = sdk(c.nodes.map((n) => n.grpcAddress));
    await writer.connect();
    if (certs && AUTH) await enableAuth(writer);
    const readers = c.nodes.map((n) => sdk([n.grpcAddress]));
    const viaSdk: Ops = {
      set: (key, value) => writer.kv.set(key, value),
      get: (target, key, serializable) => readers[target]!.kv.get(key, { serializable }),
    };
    console.log(`leader: node ${leader}; ${SECONDS} s per measurement; 256-byte values; reads spread per ${READ_SPREAD}\n`);
    console.log(header());
    // Warm-up (JIT, connections, the keys the reads use).
    if (!certs) await drive('warm-up', 16, 1.5, (i) => lk.set({ key: `bench/warm/${i % 1000}`, value: VALUE }));
    await drive('warm-up', 64, 2, (i) => writer.kv.set(`bench/warm/${i % 1000}`, VALUE));
    await drive('warm-up', 64, 1, (i) => readers[i % 3]!.kv.get(`bench/warm/${i % 1000}`));
    const keys = 10_000;
    // BENCH_MESSAGES=1: also print the Raft messages each node sent per second during the row.
    const peerMessages = async (): Promise<Map<string, number>[]> =>
      Promise.all(
        c.nodes.map(async (h) => {
          const text = await (await fetch(`http://${h.httpAddress}/metrics`)).text();
          const m = new Map<string, number>();
          for (const l of text.split('\n')) {
            const hit = /^placement_raft_messages_sent_total\{type="(\w+)"\} (\S+)$/.exec(l);
            if (hit) m.set(hit[1]!, Number(hit[2]));
          }
          return m;
        }),
      );
    const results: Result[] = [];
    const measure = async (name: string, n: number, op: (i: number, worker: number) => Promise<unknown>): Promise<void> => {
      const m0 = process.env.BENCH_MESSAGES && !certs ? await peerMessages() : [];
      const n0 = c.nodes.reduce((a, h) => a + cpuSeconds(h.pid), 0);
      const l0 = cpuSeconds(c.node(leader).pid);
      const c0 = process.cpuUsage();
      const r = await drive(name, n, SECONDS, op);
      const cu = process.cpuUsage(c0);
      const n1 = c.nodes.reduce((a, h) => a + cpuSeconds(h.pid), 0);
      const l1 = cpuSeconds(c.node(leader).pid);
      console.log(line(r, n1 - n0, (cu.user + cu.system) / 1e6, l1 - l0));
      results.push(r);
      if (m0.length > 0) {
        const m1 = await peerMessages();
        const rates = c.nodes.map((h, i) => {
          const parts = [...m1[i]!].map(([t, v]) => [t, (v - (m0[i]!.get(t) ?? 0)) / r.seconds] as const).filter(([, v]) => v >= 1);
          return `node ${h.id}${h.id === leader ? ' (leader)' : ''}: ${parts.map(([t, v]) => `${t} ${v.toFixed(0)}`).join(', ')}`;
        });
        console.log(`  messages/s: ${rates.join('; ')}`);
      }
    };
    const readKey = (i: number): string => `bench/warm/${i % 1000}`;
    for (const t of TRANSPORTS) {
      const ops = t === 'sdk' ? viaSdk : t === 'unary' ? unary : null;
      if (!ops) throw new Error(`BENCH_TRANSPORT: unknown transport "${t}" (sdk or unary)`);
      if (!ONLY || ONLY === 'write') for (const n of LEVELS) await measure(`${t} write (Set)`, n, (i) => ops.set(`bench/${t}/${n}/${i % keys}`, VALUE));
      for (const n of READ_LEVELS) {
        if (!ONLY || ONLY === 'lin') await measure(`${t} read linearizable`, n, (i, w) => ops.get(readTarget(i, w, 3), readKey(i), false));
        if (!ONLY || ONLY === 'ser') await measure(`${t} read serializable`, n, (i, w) => ops.get(readTarget(i, w, 3), readKey(i), true));
      }
    }
    for (const t of TRANSPORTS) {
      const ratios = readRatios(results.filter((r) => r.name.startsWith(`${t} `)), (r) => r.name.includes(' write '));
      if (ratios.length > 0) console.log(`\n${ratios.join('\n')}`);
    }
    console.log(`\nRSS per node (MiB): ${c.nodes.map((n) => `node ${n.id}${n.id === leader ? ' (leader)' : ''}: ${rssMiB(n.pid)}`).join(', ')}`);
    return results;
  } finally {
    for (const k of clients) k.close();
    for (const p of sdks) p.close();
    if (PROFILE_DIR) await Promise.all(c.nodes.map((n) => c.stopNode(n.id).catch(() => {})));
    await c.stop();
  }
}

/** Auth on: root (as etcd requires before enabling), and `bench` (the client certificate's CN) allowed only under bench/. */
async function enableAuth(c: PlacementClient): Promise<void> {
  const a = c.authAdmin;
  const pw = randomBytes(12).toString('hex');
  await a.userAdd('root', pw);
  await a.userGrantRole('root', 'root');
  await a.userAdd('bench', randomBytes(12).toString('hex'));
  await a.roleAdd('bench-rw');
  await a.roleGrantPermission('bench-rw', { type: 'readwrite', key: 'bench/', prefix: true });
  await a.userGrantRole('bench', 'bench-rw');
  await a.enable();
  console.log('auth enabled: requests run as user bench (certificate CN), readwrite on bench/ only');
}

async function main(): Promise<void> {
  keepRawOutput('bench');
  if (TLS_MODE !== 'off' && TLS_MODE !== 'on' && TLS_MODE !== 'both') throw new Error(`BENCH_TLS: "${TLS_MODE}" is not off, on or both`);
  if (AUTH && TLS_MODE === 'off') throw new Error('BENCH_AUTH=on needs BENCH_TLS=on or both (the user is the client certificate\'s CN)');
  if (TLS_MODE === 'off') {
    await runCluster(null);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'pc-bench-certs-'));
  try {
    const certs = makeClusterCerts(dir, 3, ['bench']);
    if (TLS_MODE === 'on') {
      await runCluster(certs);
      return;
    }
    // Alternating pairs, so that the machine's drift hits both sides alike.
    const rounds: Array<{ plain: Result[]; tls: Result[] }> = [];
    for (let r = 0; r < TLS_ROUNDS; r++) {
      const order = r % 2 === 0 ? [false, true] : [true, false];
      const round = { plain: [] as Result[], tls: [] as Result[] };
      for (const tls of order) {
        console.log(`\n=== round ${r + 1} of ${TLS_ROUNDS}: ${tls ? 'TLS' : 'plaintext'} ===`);
        round[tls ? 'tls' : 'plain'] = await runCluster(tls ? certs : null);
      }
      rounds.push(round);
    }
    console.log(`\nTLS${AUTH ? ' + auth' : ''} / plaintext throughput, per round (same row, same round):`);
    const rate = (x: Result): number => x.ops / x.seconds;
    for (const row of rounds[0]!.plain) {
      const key = `${row.name} @${row.inFlight}`;
      const ratios = rounds.map((rd) => {
        const p = rd.plain.find((x) => x.name === row.name && x.inFlight === row.inFlight);
        const t = rd.tls.find((x) => x.name === row.name && x.inFlight === row.inFlight);
        return p && t ? rate(t) / rate(p) : NaN;
      });
      const plain = rounds.map((rd) => rate(rd.plain.find((x) => x.name === row.name && x.inFlight === row.inFlight)!));
      const tls = rounds.map((rd) => rate(rd.tls.find((x) => x.name === row.name && x.inFlight === row.inFlight)!));
      const span = (v: number[]): string => `${Math.round(Math.min(...v)).toLocaleString('en-US')}-${Math.round(Math.max(...v)).toLocaleString('en-US')}`;
      console.log(
        `  ${key.padEnd(36)} plain ${span(plain).padStart(15)}/s  TLS ${span(tls).padStart(15)}/s  ratio ${ratios.map((x) => `${(100 * x).toFixed(0)}%`).join(', ')} (range ${(100 * Math.min(...ratios)).toFixed(0)}-${(100 * Math.max(...ratios)).toFixed(0)}%)`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
