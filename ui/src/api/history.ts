// A key's history across the revisions the server still keeps: each version's predecessor is
// the key as it was one revision before that version was written (mod revision − 1), the way
// etcd clients walk back with a ranged read at a revision. Pure: how one revision is read is
// passed in (the page reads GET /v1/kv?key=…&revision=R when the API documents that parameter).

export interface Version {
  modRevision: number;
  createRevision: number;
  version: number;
}

/** The key at `revision`: its version then, null if it did not exist, 'compacted' if no longer kept. */
export type ReadAt<V extends Version> = (revision: number) => Promise<V | null | 'compacted'>;

export interface History<V extends Version> {
  /** Newest first, starting with the current version. */
  versions: V[];
  /** Why the walk stopped before the key's creation: older revisions were compacted, or `max` was reached. */
  stoppedBy: 'compacted' | 'limit' | null;
}

export async function keyHistory<V extends Version>(current: V, readAt: ReadAt<V>, max = 20): Promise<History<V>> {
  const versions: V[] = [current];
  let kv = current;
  // version counts writes since the key was (last) created: version 1 has no predecessor.
  while (kv.version > 1) {
    if (versions.length >= max) return { versions, stoppedBy: 'limit' };
    const prev = await readAt(kv.modRevision - 1);
    if (prev === 'compacted') return { versions, stoppedBy: 'compacted' };
    if (prev === null || prev.modRevision >= kv.modRevision) break;
    versions.push(prev);
    kv = prev;
  }
  return { versions, stoppedBy: null };
}
