// npm run bench:raft [-- --seconds S]
//
// 1. Core alone: a 3-node cluster of RaftNodes wired back to back in memory (no disk, no
//    sockets, no faults). Each round the leader takes a batch of proposals, then Readies are
//    processed and messages delivered until the batch is committed and applied everywhere.
//    Reports committed proposals per second for several batch sizes.
// 2. The simulator: steps (virtual ticks) per second of the fault-injecting simulation, which
//    includes the cost of every safety check.
// A benchmark, not a test: it asserts nothing about speed.

import { RaftNode } from '../raft/index.js';
import type { Message, Ready } from '../raft/types.js';
import { Role } from '../raft/types.js';
import { Rng } from '../test/sim/rng.js';
import { nodesForSeed, runSimulation } from '../test/sim/cluster.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  return Number.isFinite(v) && v > 0 ? v : def;
}

const SECONDS = arg('--seconds', 2);
const PAYLOAD = 64;

interface CoreResult {
  batch: number;
  committed: number;
  secs: number;
  rounds: number;
  msgs: number;
}

function benchCore(batch: number, seconds: number): CoreResult {
  const rng = new Rng(batch);
  const voters = [1, 2, 3];
  const nodes = new Map<number, RaftNode>();
  const applied = new Map<number, number>();
  for (const id of voters) {
    nodes.set(
      id,
      new RaftNode(
        { id, electionTick: 10, heartbeatTick: 1, random: () => rng.next(), maxSizePerMsg: 1 << 20, maxInflightMsgs: 256 },
        { hardState: { term: 0, vote: 0, commit: 0 }, entries: [], confState: { voters, learners: [] }, applied: 0 },
      ),
    );
    applied.set(id, 0);
  }
  let msgs = 0;
  let queue: Message[] = [];
  const pump = (): void => {
    for (;;) {
      for (const [id, n] of nodes) {
        while (n.hasReady()) {
          const rd: Ready = n.ready();
          // "Persist": nothing to do in memory. Send, then apply.
          for (const m of rd.messages) queue.push(m);
          if (rd.committedEntries.length > 0) applied.set(id, rd.committedEntries[rd.committedEntries.length - 1]!.index);
          n.advance(rd);
        }
      }
      if (queue.length === 0) return;
      const q = queue;
      queue = [];
      msgs += q.length;
      for (const m of q) nodes.get(m.to)!.step(m);
    }
  };
  const leader = nodes.get(1)!;
  leader.campaign();
  pump();
  if (leader.status().softState.role !== Role.Leader) throw new Error('bench: node 1 did not become leader');
  const payload = new Uint8Array(PAYLOAD);
  let committed = 0;
  let rounds = 0;
  const t0 = process.hrtime.bigint();
  const deadline = t0 + BigInt(Math.round(seconds * 1e9));
  let last = 0;
  while (process.hrtime.bigint() < deadline) {
    for (let k = 0; k < batch; k++) {
      const r = leader.propose(payload);
      if (!r.ok) throw new Error(`bench: propose failed: ${r.reason}`);
      last = r.index;
    }
    pump();
    for (const id of voters) {
      if (applied.get(id)! < last) throw new Error(`bench: node ${id} applied ${applied.get(id)} < ${last} after a round`);
    }
    committed += batch;
    rounds++;
    // Keep memory flat: snapshot + compact every ~64k entries.
    if (rounds % Math.max(1, Math.floor(65536 / batch)) === 0) {
      for (const n of nodes.values()) {
        n.snapshotMetaAt(last);
        n.compact(last);
      }
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  return { batch, committed, secs, rounds, msgs };
}

function table(head: string[], rows: string[][]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  const sep = '|' + w.map((x) => '-'.repeat(x + 2)).join('|') + '|';
  return [line(head), sep, ...rows.map(line)].join('\n');
}

const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');

console.log(`Raft core, 3 nodes in memory, no faults, ${PAYLOAD}-byte proposals, ${SECONDS}s per row (node ${process.version})\n`);
const coreRows: string[][] = [];
for (const batch of [1, 64, 256, 1024]) {
  benchCore(batch, 0.3); // warm-up
  const r = benchCore(batch, SECONDS);
  coreRows.push([
    `batch ${batch}`,
    fmt(r.committed / r.secs),
    fmt(r.rounds / r.secs),
    (r.msgs / r.rounds).toFixed(1),
    fmt(r.committed),
  ]);
}
console.log(table(['proposals per round', 'committed proposals/s', 'rounds/s', 'messages/round', 'committed'], coreRows));

console.log(`\nSimulator under faults (drops, duplicates, delays, partitions, crash-restarts, snapshots, membership changes)\n`);
const simRows: string[][] = [];
runSimulation({ seed: 1, steps: 2000, nodes: 3 }); // warm-up
for (const [label, nodesOf] of [
  ['3 nodes', () => 3],
  ['5 nodes', () => 5],
  ['mixed 3/5', (s: number) => nodesForSeed(s)],
] as const) {
  const seeds = 8;
  const steps = 2000;
  let ticks = 0;
  let delivered = 0;
  let violations = 0;
  const t0 = process.hrtime.bigint();
  for (let s = 1; s <= seeds; s++) {
    const r = runSimulation({ seed: 9000 + s, steps, nodes: nodesOf(9000 + s), traceTail: 30 });
    ticks += r.stats.ticks + r.stats.finalTicks;
    delivered += r.stats.delivered;
    if (r.violation) violations++;
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  simRows.push([label, `${seeds} x ${steps}`, fmt(ticks / secs), fmt(delivered / secs), String(violations)]);
}
console.log(table(['cluster', 'seeds x steps', 'steps/s', 'messages delivered/s', 'violations'], simRows));
