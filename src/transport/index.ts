// Peer transport over gRPC (service PeerService in proto/placement/v1/peer.proto).
//
// Outbound, one PeerLink per peer holds one gRPC channel and one long-lived client stream
// (`Raft`) on which queued messages go out as batches: everything the driver hands over in one
// synchronous step becomes one RaftBatch, flushed from a microtask right after that step. The
// queue is bounded in messages and bytes; when the stream does not drain (slow or blackholed
// peer) and the queue is full, further messages are dropped and the peer is reported
// unreachable to the core, which retries - nothing grows without bound. Snapshot messages are
// not queued: the snapshot file is streamed in chunks by `InstallSnapshot`, then the outcome is
// reported to the core.
//
// Every call is authenticated (peer-auth.ts: a session opened with Hello on the cluster secret,
// and/or a peer certificate naming the member); nothing is served before `useSecurity()`.
// Inbound, every batch/chunk/forward names the cluster and the sender, which must be the
// authenticated member; every message is validated like client input before it reaches the core
// (validate.ts). Unauthenticated calls get UNAUTHENTICATED, traffic from another cluster
// FAILED_PRECONDITION, a non-member or a member claiming another's id PERMISSION_DENIED, a
// malformed or out-of-range message INVALID_ARGUMENT (the stream ends; nothing of the batch is
// delivered); each refusal is logged (rate-limited).
// When the driver's inbound backlog is high, `onMessages` returns a promise and the stream is
// paused until it resolves (back-pressure reaches the sender through HTTP/2 flow control).
import * as grpc from '@grpc/grpc-js';
import type { Message, SnapshotMeta } from '../../raft/types.js';
import { MessageType } from '../../raft/types.js';
import { PeerService, PeerServiceClient } from '../../proto/services.js';
import {
  type ForwardReply,
  type ForwardRequest,
  type PeerHello,
  type PeerHelloReply,
  type RaftBatch,
  type RaftStreamAck,
  type SnapshotChunk,
  type SnapshotInstallReply,
} from '../../proto/gen/placement/v1/peer.js';
import type { Logger } from '../log.js';
import type { GrpcCallLike } from '../auth/caller.js';
import { messageFromWire, messageToWire } from './codec.js';
import { PeerAuthClient, PeerAuthError, PeerAuthServer, type PeerIdentity, type PeerSession } from './peer-auth.js';
import { messageProblem, snapshotMessageProblem, type PeerLimits } from './validate.js';
import { noConnectionPicked } from '../grpc/never-sent.js';

/** How peers authenticate each other and what their messages may hold (see peer-auth.ts). */
export interface PeerSecurity {
  /** Cluster key derived from the shared secret (deriveClusterKey), or null: certificates only. */
  key: Buffer | null;
  /** Peers must present a certificate from the peer CA naming the member they claim to be. */
  requireCert: boolean;
  /** Channel credentials for dialing member `id` (insecure, or TLS checking that it is `id`). */
  dial(id: number): grpc.ChannelCredentials;
  limits: PeerLimits;
}

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.enable_retries': 0,
  // Channelz bookkeeping costs a few percent of CPU per call (call trackers, timestamps) and
  // nothing here reads it.
  'grpc.enable_channelz': 0,
};

const NOT_SENT = Symbol('forward not sent');

/**
 * Whether a forward() failure means the request never reached the peer: no link, the session
 * handshake failed, or grpc-js found no connection to give the call. The caller may then send
 * it elsewhere; any other failure leaves its outcome unknown.
 */
export function forwardNotSent(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { [NOT_SENT]?: boolean })[NOT_SENT] === true;
}

function markNotSent<T>(err: T): T {
  if (typeof err === 'object' && err !== null) (err as { [NOT_SENT]?: boolean })[NOT_SENT] = true;
  return err;
}

