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
import { NS_PREFIX, rawBounds } from '../state-machine/layout.js';
import { decodeCurrent } from './records.js';
import type { RevisionWrite } from './revision-index.js';

const BTree = sorted.default;

/** The current keys as of one moment: key → main revision of its current put. Never changes. */
export type CurrentKeys = Pick<InstanceType<typeof BTree<string, number>>, 'entries' | 'size'>;

const KV_PLEN = NS_PREFIX.kv.length;

export class CurrentIndex {
  private tree = new BTree<string, number>();

  /** Keys that exist now. */
  get size(): number {
    return this.tree.size;
  }

  /** A written batch's history entries, in revision order. */
  record(writes: readonly RevisionWrite[]): void {
    const t = this.tree;
    for (const w of writes) {
      if (w.tombstone) t.delete(w.key);
      else t.set(w.key, w.main);
    }
  }

  /** The keys as they are now; later writes do not change what it holds. */
  clone(): CurrentKeys {
    return this.tree.clone();
  }

  /** Replaces the index with the keys stored in `db` (after open or a snapshot install). */
  async load(db: Db): Promise<void> {
    const tree = new BTree<string, number>();
    const it = db.iterator({ ...rawBounds('kv', '', undefined), highWaterMarkBytes: 1 << 20 } as never);
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (chunk.length === 0) break;
        for (const [rk, v] of chunk) tree.set(rk.toString('latin1', KV_PLEN), decodeCurrent(v).main);
      }
    } finally {
      await it.close();
    }
    this.tree = tree;
  }
}
