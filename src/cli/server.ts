// `placement-center`: runs one Placement Center node in this process.
// Options come from flags, PLACEMENT_* environment variables and a JSON config file
// (precedence in that order, then defaults); see --help. Bad configuration exits with code 2.
import { Command as Commander, CommanderError, Option } from 'commander';
import { ConfigError, OPTIONS, fromFile, resolveConfig, type NodeConfig, type RawSource } from '../config/index.js';
import { VERSION } from '../version.js';

export const EXIT_BAD_CONFIG = 2;

export function buildProgram(): Commander {
  const program = new Commander('placement-center')
    .description(
      'Runs one member of a Placement Center cluster: a Raft-replicated metadata store for message-queue brokers.\n' +
        'One gRPC port serves clients (KvService, ClusterService, grpc.health.v1) and peers; --http serves the admin API and /metrics.\n\n' +
        'Every option can also be set by its environment variable or by its camelCase key in a JSON --config file.\n' +
        'Precedence: flag > environment > config file > default.',
    )
    .version(VERSION, '-V, --version')
    .helpOption('-h, --help', 'show this help')
    .allowExcessArguments(false)
    .exitOverride();
  for (const o of OPTIONS) {
    const opt = new Option(`${o.flag} ${o.arg}`, `${o.help} [env ${o.env}; file key "${o.key}"]${o.default !== undefined ? ` (default: ${o.default === '' ? '""' : o.default})` : ''}`);
    program.addOption(opt);
  }
  program.addOption(new Option('--config <file>', 'JSON config file whose keys are the option names above [env PLACEMENT_CONFIG]'));
  program.addHelpText(
    'after',
    '\nTest-only: PLACEMENT_PLANTED_BUG=local-reads answers linearizable reads from local state without ReadIndex\n' +
      '(used by the chaos suite to prove its checker detects stale reads; never set it in production).\n\n' +
      'Example (3 nodes on one machine, run once per id):\n' +
      '  placement-center --id 1 --data-dir data/1 --listen 127.0.0.1:1228 --http 127.0.0.1:1227 \\\n' +
      '    --peers 1=127.0.0.1:1228,2=127.0.0.1:1238,3=127.0.0.1:1248',
  );
  return program;
}

/** Parses argv (without node and script) and the environment into a validated config. */
export function parseArgs(argv: string[], env: NodeJS.ProcessEnv): NodeConfig {
  const program = buildProgram();
  program.parse(argv, { from: 'user' });
  const opts = program.opts<Record<string, string | undefined>>();
  const flags: RawSource = {};
  for (const o of OPTIONS) {
    const v = opts[o.key];
    if (v !== undefined) flags[o.key] = v;
  }
  const configPath = opts.config ?? env.PLACEMENT_CONFIG;
  const file = configPath ? fromFile(configPath) : undefined;
  return resolveConfig(flags, env, file);
}

export async function main(argv = process.argv.slice(2), env = process.env): Promise<void> {
  let cfg: NodeConfig;
  try {
    cfg = parseArgs(argv, env);
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
      process.exit(EXIT_BAD_CONFIG);
    }
    if (err instanceof ConfigError) {
      process.stderr.write(`placement-center: invalid configuration:\n  ${err.message.split('\n').join('\n  ')}\n(see placement-center --help)\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw err;
  }
  const { runNode } = await import('../node/index.js');
  try {
    await runNode(cfg);
  } catch (err) {
    // Files named by the configuration that turn out unusable (TLS certificates, peer secret).
    if (err instanceof ConfigError) {
      process.stderr.write(`placement-center: invalid configuration:\n  ${err.message.split('\n').join('\n  ')}\n`);
      process.exit(EXIT_BAD_CONFIG);
    }
    throw err;
  }
}

const isEntry = (() => {
  const arg = process.argv[1] ?? '';
  return /server\.(ts|js)$/.test(arg) || /placement-center(\.js)?$/.test(arg);
})();

if (isEntry) {
  main().catch((err: unknown) => {
    process.stderr.write(`placement-center: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
