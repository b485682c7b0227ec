// Snapshot bench: `npm run bench:snapshot` (env: BENCH_SNAPSHOT_MIB, default 500; BENCH_VALUE_BYTES,
// default 4096; BENCH_DIR). Fills a state machine with that many MiB of incompressible values,
// then creates a snapshot, streams it to a second store the way the transport does (file chunks
// in, verified commit), installs it into a second state machine and checks the state hash
// matches. For each phase: how long it took and the longest the event loop was held (a 1 ms
// timer's worst lateness; perf_hooks.monitorEventLoopDelay's p99). A node whose loop is held for
// longer than its election timeout loses its leadership; nothing else runs while it is held. On a
// shared machine the longest stall is often the process waiting for a core, not running: the main
// thread's own CPU time (Linux schedstat) within each gap tells the two apart, and a baseline phase
// (the loop idle) shows what the machine's load adds. Numbers only; nothing is asserted.

import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { SnapshotStore, StateMachine } from '../storage/index.js';
import { Command } from '../proto/gen/placement/v1/command.js';
import { keepRawOutput } from './measure.js';

const MIB = Number(process.env.BENCH_SNAPSHOT_MIB ?? 500);
const VALUE = Number(process.env.BENCH_VALUE_BYTES ?? 4096);
const root = mkdtempSync(join(process.env.BENCH_DIR ?? tmpdir(), 'pc-bench-snapshot-'));
const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

/**
 * CPU time of this process's main thread so far (ns), from Linux's schedstat: a stall in which
 * the thread was descheduled (other processes on a busy machine) shows wall time but no CPU.
 */
const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`;
const mainThreadCpuNs = existsSync(SCHEDSTAT) ? (): number => Number(readFileSync(SCHEDSTAT, 'latin1').split(' ')[0]) : (): number => NaN;

/**
 * Watches the event loop while `fn` runs: the worst lateness of a 1 ms timer, the main thread's
 * CPU time within that worst gap and the most CPU it spent between two timer turns (what this
 * code itself held the loop for), and monitorEventLoopDelay's view.
 */
async function watched<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  let worst = 0;
  let worstCpu = 0;
  let busiest = 0;
  let last = performance.now();
  let lastCpu = mainThreadCpuNs();
  const timer = setInterval(() => {
    const now = performance.now();
    const cpu = mainThreadCpuNs();
    const cpuMs = (cpu - lastCpu) / 1e6;
    if (now - last - 1 > worst) {
      worst = now - last - 1;
      worstCpu = cpuMs;
    }
    busiest = Math.max(busiest, cpuMs);
    last = now;
    lastCpu = cpu;
  }, 1);
  const t0 = performance.now();
  const r = await fn();
  const secs = (performance.now() - t0) / 1000;
  clearInterval(timer);
  worst = Math.max(worst, performance.now() - last - 1);
  h.disable();
  console.log(
    `${label.padEnd(36)} ${fmt(secs, 2).padStart(6)} s   longest stall ${fmt(worst, 1).padStart(6)} ms (main thread ran ${fmt(worstCpu, 1)} ms of it)   ` +
      `most main-thread CPU between two timer turns ${fmt(busiest, 1).padStart(5)} ms   (loop delay p99 ${fmt(h.percentile(99) / 1e6, 1)} ms)`,
  );
  return r;
}

async function main(): Promise<void> {
  keepRawOutput('snapshot');
  const count = Math.ceil((MIB * 1024 * 1024) / VALUE);
  console.log(`# snapshot bench: ${fmt(MIB)} MiB in ${fmt(count)} values of ${fmt(VALUE)} bytes (dir ${root})`);
  const a = await StateMachine.open(join(root, 'sm-a'));
  const t0 = performance.now();
  let index = 0;
  const pool = randomBytes(VALUE * 64);
  for (let i = 0; i < count; ) {
    const batch = [];
    for (let k = 0; k < 256 && i < count; k++, i++) {
      const off = (i * 131) % (VALUE * 63);
      const value = Buffer.concat([Buffer.from(String(i).padStart(10, '0')), pool.subarray(off, off + VALUE - 10)]);
      const cmd = Command.fromPartial({ leaderTimeMs: 1, op: { $case: 'put', value: { key: `bench/${String(i).padStart(10, '0')}`, value, lease: 0, prevKv: false } } });
      batch.push({ index: ++index, term: 1, data: Command.encode(cmd).finish() });
    }
    await a.apply(batch);
  }
  console.log(`filled in ${fmt((performance.now() - t0) / 1000, 1)} s (applied ${fmt(a.appliedIndex)})`);

  // What the machine itself does to a timer meanwhile (other processes, this one's thread pool):
  // a stall no longer than this one is not this code's doing.
  await watched('baseline (idle, 3 s)', () => new Promise((r) => setTimeout(r, 3000)));
  const storeA = await SnapshotStore.open(join(root, 'snap-a'));
  const info = await watched('create (LevelDB snapshot -> file)', () => a.createSnapshot(storeA));
  console.log(`  snapshot file: ${fmt(info.size / 1024 / 1024, 1)} MiB`);
  const storeB = await SnapshotStore.open(join(root, 'snap-b'));
  await watched('send + receive (file chunks, commit)', async () => {
    const rx = await storeB.beginReceive(info.meta);
    for await (const chunk of storeA.openReader(info.meta, { chunkSize: 256 * 1024 }).chunks()) await rx.write(chunk);
    await rx.commit();
  });
  const b = await StateMachine.open(join(root, 'sm-b'));
  await watched('install (file -> fresh LevelDB)', () => b.installSnapshot(storeB.openReader(info.meta)));
  const [ha, hb] = await Promise.all([a.hash(), b.hash()]);
  console.log(`state hashes ${ha === hb ? 'match' : `DIFFER: ${ha} vs ${hb}`}`);
  await a.close();
  await b.close();
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    if (!process.env.BENCH_KEEP) rmSync(root, { recursive: true, force: true });
  });
