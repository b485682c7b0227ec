// When a member takes its next snapshot. Every member applies the same log, so with one shared
// threshold all of them snapshotted at the same index, at the same moment: on a small machine a
// snapshot of a large keyspace takes seconds of CPU, and with the leader and a follower busy at
// once the quorum itself slowed down (bench:compare caught a read row at a quarter of its rate).
// Each member is therefore offset by its rank among the members: with --snapshot-every E and n
// members, member r snapshots when its applied index passes r·E/n (mod E), so members take turns
// E/n entries apart and at most one of them is busy at a time.
//
// A snapshot copies the whole state, so its cost grows with the state, not with the entries
// since the last one. On a schedule set in entries alone, the snapshot work of a growing state
// grows with its square: a million 256-byte writes kept in history made each member take ten
// snapshots of a state growing to hundreds of MiB, seconds of CPU each that reads and writes
// waited behind (bench:etcd-api's history rows ran behind them). So once the newest
// snapshot is large (AMORTIZE_FROM), the next one also waits until the entries applied since
// hold as many bytes as it (at most AMORTIZE_CAP, which bounds the log replayed on a restart):
// copying then costs at most about one byte per byte applied, as Redis rewrites its append-only
// file only once it has doubled.

export interface SnapshotScheduleInput {
  /** The member's applied index. */
  applied: number;
  /** The index of its newest snapshot (taken or installed). */
  lastSnapshot: number;
  /** Bytes of entry data applied since its last snapshot. */
  bytesSince: number;
  /** --snapshot-every. */
  every: number;
  /** --snapshot-bytes. */
  bytes: number;
  /** Size in bytes of the member's newest snapshot file (0: none). */
  lastSize: number;
  /** This member's rank among the members (rankOf). */
  rank: Rank;
}

/** A member's rank (0-based) among the members in id order, and how many there are. */
export interface Rank {
  rank: number;
  of: number;
}

/** `self`'s rank among `members` (voters and learners); a non-member counts as the only one. */
export function rankOf(self: number, members: readonly number[]): Rank {
  const ids = [...new Set(members)].sort((a, b) => a - b);
  const rank = ids.indexOf(self);
  return rank < 0 ? { rank: 0, of: 1 } : { rank, of: ids.length };
}

/** From this snapshot size on, the next snapshot waits for as many bytes of entries applied. */
export const AMORTIZE_FROM = 64 * 1024 * 1024;
/** ...but never for more than this many. */
export const AMORTIZE_CAP = 128 * 1024 * 1024;

export function snapshotDue(s: SnapshotScheduleInput): boolean {
  if (s.lastSize >= AMORTIZE_FROM && s.bytesSince < Math.min(s.lastSize, AMORTIZE_CAP)) return false;
  const { rank, of } = s.rank;
  // Bytes bound the memory of the in-memory log, so the offset only lowers the threshold (member
  // r of n at (1 - r/2n) of it): different periods keep the members apart most of the time.
  if (s.bytesSince >= Math.floor((s.bytes * (2 * of - rank)) / (2 * of))) return true;
  const every = Math.max(1, s.every);
  // This member's turn: the first index at or after half an interval past its last snapshot (one
  // installed from the leader may land just before its turn) that is phase (mod every). So
  // intervals stay within [every/2, 3·every/2) and are `every` once in step.
  const phase = Math.floor((rank * every) / of);
  const earliest = s.lastSnapshot + Math.max(1, Math.ceil(every / 2));
  const turn = phase + Math.ceil((earliest - phase) / every) * every;
  return s.applied >= turn;
}
