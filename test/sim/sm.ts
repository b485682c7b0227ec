// The replicated state machine of the simulator: a small register map plus a running
// fingerprint ("chain") over every applied entry. Two replicas with the same applied index
// must have the same chain; a snapshot carries the chain so installs are checked too.

import { chainMix, hashBytes } from './rng.js';

export const KEYS = 8;

/** Client command: 'W', key (u8), write id (u32). Unique write ids make every entry distinct. */
export function encodeWrite(key: number, writeId: number): Uint8Array {
  const b = new Uint8Array(6);
  b[0] = 0x57;
  b[1] = key;
  b[2] = writeId >>> 24;
  b[3] = (writeId >>> 16) & 0xff;
  b[4] = (writeId >>> 8) & 0xff;
  b[5] = writeId & 0xff;
  return b;
}

export function decodeWrite(b: Uint8Array): { key: number; writeId: number } | undefined {
  if (b.length !== 6 || b[0] !== 0x57) return undefined;
  return { key: b[1]!, writeId: ((b[2]! << 24) | (b[3]! << 16) | (b[4]! << 8) | b[5]!) >>> 0 };
}

export class KvState {
  applied = 0;
  appliedTerm = 0;
  chain = 0;
  readonly kv = new Int32Array(KEYS);

  /** Apply one committed entry (the caller checks index continuity). */
  apply(index: number, term: number, data: Uint8Array, isConf: boolean): number {
    const dh = hashBytes(data) ^ (isConf ? 0x5a5a5a5a : 0);
    this.chain = chainMix(this.chain, index, term, dh);
    this.applied = index;
    this.appliedTerm = term;
    if (!isConf) {
      const w = decodeWrite(data);
      if (w) this.kv[w.key % KEYS] = w.writeId;
    }
    return dh;
  }

  clone(): KvState {
    const s = new KvState();
    s.applied = this.applied;
    s.appliedTerm = this.appliedTerm;
    s.chain = this.chain;
    s.kv.set(this.kv);
    return s;
  }

  serialize(): Uint8Array {
    const b = new Uint8Array(12 + 4 * KEYS);
    const dv = new DataView(b.buffer);
    dv.setUint32(0, this.applied);
    dv.setUint32(4, this.appliedTerm);
    dv.setUint32(8, this.chain);
    for (let k = 0; k < KEYS; k++) dv.setInt32(12 + 4 * k, this.kv[k]!);
    return b;
  }

  static deserialize(b: Uint8Array): KvState {
    if (b.length !== 12 + 4 * KEYS) throw new Error(`bad state-machine snapshot of ${b.length} bytes`);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const s = new KvState();
    s.applied = dv.getUint32(0);
    s.appliedTerm = dv.getUint32(4);
    s.chain = dv.getUint32(8);
    for (let k = 0; k < KEYS; k++) s.kv[k] = dv.getInt32(12 + 4 * k);
    return s;
  }
}
