// Where the leader compacts its log after a snapshot. Normally --snapshot-catchup-entries behind
// it, or to the previous snapshot when that is closer (members slightly behind still catch up
// from the log). Not past a snapshot still on its way to a member
// (raft compactionFloor): that member needs the entries right after it, or once installed it
// needs yet another snapshot. But holding the log costs the leader memory for as long as the
// stream lasts, so the hold ends once the entries kept for it exceed a bound: the member then
// gets a newer snapshot, and the leader stays within its memory.

/** Applied-entry bytes counted at each snapshot this node took (a few recent ones). */
export class SnapshotBytes {
  private readonly at = new Map<number, number>();
  total = 0;

  add(bytes: number): void {
    this.total += bytes;
  }

  /** A snapshot at `index` was taken with `total` bytes applied so far. */
  mark(index: number): void {
    this.at.set(index, this.total);
    if (this.at.size > 16) this.at.delete(this.at.keys().next().value!);
  }

  /** Bytes applied after the snapshot at `index` (everything counted, when it is not known). */
  since(index: number): number {
    return this.total - (this.at.get(index) ?? 0);
  }
}

export interface CompactionChoice {
  to: number;
  /** The compaction stops short of `wanted` for a snapshot on its way. */
  heldBack: boolean;
  /** A snapshot on its way would have held it back, but the log after it is over the bound. */
  released: boolean;
}

export function compactionPoint(wanted: number, floor: number, heldBytes: number, limitBytes: number): CompactionChoice {
  if (floor >= wanted) return { to: wanted, heldBack: false, released: false };
  if (heldBytes > limitBytes) return { to: wanted, heldBack: false, released: true };
  return { to: floor, heldBack: true, released: false };
}
