// placement-ctl elect NAME [PROPOSAL] | elect -l NAME, and placement-ctl lock NAME [-- command…]:
// the SDK's election and mutex recipes from the shell, on etcd's key layout (so they queue with
// `etcdctl elect` / `etcdctl lock` on the same names) and with etcdctl's output: the held key and
// its value, one per line, then nothing until Ctrl-C, which resigns / unlocks.
//
// A session (a lease kept alive) holds the key; if it expires while held the command fails with
// "session expired" (exit 1), because from then on someone else may hold the name.
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { Election, Mutex, PlacementClientError, type Leader, type PlacementClient, type Session } from '../../client/index.js';
import { EXIT } from './exit-codes.js';
import { printJson, println, valueForJson } from './output.js';
import { CtlError, UsageError, globals, makeClient, parsePositiveInt, type GlobalOptions } from './program.js';

/** Aborts on the first SIGINT/SIGTERM; `dispose()` removes the handlers. */
function interrupts(): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const on = (): void => ac.abort(new CtlError('interrupted', EXIT.FAILURE, 'INTERRUPTED'));
  process.once('SIGINT', on);
  process.once('SIGTERM', on);
  return {
    signal: ac.signal,
    dispose: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/** Resolves when `signal` aborts or rejects when the session ends: what a holder waits for. */
function holdUntil(signal: AbortSignal, session: Session): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve();
    const onEnd = (s: string): void => {
      if (s !== 'expired' && s !== 'closed') return;
      signal.removeEventListener('abort', onAbort);
      reject(new CtlError('session expired', EXIT.FAILURE, 'SESSION_EXPIRED'));
    };
    const onAbort = (): void => {
      session.off('state', onEnd);
      resolve();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    session.on('state', onEnd);
  });
}

function printHeld(g: GlobalOptions, key: string, value: Buffer, fencingToken: number): void {
  if (g.json) printJson({ key, ...valueForJson(value), fencingToken });
  else {
    println(key);
    println(value.toString('utf8'));
  }
}

function printLeader(g: GlobalOptions, l: Leader): void {
  if (g.json) process.stdout.write(`${JSON.stringify({ key: l.key, ...valueForJson(l.value), fencingToken: l.fencingToken, modRevision: l.modRevision })}\n`);
  else {
    println(l.key);
    println(l.value.toString('utf8'));
  }
}

/** A client that knows every member (to fail over), and a session on it. */
async function open(g: GlobalOptions, ttlSeconds: number): Promise<{ client: PlacementClient; session: Session }> {
  const client = makeClient(g);
  try {
    await client.connect();
    return { client, session: await client.session({ ttlMs: ttlSeconds * 1000 }) };
  } catch (err) {
    client.close();
    throw err;
  }
}

/** Cleans up after a holder: `release` (resign/unlock), then the session (its lease revoked). */
async function finish(client: PlacementClient, session: Session, release: () => Promise<void>): Promise<void> {
  try {
    if (session.state !== 'expired' && session.state !== 'closed') await release();
  } catch (err) {
    if (!(err instanceof PlacementClientError)) throw err;
  } finally {
    await session.close().catch(() => {});
    client.close();
  }
}

export function registerRecipes(program: Command): void {
  program
    .command('elect')
    .description('campaign in the election NAME with PROPOSAL and hold the leadership until Ctrl-C (then resign); with -l, print each leader in turn')
    .argument('<name>', 'election name (candidates are keys NAME/<lease id hex>)')
    .argument('[proposal]', 'the value this candidate announces when elected')
    .option('-l, --listen', 'observe: print the leader and each change until Ctrl-C')
    .option('--ttl <seconds>', 'TTL of the session holding the candidate key', parsePositiveInt, 60)
    .action(async (name: string, proposal: string | undefined, opts: { listen?: boolean; ttl: number }, cmd: Command) => {
      const g = globals(cmd);
      if (opts.listen && proposal !== undefined) throw new UsageError('proposal given but -l is set');
      if (!opts.listen && proposal === undefined) throw new UsageError('no proposal argument but -l not set');
      const stop = interrupts();
      try {
        if (opts.listen) {
          const client = makeClient(g);
          try {
            await client.connect();
            for await (const l of new Election(client, name).observe({ signal: stop.signal })) printLeader(g, l);
          } finally {
            client.close();
          }
          return;
        }
        const { client, session } = await open(g, opts.ttl);
        const e = new Election(client, name, session);
        try {
          const token = await e.campaign(proposal!, { signal: stop.signal });
          printHeld(g, e.key!, Buffer.from(proposal!), token);
          await holdUntil(stop.signal, session);
        } finally {
          await finish(client, session, () => e.resign());
        }
      } finally {
        stop.dispose();
      }
    });

  program
    .command('lock')
    .description('acquire the lock NAME and hold it until Ctrl-C (then unlock); with a command (after --), run it holding the lock and unlock when it exits')
    .argument('<name>', 'lock name (waiters are keys NAME/<lease id hex>)')
    .argument('[command...]', 'run this while holding the lock; it gets ETCD_LOCK_KEY, ETCD_LOCK_REV and PLACEMENT_FENCING_TOKEN')
    .option('--ttl <seconds>', 'TTL of the session holding the lock key', parsePositiveInt, 10)
    .action(async (name: string, command: string[], opts: { ttl: number }, cmd: Command) => {
      const g = globals(cmd);
      const stop = interrupts();
      const { client, session } = await open(g, opts.ttl).catch((err: unknown) => {
        stop.dispose();
        throw err;
      });
      const m = new Mutex(client, name, session);
      try {
        const token = await m.lock({ signal: stop.signal });
        if (command.length === 0) {
          printHeld(g, m.key!, Buffer.alloc(0), token);
          await holdUntil(stop.signal, session);
          return;
        }
        const code = await run(command, { ETCD_LOCK_KEY: m.key!, ETCD_LOCK_REV: String(token), PLACEMENT_FENCING_TOKEN: String(token) });
        if (code !== 0) throw new CtlError(`${command[0]} exited with code ${code}`, EXIT.FAILURE, 'COMMAND_FAILED');
      } finally {
        stop.dispose();
        await finish(client, session, () => m.unlock());
      }
    });
}

/** Runs the command with the lock's variables added to the environment; resolves with its exit code. */
function run(command: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('error', (err) => reject(new CtlError(`cannot run ${command[0]}: ${err.message}`, EXIT.FAILURE, 'COMMAND_FAILED')));
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
}
