// Zero-filling the active segment ahead of its data.
//
// Appending past a file's end makes every fdatasync commit a metadata change too (the new size
// and the newly allocated blocks go through the filesystem's journal); overwriting bytes that
// already exist does not. So the active segment is kept zero-filled some way ahead of its data, as
// etcd preallocates its segments (it has fallocate; Node has no binding for it, so zeros are
// written). Measured (storage/README.md, "Preallocation"; `npm run bench:ab --
// PLACEMENT_WAL_PREALLOCATE_BYTES=0`): a single client's writes ~5% faster with it, a ~9% lower
// p50; no difference at 64 in flight.
//
// The zeros are written on the thread pool, off the event loop: writing 2 MiB of them into the page
// cache took 5-24 ms on a 2-core VM, a stall of every request the node was serving (measured with
// a plain writeSync loop; in perf it was 3-5% of a follower's CPU under etcd Put at 64 in flight).
// Data is never overtaken by them: the zeros start at or after the data's end, and a write of the
// WAL that would reach into the range being zeroed waits for those zeros first (`overlapping`). Only
// their fdatasync runs after that, in the background. A segment is sealed at its data's end (the
// zeros are cut off before the next segment exists), so only the newest segment may end in zeros,
// which recovery reads as the log's clean end (wal.ts: open).
//
// A crash (power loss) during a group commit over zeros can leave any of its pages unwritten, so
// a zero sector may sit between the records of that last, unacknowledged commit: recovery cuts the
// newest segment at the record holding it, as etcd does with its torn-sector rule (hasZeroSector).

import type { FileHandle } from 'node:fs/promises';

/** True if every byte of `buf` from `off` on is zero (a preallocated, never-written tail). */
export function isZeroFrom(buf: Buffer, off: number): boolean {
  return isZeroRange(buf, off, buf.length);
}

/** What a disk writes atomically: a torn write leaves whole sectors unwritten. */
export const SECTOR = 512;

/**
 * Does [from, to) hold a whole sector-aligned run of zeros: part of a write that never reached the
 * disk? In the newest segment such a gap before later valid records is a torn group commit over
 * preallocated zeros (its pages reach the disk in any order when the file does not grow), not
 * damage: only the last group commit can be unsynced, and it was never acknowledged.
 */
export function hasZeroSector(buf: Buffer, from: number, to: number): boolean {
  for (let s = Math.ceil(from / SECTOR) * SECTOR; s + SECTOR <= Math.min(to, buf.length); s += SECTOR) {
    if (isZeroRange(buf, s, s + SECTOR)) return true;
  }
  return false;
}

function isZeroRange(buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (buf[i] !== 0) return false;
  return true;
}

const ZEROS = Buffer.alloc(1 << 20);

export class Preallocator {
  /** Bytes of the file that may exist: data, or zeros written (or being written) ahead of it. */
  private allocated: number;
  /** Where the zeros being written start, while `zeroing` runs. */
  private zeroFrom = 0;
  /** The zeros being written (thread pool); a WAL write past `zeroFrom` waits for it. */
  private zeroing: Promise<void> | undefined;
  /** The zeros' writes and then their fdatasync: no new fill starts before it ends. */
  private filling: Promise<void> | undefined;
  /** Stop filling (sealed, or a fill failed: the log works without it). */
  private stopped = false;

  constructor(
    private readonly fh: FileHandle,
    /** How far ahead of the data to keep zeros (0: never). */
    private readonly ahead: number,
    /** Never fill past this size (the segment's rotation size). */
    private readonly limit: number,
    fileSize: number,
  ) {
    this.allocated = fileSize;
  }

  /** The data now ends at `end`: once less than half of `ahead` is left, fill up to `end + ahead`. */
  wrote(end: number): void {
    if (end > this.allocated) this.allocated = end;
    if (this.ahead <= 0 || this.stopped || this.filling || this.allocated >= this.limit || this.allocated - end >= this.ahead / 2) return;
    const from = this.allocated;
    const to = Math.min(this.limit, end + this.ahead);
    // Counted as existing from now on, so that a seal after a failed fill still cuts what it wrote.
    this.allocated = to;
    this.zeroFrom = from;
    this.zeroing = this.writeZeros(from, to).then(
      () => void (this.zeroing = undefined),
      () => void ((this.zeroing = undefined), (this.stopped = true)),
    );
    this.filling = this.zeroing
      .then(() => (this.stopped ? undefined : this.fh.datasync()))
      .then(
        () => void (this.filling = undefined),
        () => void ((this.filling = undefined), (this.stopped = true)),
      );
  }

  /**
   * Before the WAL writes its data up to `end`: the zeros it must wait for (they are still being
   * written where that data goes), or undefined when it can write at once.
   */
  overlapping(end: number): Promise<void> | undefined {
    return this.zeroing !== undefined && end > this.zeroFrom ? this.zeroing : undefined;
  }

  private async writeZeros(from: number, to: number): Promise<void> {
    // Out of space, most likely, if this throws: whatever was written is zeros, a clean end for
    // recovery, and the seal cuts it off.
    for (let at = from; at < to; ) at += (await this.fh.write(ZEROS, 0, Math.min(ZEROS.length, to - at), at)).bytesWritten;
  }

  /** Cut the zeros after `end` off, durably, and fill no more: the segment is being sealed. */
  async seal(end: number): Promise<void> {
    this.stopped = true;
    await this.filling;
    if (this.allocated > end) {
      await this.fh.truncate(end);
      await this.fh.sync(); // the size itself must be durable before the next segment exists
      this.allocated = end;
    }
  }

  /** Resolves once no write or fdatasync of zeros is in flight (before the file is closed). */
  async idle(): Promise<void> {
    this.stopped = true;
    await this.filling;
  }
}
