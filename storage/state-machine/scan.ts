// Every record of a LevelDB view, in key order, handed out in batches.
//
// Snapshots and the state hash read the whole database. Through `for await` on an iterator each
// record costs an async-generator step (several microtasks), and each read from LevelDB, a round
// trip through the thread pool, brings at most classic-level's default 16 KiB: a state of 100,000
// revisions took each member ~4 s to snapshot under load, all members at once (they snapshot at the
// same index). Here one round trip brings up to SCAN_BATCH_BYTES and the caller loops over plain
// arrays.
import { rawBounds, type Db, type Ns } from './layout.js';

/** Bytes of records one read from LevelDB may bring (classic-level's highWaterMarkBytes). */
const SCAN_BATCH_BYTES = 256 << 10;
/** Records one read may bring. */
const SCAN_BATCH_ENTRIES = 512;

type View = ReturnType<Db['snapshot']>;

/** The records `options` selects, a batch at a time; the iterator is closed however the loop ends. */
async function* batches(db: Db, options: object, entries: number): AsyncGenerator<Array<[Buffer, Buffer]>> {
  const it = db.iterator(options as never);
  try {
    for (;;) {
      const batch = (await it.nextv(entries)) as Array<[Buffer, Buffer]>;
      if (batch.length === 0) return;
      yield batch;
    }
  } finally {
    await it.close();
  }
}

/** The records of `snapshot` (the whole database), a batch at a time. */
export function scanAll(db: Db, snapshot: View): AsyncGenerator<Array<[Buffer, Buffer]>> {
  return batches(db, { snapshot, highWaterMarkBytes: SCAN_BATCH_BYTES }, SCAN_BATCH_ENTRIES);
}

/**
 * The records of namespace `ns` as the database is now, a batch of up to 1,000 (or 1 MiB) at a
 * time: what the in-memory indexes are rebuilt from on open and snapshot install.
 */
export function scanNamespace(db: Db, ns: Ns): AsyncGenerator<Array<[Buffer, Buffer]>> {
  return batches(db, { ...rawBounds(ns, '', undefined), highWaterMarkBytes: 1 << 20 }, 1000);
}
