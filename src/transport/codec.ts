// 1:1 mapping between the Raft core's Message (raft/types.ts) and the wire RaftMessage.
import type { Entry, Message, SnapshotMeta } from '../../raft/types.js';
import type { RaftEntry, RaftMessage, RaftSnapshotMeta } from '../../proto/gen/placement/v1/peer.js';

const EMPTY = Buffer.alloc(0);

function buf(u: Uint8Array): Buffer {
  if (u.byteLength === 0) return EMPTY;
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export function entryToWire(e: Entry): RaftEntry {
  return { term: e.term, index: e.index, type: e.type, data: buf(e.data) };
}

/**
 * Received entries, their data copied into one exact-size buffer per message. Decoded in place,
 * each entry's data is a view into grpc-js's receive buffers (8 KiB pool slabs, whole DATA
 * chunks), and a follower's in-memory log, which holds entries until the next snapshot, kept
 * about twice their size alive that way.
 */
export function entriesFromWire(es: RaftEntry[]): Entry[] {
  let total = 0;
  for (const e of es) total += e.data.byteLength;
  const pack = total === 0 ? EMPTY : Buffer.allocUnsafeSlow(total);
  let at = 0;
  return es.map((e) => {
    const n = e.data.byteLength;
    let data: Uint8Array = EMPTY;
    if (n > 0) {
      pack.set(e.data, at);
      data = pack.subarray(at, at + n);
      at += n;
    }
    return { term: e.term, index: e.index, type: e.type, data };
  });
}

export function snapshotMetaToWire(m: SnapshotMeta): RaftSnapshotMeta {
  return { index: m.index, term: m.term, confState: { voters: [...m.confState.voters], learners: [...m.confState.learners] } };
}

export function snapshotMetaFromWire(m: RaftSnapshotMeta): SnapshotMeta {
  return {
    index: m.index,
    term: m.term,
    confState: { voters: [...(m.confState?.voters ?? [])], learners: [...(m.confState?.learners ?? [])] },
  };
}

export function messageToWire(m: Message): RaftMessage {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.length === 0 ? [] : m.entries.map(entryToWire),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: buf(m.context),
    readSeq: m.readSeq,
    snapshot: m.snapshot ? snapshotMetaToWire(m.snapshot.meta) : undefined,
  };
}

/** `snapshotData` is attached by the snapshot stream receiver (the core treats it as opaque). */
export function messageFromWire(m: RaftMessage, snapshotData: Uint8Array = EMPTY): Message {
  return {
    type: m.type,
    from: m.from,
    to: m.to,
    term: m.term,
    logTerm: m.logTerm,
    index: m.index,
    entries: m.entries.length === 0 ? [] : entriesFromWire(m.entries),
    commit: m.commit,
    reject: m.reject,
    rejectHint: m.rejectHint,
    context: m.context,
    readSeq: m.readSeq,
    snapshot: m.snapshot ? { meta: snapshotMetaFromWire(m.snapshot), data: snapshotData } : undefined,
  };
}
