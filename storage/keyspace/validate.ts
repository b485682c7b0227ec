// etcd's checks on KV requests, in etcd's order, with etcd's errors. The gRPC layer runs them
// before proposing (the configured --max-txn-ops); the applier runs them again on every command
// (with MAX_TXN_OPS_CEILING), so a forwarded or forged command that etcd would refuse changes
// nothing on any replica.

import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { bin } from './keys.js';
import { KeyspaceError } from './errors.js';

/** etcd's defaults for --max-txn-ops and --max-request-bytes. */
export const DEFAULT_MAX_TXN_OPS = 128;
export const DEFAULT_MAX_REQUEST_BYTES = 1.5 * 1024 * 1024;
/**
 * The highest --max-txn-ops a node may be configured with. The applier checks against this one
 * constant, the same on every replica: a per-node setting there could make replicas disagree.
 */
export const MAX_TXN_OPS_CEILING = 10_000;
/**
 * Deepest nesting of txns accepted. etcd bounds it through the op limit (every level spends at
 * least one op of what its parent leaves, so 128 with the default); the applier's ceiling would
 * allow 10,000 levels, deep enough to overflow the stack of the recursive checks and execution
 * on every replica at once. Deeper txns are refused as etcd refuses them at its default limit.
 */
export const MAX_TXN_DEPTH = 128;

type Check = KeyspaceError | undefined;

export function checkRange(r: RangeRequest): Check {
  return r.key.length === 0 ? new KeyspaceError('EMPTY_KEY') : undefined;
}

export function checkPut(r: PutRequest): Check {
  if (r.key.length === 0) return new KeyspaceError('EMPTY_KEY');
  if (r.ignoreValue && r.value.length !== 0) return new KeyspaceError('VALUE_PROVIDED');
  if (r.ignoreLease && r.lease !== 0) return new KeyspaceError('LEASE_PROVIDED');
  return undefined;
}

export function checkDeleteRange(r: DeleteRangeRequest): Check {
  return r.key.length === 0 ? new KeyspaceError('EMPTY_KEY') : undefined;
}

/** The size of the encoded request against --max-request-bytes. */
export function checkRequestSize(bytes: number, maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES): Check {
  return bytes > maxRequestBytes ? new KeyspaceError('REQUEST_TOO_LARGE') : undefined;
}

/**
 * A Txn: operation counts (each list at most `maxTxnOps`; a nested txn gets what its parent
 * leaves), empty keys, empty operations, then etcd's rule that a txn may not write a key twice.
 */
export function checkTxn(r: TxnRequest, maxTxnOps = DEFAULT_MAX_TXN_OPS): Check {
  if (txnDepth(r) > MAX_TXN_DEPTH) return new KeyspaceError('TOO_MANY_OPS');
  return checkTxnOps(r, maxTxnOps) ?? checkIntervals(r.success).err ?? checkIntervals(r.failure).err;
}

/** Nesting depth of a txn (1 = no nested txn), without recursion. */
function txnDepth(r: TxnRequest): number {
  let depth = 0;
  let level: TxnRequest[] = [r];
  while (level.length > 0 && depth <= MAX_TXN_DEPTH) {
    depth++;
    const next: TxnRequest[] = [];
    for (const t of level) {
      for (const op of [...t.success, ...t.failure]) if (op.request?.$case === 'requestTxn') next.push(op.request.value);
    }
    level = next;
  }
  return depth;
}

function checkTxnOps(r: TxnRequest, maxTxnOps: number): Check {
  const opc = Math.max(r.compare.length, r.success.length, r.failure.length);
  if (opc > maxTxnOps) return new KeyspaceError('TOO_MANY_OPS');
  for (const c of r.compare) if (c.key.length === 0) return new KeyspaceError('EMPTY_KEY');
  for (const u of r.success) {
    const e = checkRequestOp(u, maxTxnOps - opc);
    if (e) return e;
  }
  for (const u of r.failure) {
    const e = checkRequestOp(u, maxTxnOps - opc);
    if (e) return e;
  }
  return undefined;
}

function checkRequestOp(u: RequestOp, maxTxnOps: number): Check {
  const q = u.request;
  switch (q?.$case) {
    case 'requestRange':
      return checkRange(q.value);
    case 'requestPut':
      return checkPut(q.value);
    case 'requestDeleteRange':
      return checkDeleteRange(q.value);
    case 'requestTxn':
      return checkTxnOps(q.value, maxTxnOps);
    default:
      // etcd answers an empty operation this way.
      return new KeyspaceError('KEY_NOT_FOUND');
  }
}

/**
 * Deleted ranges as etcd's interval tree sees them: [from, to), `to` '' meaning "no end". A
 * DeleteRange's range_end is taken literally here, as etcd does: "\0" (every key from `key` on)
 * becomes [key, "\0"), which contains no key, so a txn that deletes from a key on and puts a key
 * after it passes this check in etcd and here.
 */
type Interval = [string, string];

function hits(dels: Interval[], k: string): boolean {
  for (const [from, to] of dels) if (from <= k && (to === '' || k < to)) return true;
  return false;
}

/**
 * etcd's checkIntervals: a put may not hit a key put or deleted elsewhere in the same list or in
 * a nested txn of it; the two branches of a nested txn may put the same key (only one runs).
 */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[]; err?: KeyspaceError } {
  const dels: Interval[] = [];
  for (const r of reqs) {
    if (r.request?.$case !== 'requestDeleteRange') continue;
    const d = r.request.value;
    dels.push(d.rangeEnd.length !== 0 ? [bin(d.key), bin(d.rangeEnd)] : [bin(d.key), bin(d.key) + '\u0000']);
  }
  const puts = new Set<string>();
  // Built only when refused: an Error captures a stack trace, and this ran for both lists of
  // every Txn, at the service and again at apply.
  const dup = (): { puts: Set<string>; dels: Interval[]; err: KeyspaceError } => ({ puts, dels, err: new KeyspaceError('DUPLICATE_KEY') });
  for (const r of reqs) {
    if (r.request?.$case !== 'requestTxn') continue;
    const then = checkIntervals(r.request.value.success);
    if (then.err) return then;
    const els = checkIntervals(r.request.value.failure);
    if (els.err) return els;
    for (const k of then.puts) {
      if (puts.has(k) || hits(dels, k)) return dup();
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) return dup();
      if (hits(dels, k)) return dup();
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const r of reqs) {
    if (r.request?.$case !== 'requestPut') continue;
    const k = bin(r.request.value.key);
    if (puts.has(k) || hits(dels, k)) return dup();
    puts.add(k);
  }
  return { puts, dels };
}
