// The lessor's replicated state: leases (`leases`: 16-hex id → Lease, with its expiry and its key
// count) and, through attachments.ts, the keys attached to each. Grant and renewal change no key,
// so they do not move the keyspace revision (as in etcd); a revoke or an expiry deletes all of a
// lease's keys in ONE revision.
//
// Time comes only from the command: `now` is the leader's clock stamped at proposal
// (leader_time_ms). Nothing here reads a clock. Expiry is the leader's decision (src/lease/),
// applied only if the lease is still exactly as the leader saw it (see expire()).
//
// Every change is reported on tx.leaseChanges, so that the node's lease table (src/lease/) follows
// the replicated state without reading it back.

import {
  Lease,
  ResultCode,
  type CommandResult,
  type LeaseExpireOp,
  type LeaseGrantOp,
  type LeaseKeepAliveOp,
  type LeaseLimits,
  type LeaseRenewOp,
  type LeaseRevokeOp,
} from '../../proto/gen/placement/v1/command.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { hex16, rawBounds, type Db } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';
import { KeyspaceWrite } from '../keyspace/write.js';
import { prefixEnd } from '../keyspace/keys.js';
import { attachmentPrefix } from './attachments.js';
import { leaseCount, limitsIn, setLeaseCount, setLimits } from './limits.js';

/** Lease ids are JavaScript numbers end to end (the codec maps int64 to number). */
export const MAX_LEASE_ID = Number.MAX_SAFE_INTEGER;

/** A lease as it is after a command (null: it no longer exists). */
export interface LeaseChange {
  id: number;
  lease: Lease | null;
}

export const leaseExistsIn =
  (tx: Tx) =>
  (id: number): boolean =>
    tx.get('leases', hex16(id)) !== undefined;

function changed(tx: Tx, id: number, lease: Lease | null): void {
  (tx.leaseChanges ??= []).push({ id, lease });
}

function store(tx: Tx, lease: Lease): void {
  tx.put('leases', hex16(lease.id), encodeMessage(Lease, lease));
  changed(tx, lease.id, lease);
}

export function grant(tx: Tx, op: LeaseGrantOp, now: number): CommandResult {
  const { ttlMs } = op;
  if (!(ttlMs > 0) || !(op.id >= 0 && op.id <= MAX_LEASE_ID)) {
    return result(ResultCode.RESULT_INVALID, tx.revision, { message: `lease id must be 0..${MAX_LEASE_ID} and ttl positive` });
  }
  let id = op.id;
  if (id === 0) {
    // The Raft index is unique and the same on every replica: ids are never reused by the
    // cluster (only a client-chosen id can be taken, and then the next free one is used).
    id = Math.max(1, tx.index);
    while (id < MAX_LEASE_ID && tx.get('leases', hex16(id)) !== undefined) id++;
  }
  if (tx.get('leases', hex16(id))) return result(ResultCode.RESULT_ALREADY_EXISTS, tx.revision, { message: `lease ${id} exists` });
  const count = leaseCount(tx);
  const max = limitsIn(tx).maxLeases;
  if (count >= max) {
    return result(ResultCode.RESULT_LIMIT_EXCEEDED, tx.revision, { message: `the cluster holds ${count} leases, the most max-leases allows` });
  }
  const lease: Lease = { id, ttlMs, expiresAtMs: now + ttlMs, keys: 0 };
  store(tx, lease);
  setLeaseCount(tx, count + 1);
  return result(ResultCode.RESULT_OK, tx.revision, { lease });
}

