// Storage benchmark: `npm run bench:storage` (env: BENCH_ENTRIES, BENCH_KEYS, BENCH_DIR).
// Reports WAL group-commit throughput for 256-byte entries, syncs/s, state-machine apply rate,
// snapshot create/install time, and what a thread-pool round trip costs next to a synchronous
// page-cache write (why the WAL writes synchronously and only syncs on the pool). Numbers only;
// nothing is asserted.

import { closeSync, mkdtempSync, openSync, promises as fsp, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotStore, StateMachine, Wal, type ApplyEntry } from '../storage/index.js';
import { Command } from '../proto/gen/placement/v1/command.js';
import type { Entry } from '../raft/types.js';

const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 200_000);
const KEYS = Number(process.env.BENCH_KEYS ?? 100_000);
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

try {
  console.log(`storage bench in ${root} (node ${process.version})`);
  await hopBench();
  await walBench('1000 concurrent saves x 1 entry (256 B)', 1000, 1);
  await walBench('64 concurrent saves x 16 entries (256 B)', 64, 16);
  await walBench('1 save at a time x 1 entry (256 B), no group commit', 1, 1, 2000);
  await smBench();
} finally {
  rmSync(root, { recursive: true, force: true });
}
