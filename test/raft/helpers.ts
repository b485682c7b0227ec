// Helpers for driving a single RaftNode by hand with crafted messages.

import { RaftNode, MessageType, EntryType, NONE } from '../../raft/index.js';
import type { Entry, Message, NodeId, RaftConfig, RaftInitialState, Ready } from '../../raft/index.js';
import { rng } from './network.js';

export function newNode(
  id: NodeId,
  voters: NodeId[] = [1, 2, 3],
  cfg: Partial<RaftConfig> = {},
  init: Partial<RaftInitialState> = {},
): RaftNode {
  return new RaftNode(
    { id, electionTick: 10, heartbeatTick: 1, random: rng(id), ...cfg },
    {
      hardState: { term: 0, vote: NONE, commit: 0 },
      entries: [],
      confState: { voters, learners: [] },
      applied: 0,
      ...init,
    },
  );
}

export function msg(p: Partial<Message> & Pick<Message, 'type' | 'from' | 'to' | 'term'>): Message {
  return {
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    readSeq: 0,
    ...p,
  };
}

export function ent(index: number, term: number, data = ''): Entry {
  return { index, term, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

/** Take and acknowledge one Ready (as if persisted and sent). */
export function drain(n: RaftNode): Ready {
  const rd = n.ready();
  n.advance(rd);
  return rd;
}

/** Take all pending output, acknowledging each Ready; returns the messages. */
export function drainMsgs(n: RaftNode): Message[] {
  const out: Message[] = [];
  while (n.hasReady()) out.push(...drain(n).messages);
  return out;
}

/** Make `n` (a member of voters [1..]) leader at the next term without any network. */
export function makeLeader(n: RaftNode): Message[] {
  n.campaign();
  let msgs = drainMsgs(n);
  // Pre-vote round (if enabled), then the real vote.
  for (let round = 0; round < 2 && n.status().softState.role !== 'leader'; round++) {
    for (const m of msgs) {
      if (m.type === MessageType.PreVote) n.step(msg({ type: MessageType.PreVoteResponse, from: m.to, to: m.from, term: m.term }));
      if (m.type === MessageType.Vote) n.step(msg({ type: MessageType.VoteResponse, from: m.to, to: m.from, term: m.term }));
    }
    msgs = drainMsgs(n);
  }
  if (n.status().softState.role !== 'leader') throw new Error('makeLeader failed');
  return msgs;
}

/** Acknowledge the leader's latest index from the given followers (moves them to Replicate). */
export function ackAll(n: RaftNode, from: NodeId[]): void {
  const st = n.status();
  for (const f of from) {
    n.step({
      type: MessageType.AppendResponse, from: f, to: st.id, term: st.hardState.term, logTerm: 0,
      index: st.lastIndex, entries: [], commit: 0, reject: false, rejectHint: 0, context: new Uint8Array(0), readSeq: 0,
    });
  }
  drainMsgs(n);
}

export function ofType(msgs: Message[], t: MessageType): Message[] {
  return msgs.filter((m) => m.type === t);
}