/** One lease renewed (the older single-lease command; LeaseRenewOp batches). */
export function keepAlive(tx: Tx, op: LeaseKeepAliveOp, now: number): CommandResult {
  const raw = tx.get('leases', hex16(op.id));
  if (!raw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${op.id} not found` });
  const lease = decodeMessage(Lease, raw);
  lease.expiresAtMs = now + lease.ttlMs;
  store(tx, lease);
  return result(ResultCode.RESULT_OK, tx.revision, { lease });
}

/** Every lease named that exists now expires `ttl` after `now`; the others are left out of `leases`. */
export function renew(tx: Tx, op: LeaseRenewOp, now: number): CommandResult {
  const leases: Lease[] = [];
  const seen = new Set<number>();
  for (const id of op.ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    const raw = tx.get('leases', hex16(id));
    if (!raw) continue;
    const lease = decodeMessage(Lease, raw);
    lease.expiresAtMs = now + lease.ttlMs;
    store(tx, lease);
    leases.push(lease);
  }
  return result(ResultCode.RESULT_OK, tx.revision, { leases });
}

/**
 * Iterates the lease's keys, so it answers with a promise when the lease exists. `mayDelete`
 * (the caller's permission, storage/auth/recheck.ts) judges each key the revoke would delete; a
 * refusal of any one refuses the revoke (RESULT_INVALID with its message) and changes nothing.
 */
export function revoke(tx: Tx, op: LeaseRevokeOp, mayDelete?: (key: Uint8Array) => string | undefined): CommandResult | Promise<CommandResult> {
  const raw = tx.get('leases', hex16(op.id));
  if (!raw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${op.id} not found` });
  return end(tx, decodeMessage(Lease, raw), mayDelete);
}

/**
 * The leader's expiry decision, applied only if it still holds: the lease exists and expires at
 * exactly `expires_at_ms` (no renewal was applied since the leader looked), that time is not after
 * the command's leader time (no lease ever ends before its replicated expiry), and the entry's term
 * is the one the deciding leader proposed in (a decision forwarded to, or re-proposed by, another
 * leader is void: that leader decides for itself). Otherwise nothing changes
 * (RESULT_COMPARE_FAILED).
 */
export function expire(tx: Tx, op: LeaseExpireOp, now: number): CommandResult | Promise<CommandResult> {
  const raw = tx.get('leases', hex16(op.id));
  if (!raw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${op.id} not found` });
  const lease = decodeMessage(Lease, raw);
  const stale =
    lease.expiresAtMs !== op.expiresAtMs ? 'renewed since the decision' : now < lease.expiresAtMs ? 'not expired at the leader time' : op.term !== tx.term ? `decided in term ${op.term}, proposed in term ${tx.term}` : '';
  if (stale) return result(ResultCode.RESULT_COMPARE_FAILED, tx.revision, { message: `lease ${op.id} not expired: ${stale}`, lease });
  return end(tx, lease);
}

/** Deletes every key attached to `lease` (one revision, in key order as etcd's lessor), then the lease. */
async function end(tx: Tx, lease: Lease, mayDelete?: (key: Uint8Array) => string | undefined): Promise<CommandResult> {
  const id = lease.id;
  const prefix = attachmentPrefix(id);
  const attached = await tx.keysIn('leasekeys', prefix, prefixEnd(prefix));
  const w = new KeyspaceWrite(tx);
  // The keys still on the lease (an attachment whose key moved to another lease or went away is stale).
  const owned: Array<{ key: string; kv: NonNullable<ReturnType<KeyspaceWrite['current']>> }> = [];
  const stale: string[] = [];
  for (const lk of attached) {
    const key = lk.slice(prefix.length);
    const kv = w.current(key);
    if (kv && kv.lease === id) owned.push({ key, kv });
    else stale.push(lk);
  }
  if (mayDelete) {
    for (const o of owned) {
      const refused = mayDelete(Buffer.from(o.key, 'latin1'));
      if (refused !== undefined) return result(ResultCode.RESULT_INVALID, tx.revision, { message: refused });
    }
  }
  for (const o of owned) w.delete(o.key, Buffer.from(o.key, 'latin1'), o.kv);
  for (const lk of stale) tx.del('leasekeys', lk);
  tx.del('leases', hex16(id));
  changed(tx, id, null);
  setLeaseCount(tx, leaseCount(tx) - 1);
  return result(ResultCode.RESULT_OK, w.end(), { lease });
}

export function limits(tx: Tx, op: LeaseLimits): CommandResult {
  if (!(op.maxLeases >= 1 && op.maxKeysPerLease >= 1)) return result(ResultCode.RESULT_INVALID, tx.revision, { message: 'lease limits must be at least 1' });
  setLimits(tx, op);
  return result(ResultCode.RESULT_OK, tx.revision);
}

// ---- reads --------------------------------------------------------------------------------

export async function getLease(db: Db, id: number): Promise<Lease | undefined> {
  if (!(id > 0 && id <= MAX_LEASE_ID)) return undefined;
  const raw = await db.get(Buffer.from(`!leases!${hex16(id)}`, 'latin1'));
  return raw ? decodeMessage(Lease, raw) : undefined;
}

/** All leases in id order. */
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
