// npm run sim -- --seeds N --steps M [--start S] [--nodes 3|5] [--bug NAME] [--trace K] [--keep-going] [--quiet]
//
// Runs seeds S .. S+N-1. Without --nodes, even seeds run 3 nodes and odd seeds 5.
// Exits 0 when no property was violated; otherwise prints, for the first violation, the seed,
// the property, a trace tail and the one command line that replays exactly that run.

import { BUG_NAMES, nodesForSeed, runSimulation } from './cluster.js';
import type { BugName, SimResult } from './cluster.js';
import { replayCommand } from './replay.js';

interface CliOptions {
  seeds: number;
  steps: number;
  start: number;
  nodes?: number;
  bug?: BugName;
  trace: number;
  keepGoing: boolean;
  quiet: boolean;
  json: boolean;
}

function usage(msg?: string): never {
  if (msg) console.error(`sim: ${msg}`);
  console.error(
    'usage: npm run sim -- --seeds N --steps M [--start S] [--nodes 3|5] [--bug NAME] [--trace K] [--keep-going] [--quiet] [--json]\n' +
      `  bugs: ${BUG_NAMES.join(', ')}`,
  );
  process.exit(2);
}

function parse(argv: string[]): CliOptions {
  const o: CliOptions = { seeds: 100, steps: 2000, start: 1, trace: 30, keepGoing: false, quiet: false, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = argv[++i];
      const n = Number(v);
      if (v === undefined || !Number.isSafeInteger(n) || n < 0) usage(`${a} needs a non-negative integer`);
      return n;
    };
    switch (a) {
      case '--seeds':
        o.seeds = num();
        break;
      case '--steps':
        o.steps = num();
        break;
      case '--start':
        o.start = num();
        break;
      case '--nodes': {
        const n = num();
        if (n !== 3 && n !== 5) usage('--nodes must be 3 or 5');
        o.nodes = n;
        break;
      }
      case '--bug': {
        const b = argv[++i] as BugName;
        if (!BUG_NAMES.includes(b)) usage(`unknown bug ${String(b)}`);
        o.bug = b;
        break;
      }
      case '--trace':
        o.trace = num();
        break;
      case '--keep-going':
        o.keepGoing = true;
        break;
      case '--quiet':
        o.quiet = true;
        break;
      case '--json':
        o.json = true;
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  return o;
}

function main(): void {
  const o = parse(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  let ticks = 0;
  let ran = 0;
  let lastReport = Date.now();
  const failures: SimResult[] = [];
  const totals = { proposals: 0, acked: 0, reads: 0, crashes: 0, partitions: 0, snapshots: 0, confChanges: 0 };
  for (let k = 0; k < o.seeds; k++) {
    const seed = o.start + k;
    const nodes = o.nodes ?? nodesForSeed(seed);
    const r = runSimulation({ seed, steps: o.steps, nodes, bug: o.bug, traceTail: o.trace });
    ran++;
    ticks += r.stats.ticks + r.stats.finalTicks;
    totals.proposals += r.stats.proposals;
    totals.acked += r.stats.acked;
    totals.reads += r.stats.readsServed;
    totals.crashes += r.stats.crashes;
    totals.partitions += r.stats.partitions;
    totals.snapshots += r.stats.snapshotsInstalled;
    totals.confChanges += r.stats.confChanges;
    if (r.violation) {
      failures.push(r);
      console.log(`\nVIOLATION seed=${seed} nodes=${nodes}${o.bug ? ` bug=${o.bug}` : ''} at tick ${r.violation.tick}`);
      console.log(`  property: ${r.violation.property}`);
      console.log(`  detail:   ${r.violation.detail}`);
      if (r.trace.length > 0) {
        console.log('  trace tail:');
        for (const l of r.trace) console.log(`    ${l}`);
      }
      console.log(`  replay:   ${replayCommand(r)}`);
      if (!o.keepGoing) break;
    }
    if (!o.quiet && Date.now() - lastReport > 2000) {
      lastReport = Date.now();
      const el = Number(process.hrtime.bigint() - t0) / 1e9;
      console.log(`  ... ${ran}/${o.seeds} seeds (last ${seed}), ${ticks} steps, ${el.toFixed(1)}s, ${Math.round(ticks / el)} steps/s, ${failures.length} violations`);
    }
  }
  const el = Number(process.hrtime.bigint() - t0) / 1e9;
  const summary = {
    seeds: ran,
    start: o.start,
    end: o.start + ran - 1,
    stepsPerSeed: o.steps,
    nodes: o.nodes ?? 'mixed 3/5',
    bug: o.bug ?? null,
    totalSteps: ticks,
    elapsedSec: Number(el.toFixed(2)),
    stepsPerSec: Math.round(ticks / el),
    violations: failures.length,
    ...totals,
  };
  if (o.json) console.log(JSON.stringify(summary));
  else {
    console.log(
      `\nsim: ${ran} seeds [${summary.start}..${summary.end}] x ${o.steps} steps (${summary.nodes} nodes${o.bug ? `, bug ${o.bug}` : ''}): ` +
        `${ticks} steps in ${el.toFixed(1)}s = ${summary.stepsPerSec} steps/s; ${failures.length} violation(s)`,
    );
    console.log(
      `     writes proposed ${totals.proposals}, acknowledged ${totals.acked}, reads served ${totals.reads}, crashes ${totals.crashes}, ` +
        `partitions ${totals.partitions}, snapshots installed ${totals.snapshots}, membership changes ${totals.confChanges}`,
    );
    for (const f of failures) console.log(`  FAIL seed ${f.seed}: ${f.violation!.property} -> ${replayCommand(f)}`);
  }
  process.exitCode = failures.length > 0 ? 1 : 0;
}

main();
