// The native placement.v1 key operations on the same keyspace: Set is a Put, Delete a DeleteRange
// of one key, CompareAndSwap a compare-then-put. Their results keep the native shape (CommandResult
// with a placement.v1.KeyValue, string keys); revisions follow the keyspace's rules.

import type { CompareAndSwapOp, DeleteOp, PutOp } from '../../proto/gen/placement/v1/command.js';
import { ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import type { KeyValue as NativeKv } from '../../proto/gen/placement/v1/kv.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';
import { binToUtf8, utf8ToBin } from './keys.js';
import { KeyspaceError } from './errors.js';
import type { LeaseExists } from './apply.js';
import { KeyspaceWrite } from './write.js';

/** A stored record in the native shape; `key` given when the caller already has it as a string. */
export function toNative(kv: KeyValue, key?: string): NativeKv {
  return {
    key: key ?? binToUtf8(kv.key.toString('latin1')),
    value: kv.value,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

export function nativePut(tx: Tx, op: PutOp, leaseExists: LeaseExists): CommandResult {
  const { key, value, lease } = op;
  if (!key) return result(ResultCode.RESULT_INVALID, tx.revision, { message: 'empty key' });
  if (lease && !leaseExists(lease)) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${lease} not found` });
  const w = new KeyspaceWrite(tx);
  const k = utf8ToBin(key);
  const prev = w.current(k);
  const prevKv = op.prevKv && prev ? toNative(w.load(k, prev), key) : undefined;
  const refused = tryPut(w, k, value, lease, prev);
  if (refused) return refused;
  return result(ResultCode.RESULT_OK, w.end(), { prevKv, succeeded: true });
}

export function nativeDelete(tx: Tx, op: DeleteOp): CommandResult {
  const { key } = op;
  if (!key) return result(ResultCode.RESULT_INVALID, tx.revision, { message: 'empty key' });
  const w = new KeyspaceWrite(tx);
  const k = utf8ToBin(key);
  const prev = w.current(k);
  if (!prev) return result(ResultCode.RESULT_OK, tx.revision, { succeeded: false });
  const prevKv = op.prevKv ? toNative(w.load(k, prev), key) : undefined;
  w.delete(k, Buffer.from(k, 'latin1'), prev);
  return result(ResultCode.RESULT_OK, w.end(), { prevKv, succeeded: true });
}

export function nativeCas(tx: Tx, c: CompareAndSwapOp, leaseExists: LeaseExists): CommandResult {
  const invalid = (message: string): CommandResult => result(ResultCode.RESULT_INVALID, tx.revision, { message });
  if (!c.key) return invalid('empty key');
  if (!c.expect) return invalid('compare-and-swap without an expectation');
  const w = new KeyspaceWrite(tx);
  const k = utf8ToBin(c.key);
  const cur = w.current(k);
  // A CAS answers with the key as it was, whatever the outcome.
  const prev = cur ? w.load(k, cur) : undefined;
  const prevKv = prev ? toNative(prev, c.key) : undefined;
  if (!casHolds(c, prev)) return result(ResultCode.RESULT_COMPARE_FAILED, tx.revision, { prevKv, succeeded: false, message: 'compare failed' });
  if (c.lease && !leaseExists(c.lease)) {
    return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { prevKv, succeeded: false, message: `lease ${c.lease} not found` });
  }
  const refused = tryPut(w, k, c.value, c.lease, cur);
  if (refused) return { ...refused, prevKv };
  return result(ResultCode.RESULT_OK, w.end(), { prevKv, succeeded: true });
}

/** w.put, or the result of its refusal (a lease at its key bound: nothing was written). */
function tryPut(w: KeyspaceWrite, k: string, value: Buffer, lease: number, prev: ReturnType<KeyspaceWrite['current']>): CommandResult | undefined {
  try {
    w.put(k, Buffer.from(k, 'latin1'), value, lease, prev);
    return undefined;
  } catch (e) {
    if (!(e instanceof KeyspaceError) || e.kind !== 'LEASE_KEYS_LIMIT') throw e;
    return result(ResultCode.RESULT_LIMIT_EXCEEDED, w.tx.revision, { message: `lease ${lease} already has the most keys attached that max-keys-per-lease allows`, succeeded: false });
  }
}

function casHolds(c: CompareAndSwapOp, prev: KeyValue | undefined): boolean {
  switch (c.expect?.$case) {
    case 'expectedModRevision':
      return c.expect.value === 0 ? prev === undefined : prev !== undefined && prev.modRevision === c.expect.value;
    case 'expectedValue':
      return prev !== undefined && Buffer.compare(prev.value, c.expect.value) === 0;
    case 'expectAbsent':
      return c.expect.value ? prev === undefined : prev !== undefined;
    default:
      return false;
  }
}