/** A Hello to a peer that does not answer (blackholed, stopped) gives up after this; the link retries. */
const HELLO_TIMEOUT_MS = 3000;
/** How often a link tells the core that a snapshot it is sending is still on its way. */
const SNAPSHOT_PROGRESS_MS = 100;

/** A writer for one incoming snapshot file. */
export interface SnapshotSink {
  write(chunk: Buffer): Promise<void>;
  /** Makes the file durable and visible to the node; returns when done. */
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/** An outgoing snapshot file. */
export interface SnapshotSource {
  size: number;
  chunks: AsyncIterable<Buffer>;
  close?(): Promise<void>;
}

export interface TransportHandler {
  /** Current voters and learners (the sender of any inbound call must be one of them). */
  isMember(id: number): boolean;
  /** Inbound Raft messages (already checked). A returned promise pauses the stream until it resolves. */
  onMessages(msgs: Message[]): void | Promise<void>;
  /** Inbound snapshot: open a sink for the file named by meta. */
  receiveSnapshot(meta: SnapshotMeta, from: number): Promise<SnapshotSink>;
  /** The snapshot file is committed; step this Snapshot message into the core. */
  onSnapshotMessage(msg: Message): void;
  /** Outbound snapshot: open the file named by meta. */
  openSnapshot(meta: SnapshotMeta): Promise<SnapshotSource>;
  reportUnreachable(id: number): void;
  reportSnapshot(id: number, ok: boolean): void;
  /** A snapshot to `id` is still being streamed or awaiting its answer (called every ~100 ms). */
  snapshotProgress?(id: number): void;
  /** A follower's forwarded request (the leader answers). */
  forward(req: ForwardRequest, deadline: number): Promise<ForwardReply>;
  /** Peer `id` refused this member's handshake as not in its configuration (it may have been removed). */
  refusedAsNonMember?(id: number): void;
}

export interface TransportOptions {
  clusterId: string;
  selfId: number;
  log: Logger;
  handler: TransportHandler;
  /** Max queued messages per peer (default 8192) and bytes (default 64 MiB). */
  maxQueueMessages?: number;
  maxQueueBytes?: number;
  /** Max entry bytes in one batch on the wire (default 8 MiB). */
  maxBatchBytes?: number;
  snapshotChunkBytes?: number;
  /** Told the bytes of each Raft batch (encoded) and snapshot chunk (its data) sent to and received from a peer. */
  traffic?: PeerTraffic;
}

/** Where a transport reports its traffic, by peer (metrics: etcd's peer_{sent,received}_bytes_total). */
export interface PeerTraffic {
  sent(peer: number, bytes: number): void;
  received(peer: number, bytes: number): void;
}

export interface TransportStats {
  sent: number;
  received: number;
  dropped: number;
  rejected: number;
  snapshotsSent: number;
  snapshotsReceived: number;
}

/** The encoded size of each Raft batch received, by the decoded batch (countingReceives). */
const wireBytes = new WeakMap<object, number>();

/** PeerService with its Raft batches' sizes remembered as they are decoded (for PeerTraffic). */
function countingReceives(def: typeof PeerService): typeof PeerService {
  const raft = def.raft;
  return {
    ...def,
    raft: {
      ...raft,
      requestDeserialize: (b: Buffer) => {
        const batch = raft.requestDeserialize(b);
        wireBytes.set(batch, b.length);
        return batch;
      },
    },
  };
}

function messageBytes(m: Message): number {
  let n = 64 + m.context.byteLength;
  for (const e of m.entries) n += 24 + e.data.byteLength;
  return n;
}

class PeerLink {
  private client: PeerServiceClient | null = null;
  private stream: grpc.ClientWritableStream<RaftBatch> | null = null;
  private queue: Message[] = [];
  private queueBytes = 0;
  private flushScheduled = false;
  private waitingDrain = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private backoffMs = 50;
  private sendingSnapshot = false;
  private lastDropLog = 0;
  private lastRejectedLog = 0;
  private lastHelloLog = 0;
  private closed = false;
  /** The authenticated session on this peer (secret mode), or the Hello opening one. */
  private session: PeerSession | null = null;
  private opening: Promise<PeerSession> | null = null;

