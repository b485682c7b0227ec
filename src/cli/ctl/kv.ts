// placement-ctl kv put|get|del|exists|ls|cas
import { Command, Option } from 'commander';
import type { CasExpectation, KeyValue } from '../../client/index.js';
import { EXIT } from './exit-codes.js';
import { printJson, println, table, valueForJson } from './output.js';
import { CtlError, UsageError, parsePositiveInt, withClient } from './program.js';

function kvJson(kv: KeyValue): Record<string, unknown> {
  return {
    key: kv.key,
    ...valueForJson(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

function notFound(key: string): CtlError {
  return new CtlError(`key "${key}" not found`, EXIT.NOT_FOUND, 'NOT_FOUND');
}

/** Shortens a value for a table cell: one line, at most `max` characters. */
function cell(v: Buffer, max = 60): string {
  const s = v.toString('utf8');
  const printable = Buffer.from(s, 'utf8').equals(v) ? s : `<${v.length} bytes>`;
  const one = printable.replace(/\r?\n/g, '\\n').replace(/\t/g, '\\t');
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function registerKv(program: Command): void {
  const kv = program.command('kv').description('read and write keys');

  kv.command('put')
    .description('write a value (use "-" to read the value from stdin)')
    .argument('<key>', 'key')
    .argument('<value>', 'value, or "-" for stdin')
    .option('--lease <id>', 'attach the key to a lease (exit code 4, nothing written, when it does not exist)', parsePositiveInt)
    .option('--prev-kv', 'print the previous value too')
    .action(async (key: string, value: string, opts: { lease?: number; prevKv?: boolean }, cmd: Command) => {
      const data = value === '-' ? await readStdin() : Buffer.from(value, 'utf8');
      await withClient(cmd, async (client, g) => {
        const r = await client.kv.set(key, data, { lease: opts.lease, prevKv: opts.prevKv === true });
        if (g.json) {
          printJson({ key, revision: r.revision, ...(r.prevKv ? { prevKv: kvJson(r.prevKv) } : {}) });
        } else {
          println('OK');
          if (r.prevKv) println(r.prevKv.value.toString('utf8'));
        }
      });
    });

  kv.command('get')
    .description('print the value of a key (exit code 4 when it does not exist)')
    .argument('<key>', 'key')
    .option('--serializable', 'read from the answering member without a quorum round (may be stale)')
    .option('-w, --with-meta', 'print revisions and version too')
    .action(async (key: string, opts: { serializable?: boolean; withMeta?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.kv.get(key, { serializable: opts.serializable === true });
        if (g.json) {
          printJson(r ? { found: true, ...kvJson(r) } : { found: false, key });
          if (!r) process.exitCode = EXIT.NOT_FOUND;
          return;
        }
        if (!r) throw notFound(key);
        if (opts.withMeta) {
          println(
            table(
              ['KEY', 'VALUE', 'CREATE_REV', 'MOD_REV', 'VERSION', 'LEASE'],
              [[r.key, cell(r.value), r.createRevision, r.modRevision, r.version, r.lease]],
            ),
          );
        } else {
          process.stdout.write(r.value);
          if (r.value.length === 0 || r.value[r.value.length - 1] !== 0x0a) process.stdout.write('\n');
        }
      });
    });

  kv.command('del')
    .alias('delete')
    .description('delete a key (exit code 4 when it did not exist)')
    .argument('<key>', 'key')
    .action(async (key: string, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.kv.delete(key);
        if (g.json) {
          printJson({ key, deleted: r.deleted, revision: r.revision });
          if (!r.deleted) process.exitCode = EXIT.NOT_FOUND;
          return;
        }
        if (!r.deleted) throw notFound(key);
        println(`deleted ${key}`);
      });
    });

  kv.command('exists')
    .description('print true or false; exit code 0 when the key exists, 4 when it does not')
    .argument('<key>', 'key')
    .option('--serializable', 'read from the answering member without a quorum round (may be stale)')
    .action(async (key: string, opts: { serializable?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const exists = await client.kv.exists(key, { serializable: opts.serializable === true });
        if (g.json) printJson({ key, exists });
        else println(String(exists));
        if (!exists) process.exitCode = EXIT.NOT_FOUND;
      });
    });

  kv.command('ls')
    .alias('list')
    .description('list keys in key order')
    .argument('[prefix]', 'key prefix (same as --prefix)')
    .option('--prefix <prefix>', 'only keys starting with this prefix')
    .option('--limit <n>', 'at most n keys', parsePositiveInt)
    .option('--keys-only', 'print keys only, one per line')
    .option('--serializable', 'read from the answering member without a quorum round (may be stale)')
    .action(
      async (
        prefixArg: string | undefined,
        opts: { prefix?: string; limit?: number; keysOnly?: boolean; serializable?: boolean },
        cmd: Command,
      ) => {
        if (prefixArg !== undefined && opts.prefix !== undefined && prefixArg !== opts.prefix) {
          throw new UsageError('give the prefix either as an argument or with --prefix, not both');
        }
        const prefix = opts.prefix ?? prefixArg ?? '';
        await withClient(cmd, async (client, g) => {
          // One key beyond the limit tells whether more keys match.
          const kvs: KeyValue[] = [];
          const opt = { keysOnly: opts.keysOnly === true, serializable: opts.serializable === true };
          for await (const k of client.kv.listAll(prefix, { ...opt, ...(opts.limit !== undefined ? { limit: opts.limit + 1 } : {}) })) {
            kvs.push(k);
          }
          let more = false;
          if (opts.limit !== undefined && kvs.length > opts.limit) {
            kvs.length = opts.limit;
            more = true;
          }
          if (g.json) {
            printJson({
              prefix,
              count: kvs.length,
              more,
              kvs: opts.keysOnly ? kvs.map((k) => ({ key: k.key })) : kvs.map(kvJson),
            });
            return;
          }
          if (opts.keysOnly) {
            for (const k of kvs) println(k.key);
          } else if (kvs.length > 0) {
            println(table(['KEY', 'VALUE', 'MOD_REV', 'VERSION'], kvs.map((k) => [k.key, cell(k.value), k.modRevision, k.version])));
          }
          if (more) process.stderr.write(`(more keys match; raise --limit to see them)\n`);
        });
      },
    );

  kv.command('cas')
    .description('compare-and-swap: write <value> only if the expectation holds (exit code 6 otherwise)')
    .argument('<key>', 'key')
    .argument('<value>', 'new value')
    .addOption(new Option('--expect-value <value>', 'the current value must equal this').conflicts(['expectRevision', 'expectAbsent']))
    .addOption(
      new Option('--expect-revision <rev>', "the key's mod revision must equal this (0: must not exist)")
        .argParser((v: string) => {
          if (!/^\d+$/.test(v)) throw new UsageError(`--expect-revision: expected a revision number, got "${v}"`);
          return Number(v);
        })
        .conflicts(['expectAbsent']),
    )
    .option('--expect-absent', 'the key must not exist')
    .action(
      async (
        key: string,
        value: string,
        opts: { expectValue?: string; expectRevision?: number; expectAbsent?: boolean },
        cmd: Command,
      ) => {
        let expect: CasExpectation;
        if (opts.expectValue !== undefined) expect = { value: opts.expectValue };
        else if (opts.expectRevision !== undefined) expect = { modRevision: opts.expectRevision };
        else if (opts.expectAbsent) expect = { absent: true };
        else throw new UsageError('kv cas needs one of --expect-value, --expect-revision or --expect-absent');
        await withClient(cmd, async (client, g) => {
          const r = await client.kv.compareAndSwap(key, expect, value);
          if (g.json) printJson({ key, succeeded: r.succeeded, revision: r.revision });
          else println(r.succeeded ? 'OK' : 'compare failed: nothing written');
          if (!r.succeeded) process.exitCode = EXIT.COMPARE_FAILED;
        });
      },
    );
}
