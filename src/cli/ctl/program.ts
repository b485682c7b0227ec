// placement-ctl: command-line client of the Placement Center (commander).
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError as CommanderInvalidArgument, Option } from 'commander';
import {
  PlacementClient,
  PlacementClientError,
  DeadlineExceededError,
  UnavailableError,
  ClientClosedError,
  type TlsOptions,
  type AuthOptions,
} from '../../client/index.js';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { EXIT, EXIT_CODES_HELP, type ExitCode } from './exit-codes.js';
import { out } from './output.js';
import { registerKv } from './kv.js';
import { registerLease } from './lease.js';
import { registerCluster } from './cluster.js';
import { registerEndpoint } from './endpoint.js';
import { registerPerf } from './perf.js';
import { registerWatch } from './watch.js';
import { registerEtcd } from './etcd.js';
import { registerAuth } from './auth.js';
import { readPassword } from './password.js';
import { registerRecipes } from './recipes.js';
import { registerSnapshot } from './snapshot.js';
import { registerPlacement } from './placement.js';

export const DEFAULT_ENDPOINTS = '127.0.0.1:1228';

/** A bad command line discovered after commander parsed it (exit code 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** An expected, already-explained failure with a chosen exit code (no stack trace). */
export class CtlError extends Error {
  override name = 'CtlError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    readonly code = 'FAILURE',
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  endpoints: string;
  json: boolean;
  timeout: number;
  /** TLS: CA bundle file verifying the members, and this client's certificate and key files. */
  cacert?: string;
  cert?: string;
  key?: string;
  /** etcd Auth: `name` or `name:password` (etcdctl's --user); the password else from --password or a prompt. */
  user?: string;
  password?: string;
}

/** Parses a duration: "500ms", "5s", "1m", or a bare number of seconds. Returns milliseconds. */
export function parseDuration(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(raw);
  if (!m) throw new CommanderInvalidArgument('expected a duration such as 500ms, 5s or 1m');
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (!(ms >= 1)) throw new CommanderInvalidArgument('the duration must be at least 1ms');
  return Math.round(ms);
}

export function parsePositiveInt(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new CommanderInvalidArgument('expected a positive integer');
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) throw new CommanderInvalidArgument('expected a positive integer');
  return n;
}

