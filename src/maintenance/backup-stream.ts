// One consistent backup, as pieces to send: what etcd's Maintenance.Snapshot stream and the admin
// HTTP GET /v1/maintenance/snapshot both serve (the same bytes: storage/snapshot/backup.ts
// describes the file). A snapshot of the state machine is taken when the backup is opened (one
// LevelDB snapshot, so one applied index and one revision even while writes go on), written to a
// private directory in the data dir, read out in pieces, and removed by close().
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { SnapshotStore, backupSize, backupTrailer, type BackupInfo, type SnapshotReader, type StateMachine } from '../../storage/index.js';
import { forEachRecord, REVISION_KEY } from './records.js';

export interface BackupHost {
  readonly cfg: { readonly clusterId: string; readonly dataDir: string };
  readonly keyspace: Pick<StateMachine, 'createSnapshot'>;
}

export interface BackupPiece {
  blob: Buffer;
  /** Bytes of the backup still to come before its final hash; 0 for the hash itself (as etcd counts). */
  remainingBytes: number;
}

export interface OpenBackup {
  readonly info: BackupInfo;
  /** Total bytes of the backup, its final SHA-256 included. */
  readonly size: number;
  /** The backup's bytes in order; the last piece is the SHA-256 of all the others. Iterate once. */
  pieces(): AsyncGenerator<BackupPiece>;
  /** Removes the private copy (call once the pieces are sent or the send was abandoned). */
  close(): Promise<void>;
}

/** Where backups being sent keep their private copies. */
export const backupsDir = (dataDir: string): string => join(dataDir, 'backups');

/**
 * Removes the private copies that backups being sent when the process died left behind (each is
 * a whole snapshot of the state machine, so a few crashes mid-backup would otherwise fill the
 * disk). Call it at start, once this process owns the data dir: then no backup is in flight, and
 * nothing under backups/ is live data. Returns the names it removed.
 */
export async function sweepBackups(dataDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(backupsDir(dataDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  await Promise.all(names.map((n) => fsp.rm(join(backupsDir(dataDir), n), { recursive: true, force: true })));
  return names;
}

export async function openBackup(host: BackupHost, pieceBytes: number): Promise<OpenBackup> {
  const dir = join(backupsDir(host.cfg.dataDir), `${Date.now()}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const close = (): Promise<void> => fsp.rm(dir, { recursive: true, force: true });
  try {
    const store = await SnapshotStore.open(dir, { retain: 1 });
    const snap = await host.keyspace.createSnapshot(store);
    const reader = store.openReader(snap.meta, { chunkSize: pieceBytes });
    const info: BackupInfo = { clusterId: host.cfg.clusterId, revision: await revisionOfSnapshot(reader), index: snap.meta.index, takenAt: new Date().toISOString() };
    const size = backupSize(reader.size, info);
    async function* pieces(): AsyncGenerator<BackupPiece> {
      const h = createHash('sha256');
      let sent = 0;
      const piece = (blob: Buffer): BackupPiece => {
        h.update(blob);
        sent += blob.length;
        return { blob, remainingBytes: size - 32 - sent };
      };
      for await (const chunk of reader.chunks()) yield piece(chunk);
      yield piece(backupTrailer(reader.size, info));
      yield { blob: h.digest(), remainingBytes: 0 };
    }
    return { info, size, pieces, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The keyspace revision a snapshot holds (its `!meta!revision` record; 1 when absent, a new store). */
async function revisionOfSnapshot(reader: SnapshotReader): Promise<number> {
  let found = 1;
  await forEachRecord(reader.content(), (k, v) => {
    // storage writes u64s little-endian (storage/wal/record.ts).
    if (k.equals(REVISION_KEY)) found = Number(v.readBigUInt64LE(0));
  });
  return found;
}
