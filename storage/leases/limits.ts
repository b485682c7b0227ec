// The lease bounds every replica enforces, and the lease count they are checked against. Both are
// replicated state (`meta`), never a replica's own flags: a leader whose configured limits differ
// proposes a LeaseLimits command on taking office (src/lease/keeper.ts), so replicas always agree.

import { LeaseLimits } from '../../proto/gen/placement/v1/command.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { readU64, writeU64 } from '../wal/record.js';
import type { Tx } from '../state-machine/tx.js';
import type { Db } from '../state-machine/layout.js';

/** Until a leader replicates its own: generous, but finite. */
export const DEFAULT_LEASE_LIMITS: LeaseLimits = { maxLeases: 100_000, maxKeysPerLease: 10_000 };

const LIMITS = 'leaseLimits';
const COUNT = 'leaseCount';

export function limitsIn(tx: Tx): LeaseLimits {
  const raw = tx.get('meta', LIMITS);
  return raw ? decodeMessage(LeaseLimits, raw) : DEFAULT_LEASE_LIMITS;
}

export function setLimits(tx: Tx, limits: LeaseLimits): void {
  tx.put('meta', LIMITS, encodeMessage(LeaseLimits, { maxLeases: limits.maxLeases, maxKeysPerLease: limits.maxKeysPerLease }));
}

export function leaseCount(tx: Tx): number {
  const raw = tx.get('meta', COUNT);
  return raw ? readU64(raw, 0) : 0;
}

export function setLeaseCount(tx: Tx, n: number): void {
  const b = Buffer.allocUnsafe(8);
  writeU64(b, Math.max(0, n), 0);
  tx.put('meta', COUNT, b);
}

export async function readLimits(db: Db): Promise<LeaseLimits> {
  const raw = await db.get(Buffer.from(`!meta!${LIMITS}`, 'latin1'));
  return raw ? decodeMessage(LeaseLimits, raw) : DEFAULT_LEASE_LIMITS;
}
