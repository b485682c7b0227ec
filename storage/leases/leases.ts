// The lessor's replicated state: leases (`leases`: 16-hex id → Lease) and, through
// attachments.ts, the keys attached to each. Grant and keep-alive change no key, so they do not
// move the keyspace revision (as in etcd); a revoke deletes all of its keys in ONE revision.
// Expiry is decided by the leader's clock, stamped into the command (leaderTimeMs).

import { Lease, ResultCode, type CommandResult, type LeaseGrantOp, type LeaseKeepAliveOp, type LeaseRevokeOp } from '../../proto/gen/placement/v1/command.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { hex16, rawBounds, type Db } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';
import { KeyspaceWrite } from '../keyspace/write.js';
import { prefixEnd } from '../keyspace/keys.js';
import { attachmentPrefix } from './attachments.js';

export const leaseExistsIn =
  (tx: Tx) =>
  (id: number): boolean =>
    tx.get('leases', hex16(id)) !== undefined;

export function grant(tx: Tx, op: LeaseGrantOp, now: number): CommandResult {
  const { id, ttlMs } = op;
  if (!id || ttlMs <= 0) return result(ResultCode.RESULT_INVALID, tx.revision, { message: 'lease id must be non-zero and ttl positive' });
  if (tx.get('leases', hex16(id))) return result(ResultCode.RESULT_ALREADY_EXISTS, tx.revision, { message: `lease ${id} exists` });
  const lease: Lease = { id, ttlMs, expiresAtMs: now + ttlMs };
  tx.put('leases', hex16(id), encodeMessage(Lease, lease));
  return result(ResultCode.RESULT_OK, tx.revision, { lease });
}

export function keepAlive(tx: Tx, op: LeaseKeepAliveOp, now: number): CommandResult {
  const raw = tx.get('leases', hex16(op.id));
  if (!raw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${op.id} not found` });
  const lease = decodeMessage(Lease, raw);
  lease.expiresAtMs = now + lease.ttlMs;
  tx.put('leases', hex16(lease.id), encodeMessage(Lease, lease));
  return result(ResultCode.RESULT_OK, tx.revision, { lease });
}

/** Iterates the lease's keys, so it always answers with a promise. */
export function revoke(tx: Tx, op: LeaseRevokeOp): CommandResult | Promise<CommandResult> {
  const id = op.id;
  const raw = tx.get('leases', hex16(id));
  if (!raw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${id} not found` });
  const prefix = attachmentPrefix(id);
  return tx.keysIn('leasekeys', prefix, prefixEnd(prefix)).then((attached) => {
    // In key order, as etcd's lessor deletes them; every deletion shares one revision.
    const w = new KeyspaceWrite(tx);
    for (const lk of attached) {
      const key = lk.slice(prefix.length);
      const kv = w.current(key);
      if (kv && kv.lease === id) w.delete(key, Buffer.from(key, 'latin1'), kv);
      else tx.del('leasekeys', lk);
    }
    tx.del('leases', hex16(id));
    return result(ResultCode.RESULT_OK, w.end(), { lease: decodeMessage(Lease, raw) });
  });
}

// ---- reads --------------------------------------------------------------------------------

export async function getLease(db: Db, id: number): Promise<Lease | undefined> {
  const raw = await db.get(Buffer.from(`!leases!${hex16(id)}`, 'latin1'));
  return raw ? decodeMessage(Lease, raw) : undefined;
}

/** All leases in id order (the leader revokes those with expiresAtMs < its clock). */
export async function listLeases(db: Db): Promise<Lease[]> {
  const out: Lease[] = [];
  for await (const v of db.values(rawBounds('leases', '', undefined))) out.push(decodeMessage(Lease, v));
  return out;
}

/** Keys attached to a lease, as binary strings in byte order. */
export async function leaseKeys(db: Db, id: number): Promise<string[]> {
  const prefix = attachmentPrefix(id);
  const plen = `!leasekeys!${prefix}`.length;
  const out: string[] = [];
  for await (const k of db.keys(rawBounds('leasekeys', prefix, prefixEnd(prefix)))) out.push(k.toString('latin1', plen));
  return out;
}
