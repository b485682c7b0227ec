// Minimal, deterministic reproductions of Raft core bugs seen in simulator runs, kept as
// regression scenarios (core-regressions.test.ts asserts them).
// Run: npx tsx test/sim/core-repro.ts   (prints FIXED or BUG per scenario; exit 1 if any BUG)

import { RaftNode } from '../../raft/index.js';
import { EntryType, MessageType } from '../../raft/types.js';
import type { Entry, Message, Ready } from '../../raft/types.js';

const conf = { voters: [1, 2, 3], learners: [] as number[] };

function ent(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array([index & 0xff]) };
}

function msg(p: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return { logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0), readSeq: 0, ...p };
}

/**
 * A follower restores a snapshot and, before the application calls ready(), accepts an Append
 * that continues right after the snapshot. The Ready must then persist the snapshot plus ALL
 * appended entries; the buggy core hands out a wrong slice (RaftLog.toPersist() starts at
 * stable+1 < snapIndex+1 and slices at a negative offset), so acknowledged entries are never
 * persisted (the simulator sees "append leaves a gap").
 * Returns the indexes the Ready asks to persist (expected [4, 5, 6]).
 */
export function snapshotThenAppendBeforeReady(): { ok: boolean; got: number[] } {
  const f = new RaftNode(
    { id: 2, electionTick: 10, heartbeatTick: 1, random: () => 0.5 },
    { hardState: { term: 1, vote: 0, commit: 0 }, entries: [1, 2, 3, 4, 5].map((i) => ent(i, 1)), confState: conf, applied: 0 },
  );
  f.step(
    msg({
      type: MessageType.Snapshot, from: 1, to: 2, term: 2, commit: 3,
      snapshot: { meta: { index: 3, term: 2, confState: conf }, data: new Uint8Array([1]) },
    }),
  );
  f.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 3, logTerm: 2, entries: [4, 5, 6].map((i) => ent(i, 2)), commit: 3 }));
  const rd = f.ready();
  const got = rd.entries.map((e) => e.index);
  return { ok: rd.snapshot?.meta.index === 3 && got.join() === '4,5,6', got };
}

/**
 * Leader 1 replicates to followers in Replicate state. The Appends to follower 2 carrying a
 * new entry and then the commit update are lost (the network dropped them; no transport error
 * is reported). With no further proposals, heartbeats
 * keep flowing, but the leader never resends: follower 2 stays behind forever (a lossy link
 * leaves it permanently lagging until the next client write).
 * Returns follower 2's last index after 200 ticks (expected = leader's last index).
 */
export function lostAppendNeverResent(): { ok: boolean; leaderLast: number; followerLast: number } {
  const nodes = new Map<number, RaftNode>();
  for (const id of [1, 2, 3]) {
    nodes.set(id, new RaftNode({ id, electionTick: 10, heartbeatTick: 1, random: () => 0.5 },
      { hardState: { term: 0, vote: 0, commit: 0 }, entries: [], confState: conf, applied: 0 }));
  }
  let queue: Message[] = [];
  let dropAppendsTo2 = false;
  const pump = (): void => {
    for (let round = 0; round < 50; round++) {
      for (const n of nodes.values()) {
        while (n.hasReady()) {
          const rd: Ready = n.ready();
          for (const m of rd.messages) {
            if (dropAppendsTo2 && m.type === MessageType.Append && m.to === 2) continue;
            queue.push(m);
          }
          n.advance(rd);
        }
      }
      if (queue.length === 0) return;
      const q = queue;
      queue = [];
      for (const m of q) nodes.get(m.to)!.step(m);
    }
  };
  nodes.get(1)!.campaign();
  pump();
  nodes.get(1)!.propose(new Uint8Array([1]));
  pump(); // follower 2 is now in Replicate state
  dropAppendsTo2 = true; // the link to 2 loses Appends for one round (the write and the commit update)
  nodes.get(1)!.propose(new Uint8Array([2]));
  pump();
  dropAppendsTo2 = false;
  for (let t = 0; t < 200; t++) {
    for (const n of nodes.values()) n.tick();
    pump();
  }
  const leaderLast = nodes.get(1)!.status().lastIndex;
  const followerLast = nodes.get(2)!.status().lastIndex;
  return { ok: leaderLast === followerLast, leaderLast, followerLast };
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  let bad = 0;
  const a = snapshotThenAppendBeforeReady();
  console.log(`snapshotThenAppendBeforeReady: ${a.ok ? 'FIXED' : 'BUG'} (Ready persists entries [${a.got}], expected [4,5,6])`);
  const b = lostAppendNeverResent();
  console.log(`lostAppendNeverResent: ${b.ok ? 'FIXED' : 'BUG'} (leader last ${b.leaderLast}, follower 2 last ${b.followerLast} after 200 ticks)`);
  if (!a.ok) bad++;
  if (!b.ok) bad++;
  process.exitCode = bad > 0 ? 1 : 0;
}
