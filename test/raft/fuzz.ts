// A small randomized cluster exercise for the core's own tests: reordering, loss, duplication,
// partitions, crash-restarts, compaction, reads, transfers and membership changes, with the
// basic safety properties checked after every step. The full fault-injecting simulator lives
// in test/sim/; this one exists so the core's unit tests catch regressions on their own.

import { RaftNode, EntryType, MessageType, ConfChangeType, NONE, Role } from '../../raft/index.js';
import type { ConfState, Entry, HardState, Message, NodeId, PlantedBugs, RaftConfig, Snapshot } from '../../raft/index.js';
import { rng, enc, dec } from './network.js';

interface Disk {
  hardState: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  applied: number;
}

interface Sim {
  node: RaftNode;
  disk: Disk;
  state: string[];
  applied: number;
  /** Read requests awaiting a ReadState: ctx -> minimum index the read must reflect. */
  reads: Map<string, number>;
}

export interface FuzzResult {
  violation?: string;
  commits: number;
  leaders: number;
}

export function fuzz(seed: number, steps: number, nNodes = 3, bugs: PlantedBugs = {}, extra: Partial<RaftConfig> = {}): FuzzResult {
  const r = rng(seed * 2654435761);
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ids = Array.from({ length: nNodes }, (_, i) => i + 1);
  const spare = [nNodes + 1, nNodes + 2];
  const boot: ConfState = { voters: ids.slice(), learners: [] };
  const sims = new Map<NodeId, Sim>();
  const down = new Set<NodeId>();
  let pool: Message[] = [];
  let partition: Set<NodeId> | undefined;
  const leaderOfTerm = new Map<number, NodeId>();
  const appliedAt = new Map<number, string>();
  let maxAppliedAnywhere = 0;
  let readSeq = 0;
  let violation: string | undefined;

  const fail = (s: string): void => {
    if (violation === undefined) violation = s;
  };

  const start = (id: NodeId, disk: Disk): void => {
    const node = new RaftNode(
      { id, electionTick: 10, heartbeatTick: 2, random: rng(seed * 31 + id * 977 + sims.size), maxSizePerMsg: 200, maxInflightMsgs: 4, bugs, ...extra },
      { hardState: { ...disk.hardState }, snapshot: disk.snapshot?.meta, entries: disk.entries.slice(), confState: boot, applied: disk.applied },
    );
    const state = disk.snapshot ? (JSON.parse(dec(disk.snapshot.data)) as string[]) : [];
    const s: Sim = { node, disk, state, applied: disk.snapshot?.meta.index ?? 0, reads: new Map() };
    for (const e of disk.entries) if (e.index <= disk.applied) apply(s, e, id);
    sims.set(id, s);
  };

  const apply = (s: Sim, e: Entry, id: NodeId): void => {
    if (e.index !== s.applied + 1) fail(`node ${id} applied ${e.index} after ${s.applied}`);
    const key = `${e.term}:${e.type}:${dec(e.data)}`;
    const prev = appliedAt.get(e.index);
    if (prev === undefined) appliedAt.set(e.index, key);
    else if (prev !== key) fail(`state machine safety: index ${e.index} applied as ${prev} and ${key} (node ${id})`);
    if (e.type === EntryType.Normal && e.data.length > 0) s.state.push(dec(e.data));
    s.applied = e.index;
    if (e.index > maxAppliedAnywhere) maxAppliedAnywhere = e.index;
  };

  const process = (id: NodeId): void => {
    const s = sims.get(id)!;
    let guard = 0;
    while (s.node.hasReady()) {
      if (++guard > 1000) {
        fail(`node ${id}: hasReady never settles`);
        return;
      }
      const rd = s.node.ready();
      const d = s.disk;
      if (rd.snapshot) {
        d.snapshot = rd.snapshot;
        d.entries = [];
      }
      if (rd.entries.length > 0) {
        const first = rd.entries[0]!.index;
        let k = d.entries.length;
        while (k > 0 && d.entries[k - 1]!.index >= first) k--;
        d.entries.length = k;
        for (const e of rd.entries) d.entries.push(e);
      }
      if (rd.hardState) d.hardState = { ...rd.hardState };
      if (rd.softState?.role === Role.Leader) {
        const t = d.hardState.term;
        const prev = leaderOfTerm.get(t);
        if (prev !== undefined && prev !== id) fail(`two leaders in term ${t}: ${prev} and ${id}`);
        leaderOfTerm.set(t, id);
      }
      for (const m of rd.messages) {
        if (m.type === MessageType.Snapshot && m.snapshot) {
          if (!d.snapshot) {
            if (m.snapshot.meta.index !== 0) throw new Error(`node ${id} sends snapshot ${JSON.stringify(m.snapshot.meta)} without one: ${JSON.stringify(s.node.status())}`);
            // As the node's driver: no snapshot yet for a member that joined later — send one of
            // the applied state (the core accepts a newer one); with nothing applied, none (the core retries).
            if (s.applied === 0) continue;
            m.snapshot = { meta: s.node.snapshotMetaAt(s.applied), data: enc(JSON.stringify(s.state)) };
          } else m.snapshot = { meta: m.snapshot.meta, data: d.snapshot.data };
        }
        pool.push(m);
      }
      if (rd.snapshot) {
        s.state = JSON.parse(dec(rd.snapshot.data)) as string[];
        s.applied = rd.snapshot.meta.index;
      }
      for (const e of rd.committedEntries) apply(s, e, id);
      d.applied = s.applied;
      for (const rs of rd.readStates) {
        const key = dec(rs.requestCtx);
        const min = s.reads.get(key);
        if (min !== undefined) {
          s.reads.delete(key);
          if (rs.index < min) fail(`stale read ${key} on ${id}: index ${rs.index} < acknowledged ${min}`);
        }
      }
      s.node.advance(rd);
    }
  };

  // Ready batches are processed at random later points, so a crash can lose whatever a node
  // did but had not yet persisted (and the messages that depended on it).
  const dirty = new Set<NodeId>();
  let eager = false;
  const lazy = (id: NodeId): void => {
    if (eager) process(id);
    else dirty.add(id);
  };

  const connected = (a: NodeId, b: NodeId): boolean => {
    if (down.has(a) || down.has(b)) return false;
    if (partition === undefined) return true;
    return partition.has(a) === partition.has(b);
  };

  for (const id of ids) start(id, { hardState: { term: 0, vote: NONE, commit: 0 }, entries: [], applied: 0 });

  const leaderNow = (): NodeId => {
    let best = NONE;
    let bestTerm = -1;
    for (const [id, s] of sims) {
      if (down.has(id)) continue;
      const st = s.node.status();
      if (st.softState.role === Role.Leader && st.hardState.term > bestTerm) {
        best = id;
        bestTerm = st.hardState.term;
      }
    }
    return best;
  };

  const deliverOne = (faulty: boolean): void => {
    if (pool.length === 0) return;
    const i = faulty ? Math.floor(r() * pool.length) : 0;
    const m = pool[i]!;
    if (faulty && r() < 0.05) {
      // duplicate: leave it in the pool
    } else {
      pool[i] = pool[pool.length - 1]!;
      pool.pop();
      if (!faulty) pool = pool.length > 0 ? [m, ...pool].slice(1) : pool;
    }
    if (faulty && r() < 0.05) return; // dropped
    if (!connected(m.from, m.to) || !sims.has(m.to)) return;
    sims.get(m.to)!.node.step(m);
    lazy(m.to);
  };

  let proposals = 0;
  for (let step = 0; step < steps && violation === undefined; step++) {
    const x = r();
    const live = Array.from(sims.keys()).filter((id) => !down.has(id));
    if (x < 0.2 && dirty.size > 0) {
      const id = pick(Array.from(dirty));
      dirty.delete(id);
      if (sims.has(id) && !down.has(id)) process(id);
    } else if (x < 0.45) {
      deliverOne(true);
    } else if (x < 0.7) {
      const id = pick(live);
      sims.get(id)!.node.tick();
      lazy(id);
    } else if (x < 0.82) {
      const l = leaderNow();
      if (l !== NONE) {
        sims.get(l)!.node.propose(enc(`p${seed}-${proposals++}`));
        lazy(l);
      }
    } else if (x < 0.86) {
      const id = pick(live);
      const s = sims.get(id)!;
      const ctx = `r${readSeq++}`;
      if (s.node.readIndex(enc(ctx))) s.reads.set(ctx, maxAppliedAnywhere);
      lazy(id);
    } else if (x < 0.875) {
      const id = pick(Array.from(sims.keys()));
      if (down.has(id)) {
        down.delete(id);
        start(id, sims.get(id)!.disk);
      } else if (down.size < Math.floor((nNodes - 1) / 2)) {
        down.add(id);
        dirty.delete(id);
      }
    } else if (x < 0.9) {
      // Mostly isolate the current leader (with maybe one friend): the richest source of
      // divergent logs and stale leaders.
      const l = leaderNow();
      if (r() < 0.4) partition = undefined;
      else if (l !== NONE && r() < 0.7) partition = new Set([l, ...ids.filter((i) => i !== l && r() < 0.3)]);
      else partition = new Set(ids.filter(() => r() < 0.5));
    } else if (x < 0.92) {
      const id = pick(live);
      const s = sims.get(id)!;
      if (s.applied > s.node.status().firstIndex + 5) {
        // The state machine only knows its current state, so the snapshot is taken at applied.
        const full = s.node.snapshotMetaAt(s.applied);
        s.disk.snapshot = { meta: full, data: enc(JSON.stringify(s.state)) };
        s.disk.entries = s.disk.entries.filter((e) => e.index > full.index);
        s.node.compact(full.index);
      }
    } else if (x < 0.93) {
      const l = leaderNow();
      if (l !== NONE) {
        const to = pick(sims.get(l)!.node.status().confState.voters);
        sims.get(l)!.node.transferLeadership(to);
        lazy(l);
      }
    } else if (x < 0.94) {
      const l = leaderNow();
      if (l !== NONE) {
        const cs = sims.get(l)!.node.status().confState;
        const id = pick(spare);
        if (!sims.has(id)) start(id, { hardState: { term: 0, vote: NONE, commit: 0 }, entries: [], applied: 0 });
        const type = cs.voters.includes(id) ? ConfChangeType.RemoveNode : cs.learners.includes(id) ? ConfChangeType.AddVoter : ConfChangeType.AddLearner;
        sims.get(l)!.node.proposeConfChange({ type, nodeId: id, context: new Uint8Array(0) });
        lazy(l);
      }
    } else {
      for (let k = 0; k < 5; k++) deliverOne(true);
    }
  }

  if (violation === undefined) {
    // Liveness after healing: a leader emerges and a fresh proposal commits everywhere it can.
    partition = undefined;
    eager = true;
    for (const id of Array.from(dirty)) if (!down.has(id)) process(id);
    for (const id of Array.from(down)) {
      down.delete(id);
      start(id, sims.get(id)!.disk);
    }
    let committed = false;
    const marker = `final-${seed}`;
    let proposed = false;
    for (let round = 0; round < 400 && !committed; round++) {
      for (const id of sims.keys()) {
        sims.get(id)!.node.tick();
        process(id);
      }
      // Bounded: a livelock (two members bouncing messages forever) is a finding, not a hang.
      for (let n = 0; pool.length > 0; n++) {
        if (n > 200_000) {
          fail(`liveness: messages still bouncing after ${n} deliveries: ${pool.slice(0, 4).map((m) => `${m.type} ${m.from}->${m.to}`).join(', ')}`);
          break;
        }
        deliverOne(false);
      }
      if (violation !== undefined) break;
      const l = leaderNow();
      if (l !== NONE && !proposed) {
        proposed = sims.get(l)!.node.propose(enc(marker)).ok;
        process(l);
      }
      if (proposed) {
        const l2 = leaderNow();
        if (l2 !== NONE && sims.get(l2)!.state.includes(marker)) committed = true;
        else if (l2 !== NONE && round % 50 === 49) proposed = false;
      }
    }
    if (!committed) fail('liveness: no proposal committed after healing');
  }
  return { violation, commits: appliedAt.size, leaders: leaderOfTerm.size };
}
