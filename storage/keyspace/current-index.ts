// Which keys exist now, in key order, with the revision of each one's current put: what etcd's
// treeIndex gives its ranges. A range over LevelDB's `kv` records walks every version of an
// overwritten key still in the memtable and the young table files, and makes a Buffer per key
// (~2-3 µs a key, bench:etcd-api's "Prefix page" rows); counting the keys of a range, or finding
// the first page of it, is a walk of this in-memory B+ tree instead.
//
// It changes only with the database, as the revision index does (revision-index.ts): a written
// batch's history entries (record: a put sets the key's revision, a delete removes the key) and a
// database opened or installed from a snapshot (load). A read takes a copy-on-write clone of it
// in the same synchronous step as its LevelDB snapshot (the state machine does so only while no
// batch is being written, so both describe the same state): the clone costs O(1), and the writes
// that follow copy the few nodes they touch instead of changing what the read sees.

import sorted from 'sorted-btree';
import type { Db } from '../state-machine/layout.js';
import { NS_PREFIX } from '../state-machine/layout.js';
import { scanNamespace } from '../state-machine/scan.js';
import { decodeCurrent } from './records.js';
import type { RevisionWrite } from './revision-index.js';

const BTree = sorted.default;

/**
 * Where a key's current put is (its event record in `log`): its main revision, with the sub
 * revision too when that is not 0 (a Txn writing several keys), so most keys hold a small integer.
 */
export type PutRef = number | { main: number; sub: number };
export const refMain = (r: PutRef): number => (typeof r === 'number' ? r : r.main);
export const refSub = (r: PutRef): number => (typeof r === 'number' ? 0 : r.sub);
const refOf = (main: number, sub: number): PutRef => (sub === 0 ? main : { main, sub });

/** The current keys as of one moment: key → where its current put is. Never changes. */
export type CurrentKeys = Pick<InstanceType<typeof BTree<string, PutRef>>, 'entries' | 'size' | 'maxKey' | 'forRange'>;

const KV_PLEN = NS_PREFIX.kv.length;

export class CurrentIndex {
  private tree = new BTree<string, PutRef>();

  /** Keys that exist now. */
  get size(): number {
    return this.tree.size;
  }

  /** A written batch's history entries, in revision order. */
  record(writes: readonly RevisionWrite[]): void {
    const t = this.tree;
    for (const w of writes) {
      if (w.tombstone) t.delete(w.key);
      else t.set(w.key, refOf(w.main, w.sub));
    }
  }

  /** The keys as they are now; later writes do not change what it holds. */
  clone(): CurrentKeys {
    return this.tree.clone();
  }

  /** Replaces the index with the keys stored in `db` (after open or a snapshot install). */
  async load(db: Db): Promise<void> {
    const tree = new BTree<string, PutRef>();
    for await (const chunk of scanNamespace(db, 'kv')) {
      for (const [rk, v] of chunk) {
        const c = decodeCurrent(v);
        tree.set(rk.toString('latin1', KV_PLEN), refOf(c.main, c.sub));
      }
    }
    this.tree = tree;
  }
}
