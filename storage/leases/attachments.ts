// Which keys are attached to which lease: `leasekeys` holds `<lease id, 16 hex>/<key>` → "" so that
// a revoke finds its keys with one prefix scan. The keyspace keeps it up to date on every write
// and delete; the lessor (leases.ts) reads it.

import { hex16 } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';

const NOTHING = Buffer.alloc(0);

export const attachmentPrefix = (lease: number): string => `${hex16(lease)}/`;

export function attach(tx: Tx, lease: number, key: string): void {
  tx.put('leasekeys', attachmentPrefix(lease) + key, NOTHING);
}

export function detach(tx: Tx, lease: number, key: string): void {
  tx.del('leasekeys', attachmentPrefix(lease) + key);
}
