// The keyspace hash of etcd's HashKV: a CRC-32 over the events with revisions in
// (compact revision, R], each as its `log` key and value. Two replicas that applied the same
// history and the same compaction agree on it whatever their applied index beyond R and however
// far each one's physical compaction got (events at or below the compact revision are removed at
// each replica's own pace, so they are left out). A replica that differs in any event after the
// compact revision disagrees.
import { crc32 } from 'node:zlib';
import { KeyspaceError } from './errors.js';
import { logKey } from './keys.js';
import { rawBounds, rawKey, type Db } from '../state-machine/layout.js';
import { readU64 } from '../wal/record.js';
import { Pacer } from '../util/pace.js';

export interface HashKvResult {
  hash: number;
  /** The revision hashed up to (the current one when asked for 0). */
  revision: number;
  /** The compact revision (-1: never compacted, as etcd). */
  compactRevision: number;
}

export async function hashKv(db: Db, revision: number): Promise<HashKvResult> {
  const snap = db.snapshot();
  try {
    const revRaw = await db.get(rawKey('meta', 'revision'), { snapshot: snap });
    const current = revRaw ? readU64(revRaw, 0) : 1;
    const compactRaw = await db.get(rawKey('meta', 'compact'), { snapshot: snap });
    const compact = compactRaw ? readU64(compactRaw, 0) : -1;
    if (revision > current) throw new KeyspaceError('FUTURE_REV');
    if (revision > 0 && revision <= compact) throw new KeyspaceError('COMPACTED', compact);
    const upTo = revision > 0 ? revision : current;
    let h = 0;
    const len = Buffer.allocUnsafe(4);
    const pacer = new Pacer();
    const { gte, lt } = rawBounds('log', logKey(Math.max(compact, 0) + 1, 0), logKey(upTo + 1, 0));
    for await (const [k, v] of db.iterator({ gte, lt, snapshot: snap })) {
      const p = pacer.pace();
      if (p) await p;
      len.writeUInt32LE(k.length, 0);
      h = crc32(len, h);
      h = crc32(k, h);
      len.writeUInt32LE(v.length, 0);
      h = crc32(len, h);
      h = crc32(v, h);
    }
    return { hash: h >>> 0, revision: upTo, compactRevision: compact };
  } finally {
    await snap.close();
  }
}
