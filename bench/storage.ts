// Storage benchmark: `npm run bench:storage` (env: BENCH_ENTRIES, BENCH_KEYS, BENCH_DIR,
// BENCH_HISTORY, BENCH_HISTORY_KEYS, BENCH_ONLY=history to run only the history part).
// Reports WAL group-commit throughput for 256-byte entries, syncs/s, state-machine apply rate,
// snapshot create/install time, what a thread-pool round trip costs next to a synchronous
// page-cache write (why the WAL writes synchronously and only syncs on the pool), and the
// multi-version keyspace with a long history: Range latency at an old revision and the process's
// memory with BENCH_HISTORY (1,000,000) retained revisions, and the physical compaction of most of
// it. Numbers only; nothing is asserted.

import { closeSync, mkdtempSync, openSync, promises as fsp, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotStore, StateMachine, Wal, type ApplyEntry } from '../storage/index.js';
import { Command } from '../proto/gen/placement/v1/command.js';
import { PutRequest, RangeRequest } from '../proto/gen/etcd/etcdserverpb/rpc.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Entry } from '../raft/types.js';

const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 200_000);
const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
const HISTORY = Number(process.env.BENCH_HISTORY ?? 1_000_000);
const HISTORY_KEYS = Number(process.env.BENCH_HISTORY_KEYS ?? 10_000);
const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'pc-bench-storage-'));
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

async function walBench(label: string, concurrency: number, perSave: number, total = ENTRIES): Promise<void> {
  const dir = join(root, `wal-${concurrency}-${perSave}`);
  let syncSeconds = 0;
  const { wal } = await Wal.open(dir, { observer: { onSync: (s) => (syncSeconds += s) } });
  const data = new Uint8Array(256).fill(7);
  let next = 1;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    while (next <= total) {
      const es: Entry[] = [];
      for (let i = 0; i < perSave && next <= total; i++) es.push({ index: next++, term: 1, type: 0, data });
      await wal.save({ entries: es, hardState: { term: 1, vote: 1, commit: es[0].index - 1 } });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const secs = (performance.now() - t0) / 1000;
  const st = wal.stats();
  await wal.close();
  console.log(
    `WAL ${label}: ${fmt(total / secs)} entries/s, ${fmt(st.bytesWritten / secs / 1e6, 1)} MB/s, ` +
      `${fmt(st.syncs / secs)} syncs/s (${fmt(total / st.syncs, 1)} entries/sync, ${fmt((syncSeconds / st.syncs) * 1000, 2)} ms/write+sync), ` +
      `${st.segmentCount} segments, ${fmt(secs, 2)} s`,
  );
}

// 64 clients, each numbering its own writes 1, 2, 3… as the SDK does.
function putCommand(i: number): Uint8Array {
  return Command.encode(
    Command.fromPartial({ clientId: `c${i % 64}`, seq: Math.floor(i / 64) + 1, leaderTimeMs: i, op: { $case: 'put', value: { key: `key/${String(i).padStart(8, '0')}`, value: Buffer.alloc(256, i % 251), lease: 0 } } }),
  ).finish();
}

async function smBench(): Promise<void> {
  const sm = await StateMachine.open(join(root, 'sm'));
  const batch = 100;
  let t0 = performance.now();
  for (let i = 1; i <= KEYS; i += batch) {
    const es: ApplyEntry[] = [];
    for (let j = i; j < i + batch && j <= KEYS; j++) es.push({ index: j, term: 1, data: putCommand(j) });
    await sm.apply(es);
  }
  let secs = (performance.now() - t0) / 1000;
  console.log(`apply: ${fmt(KEYS / secs)} commands/s (puts with 256-byte values and de-dup, batches of ${batch}), ${fmt(secs, 2)} s`);

  const store = await SnapshotStore.open(join(root, 'snap'));
  t0 = performance.now();
  const info = await sm.createSnapshot(store, { confState: { voters: [1, 2, 3], learners: [] } });
  secs = (performance.now() - t0) / 1000;
  console.log(`snapshot create: ${fmt(KEYS)} keys, ${fmt(info.size / 1e6, 1)} MB in ${fmt(secs, 3)} s`);

  const fresh = await StateMachine.open(join(root, 'sm2'));
  t0 = performance.now();
  await fresh.installSnapshot(store.openReader(info.meta));
  secs = (performance.now() - t0) / 1000;
  console.log(`snapshot install: ${fmt(KEYS)} keys in ${fmt(secs, 3)} s (applied index ${fresh.appliedIndex})`);
  const [h1, h2] = [await sm.hash(), await fresh.hash()];
  console.log(`hash after install ${h1 === h2 ? 'matches' : 'DIFFERS'}`);
  await sm.close();
  await fresh.close();
}

/** One 20 KB write (a typical group commit) through the thread pool, and synchronously. */
async function hopBench(rounds = 2000): Promise<void> {
  const buf = Buffer.alloc(20_000, 7);
  const fh = await fsp.open(join(root, 'hop-async'), 'w');
  let onThread = 0;
  let total = 0;
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    const p = fh.write(buf, 0, buf.length, 0);
    onThread += performance.now() - t0;
    await p;
    total += performance.now() - t0;
  }
  await fh.close();
  const fd = openSync(join(root, 'hop-sync'), 'w');
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) writeSync(fd, buf, 0, buf.length, 0);
  const sync = performance.now() - t0;
  closeSync(fd);
  const us = (ms: number): string => fmt((ms * 1000) / rounds, 1);
  console.log(`20 KB write: thread pool ${us(onThread)} µs of this thread + ${us(total - onThread)} µs until the answer; synchronous ${us(sync)} µs`);
}