export function parseEndpoints(raw: string): string[] {
  const list = raw
    .split(',')
    .map((e) => e.trim().replace(/^(grpc|grpcs|http|https):\/\//i, ''))
    .filter((e) => e !== '');
  if (list.length === 0) throw new UsageError('--endpoints is empty');
  for (const e of list) {
    if (!/^[^\s:]+:\d{1,5}$/.test(e) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(e)) {
      throw new UsageError(`bad endpoint "${e}": expected host:port (e.g. 127.0.0.1:1228)`);
    }
    const port = Number(e.slice(e.lastIndexOf(':') + 1));
    if (port < 1 || port > 65535) throw new UsageError(`bad endpoint "${e}": port ${port} is out of range`);
  }
  return [...new Set(list)];
}

/** The SDK's TLS options from --cacert/--cert/--key (or https:// endpoints); undefined = plaintext. */
export function tlsFromGlobals(g: GlobalOptions): TlsOptions | undefined {
  const secureScheme = /(^|,)\s*(grpcs|https):\/\//i.test(g.endpoints);
  if (!g.cacert && !g.cert && !g.key && !secureScheme) return undefined;
  if (Boolean(g.cert) !== Boolean(g.key)) throw new UsageError('--cert and --key go together');
  const read = (file: string | undefined, flag: string): Buffer | undefined => {
    if (!file) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      throw new UsageError(`${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { ca: read(g.cacert, '--cacert'), cert: read(g.cert, '--cert'), key: read(g.key, '--key') };
}

/** The SDK's auth options from --user/--password (etcdctl's forms); undefined = no credentials. */
export async function authFromGlobals(g: GlobalOptions): Promise<AuthOptions | undefined> {
  if (g.user === undefined) {
    if (g.password !== undefined) throw new UsageError('--password needs --user');
    return undefined;
  }
  const i = g.user.indexOf(':');
  const username = i < 0 ? g.user : g.user.slice(0, i);
  if (username === '') throw new UsageError('--user: empty user name');
  if (i >= 0) {
    if (g.password !== undefined) throw new UsageError('give the password either in --user name:password or with --password');
    return { username, password: g.user.slice(i + 1) };
  }
  return { username, password: g.password ?? (await readPassword(username, false)) };
}

/** A client configured from the global options (no background refresh timer: one-shot commands). */
export function makeClient(g: GlobalOptions, auth?: AuthOptions): PlacementClient {
  return new PlacementClient({
    endpoints: parseEndpoints(g.endpoints),
    deadlineMs: g.timeout,
    attemptTimeoutMs: Math.min(2000, g.timeout),
    refreshIntervalMs: 0,
    tls: tlsFromGlobals(g),
    ...(auth ? { auth } : {}),
  });
}

/** Runs `fn` with a client built from the global options, closing it afterwards. */
export async function withClient<T>(cmd: Command, fn: (client: PlacementClient, g: GlobalOptions) => Promise<T>): Promise<T> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  // --user/--password are the program's own (a subcommand's --no-password is another option).
  let root = cmd;
  while (root.parent) root = root.parent;
  const { user, password } = root.opts<GlobalOptions>();
  const client = makeClient(g, await authFromGlobals({ ...g, user, password }));
  try {
    return await fn(client, g);
  } finally {
    client.close();
  }
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('placement-ctl')
    .description('Command-line client of the Placement Center metadata cluster.')
    .addOption(
      new Option('--endpoints <list>', 'comma-separated gRPC endpoints (host:port); any live member is enough')
        .env('PLACEMENT_ENDPOINTS')
        .default(DEFAULT_ENDPOINTS),
    )
    .option('--json', 'machine-readable JSON output on stdout', false)
    .addOption(
      new Option('--timeout <duration>', 'deadline per request, retries included (500ms, 5s, 1m; bare number = seconds)')
        .argParser(parseDuration)
        .default(5000, '5s'),
    )
    .addOption(new Option('--cacert <file>', 'TLS: CA bundle (PEM) verifying the members\' certificates (turns TLS on)').env('PLACEMENT_CACERT'))
    .addOption(new Option('--cert <file>', 'TLS: this client\'s certificate (PEM), for members started with --client-cert-auth').env('PLACEMENT_CERT'))
    .addOption(new Option('--key <file>', 'TLS: the private key (PEM) of --cert').env('PLACEMENT_KEY'))
    .addOption(new Option('--user <name[:password]>', 'etcd Auth: the user (and password) to authenticate as; the password is asked for when not given').env('PLACEMENT_USER'))
    .addOption(new Option('--password <password>', 'etcd Auth: the password of --user').env('PLACEMENT_PASSWORD'))
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `\nEnvironment:\n  PLACEMENT_ENDPOINTS  default for --endpoints\n  PLACEMENT_CACERT, PLACEMENT_CERT, PLACEMENT_KEY  defaults for --cacert, --cert, --key\n  NO_COLOR             disable colours (colours are only used on a terminal anyway)\n\n${EXIT_CODES_HELP}\n\nExamples:\n  placement-ctl --endpoints 127.0.0.1:1228,127.0.0.1:1238 kv put /brokers/1 '{"host":"10.0.0.1"}'\n  placement-ctl kv ls --prefix /brokers/ --limit 10\n  placement-ctl get /brokers/ --prefix --rev 42 --sort-by MODIFY --order DESCEND --limit 5\n  printf 'mod("/lock") = "0"\\n\\nput /lock me\\n\\nget /lock\\n' | placement-ctl txn\n  placement-ctl compaction 1000 --physical\n  placement-ctl watch /brokers/ --prefix --prev-kv\n  placement-ctl lock locks/rebalance -- ./rebalance.sh\n  placement-ctl elect elections/controller broker-1\n  placement-ctl --json cluster status\n  placement-ctl --endpoints 127.0.0.1:1228 endpoint health --cluster\n  placement-ctl check perf --duration 5s --concurrency 64`,
    );
  registerKv(program);
  registerEtcd(program);
  registerLease(program);
  registerCluster(program);
  registerEndpoint(program);
  registerPerf(program);
  registerWatch(program);
  registerAuth(program);
  registerRecipes(program);
  registerSnapshot(program);
  registerPlacement(program);

  // Every (sub)command: usage errors throw instead of exiting, so main() decides the code.
  const configure = (c: Command): void => {
    c.exitOverride();
    c.configureOutput({
      outputError: (str, write) => write(out.stderr.red(str)),
    });
    for (const sub of c.commands) configure(sub);
  };
  configure(program);
  return program;
}

/** Maps an error to (exit code, message, code name). */
export function classify(err: unknown): { exitCode: ExitCode; message: string; code: string } {
  if (err instanceof CtlError) return { exitCode: err.exitCode, message: err.message, code: err.code };
  if (err instanceof UsageError) return { exitCode: EXIT.USAGE, message: err.message, code: 'USAGE' };
  if (err instanceof UnavailableError || err instanceof DeadlineExceededError) {
    return { exitCode: EXIT.UNAVAILABLE, message: err.message, code: err.codeName };
  }
  if (err instanceof ClientClosedError) return { exitCode: EXIT.FAILURE, message: err.message, code: err.codeName };
  if (err instanceof PlacementClientError) {
    switch (err.code) {
      case GrpcStatus.NOT_FOUND:
        return { exitCode: EXIT.NOT_FOUND, message: err.message, code: err.codeName };
      case GrpcStatus.INVALID_ARGUMENT:
      case GrpcStatus.FAILED_PRECONDITION:
      case GrpcStatus.OUT_OF_RANGE:
      case GrpcStatus.ALREADY_EXISTS:
      case GrpcStatus.PERMISSION_DENIED:
      case GrpcStatus.UNAUTHENTICATED:
      case GrpcStatus.RESOURCE_EXHAUSTED:
        return { exitCode: EXIT.REJECTED, message: `rejected by the server: ${err.message}`, code: err.codeName };
      default:
        return { exitCode: EXIT.FAILURE, message: `server error (${err.codeName}): ${err.message}`, code: err.codeName };
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: EXIT.FAILURE, message, code: 'INTERNAL' };
}

/**
 * etcdctl's (cobra's) `--flag=true` / `--flag=false` for boolean flags, as commander reads them:
 * `--flag` / `--no-flag` (e.g. `user add --interactive=false`, `role grant-permission --prefix=true`).
 */
export function boolFlagValues(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (a === '--') {
      out.push(...argv.slice(argv.indexOf(a)));
      break;
    }
    const m = /^--([a-z][a-z0-9-]*)=(true|false)$/.exec(a);
    if (!m || !BOOL_FLAGS.has(m[1]!)) out.push(a);
    else if (m[2] === 'true') out.push(`--${m[1]}`);
    // false: the flag's --no- form where its default is true, else nothing (the default is false).
    else if (NEGATABLE.has(m[1]!)) out.push(`--no-${m[1]}`);
  }
  return out;
}

/** The boolean flags that take etcdctl's =true/=false form. */
const BOOL_FLAGS = new Set(['interactive', 'prefix', 'from-key', 'detail', 'prev-kv', 'keys-only', 'print-value-only', 'count-only']);
const NEGATABLE = new Set(['interactive']);

/** Runs placement-ctl with `argv` (process.argv form) and resolves with the exit code. */
export async function run(argv: readonly string[]): Promise<ExitCode> {
  const program = buildProgram();
  try {
    await program.parseAsync(boolFlagValues(argv));
    return (process.exitCode as ExitCode | undefined) ?? EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') {
        return EXIT.OK;
      }
      // Commander already printed the message.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const { exitCode, message, code } = classify(err);
    const json = argv.includes('--json');
    if (json) {
      process.stderr.write(`${JSON.stringify({ error: { code, message, exitCode } })}\n`);
    } else {
      process.stderr.write(`${out.stderr.red('placement-ctl: error:')} ${message}\n`);
      if (exitCode === EXIT.FAILURE && process.env.PLACEMENT_DEBUG && err instanceof Error && err.stack) {
        process.stderr.write(`${err.stack}\n`);
      }
    }
    return exitCode;
  }
}
