// A backup (etcd's `snapshot save` file): a snapshot file (store.ts's format, with its own
// SHA-256), a JSON note of where it came from, a trailer, then the SHA-256 of everything before:
//
//   snapshot file | info JSON | zero padding | "PCBACKUP" | file length u64 BE | info length u32 BE | SHA-256
//
// The padding makes the part before the final hash a multiple of 512 bytes, which is how
// etcdctl's `snapshot save` recognises a stream that ends with an integrity hash (it refuses the
// download otherwise). The Maintenance Snapshot stream sends exactly these bytes, the hash as its
// last message, as etcd does.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { SnapshotCorruptionError } from '../errors.js';

export const BACKUP_MAGIC = Buffer.from('PCBACKUP');
const BLOCK = 512;
const HASH_BYTES = 32;
const TAIL_FIXED = BACKUP_MAGIC.length + 8 + 4;
const MAX_INFO = 64 * 1024;

/** Where a backup came from. */
export interface BackupInfo {
  /** The --cluster-id of the cluster it was taken from (a restore must choose another). */
  clusterId: string;
  /** The keyspace revision it holds: every write up to it, none after. */
  revision: number;
  /** The Raft index it was taken at. */
  index: number;
  takenAt: string;
}

/** The bytes that follow a snapshot file of `fileLen` bytes in a backup, before the final hash. */
export function backupTrailer(fileLen: number, info: BackupInfo): Buffer {
  const json = Buffer.from(JSON.stringify(info), 'utf8');
  const pad = (BLOCK - ((fileLen + json.length + TAIL_FIXED) % BLOCK)) % BLOCK;
  const t = Buffer.alloc(json.length + pad + TAIL_FIXED);
  json.copy(t, 0);
  let at = json.length + pad;
  BACKUP_MAGIC.copy(t, at);
  at += BACKUP_MAGIC.length;
  t.writeBigUInt64BE(BigInt(fileLen), at);
  t.writeUInt32BE(json.length, at + 8);
  return t;
}

/** Total bytes of a backup holding a snapshot file of `fileLen` bytes, hash included. */
export function backupSize(fileLen: number, info: BackupInfo): number {
  return fileLen + backupTrailer(fileLen, info).length + HASH_BYTES;
}

/**
 * Checks a backup file's shape and final hash; resolves with where its snapshot file lies
 * (`[0, fileLen)`) and its info. Throws SnapshotCorruptionError naming what is wrong. The
 * snapshot file's own checksum is checked when it is read (verifySnapshotFile).
 */
export async function verifyBackupFile(path: string): Promise<{ fileLen: number; size: number; info: BackupInfo }> {
  const fh = await fsp.open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const bad = (why: string): never => {
      throw new SnapshotCorruptionError(path, `not a valid backup: ${why}`);
    };
    if (size < BLOCK + HASH_BYTES || (size - HASH_BYTES) % BLOCK !== 0) bad(`its size (${size} bytes) is not a multiple of ${BLOCK} plus a ${HASH_BYTES}-byte hash`);
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let pos = 0; pos < size - HASH_BYTES; ) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, size - HASH_BYTES - pos), pos);
      if (bytesRead === 0) bad('it was truncated while being read');
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    const want = Buffer.alloc(HASH_BYTES);
    await fh.read(want, 0, HASH_BYTES, size - HASH_BYTES);
    if (!h.digest().equals(want)) bad('its SHA-256 does not match its content (the file is damaged or incomplete)');
    const tail = Buffer.alloc(TAIL_FIXED);
    await fh.read(tail, 0, TAIL_FIXED, size - HASH_BYTES - TAIL_FIXED);
    if (!tail.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) bad('no Placement Center backup trailer (is it an etcd snapshot?)');
    const fileLen = Number(tail.readBigUInt64BE(BACKUP_MAGIC.length));
    const infoLen = tail.readUInt32BE(BACKUP_MAGIC.length + 8);
    if (!Number.isSafeInteger(fileLen) || infoLen > MAX_INFO || fileLen + infoLen + TAIL_FIXED + HASH_BYTES > size) {
      bad(`its trailer names a snapshot of ${fileLen} bytes and a note of ${infoLen}, which do not fit a file of ${size} bytes`);
    }
    const raw = Buffer.alloc(infoLen);
    await fh.read(raw, 0, infoLen, fileLen);
    let info: BackupInfo;
    try {
      info = JSON.parse(raw.toString('utf8')) as BackupInfo;
    } catch {
      return bad('its note is not JSON');
    }
    if (typeof info.clusterId !== 'string' || !Number.isSafeInteger(info.revision) || !Number.isSafeInteger(info.index)) bad('its note lacks the cluster id, revision or index');
    if (backupSize(fileLen, info) !== size) bad(`its trailer does not match its size (${size} bytes)`);
    return { fileLen, size, info };
  } finally {
    await fh.close();
  }
}
