// An in-process fake Placement Center for SDK and CLI tests: real grpc-js servers on free loopback
// ports implementing KvService and ClusterService from proto/gen, sharing one in-memory store.
// Each node has scriptable faults (UNAVAILABLE with leader hints, lost replies, hangs) and records
// every request it received, so tests can check retries, redirects and sequence-number reuse.
//
//   const fc = await FakeCluster.start(3);
//   fc.node(1).fault = { kind: 'unavailable', message: 'no leader', leaderId: 2, leaderAddress: fc.node(2).address };
//   ... new PlacementClient({ endpoints: [fc.node(1).address] }) ...
//   await fc.stop();
import * as grpc from '@grpc/grpc-js';
import { freePorts } from '../../support/cluster.js';
import {
  KvServiceService,
  type KeyValue,
  type KvServiceServer,
  type ResponseHeader,
} from '../../../proto/gen/placement/v1/kv.js';
import { ClusterServiceService, type ClusterServiceServer, type Member } from '../../../proto/gen/placement/v1/cluster.js';
import { fakeSession, type UnaryKvHandlers } from './fake-session.js';

export type Fault =
  /** Every call fails UNAVAILABLE (e.g. no leader), with the leader hint in trailing metadata. */
  | { kind: 'unavailable'; message?: string; leaderId?: number; leaderAddress?: string }
  /** Writes are applied, then the reply is replaced by UNAVAILABLE (a lost reply). `count` times. */
  | { kind: 'drop-reply'; count: number }
  /** Calls never get an answer (the client's deadline fires). */
  | { kind: 'hang' }
  /** Every call fails with this status. */
  | { kind: 'status'; code: grpc.status; message: string };

export interface RecordedCall {
  node: number;
  method: string;
  request: Record<string, unknown>;
}

const MAX_KEY = 4096;

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** An address nothing listens on (connection refused). */
export async function deadAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}

export class FakeNode {
  server: grpc.Server | undefined;
  fault: Fault | undefined;
  readonly pendingHangs: Array<() => void> = [];
  constructor(
    readonly id: number,
    readonly port: number,
    private readonly cluster: FakeCluster,
  ) {}
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }
  get running(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    const server = new grpc.Server();
    server.addService(KvServiceService, this.cluster.kvImpl(this));
    server.addService(ClusterServiceService, this.cluster.clusterImpl(this));
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(this.address, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
    );
    this.server = server;
  }

  /** Stops the node abruptly (open connections are reset, like a killed process). */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const release of this.pendingHangs.splice(0)) release();
    if (s) s.forceShutdown();
  }
}

interface WriteResult {
  revision: number;
  prevKv: KeyValue | undefined;
  succeeded: boolean;
}

export class FakeCluster {
  readonly nodes: FakeNode[] = [];
  readonly store = new Map<string, KeyValue>();
  readonly calls: RecordedCall[] = [];
  /** (clientId/seq) → result, for de-duplication; `applied` counts real applications. */
  readonly dedup = new Map<string, WriteResult>();
  applied = 0;
  revision = 0;
  leaderId = 1;
  clusterId = 'fake';
  /** Default page size of List. */
  listDefault = 100;
  /** Largest page List accepts (INVALID_ARGUMENT above it). */
  listMax = 1000;
  /** False: KvService.Session answers UNIMPLEMENTED (a server that predates it). */
  sessions = true;
  /** Operations per KvService.Session message received, in arrival order (all nodes). */
  readonly sessionBatches: number[] = [];

  static async start(n: number): Promise<FakeCluster> {
    const c = new FakeCluster();
    for (let i = 1; i <= n; i++) c.nodes.push(new FakeNode(i, await freePort(), c));
    for (const node of c.nodes) await node.start();
    return c;
  }

  /** Adds (and starts) a member; it shows up in Members/Status replies. */
  async addNode(): Promise<FakeNode> {
    const id = Math.max(0, ...this.nodes.map((n) => n.id)) + 1;
    const n = new FakeNode(id, await freePort(), this);
    this.nodes.push(n);
    await n.start();
    return n;
  }

  /** Stops a member and drops it from the membership. */
  async removeNode(id: number): Promise<void> {
    const n = this.node(id);
    await n.stop();
    this.nodes.splice(this.nodes.indexOf(n), 1);
  }

