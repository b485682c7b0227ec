// A tiny in-memory cluster for unit tests: each node has a "disk" (what was persisted from its
// Ready batches) and a state machine (the list of applied commands). Messages are delivered
// synchronously in FIFO order unless a filter drops them.

import { RaftNode, MessageType, EntryType, NONE, entrySize } from '../../raft/index.js';
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  RaftConfig,
  ReadState,
  Snapshot,
} from '../../raft/index.js';

import { rng } from '../support/rng.js';

export { rng };

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

export interface Disk {
  hardState: HardState;
  entries: Entry[];
  snapshot?: Snapshot;
  applied: number;
}

export interface Member {
  id: NodeId;
  node: RaftNode;
  disk: Disk;
  /** Applied commands, in order, as strings ('' for no-ops and conf changes are skipped). */
  state: string[];
  readStates: ReadState[];
  applied: number;
}

export type Filter = (m: Message) => boolean;

export class Network {
  members = new Map<NodeId, Member>();
  /** Return false to drop a message. */
  filters: Filter[] = [];
  queue: Message[] = [];
  /** Every message ever sent, for assertions. */
  sent: Message[] = [];
  /** With `readBack`: entries each node read back from its disk after evicting them. */
  readBack = new Map<NodeId, number>();
  /** With `readBack`: the disk answers that it no longer has the entries asked for. */
  diskForgets = false;

  constructor(
    public ids: NodeId[],
    public extra: Partial<RaftConfig> = {},
    public confState: ConfState = { voters: ids.slice(), learners: [] },
    private readonly opts: { readBack?: boolean } = {},
  ) {
    for (const id of ids) this.start(id);
  }

  config(id: NodeId): RaftConfig {
    const cfg: RaftConfig = { id, electionTick: 10, heartbeatTick: 1, random: rng(id * 7919), ...this.extra };
    if (this.opts.readBack) cfg.loadEntries = (lo, hi, maxBytes) => this.readFromDisk(id, lo, hi, maxBytes);
    return cfg;
  }

  /** What a WAL does for RaftConfig.loadEntries: entries lo..hi from the node's disk, within maxBytes. */
  private readFromDisk(id: NodeId, lo: number, hi: number, maxBytes: number): Entry[] | undefined {
    const d = this.members.get(id)?.disk;
    if (!d || this.diskForgets) return undefined;
    const out: Entry[] = [];
    let bytes = 0;
    for (const e of d.entries) {
      if (e.index < lo || e.index > hi) continue;
      if (out.length > 0 && bytes + entrySize(e) > maxBytes) break;
      out.push(e);
      bytes += entrySize(e);
    }
    if (out.length > 0) this.readBack.set(id, (this.readBack.get(id) ?? 0) + out.length);
    return out.length > 0 ? out : undefined;
  }

  start(id: NodeId, disk?: Disk, opts: { rejoin?: boolean } = {}): Member {
    const d: Disk = disk ?? { hardState: { term: 0, vote: NONE, commit: 0 }, entries: [], applied: 0 };
    const node = new RaftNode(this.config(id), {
      hardState: { ...d.hardState },
      snapshot: d.snapshot?.meta,
      entries: d.entries.slice(),
      confState: this.confState,
      applied: d.applied,
      rejoin: opts.rejoin,
    });
    const state = d.snapshot ? (JSON.parse(dec(d.snapshot.data)) as string[]) : [];
    // State machine replays from the snapshot; entries after it up to `applied` are re-applied here.
    const m: Member = { id, node, disk: d, state, readStates: [], applied: d.snapshot?.meta.index ?? 0 };
    for (const e of d.entries) {
      if (e.index <= d.applied) this.applyEntry(m, e);
    }
    this.members.set(id, m);
    return m;
  }

  /** Crash: the node loses everything not on its disk. */
  crash(id: NodeId): Disk {
    const m = this.members.get(id)!;
    this.members.delete(id);
    this.queue = this.queue.filter((x) => x.to !== id && x.from !== id);
    return m.disk;
  }

  restart(id: NodeId): Member {
    const disk = this.crash(id);
    return this.start(id, disk);
  }

  node(id: NodeId): RaftNode {
    return this.members.get(id)!.node;
  }

  private applyEntry(m: Member, e: Entry): void {
    if (e.type === EntryType.Normal && e.data.length > 0) m.state.push(dec(e.data));
    m.applied = e.index;
  }

  /** Process Ready batches of one node; outgoing messages are queued. */
  processReady(id: NodeId): void {
    const m = this.members.get(id);
    if (!m) return;
    while (m.node.hasReady()) {
      const rd = m.node.ready();
      const d = m.disk;
      if (rd.snapshot) {
        d.snapshot = rd.snapshot;
        d.entries = [];
      }
      if (rd.entries.length > 0) {
        const first = rd.entries[0]!.index;
        d.entries = d.entries.filter((e) => e.index < first).concat(rd.entries);
      }
      if (rd.hardState) d.hardState = { ...rd.hardState };
      for (const msg of rd.messages) {
        if (msg.type === MessageType.Snapshot && msg.snapshot) {
          if (d.snapshot) msg.snapshot = { meta: msg.snapshot.meta, data: d.snapshot.data };
          // As the node's driver: no snapshot yet for a member that joined later — send one of the applied state.
          else if (m.applied > 0) msg.snapshot = { meta: m.node.snapshotMetaAt(m.applied), data: enc(JSON.stringify(m.state)) };
          else continue;
        }
        this.sent.push(msg);
        this.queue.push(msg);
      }
      if (rd.snapshot) {
        m.state = JSON.parse(dec(rd.snapshot.data)) as string[];
        m.applied = rd.snapshot.meta.index;
      }
      for (const e of rd.committedEntries) this.applyEntry(m, e);
      d.applied = m.applied;
      m.readStates.push(...rd.readStates);
      m.node.advance(rd);
    }
  }

  /** The application takes a snapshot at its applied index and compacts the log. */
  compact(id: NodeId): void {
    const m = this.members.get(id)!;
    const meta = m.node.snapshotMetaAt(m.applied);
    m.disk.snapshot = { meta, data: enc(JSON.stringify(m.state)) };
    m.disk.entries = m.disk.entries.filter((e) => e.index > meta.index);
    m.node.compact(meta.index);
  }

  /** Deliver queued messages (and everything they trigger) until the cluster is quiet. */
  deliverAll(limit = 100000): void {
    for (const id of this.members.keys()) this.processReady(id);
    let n = 0;
    while (this.queue.length > 0) {
      if (++n > limit) throw new Error('network did not quiesce');
      const msg = this.queue.shift()!;
      const to = this.members.get(msg.to);
      if (!to) continue;
      if (!this.filters.every((f) => f(msg))) continue;
      to.node.step(msg);
      this.processReady(msg.to);
    }
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.members.get(id)!.node.tick();
    this.processReady(id);
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const id of this.members.keys()) this.tick(id);
      this.deliverAll();
    }
  }

  isolate(id: NodeId): void {
    this.filters.push((m) => m.from !== id && m.to !== id);
  }

  heal(): void {
    this.filters = [];
  }

  leader(): NodeId {
    let lead = NONE;
    for (const m of this.members.values()) {
      if (m.node.status().softState.role === 'leader') {
        if (lead === NONE || m.node.status().hardState.term > this.node(lead).status().hardState.term) lead = m.id;
      }
    }
    return lead;
  }

  elect(id: NodeId): void {
    this.node(id).campaign();
    this.deliverAll();
  }
}
