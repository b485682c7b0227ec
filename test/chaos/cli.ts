// npm run chaos -- --time SECONDS --nodes 3|5 --nemesis LIST [--seed S] [--clients N] [--keys K]
//                  [--rate OPS] [--op-timeout MS] [--lockers N] [--brokers N] [--planted-bug local-reads] [--report-dir DIR]
//                  [--secure]
// Exit code 0 only on a pass (linearizable, converged, no acknowledged write lost).

import { Command, Option } from 'commander';
import { NEMESES, type NemesisKind } from './nemesis.js';
import { runChaos } from './run.js';

const program = new Command('chaos')
  .description('Jepsen-style fault injection against a real Placement Center cluster, with a linearizability checker')
  .option('--time <seconds>', 'how long clients and nemesis run', '60')
  .addOption(new Option('--nodes <n>', 'cluster size').choices(['3', '5']).default('3'))
  .option('--nemesis <list>', `comma-separated: ${NEMESES.join(', ')}`, 'mixed')
  .option('--seed <n>', 'PRNG seed (default: random, printed)')
  .option('--clients <n>', 'concurrent clients', '10')
  .option('--keys <n>', 'number of keys', '5')
  .option('--rate <ops>', 'target operations per second across clients', '60')
  .option('--op-timeout <ms>', 'deadline of one operation', '1000')
  .option('--lockers <n>', 'SDK clients contending for one mutex, making fenced writes while they hold it (checked: each came from the owner at its revision)', '2')
  .option('--brokers <n>', 'simulated brokers (BrokerAgents) holding 2N shards, crashed now and then by a broker nemesis (checked: one leader per shard and epoch)', '0')
  .option('--transport <kind>', 'how clients send operations: unary, session, etcd (the etcd KV API) or mixed (clients take turns)', 'mixed')
  .addOption(new Option('--planted-bug <bug>', 'run the servers with a planted bug (the run should then FAIL)').choices(['local-reads']))
  .option('--report-dir <dir>', 'where to write the JSON and HTML report (default: reports/)')
  .option('--check-budget <ms>', 'time budget of the linearizability checker', '120000')
  .option('--keep-data', 'keep node data directories even on a pass')
  .option(
    '--secure',
    'TLS and auth on: a CA and member certificates are made for the run; TLS on the client gRPC and admin HTTP ports, mutual TLS on a separate peer port (through the fault proxy); auth enabled with root and a user "chaos" allowed readwrite on exactly the prefixes the workloads use; every client (workload, watchers, lockers, brokers, status polling, final reads) speaks TLS as that user. Adds a check that anonymous and out-of-prefix puts and plaintext connections are refused',
  )
  .allowExcessArguments(false);

// Ctrl-C / SIGTERM: exit normally so the exit hook SIGKILLs every node by pid.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

program.parse(process.argv);
const opts = program.opts<Record<string, string | boolean | undefined>>();
const int = (name: string, min: number): number => {
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < min) {
    console.error(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be an integer >= ${min}`);
    process.exit(2);
  }
  return v;
};
const nemeses = String(opts.nemesis)
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const n of nemeses) {
  if (!(NEMESES as readonly string[]).includes(n)) {
    console.error(`unknown nemesis "${n}" (known: ${NEMESES.join(', ')})`);
    process.exit(2);
  }
}
// A member added at run time records one address, while --secure gives every member a separate
// peer port named in the others' --peer-addresses (fixed at their start): not combinable yet.
if (opts.secure && nemeses.some((n) => n === 'member-replace' || n === 'member-grow-shrink')) {
  console.error('--secure cannot be combined with the membership nemeses (member-replace, member-grow-shrink): members added at run time cannot have a separate peer port yet');
  process.exit(2);
}
const transport = String(opts.transport);
if (!['unary', 'session', 'etcd', 'mixed'].includes(transport)) {
  console.error(`unknown transport "${transport}" (unary, session, etcd or mixed)`);
  process.exit(2);
}
const seed = opts.seed !== undefined ? int('seed', 0) : Math.floor(Math.random() * 2 ** 31);
const time = int('time', 1);
const nodes = Number(opts.nodes);
const clients = int('clients', 1);
const command = `npm run chaos -- --time ${time} --nodes ${nodes} --nemesis ${nemeses.join(',')} --seed ${seed} --clients ${clients} --keys ${int('keys', 1)} --rate ${int('rate', 1)} --transport ${transport} --lockers ${int('lockers', 0)} --brokers ${int('brokers', 0)}${opts.plantedBug ? ` --planted-bug ${String(opts.plantedBug)}` : ''}${opts.secure ? ' --secure' : ''}`;
console.log(`chaos: seed ${seed}\n  replay: ${command}`);

const outcome = await runChaos({
  timeSec: time,
  nodes,
  nemeses: nemeses as NemesisKind[],
  seed,
  clients,
  keys: int('keys', 1),
  rate: int('rate', 1),
  opTimeoutMs: int('opTimeout', 1),
  lockers: int('lockers', 0),
  brokers: int('brokers', 0),
  transport: transport as 'unary' | 'session' | 'etcd' | 'mixed',
  plantedBug: opts.plantedBug === 'local-reads' ? 'local-reads' : '',
  reportDir: typeof opts.reportDir === 'string' ? opts.reportDir : undefined,
  checkBudgetMs: int('checkBudget', 1),
  keepData: opts.keepData === true,
  secure: opts.secure === true,
  command,
  log: (l) => console.log(l),
});
const s = outcome.report.stats;
console.log(
  `\n${outcome.verdict.toUpperCase()}: ${s.ops} ops (${s.ok} ok, ${s.info} indeterminate, ${s.fail} failed), ${s.faults} faults, linearizability ${outcome.report.linearizability.verdict}`,
);
for (const r of outcome.reasons) console.log(`  - ${r}`);
console.log(`report: ${outcome.files.html}\n        ${outcome.files.json}`);
process.exit(outcome.verdict === 'pass' ? 0 : 1);