  constructor(
    private readonly t: PeerTransport,
    readonly id: number,
    private address: string,
  ) {}

  setAddress(addr: string): void {
    if (addr === this.address) return;
    this.address = addr;
    this.resetClient();
  }

  getClient(): PeerServiceClient {
    if (!this.client) this.client = new PeerServiceClient(this.address, this.t.security.dial(this.id), CHANNEL_OPTIONS);
    return this.client;
  }

  private resetClient(): void {
    this.endStream();
    this.client?.close();
    this.client = null;
    this.session = null;
  }

  /** The session calls to this peer must carry (null: certificates only, no session). */
  sessionFor(): Promise<PeerSession | null> {
    const auth = this.t.authClient;
    if (!auth.usesSecret) return Promise.resolve(null);
    if (this.session) return Promise.resolve(this.session);
    if (!this.opening) {
      const client = this.getClient();
      const opening = auth
        .open(this.id, (req: PeerHello) =>
          new Promise<PeerHelloReply>((resolve, reject) => {
            client.hello(req, new grpc.Metadata(), { deadline: Date.now() + HELLO_TIMEOUT_MS }, (err: grpc.ServiceError | null, reply: PeerHelloReply) => (err ? reject(err) : resolve(reply)));
          }),
        )
        .then(
          (session) => {
            if (this.opening === opening) {
              this.opening = null;
              if (this.client === client) this.session = session;
            }
            return session;
          },
          (err: unknown) => {
            if (this.opening === opening) this.opening = null;
            throw err;
          },
        );
      this.opening = opening;
    }
    return this.opening;
  }

  /** The peer refused `session` (it restarted, or evicted it): the next call opens a new one. */
  dropSession(session: PeerSession | null): void {
    if (session && this.session === session) this.session = null;
  }

