// Global safety checks of the simulator. Every observation (an entry persisted or sent, an
// entry applied, a snapshot installed, a vote granted, a leader seen) goes through here and
// is checked against everything observed before in the run, so a violation is reported at the
// step where it becomes visible.

import type { Entry } from '../../raft/types.js';
import { EntryType } from '../../raft/types.js';
import { hashBytes } from './rng.js';
import type { LogView } from './logview.js';

export class Violation extends Error {
  constructor(
    readonly property: string,
    readonly detail: string,
  ) {
    super(`${property}: ${detail}`);
  }
}

const TERM_SPAN = 4194304; // 2^22: (index, term) packed into one safe integer key

export function entryHash(e: Entry): number {
  return (hashBytes(e.data) ^ (e.type === EntryType.ConfChange ? 0x5a5a5a5a : 0)) >>> 0;
}

export class SafetyChecker {
  /** term -> leader id */
  readonly leaders = new Map<number, number>();
  /** (index, term) -> data hash and term of the preceding entry: log matching. */
  private readonly entryData = new Map<number, number>();
  private readonly entryPrev = new Map<number, number>();
  /** Per log index: what was applied there (first application wins; all others must agree). */
  private readonly appTerm: number[] = [];
  private readonly appHash: number[] = [];
  private readonly appChain: number[] = [];
  /** Lowest current term of any node that applied the index: an upper bound of its commit term. */
  private readonly appMinTerm: number[] = [];
  maxApplied = 0;
  /** node -> term -> candidate the node granted its vote to. */
  private readonly votes = new Map<number, Map<number, number>>();

  /** Entries about to become part of some node's log (persisted or sent). */
  observeEntries(where: string, prevIndex: number, prevTerm: number, entries: readonly Entry[]): void {
    let pi = prevIndex;
    let pt = prevTerm;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== pi + 1) {
        throw new Violation('log-matching', `${where}: entry index ${e.index} does not follow ${pi}`);
      }
      if (pt >= 0 && e.term < pt) {
        throw new Violation('log-matching', `${where}: entry ${e.index} has term ${e.term} below the preceding entry's term ${pt}`);
      }
      const key = e.index * TERM_SPAN + e.term;
      const h = entryHash(e);
      const prevH = this.entryData.get(key);
      if (prevH === undefined) {
        this.entryData.set(key, h);
        if (pt >= 0) this.entryPrev.set(key, pt);
      } else {
        if (prevH !== h) {
          throw new Violation('log-matching', `${where}: two different entries at index ${e.index} term ${e.term}`);
        }
        const knownPrev = this.entryPrev.get(key);
        if (knownPrev === undefined) {
          if (pt >= 0) this.entryPrev.set(key, pt);
        } else if (pt >= 0 && knownPrev !== pt) {
          throw new Violation(
            'log-matching',
            `${where}: entry ${e.index}/${e.term} preceded by term ${pt}, elsewhere by term ${knownPrev}`,
          );
        }
      }
      pi = e.index;
      pt = e.term;
    }
  }

  observeApply(node: number, nodeTerm: number, e: Entry, dataHash: number, chain: number): void {
    const i = e.index;
    const t = this.appTerm[i];
    if (t === undefined) {
      this.appTerm[i] = e.term;
      this.appHash[i] = dataHash;
      this.appChain[i] = chain;
      this.appMinTerm[i] = nodeTerm;
      if (i > this.maxApplied) this.maxApplied = i;
      return;
    }
    if (t !== e.term || this.appHash[i] !== dataHash) {
      throw new Violation(
        'state-machine-safety',
        `node ${node} applied entry ${i}/${e.term}, but entry ${i}/${t} with different content was applied elsewhere`,
      );
    }
    if (this.appChain[i] !== chain) {
      throw new Violation('state-machine-safety', `node ${node} reached index ${i} through a different history of applied entries`);
    }
    if (nodeTerm < this.appMinTerm[i]!) this.appMinTerm[i] = nodeTerm;
  }

  /** A state-machine snapshot at index with the given chain was installed or created. */
  observeSnapshot(node: number, index: number, term: number, chain: number): void {
    const t = this.appTerm[index];
    if (t === undefined) {
      if (index > this.maxApplied) {
        throw new Violation('state-machine-safety', `node ${node} holds a snapshot at ${index} beyond anything applied (${this.maxApplied})`);
      }
      return; // index compacted before anything was recorded there: cannot happen, but harmless
    }
    if (t !== term || this.appChain[index] !== chain) {
      throw new Violation('state-machine-safety', `node ${node} snapshot at ${index}/${term} differs from the applied history`);
    }
  }

  appliedTermAt(i: number): number | undefined {
    return this.appTerm[i];
  }

  appliedChainAt(i: number): number | undefined {
    return this.appChain[i];
  }

  observeVoteGranted(node: number, term: number, candidate: number): void {
    let m = this.votes.get(node);
    if (!m) {
      m = new Map();
      this.votes.set(node, m);
    }
    const prev = m.get(term);
    if (prev === undefined) m.set(term, candidate);
    else if (prev !== candidate) {
      throw new Violation('single-vote-per-term', `node ${node} voted for ${prev} and for ${candidate} in term ${term}`);
    }
  }

  /** A node was seen acting as leader of term. Checks election safety and leader completeness. */
  observeLeader(node: number, term: number, log: LogView): void {
    const other = this.leaders.get(term);
    if (other !== undefined && other !== node) {
      throw new Violation('election-safety', `two leaders in term ${term}: ${other} and ${node}`);
    }
    if (other === node) return;
    this.leaders.set(term, node);
    // Every entry committed in an earlier term must be in the new leader's log.
    for (let i = Math.max(1, log.snapIndex + 1); i <= this.maxApplied; i++) {
      const mt = this.appMinTerm[i];
      if (mt === undefined || mt >= term) continue;
      const lt = log.term(i);
      if (lt !== this.appTerm[i]) {
        throw new Violation(
          'leader-completeness',
          `leader ${node} of term ${term} has ${lt < 0 ? 'no entry' : `term ${lt}`} at ${i}, but ${i}/${this.appTerm[i]} was committed in an earlier term`,
        );
      }
    }
  }
}
