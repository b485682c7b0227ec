// Peer messages are input like any other: before a message reaches the Raft core, its numbers
// must be integers the core can add to without losing precision, its type must be one the core
// knows, its sender must be the authenticated member and its recipient this one, its sizes must
// be bounded, and every command it carries must be within the limits a client request is held
// to (a leader proposes nothing else: node.ts checks each proposal with the same function).
import { decodeMessage } from '../../proto/codec.js';
import { Command } from '../../proto/gen/placement/v1/command.js';
import type { RaftMessage, RaftSnapshotMeta } from '../../proto/gen/placement/v1/peer.js';
import { EntryType, MessageType } from '../../raft/types.js';
import { commandProblem, type CommandLimits } from '../validation/command.js';

/**
 * Largest term, index or commit a peer may send: 2^52, so that every increment the core makes
 * stays an exact integer (2^53 is where doubles stop counting by one). Reaching it takes a
 * million elections a second for 140 years; a value beyond it is forged or corrupt, and storing
 * it would wedge the cluster for good.
 */
export const MAX_RAFT_NUMBER = 2 ** 52;
/** Member ids, like every id on the wire, are safe integers (the WAL stores them as such). */
const MAX_ID = Number.MAX_SAFE_INTEGER;

export interface PeerLimits {
  /** Largest entry: the largest command a client request could produce. */
  maxEntryBytes: number;
  /** Largest opaque context (the core puts a few bytes there). */
  maxContextBytes: number;
  /** Largest snapshot chunk. */
  maxChunkBytes: number;
  /** Most members named in a snapshot's membership. */
  maxMembers: number;
  command: CommandLimits;
}

/** The limits for a node configured with `cfg` (the same limits its client API enforces). */
export function peerLimits(cfg: CommandLimits): PeerLimits {
  return {
    // Key, value, a CAS expected value and framing: what the client port's message size allows.
    maxEntryBytes: 2 * cfg.maxValueBytes + cfg.maxKeyBytes + 64 * 1024,
    maxContextBytes: 4096,
    maxChunkBytes: 16 * 1024 * 1024,
    maxMembers: 1024,
    command: { maxKeyBytes: cfg.maxKeyBytes, maxValueBytes: cfg.maxValueBytes, maxLeaseTtlMs: cfg.maxLeaseTtlMs },
  };
}

function number(name: string, v: number, max = MAX_RAFT_NUMBER): string | null {
  if (!Number.isSafeInteger(v) || v < 0) return `${name} ${v} is not a non-negative integer`;
  if (v > max) return `${name} ${v} is beyond ${max === MAX_RAFT_NUMBER ? '2^52' : max} (refused: it would lose integer precision)`;
  return null;
}

const KNOWN_TYPES = new Set(Object.values(MessageType).filter((v): v is number => typeof v === 'number'));

/**
 * What is wrong with a Raft message received on the Raft stream from the authenticated member
 * `from` by member `self`, or null. Snapshot messages travel on InstallSnapshot only.
 */
export function messageProblem(m: RaftMessage, from: number, self: number, lim: PeerLimits): string | null {
  if (!KNOWN_TYPES.has(m.type)) return `unknown message type ${m.type}`;
  if (m.type === MessageType.Snapshot) return 'Snapshot messages travel on InstallSnapshot, not on the Raft stream';
  return common(m, from, self, lim);
}

function common(m: RaftMessage, from: number, self: number, lim: PeerLimits): string | null {
  if (m.from !== from) return `message claims to be from member ${m.from}, the stream is authenticated as member ${from}`;
  if (m.to !== self) return `message for member ${m.to} delivered to member ${self}`;
  const p =
    number('term', m.term) ??
    number('logTerm', m.logTerm) ??
    number('index', m.index) ??
    number('commit', m.commit) ??
    number('rejectHint', m.rejectHint) ??
    number('readSeq', m.readSeq);
  if (p) return p;
  if (m.context.byteLength > lim.maxContextBytes) return `context of ${m.context.byteLength} bytes (at most ${lim.maxContextBytes})`;
  if (m.snapshot && m.type !== MessageType.Snapshot) return 'snapshot metadata on a message that is not a Snapshot';
  if (m.entries.length > 0) {
    if (m.type !== MessageType.Append) return `entries on a ${MessageType[m.type]} message`;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      const ep = number(`entry ${i} term`, e.term) ?? number(`entry ${i} index`, e.index);
      if (ep) return ep;
      if (e.index !== m.index + 1 + i) return `entry ${i} has index ${e.index}, expected ${m.index + 1 + i} (entries must follow the message index contiguously)`;
      if (e.term > m.term) return `entry ${i} has term ${e.term}, newer than the message's term ${m.term}`;
      if (e.data.byteLength > lim.maxEntryBytes) return `entry ${e.index} is ${e.data.byteLength} bytes (at most ${lim.maxEntryBytes})`;
      if (e.type === EntryType.Normal) {
        if (e.data.byteLength === 0) continue; // a leader's no-op
        let cmd: Command;
        try {
          cmd = decodeMessage(Command, e.data);
        } catch (err) {
          return `entry ${e.index} is not a decodable command (${(err as Error).message})`;
        }
        const cp = commandProblem(cmd, lim.command);
        if (cp) return `entry ${e.index}: ${cp}`;
      } else if (e.type !== EntryType.ConfChange) {
        return `entry ${e.index} has unknown type ${e.type}`;
      }
    }
  }
  return null;
}

/** What is wrong with the Snapshot message heading an InstallSnapshot stream, or null. */
export function snapshotMessageProblem(m: RaftMessage | undefined, from: number, self: number, lim: PeerLimits): string | null {
  if (!m) return 'the first snapshot chunk carries no Snapshot message';
  if (m.type !== MessageType.Snapshot || !m.snapshot) return 'the first snapshot chunk carries no Snapshot message';
  const p = common(m, from, self, lim);
  if (p) return p;
  return snapshotMetaProblem(m.snapshot, lim);
}

function snapshotMetaProblem(meta: RaftSnapshotMeta, lim: PeerLimits): string | null {
  const p = number('snapshot index', meta.index) ?? number('snapshot term', meta.term);
  if (p) return p;
  const voters = meta.confState?.voters ?? [];
  const learners = meta.confState?.learners ?? [];
  if (voters.length + learners.length > lim.maxMembers) return `snapshot membership of ${voters.length + learners.length} members (at most ${lim.maxMembers})`;
  for (const id of [...voters, ...learners]) {
    const ip = number('snapshot member id', id, MAX_ID);
    if (ip) return ip;
    if (id === 0) return 'snapshot membership names member 0';
  }
  if (voters.length === 0) return 'snapshot membership has no voter';
  return null;
}
