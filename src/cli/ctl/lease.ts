// placement-ctl lease grant|revoke|keep-alive|timetolive|list
//
// TTLs are seconds on the command line (as etcdctl); lease ids are decimal (as `kv put --lease`
// takes them). A lease that does not exist exits with code 4.
import type { Command } from 'commander';
import { NotFoundError } from '../../client/index.js';
import { EXIT } from './exit-codes.js';
import { printJson, println } from './output.js';
import { CtlError, parsePositiveInt, withClient } from './program.js';

function gone(id: number): CtlError {
  return new CtlError(`lease ${id} not found (expired or revoked)`, EXIT.NOT_FOUND, 'NOT_FOUND');
}

const seconds = (ms: number): number => Math.round(ms / 1000);

export function registerLease(program: Command): void {
  const lease = program.command('lease').description('grant, keep alive and revoke leases (keys attached with kv put --lease)');

  lease
    .command('grant')
    .description('grant a lease; a TTL below the cluster minimum is raised to it')
    .argument('<ttl>', 'time to live in seconds', parsePositiveInt)
    .action(async (ttl: number, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const l = await client.lease.grant(ttl * 1000);
        if (g.json) printJson({ id: l.id, ttlSeconds: seconds(l.ttlMs) });
        else println(`lease ${l.id} granted with TTL ${seconds(l.ttlMs)}s`);
      });
    });

  lease
    .command('revoke')
    .description('revoke a lease: it and every key attached to it are deleted (one revision)')
    .argument('<id>', 'lease id', parsePositiveInt)
    .action(async (id: number, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.lease.revoke(id);
        if (g.json) printJson({ id, revoked: true, revision: r.revision });
        else println(`lease ${id} revoked`);
      });
    });

  lease
    .command('keep-alive')
    .description('keep a lease alive until interrupted (each renewal printed once committed)')
    .argument('<id>', 'lease id', parsePositiveInt)
    .option('--once', 'renew once and exit')
    .action(async (id: number, opts: { once?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const print = (ttlMs: number): void => {
          if (g.json) printJson({ id, ttlSeconds: seconds(ttlMs) });
          else println(`lease ${id} keepalived with TTL ${seconds(ttlMs)}s`);
        };
        const renew = async (): Promise<number> => {
          try {
            return (await client.lease.keepAlive(id)).ttlMs;
          } catch (err) {
            if (err instanceof NotFoundError) throw gone(id);
            throw err;
          }
        };
        const ttlMs = await renew();
        print(ttlMs);
        if (opts.once) return;
        // Until SIGINT/SIGTERM: the lease then expires by itself after its TTL.
        const stop = new AbortController();
        const onSignal = (): void => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          while (!stop.signal.aborted) {
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, ttlMs / 3);
              stop.signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
            });
            if (stop.signal.aborted) break;
            print(await renew());
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
      });
    });

  lease
    .command('timetolive')
    .description("print a lease's granted TTL and time left (exit code 4 when it does not exist)")
    .argument('<id>', 'lease id', parsePositiveInt)
    .option('--keys', 'print the keys attached to it too')
    .action(async (id: number, opts: { keys?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const t = await client.lease.timeToLive(id, { keys: opts.keys === true });
        if (g.json) {
          printJson(t ? { id, found: true, grantedTtlSeconds: seconds(t.grantedTtlMs), remainingSeconds: seconds(t.remainingMs), ...(opts.keys ? { keys: t.keys } : {}) } : { id, found: false });
          if (!t) process.exitCode = EXIT.NOT_FOUND;
          return;
        }
        if (!t) throw gone(id);
        println(`lease ${id} granted with TTL ${seconds(t.grantedTtlMs)}s, remaining ${seconds(t.remainingMs)}s`);
        if (opts.keys) for (const k of t.keys) println(k);
      });
    });

  lease
    .command('list')
    .description('list the ids of every lease')
    .action(async (_opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const ids = (await client.lease.list()).sort((a, b) => a - b);
        if (g.json) printJson({ leases: ids });
        else for (const id of ids) println(String(id));
      });
    });
}