const mb = (n: number): string => fmt(n / 2 ** 20, 0);

function memory(label: string): void {
  const m = process.memoryUsage();
  console.log(`  memory ${label}: RSS ${mb(m.rss)} MiB, JS heap ${mb(m.heapUsed)} MiB, external ${mb(m.external)} MiB`);
}

/** p50 / p99 / max of `n` runs of `fn`, in ms. */
async function latency(label: string, n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  const ts: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  const q = (p: number): string => fmt(ts[Math.min(ts.length - 1, Math.floor(p * ts.length))]!, 3);
  console.log(`  ${label}: p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms (${n} reads)`);
}

/**
 * HISTORY puts over HISTORY_KEYS keys (100-byte values, batches of 1000): every key has
 * HISTORY / HISTORY_KEYS revisions. Then Range latency at an old revision against the same at the
 * current one, memory, and the physical compaction of 90% of the history.
 */
async function historyBench(): Promise<void> {
  const sm = await StateMachine.open(join(root, 'history'));
  const key = (k: number): Buffer => Buffer.from(`h/${String(k).padStart(6, '0')}`);
  memory('before');
  const batch = 1000;
  let t0 = performance.now();
  for (let i = 1; i <= HISTORY; i += batch) {
    const es: ApplyEntry[] = [];
    for (let j = i; j < i + batch && j <= HISTORY; j++) {
      const op = { $case: 'etcdPut' as const, value: PutRequest.fromPartial({ key: key(j % HISTORY_KEYS), value: Buffer.alloc(100, j % 251) }) };
      es.push({ index: j, term: 1, data: Command.encode(Command.fromPartial({ op })).finish() });
    }
    await sm.apply(es);
    if (i === 1 + 100 * batch) memory(`after ${fmt(100 * batch)} revisions`);
  }
  let secs = (performance.now() - t0) / 1000;
  console.log(`history: ${fmt(HISTORY)} etcd puts over ${fmt(HISTORY_KEYS)} keys applied at ${fmt(HISTORY / secs)}/s (${fmt(secs, 1)} s); revision ${fmt(sm.revision)}`);
  memory(`with ${fmt(HISTORY)} retained revisions`);
  const old = Math.floor(sm.revision / 10);
  const rand = ((s: number) => () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32))(7);
  const range = (k: number, opts: Partial<RangeRequest>): Promise<unknown> => sm.range(RangeRequest.fromPartial({ key: key(k), ...opts }));
  for (const [label, rev] of [
    [`revision ${fmt(old)} (old)`, old],
    ['current revision', 0],
  ] as const) {
    console.log(` Range at ${label}:`);
    await latency('one key', 2000, () => range(Math.floor(rand() * HISTORY_KEYS), { revision: rev }));
    await latency('100 keys (a range)', 200, () => {
      const k = Math.floor(rand() * (HISTORY_KEYS - 100));
      return range(k, { rangeEnd: key(k + 100), revision: rev });
    });
    await latency(`limit 10 of all ${fmt(HISTORY_KEYS)} keys, count exact`, 50, () => range(0, { rangeEnd: Buffer.from([0]), revision: rev, limit: 10 }));
  }
  memory('after the reads');
  // Compact 90% of the history; it runs in the background, in steps that yield to the event loop.
  const target = old * 9;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  t0 = performance.now();
  await sm.apply([{ index: HISTORY + 1, term: 1, data: Command.encode(Command.fromPartial({ op: { $case: 'etcdCompaction', value: { revision: target, physical: true } } })).finish() }]);
  await sm.waitCompaction(target);
  secs = (performance.now() - t0) / 1000;
  h.disable();
  console.log(
    `physical compaction to ${fmt(target)}: ${fmt(secs, 1)} s (${fmt(target / secs)} revisions/s, ${fmt(sm.compaction.steps)} steps); ` +
      `event-loop delay p99 ${fmt(h.percentile(99) / 1e6, 1)} ms, max ${fmt(h.max / 1e6, 1)} ms`,
  );
  await latency(`one key at revision ${fmt(target)} (after compaction)`, 2000, () => range(Math.floor(rand() * HISTORY_KEYS), { revision: target }));
  memory('after compaction');
  await sm.close();
}

try {
  console.log(`storage bench in ${root} (node ${process.version})`);
  if (process.env.BENCH_ONLY !== 'history') {
    await hopBench();
    await walBench('1000 concurrent saves x 1 entry (256 B)', 1000, 1);
    await walBench('64 concurrent saves x 16 entries (256 B)', 64, 16);
    await walBench('1 save at a time x 1 entry (256 B), no group commit', 1, 1, 2000);
    await smBench();
  }
  if (process.env.BENCH_ONLY !== 'classic') await historyBench();
} finally {
  rmSync(root, { recursive: true, force: true });
}
