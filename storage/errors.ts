/** Errors raised by storage/. Every one names the file and (where it applies) the byte offset. */

/** Base class for all storage errors. `code` is stable and safe to switch on. */
export class StorageError extends Error {
  constructor(
    readonly code: 'WAL_CORRUPT' | 'WAL_CLOSED' | 'WAL_FAILED' | 'WAL_INVALID_APPEND' | 'SNAPSHOT_CORRUPT' | 'SNAPSHOT_NOT_FOUND' | 'SM_INVALID',
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

/**
 * The WAL is damaged somewhere other than its unacknowledged tail (a bad record followed by good
 * ones, a missing segment, a gap in the log). The node must refuse to start: continuing would
 * silently lose or invent acknowledged state.
 */
export class WalCorruptionError extends StorageError {
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super('WAL_CORRUPT', `WAL corruption in ${file} at offset ${offset}: ${reason}; refusing to start (restore this node from a peer)`);
    this.name = 'WalCorruptionError';
  }
}

/** A snapshot file failed its checksum or has a malformed header/trailer. */
export class SnapshotCorruptionError extends StorageError {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super('SNAPSHOT_CORRUPT', `snapshot ${file} is corrupt: ${reason}`);
    this.name = 'SnapshotCorruptionError';
  }
}
