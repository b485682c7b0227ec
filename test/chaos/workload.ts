// Concurrent clients doing single-attempt reads, writes and compare-and-swaps on a small key
// set through real gRPC (no SDK retries), recording every operation with invoke/complete times on
// one monotonic clock. By default the clients take turns: unary KvService calls (the generated
// KvServiceClient), a KvService.Session stream (the SDK's transport, src/client/session.ts), and
// the etcd API (etcdserverpb.KV: reads are Range or read-only Txns, writes Put, Txn or
// DeleteRange, a compare-and-swap is a Txn comparing the value, or the version for absent), so
// every path is checked against the same register model.
//
// Outcome classification (the checker relies on it):
//  - OK                                    → 'ok' with the result;
//  - INVALID_ARGUMENT, or UNAVAILABLE whose details start with grpc-js's own "No connection
//    established" (the call never left this process: no transport to the node), or a member's
//    "cannot reach leader …" that says nothing was applied → 'fail' (it cannot have taken effect);
//  - anything else (deadline, connection lost, UNAVAILABLE/FAILED_PRECONDITION after the request
//    may have reached a node that could have proposed it) → 'info' (indeterminate).
// Each op carries a unique (client_id, seq) and a unique value, so a write is identifiable.
//
// Membership changes (the member-replace nemesis): a client sticks to one member, as before,
// until that member leaves the cluster. Like an SDK user with member discovery (the SDK's
// discoverMembers, etcd clientv3's endpoint auto-sync), the workload then asks the cluster for
// its members (ClusterService.Members on any member it knows, after a failed operation) and a
// client whose member is no longer listed moves to a listed one, on a new channel. No operation
// is retried: the failed one stays in the history as it ended.

import * as grpc from '@grpc/grpc-js';
import { KvServiceClient } from '../../proto/gen/placement/v1/kv.js';
import { ClusterServiceClient, type MembersReply } from '../../proto/gen/placement/v1/cluster.js';
import {
  Compare_CompareResult as CR,
  Compare_CompareTarget as CT,
  KVClient,
  PutRequest,
  RangeRequest,
  TxnRequest,
  type Compare,
  type RangeResponse,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { ClientSession, type KvMethod, type KvReplies, type KvRequests } from '../../src/client/session.js';
import type { HistoryOp, OpCall, OpResult } from './checker/history.js';
import { noConnectionPicked } from '../../src/grpc/never-sent.js';
import { saysNothingApplied } from '../../src/errors.js';

export interface WorkloadOptions {
  clients: number;
  keys: string[];
  /** Node id → gRPC address. Client i talks to node nodes[i % n] only. */
  nodes: { id: number; grpcAddress: string }[];
  opTimeoutMs: number;
  rnd: () => number;
  /** Monotonic clock (ms) shared with the nemesis and report. */
  clock: () => number;
  /** Target total operation rate (ops/s) across clients; pacing is randomized. */
  rate: number;
  readRatio?: number;
  casRatio?: number;
  /** Use CompareAndSwap (when the server implements it). */
  cas?: boolean;
  runId: string;
  /** How clients send operations; `mixed` (default): clients take turns (unary, session, etcd). */
  transport?: 'unary' | 'session' | 'etcd' | 'mixed';
  /** Channel credentials (default plaintext); a secure run's carry TLS and the user's token. */
  credentials?: grpc.ChannelCredentials;
}

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // One attempt per operation: no transparent or configured retries.
  'grpc.enable_retries': 0,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.keepalive_time_ms': 5000,
  'grpc.keepalive_timeout_ms': 2000,
};

type Callback<T> = (err: grpc.ServiceError | null, rep: T) => void;

/** One client's way of sending an operation (a unary call or a session operation). */
type Send = <M extends KvMethod>(method: M, req: KvRequests[M], timeoutMs: number, cb: Callback<KvReplies[M]>) => void;

/** A client of the etcd API; `alt` flips between the two forms of each operation. */
interface EtcdSender {
  etcd: KVClient;
  alt: boolean;
}

function unarySender(stub: KvServiceClient): Send {
  return (method, req, timeoutMs, cb) => {
    const fn = stub[method] as unknown as (r: unknown, md: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: unknown) => unknown;
    fn.call(stub, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, cb);
  };
}

