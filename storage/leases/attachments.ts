// Which keys are attached to which lease: `leasekeys` holds `<lease id, 16 hex>/<key>` → "" so that
// a revoke finds its keys with one prefix scan, and each lease record counts its keys (the bound
// `max_keys_per_lease` is checked against that count). The keyspace calls attach() before it
// writes anything of a put (a refusal leaves nothing behind) and detach() when a key leaves the
// lease; the lessor (leases.ts) reads them.

import { Lease } from '../../proto/gen/placement/v1/command.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { hex16 } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { KeyspaceError } from '../keyspace/errors.js';
import { limitsIn } from './limits.js';

const NOTHING = Buffer.alloc(0);

export const attachmentPrefix = (lease: number): string => `${hex16(lease)}/`;

/** Attaches `key` (not attached to `lease` yet). Throws LEASE_KEYS_LIMIT, writing nothing, at the bound. */
export function attach(tx: Tx, lease: number, key: string): void {
  const raw = tx.get('leases', hex16(lease));
  if (raw) {
    const l = decodeMessage(Lease, raw);
    if (l.keys >= limitsIn(tx).maxKeysPerLease) throw new KeyspaceError('LEASE_KEYS_LIMIT');
    l.keys++;
    tx.put('leases', hex16(lease), encodeMessage(Lease, l));
  }
  tx.put('leasekeys', attachmentPrefix(lease) + key, NOTHING);
}

export function detach(tx: Tx, lease: number, key: string): void {
  const raw = tx.get('leases', hex16(lease));
  if (raw) {
    const l = decodeMessage(Lease, raw);
    if (l.keys > 0) l.keys--;
    tx.put('leases', hex16(lease), encodeMessage(Lease, l));
  }
  tx.del('leasekeys', attachmentPrefix(lease) + key);
}
