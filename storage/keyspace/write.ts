// The writes of one keyspace change (a Put, a DeleteRange, a Txn, a lease revoke): every key it
// writes gets the same main revision and its own sub revision, and the change costs exactly one
// revision if it wrote anything (etcd's storeTxnWrite).
//
// Each write goes to three places in the same batch: the event log in revision order (`log`, the
// full record, value included), the key's history index (`hist`), and the key's current state
// (`kv`, a small pointer to its current event: records.ts).

import { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { encodeMessage } from '../../proto/codec.js';
import type { Tx } from '../state-machine/tx.js';
import { attach, detach } from '../leases/attachments.js';
import { HIST_DELETE, HIST_PUT, histKey, logKey } from './keys.js';
import { decodeCurrent, encodeCurrent, loadCurrent, type Current } from './records.js';
import { liveEvent } from './events.js';

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

  /** The key's current state, including this batch's writes. */
  current(key: string): Current | undefined {
    const r = this.tx.get('kv', key);
    return r ? decodeCurrent(r) : undefined;
  }

  /** The key's current KeyValue, value included. */
  load(key: string, c: Current): KeyValue {
    return loadCurrent((lk) => this.tx.get('log', lk), key, c);
  }

  /** Writes `key` (`prev`: its current state). */
  put(key: string, keyBytes: Buffer, value: Buffer, lease: number, prev: Current | undefined): void {
    // First, so that a lease at its key bound refuses the put before anything is written.
    if (lease !== 0 && prev?.lease !== lease) attach(this.tx, lease, key);
    const createRevision = prev ? prev.createRevision : this.rev;
    const version = prev ? prev.version + 1 : 1;
    const rec = encodeMessage(KeyValue, { key: keyBytes, createRevision, modRevision: this.rev, version, value, lease });
    const tx = this.tx;
    const sub = this.sub++;
    tx.put('log', logKey(this.rev, sub), rec);
    tx.put('hist', histKey(key, this.rev, sub), HIST_PUT);
    tx.put('kv', key, encodeCurrent({ main: this.rev, sub, createRevision, version, lease }));
    tx.revisionWrites.push({ key, main: this.rev, sub, tombstone: false, prev });
    if (prev && prev.lease !== 0 && prev.lease !== lease) detach(tx, prev.lease, key);
    if (tx.events) tx.events.push(liveEvent(this.rev, sub, key, rec, false, prev));
  }

  /** Deletes `key`, whose current state is `prev`. The log keeps a tombstone: key and mod revision, version 0. */
  delete(key: string, keyBytes: Buffer, prev: Current): void {
    const tomb = encodeMessage(KeyValue, { key: keyBytes, createRevision: 0, modRevision: this.rev, version: 0, value: EMPTY, lease: 0 });
    const tx = this.tx;
    const sub = this.sub++;
    tx.put('log', logKey(this.rev, sub), tomb);
    tx.put('hist', histKey(key, this.rev, sub), HIST_DELETE);
    tx.del('kv', key);
    tx.revisionWrites.push({ key, main: this.rev, sub, tombstone: true, prev });
    if (prev.lease !== 0) detach(tx, prev.lease, key);
    if (tx.events) tx.events.push(liveEvent(this.rev, sub, key, tomb, true, prev));
  }

  /** Ends the change: the keyspace moves to `rev` if anything was written. Returns the revision after it. */
  end(): number {
    if (this.sub > 0) this.tx.revision = this.rev;
    return this.tx.revision;
  }
}