function sessionSender(session: ClientSession): Send {
  return (method, req, timeoutMs, cb) => {
    session.call(method, req, timeoutMs, (err, rep) => cb(err, rep as never));
  };
}

/** A client's connection to its member. */
interface Conn {
  node: number;
  send: Send | EtcdSender;
  close(): void;
}

/**
 * The voting members as the cluster lists them (ClusterService.Members), refreshed on demand:
 * what an SDK's member discovery knows. Asks the members it knows in turn until one answers.
 */
export class MemberDirectory {
  private members: { id: number; grpcAddress: string }[];
  private readonly known = new Map<number, string>();
  private refreshing: Promise<void> | null = null;
  private lastRefresh = 0;
  /** Clients that moved to another member because theirs left the cluster. */
  moves = 0;

  constructor(
    initial: readonly { id: number; grpcAddress: string }[],
    private readonly credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    this.members = [...initial];
    for (const m of initial) this.known.set(m.id, m.grpcAddress);
  }

  /** Listed now (as last learned). */
  has(id: number): boolean {
    return this.members.some((m) => m.id === id);
  }

  /** The member client `client` uses when its own left: by its index, so clients spread out. */
  pick(client: number): { id: number; grpcAddress: string } | null {
    const ms = [...this.members].sort((a, b) => a.id - b.id);
    return ms.length > 0 ? ms[client % ms.length]! : null;
  }

