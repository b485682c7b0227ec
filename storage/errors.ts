/** Errors raised by storage/. Every one names the file and (where it applies) the byte offset. */

/** Base class for all storage errors. `code` is stable and safe to switch on. */
export class StorageError extends Error {
  constructor(
    readonly code:
      | 'WAL_CORRUPT'
      | 'WAL_CLOSED'
      | 'WAL_FAILED'
      | 'WAL_INVALID_APPEND'
      | 'SNAPSHOT_CORRUPT'
      | 'SNAPSHOT_NOT_FOUND'
      | 'SM_INVALID'
      | 'SM_CORRUPT',
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

/**
 * The state machine's LevelDB files fail their own checksums, or LevelDB cannot open or read
 * them. `problems` name each damaged file. The data in it can no longer be trusted (a damaged
 * table block may read back as different bytes, not as an error): rebuild the state machine
 * from a snapshot and the log (StateMachine.quarantine, then install), never serve from it.
 */
export class StateMachineCorruptionError extends StorageError {
  constructor(
    readonly dbPath: string,
    readonly problems: { file: string; offset?: number; reason: string }[],
  ) {
    super(
      'SM_CORRUPT',
      `state machine database ${dbPath} is damaged: ` +
        problems.map((p) => `${p.file}${p.offset !== undefined ? ` at offset ${p.offset}` : ''}: ${p.reason}`).join('; '),
    );
    this.name = 'StateMachineCorruptionError';
  }
}
