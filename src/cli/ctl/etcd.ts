// placement-ctl get|del|txn|compaction: etcdctl-style commands on the etcd KV service
// (ranges, prefixes, old revisions, sorting, transactions, compaction). The plain output follows
// etcdctl's simple format (key line, value line; "OK"; a deleted count; SUCCESS/FAILURE), so
// scripts written for etcdctl read it the same way.
import { createInterface } from 'node:readline';
import { Command, Option } from 'commander';
import type { EtcdKeyValue, OpResult, RangeResult, SortOrder, SortTarget, TxnResult } from '../../client/index.js';
import { UsageError, parsePositiveInt, withClient } from './program.js';
import { EXIT } from './exit-codes.js';
import { printJson, println, valueForJson } from './output.js';
import { TxnSyntaxError, parseCompare, parseOp, parseTxn, type ParsedTxn } from './txn-parse.js';

function kvJson(kv: EtcdKeyValue): Record<string, unknown> {
  const key = valueForJson(kv.key);
  return {
    ...('value' in key ? { key: key.value } : { keyBase64: key.valueBase64 }),
    ...valueForJson(kv.value),
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

function printKv(kv: EtcdKeyValue, valueOnly: boolean): void {
  if (!valueOnly) {
    process.stdout.write(kv.key);
    process.stdout.write('\n');
  }
  process.stdout.write(kv.value);
  process.stdout.write('\n');
}

function printRange(r: RangeResult, valueOnly: boolean, countOnly: boolean): void {
  if (countOnly) {
    println(String(r.count));
    return;
  }
  for (const kv of r.kvs) printKv(kv, valueOnly);
}

const SORT_TARGETS: Record<string, SortTarget> = { KEY: 'key', VERSION: 'version', CREATE: 'create', MODIFY: 'mod', VALUE: 'value' };
const ORDERS: Record<string, SortOrder> = { ASCEND: 'ascend', DESCEND: 'descend' };

function wholeNumber(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new UsageError(`expected a whole number, got "${raw}"`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new UsageError(`"${raw}" is too large`);
  return n;
}

/** The range flags shared by get and del: at most one of [end], --prefix, --from-key. */
function spec(end: string | undefined, o: { prefix?: boolean; fromKey?: boolean }): { end?: string; prefix?: boolean; fromKey?: boolean } {
  if ([end !== undefined, o.prefix === true, o.fromKey === true].filter(Boolean).length > 1) {
    throw new UsageError('give at most one of a range end, --prefix and --from-key');
  }
  return { ...(end !== undefined ? { end } : {}), prefix: o.prefix === true, fromKey: o.fromKey === true };
}

function opJson(r: OpResult): Record<string, unknown> {
  switch (r.type) {
    case 'range':
      return { range: { kvs: r.range.kvs.map(kvJson), more: r.range.more, count: r.range.count } };
    case 'put':
      return { put: r.put.prevKv ? { prevKv: kvJson(r.put.prevKv) } : {} };
    case 'delete':
      return { delete: { deleted: r.delete.deleted, prevKvs: r.delete.prevKvs.map(kvJson) } };
    case 'txn':
      return { txn: txnJson(r.txn) };
  }
}

function txnJson(t: TxnResult): Record<string, unknown> {
  return { revision: t.header.revision, succeeded: t.succeeded, responses: t.responses.map(opJson) };
}

function printTxn(t: TxnResult): void {
  println(t.succeeded ? 'SUCCESS' : 'FAILURE');
  for (const r of t.responses) {
    println();
    switch (r.type) {
      case 'range':
        printRange(r.range, false, false);
        break;
      case 'put':
        println('OK');
        if (r.put.prevKv) printKv(r.put.prevKv, false);
        break;
      case 'delete':
        println(String(r.delete.deleted));
        for (const kv of r.delete.prevKvs) printKv(kv, false);
        break;
      case 'txn':
        printTxn(r.txn);
        break;
    }
  }
}

async function readAll(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** etcdctl's interactive txn: three prompts, each block ended by an empty line. */
async function readInteractive(): Promise<ParsedTxn> {
  const rl = createInterface({ input: process.stdin, terminal: false });
  const lines = rl[Symbol.asyncIterator]();
  const prompts = ['compares:', 'success requests (get, put, del):', 'failure requests (get, put, del):'];
  const parsed: ParsedTxn = { compares: [], success: [], failure: [] };
  try {
    for (let block = 0; block < 3; block++) {
      println(prompts[block]);
      for (;;) {
        const next = await lines.next();
        if (next.done) return parsed;
        const line = next.value.trim();
        if (line === '') break;
        if (block === 0) parsed.compares.push(parseCompare(line));
        else (block === 1 ? parsed.success : parsed.failure).push(parseOp(line));
      }
    }
    return parsed;
  } finally {
    rl.close();
  }
}

export function registerEtcd(program: Command): void {
  program
    .command('get')
    .description('read a key or a range of keys through the etcd KV service (etcdctl get)')
    .argument('<key>', 'key (or the start of the range)')
    .argument('[end]', 'exclusive end of the range')
    .option('--prefix', 'every key starting with <key>')
    .option('--from-key', 'every key >= <key>')
    .addOption(new Option('--rev <n>', 'read the keyspace as it was at this revision').argParser(wholeNumber))
    .addOption(new Option('--limit <n>', 'at most n keys').argParser(wholeNumber))
    .addOption(new Option('--sort-by <target>', 'sort by KEY, VERSION, CREATE, MODIFY or VALUE').choices(Object.keys(SORT_TARGETS)))
    .addOption(new Option('--order <order>', 'ASCEND or DESCEND (default ASCEND with --sort-by)').choices(Object.keys(ORDERS)))
    .option('--keys-only', 'keys only')
    .option('--count-only', 'the number of keys only')
    .option('--print-value-only', 'values only')
    .option('--serializable', 'read from the answering member without a quorum round (may be stale)')
    .action(
      async (
        key: string,
        end: string | undefined,
        o: { prefix?: boolean; fromKey?: boolean; rev?: number; limit?: number; sortBy?: string; order?: string; keysOnly?: boolean; countOnly?: boolean; printValueOnly?: boolean; serializable?: boolean },
        cmd: Command,
      ) => {
        const range = spec(end, o);
        await withClient(cmd, async (client, g) => {
          const r = await client.etcd.range(key, {
            ...range,
            revision: o.rev,
            limit: o.limit,
            // etcdctl: a sort target without an order sorts ascending.
            sortOrder: o.order ? ORDERS[o.order] : o.sortBy ? 'ascend' : 'none',
            sortTarget: o.sortBy ? SORT_TARGETS[o.sortBy] : 'key',
            keysOnly: o.keysOnly === true,
            countOnly: o.countOnly === true,
            serializable: o.serializable === true,
          });
          if (g.json) {
            printJson({ revision: r.header.revision, kvs: r.kvs.map(kvJson), more: r.more, count: r.count });
            return;
          }
          printRange(r, o.printValueOnly === true, o.countOnly === true);
        });
      },
    );

  program
    .command('del')
    .description('delete a key or a range of keys through the etcd KV service (etcdctl del); prints the number deleted')
    .argument('<key>', 'key (or the start of the range)')
    .argument('[end]', 'exclusive end of the range')
    .option('--prefix', 'every key starting with <key>')
    .option('--from-key', 'every key >= <key>')
    .option('--prev-kv', 'print the deleted keys and values too')
    .action(async (key: string, end: string | undefined, o: { prefix?: boolean; fromKey?: boolean; prevKv?: boolean }, cmd: Command) => {
      const range = spec(end, o);
      await withClient(cmd, async (client, g) => {
        const r = await client.etcd.deleteRange(key, { ...range, prevKv: o.prevKv === true });
        if (g.json) {
          printJson({ revision: r.header.revision, deleted: r.deleted, prevKvs: r.prevKvs.map(kvJson) });
          return;
        }
        println(String(r.deleted));
        for (const kv of r.prevKvs) printKv(kv, false);
      });
    });

  program
    .command('txn')
    .description(
      'run a transaction (etcdctl txn): comparisons, an empty line, operations if all hold, an empty line, operations otherwise; ' +
        'read from stdin, or prompted for with -i. Exit code 6 when the comparisons did not hold.',
    )
    .option('-i, --interactive', 'prompt for each part')
    .addHelpText(
      'after',
      '\nExample (stdin):\n  mod("/lock") = "0"\n\n  put /lock owner-1\n\n  get /lock\n\nComparisons: value|version|create|mod|lease("key") =|!=|>|< "x". Operations: put K V [--lease=ID] [--prev-kv], get K [END] [--prefix] [--from-key] [--rev=N] [--limit=N] [--keys-only] [--count-only], del K [END] [--prefix] [--from-key] [--prev-kv].',
    )
    .action(async (o: { interactive?: boolean }, cmd: Command) => {
      let parsed: ParsedTxn;
      try {
        parsed = o.interactive ? await readInteractive() : parseTxn(await readAll());
      } catch (err) {
        if (err instanceof TxnSyntaxError) throw new UsageError(err.message);
        throw err;
      }
      await withClient(cmd, async (client, g) => {
        const t = await client
          .txn()
          .if(...parsed.compares)
          .then(...parsed.success)
          .else(...parsed.failure)
          .commit();
        if (g.json) printJson(txnJson(t));
        else printTxn(t);
        if (!t.succeeded) process.exitCode = EXIT.COMPARE_FAILED;
      });
    });

  program
    .command('compaction')
    .description('compact the keyspace up to a revision (etcdctl compaction): older revisions can no longer be read')
    .argument('<revision>', 'revision', parsePositiveInt)
    .option('--physical', 'answer only once the compacted revisions are physically removed')
    .action(async (revision: number, o: { physical?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const h = await client.etcd.compact(revision, { physical: o.physical === true });
        if (g.json) printJson({ compacted: revision, revision: h.revision });
        else println(`compacted revision ${revision}`);
      });
    });
}
