// The consequence behind the leader-commit-rule check, scripted: the Raft paper's Figure 8 on
// five real cores. With the planted bug commitPriorTermByCount, the leader of term 3 commits
// (and applies) an entry of term 1 by counting replicas; a later leader overwrites that
// committed entry. Without the bug the same script commits nothing unsafe.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftNode } from '../../raft/index.js';
import { MessageType, Role } from '../../raft/types.js';
import type { Entry, HardState, Message } from '../../raft/types.js';

class Net {
  readonly nodes = new Map<number, RaftNode>();
  /** Applied entries per node, by index. */
  readonly applied = new Map<number, Map<number, Entry>>();
  /** Messages are delivered only while this returns true; others are dropped. */
  allow: (m: Message) => boolean = () => true;
  down = new Set<number>();

  private readonly logs = new Map<number, Entry[]>();
  private readonly hard = new Map<number, HardState>();
  private readonly voters = [1, 2, 3, 4, 5];

  constructor(private readonly bug: boolean) {
    for (const id of this.voters) {
      this.logs.set(id, []);
      this.hard.set(id, { term: 0, vote: 0, commit: 0 });
      this.applied.set(id, new Map());
      this.start(id);
    }
  }

  /** (Re)start a node from what it persisted. */
  start(id: number): void {
    this.nodes.set(
      id,
      new RaftNode(
        {
          id,
          electionTick: 10,
          heartbeatTick: 1,
          random: () => 0.5,
          preVote: false,
          checkQuorum: false,
          maxSizePerMsg: 1,
          bugs: this.bug ? { commitPriorTermByCount: true } : undefined,
        },
        {
          hardState: { ...this.hard.get(id)! },
          entries: this.logs.get(id)!.slice(),
          confState: { voters: this.voters, learners: [] },
          applied: this.applied.get(id)!.size,
        },
      ),
    );
  }

  pump(): void {
    for (let round = 0; round < 100; round++) {
      const out: Message[] = [];
      for (const [id, n] of this.nodes) {
        if (this.down.has(id)) continue;
        while (n.hasReady()) {
          const rd = n.ready();
          const log = this.logs.get(id)!;
          if (rd.entries.length > 0) log.splice(rd.entries[0]!.index - 1, log.length, ...rd.entries);
          if (rd.hardState) this.hard.set(id, { ...rd.hardState });
          out.push(...rd.messages);
          for (const e of rd.committedEntries) this.applied.get(id)!.set(e.index, e);
          n.advance(rd);
        }
      }
      const live = out.filter((m) => !this.down.has(m.to) && this.allow(m));
      if (live.length === 0) return;
      for (const m of live) this.nodes.get(m.to)!.step(m);
    }
  }

  role(id: number): Role {
    return this.nodes.get(id)!.status().softState.role;
  }

  /** Campaign until elected (terms already used elsewhere are lost and retried). */
  elect(id: number): void {
    for (let k = 0; k < 5 && this.role(id) !== Role.Leader; k++) {
      this.nodes.get(id)!.campaign();
      this.pump();
    }
    assert.equal(this.role(id), Role.Leader, `node ${id} was not elected`);
  }
}

function figure8(bug: boolean): { s1Applied?: Entry; s3At2?: Entry; s5Applied?: Entry } {
  const net = new Net(bug);
  // (a) S1 leads term 1 and commits its no-op everywhere; then writes X at index 2, which only S2 receives.
  net.elect(1);
  net.nodes.get(1)!.propose(new TextEncoder().encode('X'));
  net.allow = (m) => !(m.type === MessageType.Append && m.from === 1 && m.to !== 2);
  net.pump();
  // (b) S5 is elected in term 2 by S3, S4 (S1 and S2 refuse: their logs are longer, but they
  //     learn the term and step down) and writes its no-op at index 2, which nobody receives.
  net.allow = (m) => !(m.type === MessageType.Append && m.from === 5);
  net.elect(5);
  assert.notEqual(net.role(1), Role.Leader);
  // (c) S5 is cut off; S1 is elected in term 3 by S2, S3, S4. It replicates X (term 1) to S3, but
  //     S3 never gets the term-3 no-op and S4 gets nothing: X sits on a majority {S1, S2, S3}
  //     while the no-op is only on {S1, S2}. The correct rule commits nothing here.
  net.down = new Set([5]);
  let s3HasX = false;
  net.allow = (m) => {
    if (m.type === MessageType.AppendResponse && m.from === 3 && !m.reject && m.index >= 2) s3HasX = true;
    if (m.type !== MessageType.Append || m.from !== 1) return true;
    if (m.to === 4) return false; // S4 only votes
    return !(s3HasX && m.to === 3 && m.entries.some((e) => e.index >= 3));
  };
  net.elect(1);
  const s1Applied = net.applied.get(1)!.get(2);
  // (d) S1 crashes; S5 restarts and is elected by S3, S4 (its last term 2 beats their term 1) and
  //     overwrites index 2 with its own no-op, which it commits.
  net.down = new Set([1]);
  net.allow = () => true;
  net.start(5); // S5 restarts from its disk
  net.elect(5);
  net.nodes.get(5)!.propose(new TextEncoder().encode('Y'));
  net.pump();
  return { s1Applied, s3At2: net.applied.get(3)!.get(2), s5Applied: net.applied.get(5)!.get(2) };
}

test('Figure 8 with commitPriorTermByCount: an entry committed by counting replicas is later overwritten', () => {
  const r = figure8(true);
  assert.ok(r.s1Applied, 'S1 should have committed and applied index 2 (term 1) under the planted bug');
  assert.equal(r.s1Applied.term, 1);
  assert.ok(r.s5Applied, 'S5 should have committed index 2');
  assert.notEqual(r.s5Applied.term, r.s1Applied.term, 'two nodes applied different entries at index 2: state machine safety broken');
});

test('Figure 8 with the correct commit rule: nothing is committed that a later leader overwrites', () => {
  const r = figure8(false);
  assert.equal(r.s1Applied, undefined, 'S1 must not commit an entry of term 1 by counting replicas in term 3');
  assert.ok(r.s5Applied, 'S5 commits index 2 in term 4');
  assert.equal(r.s3At2?.term, r.s5Applied.term);
});
