// Membership changes: the wire encoding of a ConfChange entry and the pure function that
// applies one single-server change to a configuration.

import { ConfChangeType } from './types.js';
import type { ConfChange, ConfState, NodeId } from './types.js';

// Layout: [u8 version=1][u8 type][f64 BE nodeId][context...]. The float keeps any safe
// integer id exact without bigint handling.
const HEADER = 10;

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out = new Uint8Array(HEADER + cc.context.length);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, 1);
  dv.setUint8(1, cc.type);
  dv.setFloat64(2, cc.nodeId);
  out.set(cc.context, HEADER);
  return out;
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  if (data.length < HEADER || data[0] !== 1) throw new Error('raft: malformed ConfChange entry');
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const type = dv.getUint8(1) as ConfChangeType;
  if (type !== ConfChangeType.AddVoter && type !== ConfChangeType.AddLearner && type !== ConfChangeType.RemoveNode) {
    throw new Error(`raft: unknown ConfChange type ${type}`);
  }
  return { type, nodeId: dv.getFloat64(2), context: data.slice(HEADER) };
}

export function cloneConfState(cs: ConfState): ConfState {
  return { voters: cs.voters.slice(), learners: cs.learners.slice() };
}

/** The configuration after applying `cc` to `cs` (a new object; `cs` is untouched). */
export function applyConfChange(cs: ConfState, cc: ConfChange): ConfState {
  const id: NodeId = cc.nodeId;
  const voters = cs.voters.filter((v) => v !== id);
  const learners = cs.learners.filter((v) => v !== id);
  switch (cc.type) {
    case ConfChangeType.AddVoter:
      voters.push(id);
      break;
    case ConfChangeType.AddLearner:
      // Demoting a voter is also a single-server change: the voter set shrinks by one.
      learners.push(id);
      break;
    case ConfChangeType.RemoveNode:
      break;
  }
  voters.sort((a, b) => a - b);
  learners.sort((a, b) => a - b);
  return { voters, learners };
}

export function isVoter(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id);
}

export function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id);
}
