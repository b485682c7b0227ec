// The writes of one keyspace change (a Put, a DeleteRange, a Txn, a lease revoke): every key it
// writes gets the same main revision and its own sub revision, and the change costs exactly one
// revision if it wrote anything (etcd's storeTxnWrite).
//
// Each write goes to three places in the same batch: the key's current record (`kv`), the event
// log in revision order (`log`), and the key's history index (`hist`); the same encoded record
// serves `kv` and `log`.

import { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { encodeMessage } from '../../proto/codec.js';
import type { Tx } from '../state-machine/tx.js';
import { attach, detach } from '../leases/attachments.js';
import { HIST_DELETE, HIST_PUT, histKey, logKey } from './keys.js';
import { decodeKv } from './range.js';

const EMPTY = Buffer.alloc(0);

export class KeyspaceWrite {
  /** The main revision of every write of this change. */
  readonly rev: number;
  private sub = 0;

  constructor(readonly tx: Tx) {
    this.rev = tx.revision + 1;
  }

  /** The revision reads inside the change see: the one before it, or its own once it wrote. */
  get readRevision(): number {
    return this.sub > 0 ? this.rev : this.rev - 1;
  }

  get changed(): boolean {
    return this.sub > 0;
  }

  /** The key's current record, including this batch's writes. */
  current(key: string): KeyValue | undefined {
    const r = this.tx.get('kv', key);
    return r ? decodeKv(r) : undefined;
  }

  /** Writes `key` (`prev`: its current record). Returns the new record. */
  put(key: string, keyBytes: Buffer, value: Buffer, lease: number, prev: KeyValue | undefined): KeyValue {
    const kv: KeyValue = {
      key: keyBytes,
      createRevision: prev ? prev.createRevision : this.rev,
      modRevision: this.rev,
      version: prev ? prev.version + 1 : 1,
      value,
      lease,
    };
    const rec = encodeMessage(KeyValue, kv);
    const tx = this.tx;
    tx.put('kv', key, rec);
    tx.put('log', logKey(this.rev, this.sub), rec);
    tx.put('hist', histKey(key, this.rev, this.sub), HIST_PUT);
    this.sub++;
    if (prev && prev.lease !== 0 && prev.lease !== lease) detach(tx, prev.lease, key);
    if (lease !== 0) attach(tx, lease, key);
    return kv;
  }

  /** Deletes `key`, which exists with record `prev`. The log keeps a tombstone: key and mod revision, version 0. */
  delete(key: string, keyBytes: Buffer, prev: KeyValue): void {
    const tomb = encodeMessage(KeyValue, { key: keyBytes, createRevision: 0, modRevision: this.rev, version: 0, value: EMPTY, lease: 0 });
    const tx = this.tx;
    tx.del('kv', key);
    tx.put('log', logKey(this.rev, this.sub), tomb);
    tx.put('hist', histKey(key, this.rev, this.sub), HIST_DELETE);
    this.sub++;
    if (prev.lease !== 0) detach(tx, prev.lease, key);
  }

  /** Ends the change: the keyspace moves to `rev` if anything was written. Returns the revision after it. */
  end(): number {
    if (this.sub > 0) this.tx.revision = this.rev;
    return this.tx.revision;
  }
}
