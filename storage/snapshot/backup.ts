// A backup (etcd's `snapshot save` file): a snapshot file (store.ts's format, with its own
// SHA-256) followed by a trailer, then the SHA-256 of everything before it:
//
//   snapshot file | zero padding | "PCBACKUP" | snapshot file length u64 BE | SHA-256
//
// The padding makes the part before the final hash a multiple of 512 bytes, which is how
// etcdctl's `snapshot save` recognises a stream that ends with an integrity hash (it refuses
// the download otherwise). The Maintenance Snapshot stream sends exactly these bytes, the hash as
// its last message, as etcd does.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { SnapshotCorruptionError } from '../errors.js';

export const BACKUP_MAGIC = Buffer.from('PCBACKUP');
const BLOCK = 512;
const HASH_BYTES = 32;
const TAIL_FIXED = BACKUP_MAGIC.length + 8;

/** The bytes that follow a snapshot file of `fileLen` bytes in a backup, before the final hash. */
export function backupTrailer(fileLen: number): Buffer {
  const pad = (BLOCK - ((fileLen + TAIL_FIXED) % BLOCK)) % BLOCK;
  const t = Buffer.alloc(pad + TAIL_FIXED);
  BACKUP_MAGIC.copy(t, pad);
  t.writeBigUInt64BE(BigInt(fileLen), pad + BACKUP_MAGIC.length);
  return t;
}

/** Total bytes of a backup holding a snapshot file of `fileLen` bytes, hash included. */
export function backupSize(fileLen: number): number {
  return fileLen + backupTrailer(fileLen).length + HASH_BYTES;
}

/**
 * Checks a backup file's shape and final hash; resolves with where its snapshot file lies
 * (`[0, fileLen)`). Throws SnapshotCorruptionError naming what is wrong. The snapshot file's own
 * checksum is checked when it is read (SnapshotStore.beginReceive → commit).
 */
export async function verifyBackupFile(path: string): Promise<{ fileLen: number; size: number }> {
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
    if (!h.digest().equals(want)) bad('its SHA-256 does not match (the file is damaged or incomplete)');
    const tail = Buffer.alloc(TAIL_FIXED);
    await fh.read(tail, 0, TAIL_FIXED, size - HASH_BYTES - TAIL_FIXED);
    if (!tail.subarray(0, BACKUP_MAGIC.length).equals(BACKUP_MAGIC)) bad('no Placement Center backup trailer (is it an etcd snapshot?)');
    const fileLen = Number(tail.readBigUInt64BE(BACKUP_MAGIC.length));
    if (!Number.isSafeInteger(fileLen) || backupSize(fileLen) !== size) bad(`its trailer names a snapshot of ${fileLen} bytes, which does not fit a file of ${size} bytes`);
    return { fileLen, size };
  } finally {
    await fh.close();
  }
}
