// A Ready hands the driver new entries to persist and committed entries to apply. Committed
// entries below the first new one were persisted by an earlier Ready, whose fsync the driver
// loop awaited: they may be applied while this Ready's entries are being synced (under a steady
// stream of writes every Ready carries both, and waiting held every answer and watch event one
// fsync longer). Committed entries at or above the first new one are in this Ready's write and
// are applied only once it is durable: a member never applies an entry its disk does not hold.
import type { Entry } from '../../raft/index.js';

export interface CommittedSplit {
  /** Committed entries already durable here: apply now. */
  durable: Entry[];
  /** Committed entries in this Ready's write: apply after its fsync. */
  afterSync: Entry[];
}

const NONE: Entry[] = [];

/** `committed` and `newEntries` in index order, as a Ready holds them. */
export function splitCommitted(committed: Entry[], newEntries: Entry[]): CommittedSplit {
  if (committed.length === 0 || newEntries.length === 0) return { durable: NONE, afterSync: committed };
  const firstNew = newEntries[0]!.index;
  if (committed[committed.length - 1]!.index < firstNew) return { durable: committed, afterSync: NONE };
  const n = committed.findIndex((e) => e.index >= firstNew);
  if (n <= 0) return { durable: NONE, afterSync: committed };
  return { durable: committed.slice(0, n), afterSync: committed.slice(n) };
}
