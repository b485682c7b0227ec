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
// The zeros are written on the calling thread, between two group commits, so no data write can
// ever be overtaken by them; only their fdatasync runs in the background. A segment is sealed at
// its data's end (the zeros are cut off before the next segment exists), so only the newest
// segment may end in zeros, which recovery reads as the log's clean end (wal.ts: open).
//
// A crash (power loss) during a group commit over zeros can leave any of its pages unwritten, so
// a zero sector may sit between the records of that last, unacknowledged commit: recovery cuts the
// newest segment at the record holding it, as etcd does with its torn-sector rule (hasZeroSector).

import { writeSync } from 'node:fs';
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
  /** Bytes of the file that exist: data, or zeros written ahead of it. */
  private allocated: number;
  /** The background fdatasync of the last zeros written. */
  private syncing: Promise<void> | undefined;
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
    if (this.ahead <= 0 || this.stopped || this.syncing || this.allocated >= this.limit || this.allocated - end >= this.ahead / 2) return;
    const to = Math.min(this.limit, end + this.ahead);
    try {
      for (let at = this.allocated; at < to; ) at += writeSync(this.fh.fd, ZEROS, 0, Math.min(ZEROS.length, to - at), at);
    } catch {
      // Out of space, most likely: whatever was written is zeros, a clean end for recovery.
      this.stopped = true;
      return;
    }
    this.allocated = to;
    this.syncing = this.fh.datasync().then(
      () => void (this.syncing = undefined),
      () => void ((this.syncing = undefined), (this.stopped = true)),
    );
  }

  /** Cut the zeros after `end` off, durably, and fill no more: the segment is being sealed. */
  async seal(end: number): Promise<void> {
    this.stopped = true;
    await this.syncing;
    if (this.allocated > end) {
      await this.fh.truncate(end);
      await this.fh.sync(); // the size itself must be durable before the next segment exists
      this.allocated = end;
    }
  }

  /** Resolves once no fdatasync of zeros is in flight (before the file is closed). */
  async idle(): Promise<void> {
    this.stopped = true;
    await this.syncing;
  }
}
