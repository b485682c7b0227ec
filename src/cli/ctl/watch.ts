// placement-ctl watch KEY [--prefix] [--rev N] [--prev-kv]: streams the changes of a key or
// prefix, one line per event (or, with --json, one JSON object per revision), until Ctrl-C. The
// SDK's watch resumes on another member when the one it uses fails, without gaps or repeats.
import type { Command } from 'commander';
import { WatchCompactedError, type KeyValue, type WatchBatch } from '../../client/index.js';
import { EXIT } from './exit-codes.js';
import { printJson, println, valueForJson } from './output.js';
import { CtlError, makeClient, globals, parsePositiveInt } from './program.js';

function kvJson(kv: KeyValue): Record<string, unknown> {
  return { key: kv.key, ...valueForJson(kv.value), createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
}

function printBatch(b: WatchBatch, json: boolean, prevKv: boolean): void {
  if (json) {
    printJson({
      revision: b.revision,
      events: b.events.map((e) => ({ type: e.type.toUpperCase(), kv: kvJson(e.kv), ...(e.prevKv ? { prevKv: kvJson(e.prevKv) } : {}) })),
    });
    return;
  }
  for (const e of b.events) {
    const prev = prevKv ? ` (prev: ${e.prevKv ? e.prevKv.value.toString('utf8') : '-'})` : '';
    println(e.type === 'put' ? `${b.revision} PUT ${e.kv.key} ${e.kv.value.toString('utf8')}${prev}` : `${b.revision} DELETE ${e.kv.key}${prev}`);
  }
}

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description('stream the changes of a key (or of every key under a prefix) until Ctrl-C; resumes on another member if one fails')
    .argument('<key>', 'key, or prefix with --prefix ("" with --prefix: every key)')
    .option('--prefix', 'watch every key starting with <key>')
    .option('--rev <revision>', 'start at this revision (replays the history from it)', parsePositiveInt)
    .option('--prev-kv', 'show the previous value of each changed key')
    .action(async (key: string, opts: { prefix?: boolean; rev?: number; prevKv?: boolean }, cmd: Command) => {
      const g = globals(cmd);
      const client = makeClient(g);
      // Learn every member now, so the watch can move to another one later.
      await client.connect().catch((err: unknown) => {
        client.close();
        throw err;
      });
      const w = client.watch(key, { prefix: opts.prefix === true, startRevision: opts.rev ?? 0, prevKv: opts.prevKv === true });
      const stop = (): void => w.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        for await (const b of w) printBatch(b, g.json, opts.prevKv === true);
      } catch (err) {
        if (err instanceof WatchCompactedError) {
          throw new CtlError(`revision ${opts.rev ?? 0} was compacted (compact revision ${err.compactRevision}); watch from ${err.compactRevision} or later`, EXIT.REJECTED, 'COMPACTED');
        }
        throw err;
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        client.close();
      }
    });
}
