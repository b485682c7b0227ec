// Parses a transaction in etcdctl's `txn` text form:
//
//   mod("/lock") = "0"          <- comparisons, one a line, then an empty line
//   value("/cfg") != "old"
//
//   put /lock owner-1           <- operations when every comparison holds, then an empty line
//   get /cfg
//
//   get /lock                   <- operations otherwise, up to an empty line or the end
//
// Comparison targets: value, version (ver), create, mod, lease; operators = != > <.
// Operations: put KEY VALUE [--lease=ID] [--prev-kv], get KEY [END] [--prefix] [--from-key]
// [--rev=N] [--limit=N] [--keys-only] [--count-only], del KEY [END] [--prefix] [--from-key]
// [--prev-kv]. Arguments may be double-quoted (with \" and \\ escapes).
import { cmp, op, type Cmp, type CompareOp, type Op, type RangeSpec } from '../../client/index.js';

export class TxnSyntaxError extends Error {
  override name = 'TxnSyntaxError';
}

export interface ParsedTxn {
  compares: Cmp[];
  success: Op[];
  failure: Op[];
}

/** Splits a line into words; "double quoted" words may hold spaces. */
export function words(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (/\s/.test(line[i]!)) {
      i++;
      continue;
    }
    let w = '';
    while (i < line.length && !/\s/.test(line[i]!)) {
      if (line[i] === '"') {
        i++;
        for (;;) {
          if (i >= line.length) throw new TxnSyntaxError(`unterminated quote in: ${line}`);
          const ch = line[i]!;
          if (ch === '"') {
            i++;
            break;
          }
          if (ch === '\\' && i + 1 < line.length) {
            w += line[i + 1];
            i += 2;
            continue;
          }
          w += ch;
          i++;
        }
      } else {
        w += line[i];
        i++;
      }
    }
    out.push(w);
  }
  return out;
}

const COMPARE = /^\s*(value|version|ver|create|mod|lease|c|m|val)\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)\s*(=|!=|>|<)\s*"((?:[^"\\]|\\.)*)"\s*$/i;

function unescape(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

function revisionNumber(raw: string, what: string, line: string): number {
  if (!/^\d+$/.test(raw)) throw new TxnSyntaxError(`${what} must be a whole number >= 0, got "${raw}" in: ${line}`);
  const n = Number(raw);
  if (!Number.isSafeInteger(n)) throw new TxnSyntaxError(`${what} is too large in: ${line}`);
  return n;
}

export function parseCompare(line: string): Cmp {
  const m = COMPARE.exec(line);
  if (!m) throw new TxnSyntaxError(`malformed comparison: ${line} (expected e.g. mod("key") = "0" or value("key") != "v")`);
  const target = m[1]!.toLowerCase();
  const key = unescape(m[2]!);
  const operator = m[3] as CompareOp;
  const raw = unescape(m[4]!);
  switch (target) {
    case 'value':
    case 'val':
      return cmp.value(key, operator, raw);
    case 'version':
    case 'ver':
      return cmp.version(key, operator, revisionNumber(raw, 'version', line));
    case 'create':
    case 'c':
      return cmp.createRevision(key, operator, revisionNumber(raw, 'create revision', line));
    case 'mod':
    case 'm':
      return cmp.modRevision(key, operator, revisionNumber(raw, 'mod revision', line));
    default:
      return cmp.lease(key, operator, lease(raw, line));
  }
}

/** A lease id as etcdctl writes it: hexadecimal. */
function lease(raw: string, line: string): number {
  if (!/^[0-9a-fA-F]+$/.test(raw)) throw new TxnSyntaxError(`bad lease id "${raw}" (hexadecimal) in: ${line}`);
  const n = parseInt(raw, 16);
  if (!Number.isSafeInteger(n)) throw new TxnSyntaxError(`lease id "${raw}" is too large in: ${line}`);
  return n;
}

interface Flags {
  positional: string[];
  flags: Map<string, string | true>;
}

function splitFlags(args: string[], allowed: readonly string[], line: string): Flags {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (const a of args) {
    if (!a.startsWith('--')) {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (!allowed.includes(name)) throw new TxnSyntaxError(`unknown flag --${name} in: ${line}`);
    flags.set(name, eq < 0 ? true : a.slice(eq + 1));
  }
  return { positional, flags };
}

function rangeSpec(f: Flags, line: string): RangeSpec & { key: string } {
  const [key, end, ...rest] = f.positional;
  if (key === undefined) throw new TxnSyntaxError(`missing key in: ${line}`);
  if (rest.length > 0) throw new TxnSyntaxError(`too many arguments in: ${line}`);
  const prefix = f.flags.has('prefix');
  const fromKey = f.flags.has('from-key');
  if ([end !== undefined, prefix, fromKey].filter(Boolean).length > 1) throw new TxnSyntaxError(`give at most one of a range end, --prefix and --from-key in: ${line}`);
  return { key, ...(end !== undefined ? { end } : {}), prefix, fromKey };
}

function flagNumber(f: Flags, name: string, line: string): number | undefined {
  const v = f.flags.get(name);
  if (v === undefined) return undefined;
  if (v === true) throw new TxnSyntaxError(`--${name} needs a value (--${name}=N) in: ${line}`);
  return revisionNumber(v, `--${name}`, line);
}

export function parseOp(line: string): Op {
  const [verb, ...args] = words(line);
  switch (verb?.toLowerCase()) {
    case 'put': {
      const f = splitFlags(args, ['lease', 'prev-kv'], line);
      if (f.positional.length !== 2) throw new TxnSyntaxError(`put needs a key and a value in: ${line}`);
      const l = f.flags.get('lease');
      if (l === true) throw new TxnSyntaxError(`--lease needs a value (--lease=ID) in: ${line}`);
      return op.put(f.positional[0]!, f.positional[1]!, { lease: l === undefined ? 0 : lease(l, line), prevKv: f.flags.has('prev-kv') });
    }
    case 'get': {
      const f = splitFlags(args, ['prefix', 'from-key', 'rev', 'limit', 'keys-only', 'count-only'], line);
      const { key, ...spec } = rangeSpec(f, line);
      return op.get(key, { ...spec, revision: flagNumber(f, 'rev', line), limit: flagNumber(f, 'limit', line), keysOnly: f.flags.has('keys-only'), countOnly: f.flags.has('count-only') });
    }
    case 'del':
    case 'delete': {
      const f = splitFlags(args, ['prefix', 'from-key', 'prev-kv'], line);
      const { key, ...spec } = rangeSpec(f, line);
      return op.delete(key, { ...spec, prevKv: f.flags.has('prev-kv') });
    }
    default:
      throw new TxnSyntaxError(`unknown operation "${verb ?? ''}" (expected put, get or del) in: ${line}`);
  }
}

/** Parses the whole text (three blocks separated by empty lines; trailing blocks may be missing). */
export function parseTxn(text: string): ParsedTxn {
  const blocks: string[][] = [[]];
  for (const raw of text.split(/\r?\n/)) {
    if (raw.trim() === '') {
      if (blocks.length < 3) blocks.push([]);
      else if (blocks[2]!.length > 0) break;
      continue;
    }
    blocks[blocks.length - 1]!.push(raw);
  }
  return {
    compares: (blocks[0] ?? []).map(parseCompare),
    success: (blocks[1] ?? []).map(parseOp),
    failure: (blocks[2] ?? []).map(parseOp),
  };
}