  private helloFailed(err: unknown): void {
    const e = err as Partial<grpc.ServiceError>;
    const now = Date.now();
    if (now - this.lastHelloLog > 10_000 && !this.closed) {
      this.lastHelloLog = now;
      const refused = e.code === grpc.status.UNAUTHENTICATED || e.code === grpc.status.PERMISSION_DENIED || e.code === grpc.status.FAILED_PRECONDITION || e.code === undefined;
      if (refused) this.t.log.warn({ peer: this.id, err: e.details ?? e.message }, 'cannot authenticate with peer');
      else this.t.log.debug({ peer: this.id, err: e.details ?? e.message }, 'peer hello failed');
    }
    if (e.code === grpc.status.PERMISSION_DENIED && /not in this cluster's configuration/.test(e.details ?? e.message ?? '')) this.t.handler.refusedAsNonMember?.(this.id);
    this.t.handler.reportUnreachable(this.id);
    this.scheduleRetry();
  }

  private endStream(): void {
    const s = this.stream;
    this.stream = null;
    this.waitingDrain = false;
    if (s) {
      try {
        s.cancel();
      } catch {
        // already gone
      }
    }
  }

  send(m: Message): void {
    if (this.closed) return;
    if (m.type === MessageType.Snapshot) {
      void this.sendSnapshot(m);
      return;
    }
    const bytes = messageBytes(m);
    if (this.queue.length >= this.t.maxQueueMessages || this.queueBytes + bytes > this.t.maxQueueBytes) {
      this.t.stats.dropped++;
      const now = Date.now();
      if (now - this.lastDropLog > 5000) {
        this.lastDropLog = now;
        this.t.log.warn({ peer: this.id, queued: this.queue.length, queuedBytes: this.queueBytes }, 'peer queue full: dropping messages and reporting unreachable');
      }
      this.t.handler.reportUnreachable(this.id);
      return;
    }
    this.queue.push(m);
    this.queueBytes += bytes;
    if (!this.flushScheduled) {
      // Flushed once the current synchronous run (one driver step) is over: everything it sends
      // to this peer becomes one batch, without waiting for another turn of the event loop
      // (setImmediate), which would add latency to every Raft round trip.
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private openStream(): grpc.ClientWritableStream<RaftBatch> {
    const session = this.session;
    const md = session ? session.metadata('Raft') : new grpc.Metadata();
    const def = PeerService.raft;
    const traffic = this.t.traffic;
    const peer = this.id;
    // The batch is encoded once, as grpc-js would; its size is what the peer is sent.
    const serialize = traffic
      ? (b: RaftBatch): Buffer => {
          const bytes = def.requestSerialize(b);
          traffic.sent(peer, bytes.length);
          return bytes;
        }
      : def.requestSerialize;
    const s = this.getClient().makeClientStreamRequest(def.path, serialize, def.responseDeserialize, md, {}, (err: grpc.ServiceError | null, _ack?: RaftStreamAck) => {
      if (this.stream === s) {
        this.stream = null;
        this.waitingDrain = false;
      }
      if (err && !this.closed && err.code !== grpc.status.CANCELLED) {
        this.t.log.debug({ peer: this.id, err: err.message }, 'peer stream closed');
        // A session the peer does not know (it restarted) is expected: the retry opens a new one,
        // and a real authentication failure shows up when that Hello fails.
        const staleSession = err.code === grpc.status.UNAUTHENTICATED && session !== null;
        if (staleSession) this.dropSession(session);
        this.t.handler.reportUnreachable(this.id);
        if (REFUSALS.has(err.code) && !staleSession && Date.now() - this.lastRejectedLog > 10_000) {
          this.lastRejectedLog = Date.now();
          this.t.log.warn({ peer: this.id, err: err.details }, 'peer rejected our messages');
        }
        this.scheduleRetry();
      }
    });
    s.on('error', () => {
      // reported through the callback
    });
    this.stream = s;
    return s;
  }

  private scheduleRetry(): void {
    if (this.retryTimer || this.closed) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, 1000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, delay);
    this.retryTimer.unref();
  }

  flush(): void {
    if (this.closed || this.waitingDrain || this.retryTimer || this.queue.length === 0) return;
    if (!this.stream && this.t.authClient.usesSecret && !this.session) {
      // Messages wait in the (bounded) queue while the session opens; one Hello at a time.
      if (!this.opening) this.sessionFor().then(() => this.flush(), (err: unknown) => this.helloFailed(err));
      return;
    }
    const stream = this.stream ?? this.openStream();
    while (this.queue.length > 0) {
      let n = 0;
      let bytes = 0;
      while (n < this.queue.length) {
        const b = messageBytes(this.queue[n]!);
        if (n > 0 && bytes + b > this.t.maxBatchBytes) break;
        bytes += b;
        n++;
      }
      const msgs = this.queue.splice(0, n);
      this.queueBytes -= bytes;
      const batch: RaftBatch = { clusterId: this.t.clusterId, from: this.t.selfId, to: this.id, messages: msgs.map(messageToWire) };
      this.t.stats.sent += msgs.length;
      const ok = stream.write(batch);
      if (!ok) {
        this.waitingDrain = true;
        stream.once('drain', () => {
          if (this.stream !== stream) return;
          this.waitingDrain = false;
          this.backoffMs = 50;
          this.flush();
        });
        return;
      }
    }
    this.backoffMs = 50;
  }

  private async sendSnapshot(m: Message): Promise<void> {
    if (this.sendingSnapshot || !m.snapshot) return;
    this.sendingSnapshot = true;
    const meta = m.snapshot.meta;
    const started = Date.now();
    let ok = false;
    let src: SnapshotSource | null = null;
    // Until its fate is reported, tell the core the snapshot is on its way: streaming a large one
    // (and the receiver's fsync) takes far longer than the core's give-up fallback.
    const progress = setInterval(() => this.t.handler.snapshotProgress?.(this.id), SNAPSHOT_PROGRESS_MS);
    try {
      const session = await this.sessionFor();
      src = await this.t.handler.openSnapshot(meta);
      const source = src;
      ok = await new Promise<boolean>((resolve) => {
        const call = this.getClient().installSnapshot(
          session ? session.metadata('InstallSnapshot') : new grpc.Metadata(),
          { deadline: Date.now() + 10 * 60_000 },
          (err: grpc.ServiceError | null, reply: SnapshotInstallReply) => {
            if (err) {
              if (err.code === grpc.status.UNAUTHENTICATED) this.dropSession(session);
              this.t.log.warn({ peer: this.id, err: err.message, index: meta.index }, 'snapshot install failed');
              resolve(false);
            } else resolve(reply.accepted);
          },
        );
        call.on('error', () => {});
        void (async () => {
          const wireMsg = messageToWire(m);
          let offset = 0;
          let first = true;
          try {
            for await (const chunk of source.chunks) {
              const c: SnapshotChunk = {
                clusterId: this.t.clusterId,
                from: this.t.selfId,
                to: this.id,
                message: first ? wireMsg : undefined,
                offset,
                data: chunk,
                last: false,
                totalSize: 0,
              };
              first = false;
              offset += chunk.byteLength;
              this.t.traffic?.sent(this.id, chunk.byteLength);
              if (!call.write(c)) await new Promise<void>((r) => call.once('drain', () => r()));
            }
            call.write({
              clusterId: this.t.clusterId,
              from: this.t.selfId,
              to: this.id,
              message: first ? wireMsg : undefined,
              offset,
              data: Buffer.alloc(0),
              last: true,
              totalSize: offset,
            });
            call.end();
          } catch (err) {
            this.t.log.warn({ peer: this.id, err: (err as Error).message }, 'reading snapshot for a peer failed');
            call.cancel();
          }
        })();
      });
    } catch (err) {
      this.t.log.warn({ peer: this.id, err: (err as Error).message }, 'cannot open snapshot to send');
      ok = false;
    } finally {
      clearInterval(progress);
      await src?.close?.().catch(() => {});
      this.sendingSnapshot = false;
    }
    if (ok) {
      this.t.stats.snapshotsSent++;
      this.t.log.info({ peer: this.id, index: meta.index, ms: Date.now() - started }, 'snapshot sent');
    }
    this.t.handler.reportSnapshot(this.id, ok);
  }

  close(): void {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.queue = [];
    this.queueBytes = 0;
    this.resetClient();
  }
}

/** Codes with which a peer refuses our traffic (worth a warning, unlike a lost connection). */
const REFUSALS = new Set<number>([
  grpc.status.FAILED_PRECONDITION,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
  grpc.status.INVALID_ARGUMENT,
]);

export class PeerTransport {
  readonly clusterId: string;
  readonly selfId: number;
  readonly log: Logger;
  readonly handler: TransportHandler;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly maxBatchBytes: number;
  readonly snapshotChunkBytes: number;
  readonly traffic: PeerTraffic | undefined;
  readonly stats: TransportStats = { sent: 0, received: 0, dropped: 0, rejected: 0, snapshotsSent: 0, snapshotsReceived: 0 };
  private readonly links = new Map<number, PeerLink>();
  private lastRejectLog = new Map<string, number>();
  private security_: PeerSecurity | null = null;
  private authClient_: PeerAuthClient | null = null;

  constructor(opts: TransportOptions) {
    this.clusterId = opts.clusterId;
    this.selfId = opts.selfId;
    this.log = opts.log;
    this.handler = opts.handler;
    this.maxQueueMessages = opts.maxQueueMessages ?? 8192;
    this.maxQueueBytes = opts.maxQueueBytes ?? 64 * 1024 * 1024;
    this.maxBatchBytes = opts.maxBatchBytes ?? 8 * 1024 * 1024;
    this.snapshotChunkBytes = opts.snapshotChunkBytes ?? 256 * 1024;
    this.traffic = opts.traffic;
  }

  /** How peers authenticate and what their messages may hold. Required before register() or any send. */
  useSecurity(security: PeerSecurity): void {
    this.security_ = security;
    this.authClient_ = new PeerAuthClient({ clusterId: this.clusterId, selfId: this.selfId, key: security.key });
  }

  get security(): PeerSecurity {
    if (!this.security_) throw new Error('peer transport: useSecurity() was not called (peer traffic is never unauthenticated)');
    return this.security_;
  }

  get authClient(): PeerAuthClient {
    if (!this.authClient_) throw new Error('peer transport: useSecurity() was not called (peer traffic is never unauthenticated)');
    return this.authClient_;
  }

  /** Adds or re-addresses a peer. */
  setPeer(id: number, dialAddress: string): void {
    if (id === this.selfId) return;
    const l = this.links.get(id);
    if (l) l.setAddress(dialAddress);
    else this.links.set(id, new PeerLink(this, id, dialAddress));
  }

  removePeer(id: number): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  send(msgs: Message[]): void {
    for (const m of msgs) {
      const l = this.links.get(m.to);
      if (l) l.send(m);
      else this.log.debug({ to: m.to, type: m.type }, 'message to unknown peer dropped');
    }
  }

  /**
   * Forwards a request to `to` (normally the leader). Rejects with the gRPC ServiceError; one
   * that provably never left this member (forwardNotSent) is marked as such.
   */
  async forward(to: number, req: Omit<ForwardRequest, 'clusterId' | 'from' | 'term'> & { term?: number }, deadline: number): Promise<ForwardReply> {
    const l = this.links.get(to);
    if (!l) throw markNotSent(new Error(`no link to member ${to}`));
    const body: ForwardRequest = { term: 0, ...req, clusterId: this.clusterId, from: this.selfId };
    const call = (session: PeerSession | null): Promise<ForwardReply> =>
      new Promise((resolve, reject) => {
        l.getClient().forward(body, session ? session.metadata('Forward') : new grpc.Metadata(), { deadline }, (err, reply) => (err ? reject(noConnectionPicked(err) ? markNotSent(err) : err) : resolve(reply)));
      });
    const opened = (): Promise<PeerSession | null> => l.sessionFor().catch((err: unknown) => Promise.reject(markNotSent(err)));
    const session = await opened();
    try {
      return await call(session);
    } catch (err) {
      // Refused before it reached the leader's handler (a session the leader no longer knows,
      // e.g. after its restart): nothing was proposed, so one retry on a new session is safe.
      if ((err as grpc.ServiceError).code !== grpc.status.UNAUTHENTICATED || !session) throw err;
      l.dropSession(session);
      return call(await opened());
    }
  }

  private logRefusal(kind: string, from: number, why: string, extra: Record<string, unknown> = {}): void {
    this.stats.rejected++;
    const key = `${kind}:${from}:${why.slice(0, 40)}`;
    const now = Date.now();
    if (now - (this.lastRejectLog.get(key) ?? 0) > 2000) {
      this.lastRejectLog.set(key, now);
      if (this.lastRejectLog.size > 1000) this.lastRejectLog.clear();
      this.log.warn({ kind, from, ...extra }, `rejected peer traffic: ${why}`);
    }
  }

  private refuse(kind: string, err: unknown, from: number): grpc.ServiceError {
    const e = err instanceof PeerAuthError ? err : new PeerAuthError(grpc.status.INTERNAL, (err as Error)?.message ?? String(err));
    this.logRefusal(kind, from, e.message, { code: grpc.status[e.code] });
    return e.toServiceError();
  }

  private authenticate(kind: string, method: string, call: { metadata: grpc.Metadata } & GrpcCallLike): PeerIdentity | grpc.ServiceError {
    try {
      return this.authServer!.authenticate(method, call.metadata, call.getAuthContext());
    } catch (err) {
      return this.refuse(kind, err, 0);
    }
  }

  private invalid(kind: string, from: number, why: string): grpc.ServiceError {
    return this.refuse(kind, new PeerAuthError(grpc.status.INVALID_ARGUMENT, why), from);
  }

  private authServer: PeerAuthServer | null = null;

  private reject(kind: string, clusterId: string, from: number, to: number, ident: PeerIdentity): grpc.ServiceError | null {
    let code: grpc.status | null = null;
    let why = '';
    if (clusterId !== this.clusterId) {
      code = grpc.status.FAILED_PRECONDITION;
      why = `cluster id mismatch: got "${clusterId}", this node belongs to "${this.clusterId}"`;
    } else if (from !== ident.member) {
      code = grpc.status.PERMISSION_DENIED;
      why = `authenticated as member ${ident.member} (${ident.via}), claims to be member ${from}`;
    } else if (!this.handler.isMember(from)) {
      code = grpc.status.PERMISSION_DENIED;
      why = `member ${from} is not in this cluster's configuration`;
    } else if (to !== 0 && to !== this.selfId) {
      code = grpc.status.FAILED_PRECONDITION;
      why = `message for member ${to} delivered to member ${this.selfId}`;
    }
    if (code === null) return null;
    return this.refuse(kind, new PeerAuthError(code, why), from);
  }

  /** Registers PeerService on a gRPC server (the node's client server, or its own peer server). */
  register(server: grpc.Server): void {
    const sec = this.security;
    const auth = new PeerAuthServer({ clusterId: this.clusterId, selfId: this.selfId, key: sec.key, requireCert: sec.requireCert, isMember: (id) => this.handler.isMember(id) });
    this.authServer = auth;
    server.addService(this.traffic ? countingReceives(PeerService) : PeerService, {
      hello: (call: grpc.ServerUnaryCall<PeerHello, PeerHelloReply>, cb: grpc.sendUnaryData<PeerHelloReply>) => {
        try {
          cb(null, auth.hello(call.request, call.getAuthContext()));
        } catch (err) {
          cb(this.refuse('hello', err, call.request.from));
        }
      },
      raft: (call: grpc.ServerReadableStream<RaftBatch, RaftStreamAck>, cb: grpc.sendUnaryData<RaftStreamAck>) => {
        const ident = this.authenticate('raft', 'Raft', call);
        if ('code' in ident) {
          cb(ident);
          return;
        }
        // Response headers at once: until a grpc-js client sees them, it keeps every message it
        // sent on the stream for a retry that never comes (even with retries off), up to 256 KiB of
        // them; each small acknowledgement kept its 8 KiB pool slab, ~30-60 MiB on a follower.
        call.sendMetadata(new grpc.Metadata());
        const limits = sec.limits;
        let received = 0;
        let done = false;
        const finish = (err: grpc.ServiceError | null): void => {
          if (done) return;
          done = true;
          if (err) cb(err);
          else cb(null, { received });
        };
        call.on('data', (batch: RaftBatch) => {
          if (done) return;
          const err = this.reject('raft', batch.clusterId, batch.from, batch.to, ident);
          if (err) {
            finish(err);
            return;
          }
          // The whole batch is checked before any of it is delivered.
          for (let i = 0; i < batch.messages.length; i++) {
            const problem = messageProblem(batch.messages[i]!, ident.member, this.selfId, limits);
            if (problem) {
              finish(this.invalid('raft', ident.member, `message ${i} of a batch: ${problem}`));
              return;
            }
          }
          const msgs: Message[] = batch.messages.map((wm) => messageFromWire(wm));
          this.traffic?.received(batch.from, wireBytes.get(batch) ?? 0);
          received += msgs.length;
          this.stats.received += msgs.length;
          const p = this.handler.onMessages(msgs);
          if (p) {
            call.pause();
            void p.then(() => call.resume());
          }
        });
        call.on('end', () => finish(null));
        call.on('error', () => finish(null));
        call.on('cancelled', () => finish(null));
      },
      installSnapshot: (call: grpc.ServerReadableStream<SnapshotChunk, SnapshotInstallReply>, cb: grpc.sendUnaryData<SnapshotInstallReply>) => {
        const ident = this.authenticate('snapshot', 'InstallSnapshot', call);
        if ('code' in ident) {
          cb(ident);
          return;
        }
        void this.receiveSnapshot(call, ident).then(
          (r) => cb(null, r),
          (err: unknown) => {
            if (err && typeof err === 'object' && 'code' in err && typeof (err as grpc.ServiceError).code === 'number') cb(err as grpc.ServiceError);
            else cb(null, { accepted: false, error: (err as Error)?.message ?? String(err) });
          },
        );
      },
      forward: (call: grpc.ServerUnaryCall<ForwardRequest, ForwardReply>, cb: grpc.sendUnaryData<ForwardReply>) => {
        const ident = this.authenticate('forward', 'Forward', call);
        if ('code' in ident) {
          cb(ident);
          return;
        }
        const req = call.request;
        const err = this.reject('forward', req.clusterId, req.from, 0, ident);
        if (err) {
          cb(err);
          return;
        }
        const dl = call.getDeadline();
        const deadline = dl instanceof Date ? dl.getTime() : Number.isFinite(dl) ? Number(dl) : Date.now() + 10_000;
        this.handler.forward(req, deadline).then(
          (r) => cb(null, r),
          (e: unknown) => {
            const se = new Error((e as Error)?.message ?? String(e)) as grpc.ServiceError;
            se.code = grpc.status.INTERNAL;
            cb(se);
          },
        );
      },
    });
  }

  private async receiveSnapshot(call: grpc.ServerReadableStream<SnapshotChunk, SnapshotInstallReply>, ident: PeerIdentity): Promise<SnapshotInstallReply> {
    let sink: SnapshotSink | null = null;
    let header: Message | null = null;
    let expected = 0;
    let committed = false;
    const limits = this.security.limits;
    try {
      for await (const raw of call) {
        const chunk = raw as SnapshotChunk;
        const err = this.reject('snapshot', chunk.clusterId, chunk.from, chunk.to, ident);
        if (err) throw err;
        if (chunk.data.byteLength > limits.maxChunkBytes) throw this.invalid('snapshot', ident.member, `snapshot chunk of ${chunk.data.byteLength} bytes (at most ${limits.maxChunkBytes})`);
        if (!header) {
          const problem = snapshotMessageProblem(chunk.message, ident.member, this.selfId, limits);
          if (problem) throw this.invalid('snapshot', ident.member, problem);
          header = messageFromWire(chunk.message!);
          sink = await this.handler.receiveSnapshot(header.snapshot!.meta, chunk.from);
          this.log.info({ from: chunk.from, index: header.snapshot!.meta.index }, 'receiving snapshot');
        }
        if (chunk.offset !== expected) throw new Error(`snapshot chunk at offset ${chunk.offset}, expected ${expected}`);
        if (chunk.data.byteLength > 0) {
          this.traffic?.received(chunk.from, chunk.data.byteLength);
          await sink!.write(chunk.data);
          expected += chunk.data.byteLength;
        }
        if (chunk.last) {
          if (chunk.totalSize !== expected) throw new Error(`snapshot size ${expected}, sender says ${chunk.totalSize}`);
          await sink!.commit();
          committed = true;
          break;
        }
      }
      if (!committed || !header) throw new Error('snapshot stream ended early');
      this.stats.snapshotsReceived++;
      this.handler.onSnapshotMessage(header);
      return { accepted: true, error: '' };
    } finally {
      if (!committed && sink) await sink.abort().catch(() => {});
    }
  }

  close(): void {
    for (const l of this.links.values()) l.close();
    this.links.clear();
  }
}