  /** Coalesced, at most every 500 ms; failures leave the list as it was. */
  refresh(): Promise<void> {
    if (this.refreshing) return this.refreshing;
    if (Date.now() - this.lastRefresh < 500) return Promise.resolve();
    this.refreshing = this.ask().finally(() => {
      this.lastRefresh = Date.now();
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async ask(): Promise<void> {
    const listed = new Set(this.members.map((m) => m.id));
    const order = [...this.known].sort(([a], [b]) => Number(listed.has(b)) - Number(listed.has(a)));
    for (const [, address] of order) {
      const stub = new ClusterServiceClient(address, this.credentials, CHANNEL_OPTIONS);
      try {
        const r = await new Promise<MembersReply>((res, rej) =>
          stub.members({}, new grpc.Metadata(), { deadline: Date.now() + 1000 }, (e, rep) => (e ? rej(e) : res(rep))),
        );
        // Voters only: a learner may not be started yet, and it is promoted once it caught up.
        const ms = r.members.filter((m) => m.address !== '' && m.role === 'voter').map((m) => ({ id: m.id, grpcAddress: m.address }));
        if (ms.length === 0) continue;
        this.members = ms;
        for (const m of ms) this.known.set(m.id, m.grpcAddress);
        return;
      } catch {
        // down, paused or cut off: ask the next one
      } finally {
        stub.close();
      }
    }
  }
}

export class Workload {
  readonly history: HistoryOp[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private readonly conns = new Set<Conn>();
  private nextId = 0;
  private readonly wakers = new Set<() => void>();
  /** Count of ops per status, for progress lines. */
  readonly counts = { ok: 0, fail: 0, info: 0 };
  readonly directory: MemberDirectory;

  constructor(private readonly o: WorkloadOptions) {
    this.directory = new MemberDirectory(o.nodes, o.credentials);
  }

  start(): void {
    this.running = true;
    for (let c = 0; c < this.o.clients; c++) this.loops.push(this.loop(c, this.o.nodes[c % this.o.nodes.length]!));
  }

  /** Client `c`'s channel to `node`, over its transport. */
  private connect(c: number, node: { id: number; grpcAddress: string }): Conn {
    const t = this.o.transport ?? 'mixed';
    let conn: Conn;
    if (t === 'etcd' || (t === 'mixed' && c % 3 === 2)) {
      const etcd = new KVClient(node.grpcAddress, this.o.credentials ?? grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      conn = { node: node.id, send: { etcd, alt: false }, close: () => etcd.close() };
    } else {
      const stub = new KvServiceClient(node.grpcAddress, this.o.credentials ?? grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
      if (t === 'session' || (t === 'mixed' && c % 3 === 1)) {
        const session = new ClientSession(stub, stub.getChannel());
        conn = {
          node: node.id,
          send: sessionSender(session),
          close: () => {
            session.close();
            stub.close();
          },
        };
      } else {
        conn = { node: node.id, send: unarySender(stub), close: () => stub.close() };
      }
    }
    this.conns.add(conn);
    return conn;
  }

  /** Stops issuing new ops and waits for the in-flight ones (each is bounded by its deadline). */
  async stop(): Promise<void> {
    this.running = false;
    for (const w of this.wakers) w();
    await Promise.all(this.loops);
    for (const c of this.conns) c.close();
    this.conns.clear();
  }

  /** Pause between ops: exponential with mean clients/rate seconds; cut short by stop(). */
  private think(): Promise<void> {
    const meanMs = (1000 * this.o.clients) / this.o.rate;
    const ms = Math.min(5 * meanMs, -Math.log(1 - this.o.rnd()) * meanMs);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wakers.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakers.add(done);
    });
  }

  private async loop(client: number, first: { id: number; grpcAddress: string }): Promise<void> {
    let conn = this.connect(client, first);
    const clientId = `${this.o.runId}-c${client}`;
    let seq = 0;
    let written = 0;
    // Last value this client saw on each key (from a read or its own write): CAS expectations.
    const seen = new Map<string, string | null>();
    const readRatio = this.o.readRatio ?? 0.5;
    const casRatio = this.o.cas === false ? 0 : (this.o.casRatio ?? 0.15);
    while (this.running) {
      await this.think();
      if (!this.running) break;
      const key = this.o.keys[Math.floor(this.o.rnd() * this.o.keys.length)]!;
      const r = this.o.rnd();
      let call: OpCall;
      if (r < readRatio) call = { kind: 'read' };
      else if (r < readRatio + casRatio && seen.has(key)) call = { kind: 'cas', expected: seen.get(key)!, value: `c${client}-${++written}` };
      else call = { kind: 'write', value: `c${client}-${++written}` };
      const op = await this.perform(client, conn.node, conn.send, key, call, clientId, ++seq);
      this.history.push(op);
      this.counts[op.status]++;
      if (op.status !== 'ok') {
        // Has its member left the cluster? Then move to one that is listed. The list is
        // refreshed in the background: the client does not wait for it.
        void this.directory.refresh();
        const next = this.directory.has(conn.node) ? null : this.directory.pick(client);
        if (next && this.running) {
          conn.close();
          this.conns.delete(conn);
          conn = this.connect(client, next);
          this.directory.moves++;
        }
      }
      if (op.status === 'ok' && op.result) {
        if (op.result.kind === 'read') seen.set(key, op.result.value);
        else if (call.kind === 'write') seen.set(key, call.value);
        else if (call.kind === 'cas' && op.result.kind === 'cas' && op.result.succeeded) seen.set(key, call.value);
      }
    }
  }

  private perform(client: number, node: number, send: Send | EtcdSender, key: string, call: OpCall, clientId: string, seq: number): Promise<HistoryOp> {
    const id = this.nextId++;
    const timeoutMs = this.o.opTimeoutMs;
    return new Promise<HistoryOp>((resolve) => {
      const invoke = this.o.clock();
      const finish = (err: grpc.ServiceError | null, result?: OpResult) => {
        const complete = this.o.clock();
        const base: HistoryOp = { id, client, key, call, status: 'ok', invoke, complete, node };
        if (!err) {
          resolve({ ...base, result: result! });
          return;
        }
        resolve({ ...base, status: classify(err), error: `${grpc.status[err.code] ?? err.code}: ${err.details ?? err.message}` });
      };
      if (typeof send !== 'function') {
        performEtcd(send, key, call, timeoutMs, finish);
        return;
      }
      switch (call.kind) {
        case 'read':
          send('get', { key, serializable: false, kvMetadataOnly: false }, timeoutMs, (err, rep) =>
            finish(err, err ? undefined : { kind: 'read', value: rep.found ? rep.value.toString('utf8') : null }),
          );
          break;
        case 'write':
          if (call.value === null) {
            send('delete', { key, clientId, seq, prevKv: false }, timeoutMs, (err) => finish(err, { kind: 'write' }));
          } else {
            send('set', { key, value: Buffer.from(call.value, 'utf8'), clientId, seq, lease: 0, prevKv: false }, timeoutMs, (err) =>
              finish(err, { kind: 'write' }),
            );
          }
          break;
        case 'cas':
          send(
            'compareAndSwap',
            {
              key,
              expect:
                call.expected === null
                  ? { $case: 'expectAbsent', value: true }
                  : { $case: 'expectedValue', value: Buffer.from(call.expected, 'utf8') },
              value: Buffer.from(call.value, 'utf8'),
              clientId,
              seq,
              lease: 0,
            },
            timeoutMs,
            (err, rep) => finish(err, err ? undefined : { kind: 'cas', succeeded: rep.succeeded }),
          );
          break;
      }
    });
  }
}

const B = (s: string): Buffer => Buffer.from(s, 'utf8');

/** One operation on the etcd API, alternating between its two forms (Range / read-only Txn, Put / Txn). */
function performEtcd(s: EtcdSender, key: string, call: OpCall, timeoutMs: number, finish: (err: grpc.ServiceError | null, result?: OpResult) => void): void {
  const opts = { deadline: Date.now() + timeoutMs };
  const md = new grpc.Metadata();
  s.alt = !s.alt;
  const valueOf = (r: RangeResponse | undefined): string | null => (r && r.kvs.length > 0 ? r.kvs[0]!.value.toString('utf8') : null);
  switch (call.kind) {
    case 'read':
      if (s.alt) {
        s.etcd.range(RangeRequest.fromPartial({ key: B(key) }), md, opts, (err, rep) => finish(err, err ? undefined : { kind: 'read', value: valueOf(rep) }));
      } else {
        // A read-only Txn: served behind the ReadIndex barrier without Raft, as etcd does.
        s.etcd.txn(TxnRequest.fromPartial({ success: [{ request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: B(key) }) } }] }), md, opts, (err, rep) => {
          const r = rep?.responses[0]?.response;
          finish(err, err ? undefined : { kind: 'read', value: valueOf(r?.$case === 'responseRange' ? r.value : undefined) });
        });
      }
      return;
    case 'write':
      if (call.value === null) {
        s.etcd.deleteRange({ key: B(key), rangeEnd: Buffer.alloc(0), prevKv: false }, md, opts, (err) => finish(err, { kind: 'write' }));
      } else if (s.alt) {
        s.etcd.put(PutRequest.fromPartial({ key: B(key), value: B(call.value) }), md, opts, (err) => finish(err, { kind: 'write' }));
      } else {
        const put = PutRequest.fromPartial({ key: B(key), value: B(call.value) });
        s.etcd.txn(TxnRequest.fromPartial({ success: [{ request: { $case: 'requestPut', value: put } }] }), md, opts, (err) => finish(err, { kind: 'write' }));
      }
      return;
    case 'cas': {
      const cmp: Compare =
        call.expected === null
          ? { key: B(key), target: CT.VERSION, result: CR.EQUAL, targetUnion: { $case: 'version', value: 0 }, rangeEnd: Buffer.alloc(0) }
          : { key: B(key), target: CT.VALUE, result: CR.EQUAL, targetUnion: { $case: 'value', value: B(call.expected) }, rangeEnd: Buffer.alloc(0) };
      const put = PutRequest.fromPartial({ key: B(key), value: B(call.value) });
      s.etcd.txn(TxnRequest.fromPartial({ compare: [cmp], success: [{ request: { $case: 'requestPut', value: put } }] }), md, opts, (err, rep) =>
        finish(err, err ? undefined : { kind: 'cas', succeeded: rep.succeeded }),
      );
      return;
    }
  }
}

/** Definite rejection vs unknown outcome; see the header comment. */
export function classify(err: grpc.ServiceError): 'fail' | 'info' {
  if (err.code === grpc.status.INVALID_ARGUMENT) return 'fail';
  // grpc-js's own picker error (the call never started). Anchored: a node that failed to
  // forward says "cannot reach leader N: No connection established…; outcome unknown".
  if (noConnectionPicked(err)) return 'fail';
  // A member that could not forward the write and says it was not applied: not sent, or sent to
  // a leader whose term ended before it committed (src/node/forward-outcomes.ts). Counted as a
  // failure, the checker tests that claim (the etcd API's answer does not carry it).
  if (err.code === grpc.status.UNAVAILABLE && typeof err.details === 'string' && saysNothingApplied(err.details)) return 'fail';
  return 'info';
}