  node(id: number): FakeNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no fake node ${id}`);
    return n;
  }

  callsTo(method: string, node?: number): RecordedCall[] {
    return this.calls.filter((c) => c.method === method && (node === undefined || c.node === node));
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  private header(node: FakeNode): ResponseHeader {
    return { clusterId: this.clusterId, memberId: node.id, raftTerm: 7, revision: this.revision };
  }

  members(): Member[] {
    return this.nodes.map((n) => ({
      id: n.id,
      address: n.address,
      role: 'voter',
      isLeader: n.id === this.leaderId,
      matchIndex: 0,
      lag: 0,
      httpAddress: `127.0.0.1:${n.port + 1}`,
    }));
  }

  /** Applies a write once per (clientId, seq); a duplicate returns the stored result. */
  private write(clientId: string, seq: number, apply: () => WriteResult): WriteResult {
    const k = `${clientId}/${seq}`;
    if (clientId !== '') {
      const prev = this.dedup.get(k);
      if (prev) return prev;
    }
    const r = apply();
    this.applied++;
    if (clientId !== '') this.dedup.set(k, r);
    return r;
  }

  private put(key: string, value: Buffer, lease: number): WriteResult {
    const prev = this.store.get(key);
    this.revision++;
    this.store.set(key, {
      key,
      value,
      createRevision: prev?.createRevision ?? this.revision,
      modRevision: this.revision,
      version: (prev?.version ?? 0) + 1,
      lease,
    });
    return { revision: this.revision, prevKv: prev, succeeded: true };
  }

  /**
   * Runs a handler under the node's fault: returns true when the fault already answered.
   * `afterApply` variants (drop-reply) are handled by the write handlers.
   */
  private gate(node: FakeNode, method: string, request: object, cb: grpc.sendUnaryData<never>): boolean {
    this.calls.push({ node: node.id, method, request: { ...request } });
    const f = node.fault;
    if (!f) return false;
    if (f.kind === 'unavailable') {
      const md = new grpc.Metadata();
      if (f.leaderId) md.set('x-placement-leader-id', String(f.leaderId));
      if (f.leaderAddress) md.set('x-placement-leader-address', f.leaderAddress);
      cb({ code: grpc.status.UNAVAILABLE, details: f.message ?? 'no leader', metadata: md });
      return true;
    }
    if (f.kind === 'hang') {
      node.pendingHangs.push(() => cb({ code: grpc.status.UNAVAILABLE, details: 'node stopped' }));
      return true;
    }
    if (f.kind === 'status') {
      cb({ code: f.code, details: f.message });
      return true;
    }
    return false;
  }

  private dropReply(node: FakeNode, cb: grpc.sendUnaryData<never>): boolean {
    const f = node.fault;
    if (f?.kind === 'drop-reply' && f.count > 0) {
      f.count--;
      if (f.count === 0) node.fault = undefined;
      cb({ code: grpc.status.UNAVAILABLE, details: 'Connection dropped (fake lost reply)' });
      return true;
    }
    return false;
  }

  private checkKey(key: string, cb: grpc.sendUnaryData<never>): boolean {
    if (key === '') {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: 'key is empty' });
      return false;
    }
    if (Buffer.byteLength(key) > MAX_KEY) {
      cb({ code: grpc.status.INVALID_ARGUMENT, details: `key is ${Buffer.byteLength(key)} bytes, over the ${MAX_KEY}-byte limit` });
      return false;
    }
    return true;
  }

  kvImpl(node: FakeNode): KvServiceServer {
    const unary = this.unaryKvImpl(node);
    return { ...unary, session: fakeSession(unary, () => this.sessions, (n) => this.sessionBatches.push(n)) };
  }

  private unaryKvImpl(node: FakeNode): UnaryKvHandlers {
    return {
      set: (call, cb) => {
        const r = call.request;
        if (this.gate(node, 'Set', r, cb as grpc.sendUnaryData<never>)) return;
        if (!this.checkKey(r.key, cb as grpc.sendUnaryData<never>)) return;
        const res = this.write(r.clientId, r.seq, () => this.put(r.key, r.value, r.lease));
        if (this.dropReply(node, cb as grpc.sendUnaryData<never>)) return;
        cb(null, { header: { ...this.header(node), revision: res.revision }, prevKv: r.prevKv ? res.prevKv : undefined });
      },
      get: (call, cb) => {
        const r = call.request;
        if (this.gate(node, 'Get', r, cb as grpc.sendUnaryData<never>)) return;
        if (!this.checkKey(r.key, cb as grpc.sendUnaryData<never>)) return;
        const kv = this.store.get(r.key);
        cb(null, { header: this.header(node), found: kv !== undefined, value: kv?.value ?? Buffer.alloc(0), kv });
      },
      delete: (call, cb) => {
        const r = call.request;
        if (this.gate(node, 'Delete', r, cb as grpc.sendUnaryData<never>)) return;
        if (!this.checkKey(r.key, cb as grpc.sendUnaryData<never>)) return;
        const res = this.write(r.clientId, r.seq, () => {
          const prev = this.store.get(r.key);
          if (!prev) return { revision: this.revision, prevKv: undefined, succeeded: false };
          this.store.delete(r.key);
          this.revision++;
          return { revision: this.revision, prevKv: prev, succeeded: true };
        });
        if (this.dropReply(node, cb as grpc.sendUnaryData<never>)) return;
        cb(null, {
          header: { ...this.header(node), revision: res.revision },
          deleted: res.succeeded,
          prevKv: r.prevKv ? res.prevKv : undefined,
        });
      },
      exists: (call, cb) => {
        const r = call.request;
        if (this.gate(node, 'Exists', r, cb as grpc.sendUnaryData<never>)) return;
        if (!this.checkKey(r.key, cb as grpc.sendUnaryData<never>)) return;
        cb(null, { header: this.header(node), exists: this.store.has(r.key) });
      },
      list: (call, cb) => {
        const r = call.request;
        if (this.gate(node, 'List', r, cb as grpc.sendUnaryData<never>)) return;
        if (r.limit > this.listMax) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: `limit ${r.limit} is over the maximum of ${this.listMax} (max-list-limit)` });
          return;
        }
        const limit = r.limit === 0 ? this.listDefault : r.limit;
        const keys = [...this.store.keys()]
          .filter((k) => k.startsWith(r.prefix) && (r.startAfter === '' || k > r.startAfter))
          .sort();
        const page = keys.slice(0, limit);
        const kvs = page.map((k) => {
          const kv = this.store.get(k)!;
          return r.keysOnly ? { ...kv, value: Buffer.alloc(0) } : kv;
        });
        const more = keys.length > limit;
        cb(null, { header: this.header(node), kvs, more, nextKey: more ? page[page.length - 1]! : '' });
      },
      compareAndSwap: (call, cb) => {
        const r = call.request;
        if (this.gate(node, 'CompareAndSwap', r, cb as grpc.sendUnaryData<never>)) return;
        if (!this.checkKey(r.key, cb as grpc.sendUnaryData<never>)) return;
        if (!r.expect) {
          cb({ code: grpc.status.INVALID_ARGUMENT, details: 'compare-and-swap needs an expectation' });
          return;
        }
        const expect = r.expect;
        const res = this.write(r.clientId, r.seq, () => {
          const cur = this.store.get(r.key);
          const ok =
            expect.$case === 'expectAbsent'
              ? cur === undefined
              : expect.$case === 'expectedModRevision'
                ? (cur?.modRevision ?? 0) === expect.value
                : cur !== undefined && cur.value.equals(expect.value);
          if (!ok) return { revision: this.revision, prevKv: cur, succeeded: false };
          const w = this.put(r.key, r.value, r.lease);
          return { ...w, succeeded: true };
        });
        if (this.dropReply(node, cb as grpc.sendUnaryData<never>)) return;
        cb(null, { header: { ...this.header(node), revision: res.revision }, succeeded: res.succeeded, prevKv: res.prevKv });
      },
    };
  }

  clusterImpl(node: FakeNode): ClusterServiceServer {
    return {
      status: (call, cb) => {
        if (this.gate(node, 'Status', call.request, cb as grpc.sendUnaryData<never>)) return;
        const isLeader = node.id === this.leaderId;
        const leader = this.nodes.find((n) => n.id === this.leaderId);
        cb(null, {
          clusterId: this.clusterId,
          id: node.id,
          leaderId: this.leaderId,
          term: 7,
          role: isLeader ? 'leader' : 'follower',
          commitIndex: 100 + this.revision,
          appliedIndex: 100 + this.revision - (isLeader ? 0 : 1),
          members: this.members().map((m) => (isLeader ? { ...m, matchIndex: 99, lag: m.id === node.id ? 0 : 1 } : m)),
          revision: this.revision,
          leaderAddress: leader?.address ?? '',
          lastIndex: 100 + this.revision,
          snapshotIndex: 0,
          version: 'fake',
          leaseExpiryMarginMs: 0,
          leaseMinTtlMs: 0,
        });
      },
      members: (call, cb) => {
        if (this.gate(node, 'Members', call.request, cb as grpc.sendUnaryData<never>)) return;
        cb(null, { clusterId: this.clusterId, leaderId: this.leaderId, members: this.members() });
      },
      // Membership changes are tested against real clusters (test/membership/).
      memberAdd: (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the fake cluster' }),
      memberRemove: (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the fake cluster' }),
      memberPromote: (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the fake cluster' }),
      memberUpdate: (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the fake cluster' }),
      moveLeader: (_call, cb) => cb({ code: grpc.status.UNIMPLEMENTED, details: 'not in the fake cluster' }),
    };
  }
}
