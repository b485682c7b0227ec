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
// Inbound, every batch/chunk/forward names the cluster and the sender; traffic from another
// cluster or a non-member is rejected with FAILED_PRECONDITION / PERMISSION_DENIED and logged.
// When the driver's inbound backlog is high, `onMessages` returns a promise and the stream is
// paused until it resolves (back-pressure reaches the sender through HTTP/2 flow control).
import * as grpc from '@grpc/grpc-js';
import type { Message, SnapshotMeta } from '../../raft/types.js';
import { MessageType } from '../../raft/types.js';
import { PeerService, PeerServiceClient } from '../../proto/services.js';
import {
  type ForwardReply,
  type ForwardRequest,
  type RaftBatch,
  type RaftStreamAck,
  type SnapshotChunk,
  type SnapshotInstallReply,
} from '../../proto/gen/placement/v1/peer.js';
import type { Logger } from '../log.js';
import { messageFromWire, messageToWire } from './codec.js';

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
  /** A follower's forwarded request (the leader answers). */
  forward(req: ForwardRequest, deadline: number): Promise<ForwardReply>;
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
}

export interface TransportStats {
  sent: number;
  received: number;
  dropped: number;
  rejected: number;
  snapshotsSent: number;
  snapshotsReceived: number;
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
  private closed = false;

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
    if (!this.client) this.client = new PeerServiceClient(this.address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    return this.client;
  }

  private resetClient(): void {
    this.endStream();
    this.client?.close();
    this.client = null;
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
    const md = new grpc.Metadata();
    const s = this.getClient().raft(md, (err: grpc.ServiceError | null, _ack: RaftStreamAck) => {
      if (this.stream === s) {
        this.stream = null;
        this.waitingDrain = false;
      }
      if (err && !this.closed && err.code !== grpc.status.CANCELLED) {
        this.t.log.debug({ peer: this.id, err: err.message }, 'peer stream closed');
        this.t.handler.reportUnreachable(this.id);
        if ((err.code === grpc.status.FAILED_PRECONDITION || err.code === grpc.status.PERMISSION_DENIED) && Date.now() - this.lastRejectedLog > 10_000) {
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
    try {
      src = await this.t.handler.openSnapshot(meta);
      const source = src;
      ok = await new Promise<boolean>((resolve) => {
        const call = this.getClient().installSnapshot(
          new grpc.Metadata(),
          { deadline: Date.now() + 10 * 60_000 },
          (err: grpc.ServiceError | null, reply: SnapshotInstallReply) => {
            if (err) {
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

export class PeerTransport {
  readonly clusterId: string;
  readonly selfId: number;
  readonly log: Logger;
  readonly handler: TransportHandler;
  readonly maxQueueMessages: number;
  readonly maxQueueBytes: number;
  readonly maxBatchBytes: number;
  readonly snapshotChunkBytes: number;
  readonly stats: TransportStats = { sent: 0, received: 0, dropped: 0, rejected: 0, snapshotsSent: 0, snapshotsReceived: 0 };
  private readonly links = new Map<number, PeerLink>();
  private lastRejectLog = new Map<string, number>();

  constructor(opts: TransportOptions) {
    this.clusterId = opts.clusterId;
    this.selfId = opts.selfId;
    this.log = opts.log;
    this.handler = opts.handler;
    this.maxQueueMessages = opts.maxQueueMessages ?? 8192;
    this.maxQueueBytes = opts.maxQueueBytes ?? 64 * 1024 * 1024;
    this.maxBatchBytes = opts.maxBatchBytes ?? 8 * 1024 * 1024;
    this.snapshotChunkBytes = opts.snapshotChunkBytes ?? 256 * 1024;
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

  /** Forwards a request to `to` (normally the leader). Rejects with the gRPC ServiceError. */
  forward(to: number, req: Omit<ForwardRequest, 'clusterId' | 'from'>, deadline: number): Promise<ForwardReply> {
    const l = this.links.get(to);
    if (!l) return Promise.reject(new Error(`no link to member ${to}`));
    return new Promise((resolve, reject) => {
      l.getClient().forward(
        { ...req, clusterId: this.clusterId, from: this.selfId },
        new grpc.Metadata(),
        { deadline },
        (err, reply) => (err ? reject(err) : resolve(reply)),
      );
    });
  }

  private reject(kind: string, clusterId: string, from: number, to: number): grpc.ServiceError | null {
    let code: grpc.status | null = null;
    let why = '';
    if (clusterId !== this.clusterId) {
      code = grpc.status.FAILED_PRECONDITION;
      why = `cluster id mismatch: got "${clusterId}", this node belongs to "${this.clusterId}"`;
    } else if (!this.handler.isMember(from)) {
      code = grpc.status.PERMISSION_DENIED;
      why = `member ${from} is not in this cluster's configuration`;
    } else if (to !== 0 && to !== this.selfId) {
      code = grpc.status.FAILED_PRECONDITION;
      why = `message for member ${to} delivered to member ${this.selfId}`;
    }
    if (code === null) return null;
    this.stats.rejected++;
    const key = `${kind}:${clusterId}:${from}`;
    const now = Date.now();
    if (now - (this.lastRejectLog.get(key) ?? 0) > 2000) {
      this.lastRejectLog.set(key, now);
      this.log.warn({ kind, from, to, clusterId }, `rejected peer traffic: ${why}`);
    }
    const err = new Error(why) as grpc.ServiceError;
    err.code = code;
    err.details = why;
    err.metadata = new grpc.Metadata();
    return err;
  }

  /** Registers PeerService on the node's gRPC server. */
  register(server: grpc.Server): void {
    server.addService(PeerService, {
      raft: (call: grpc.ServerReadableStream<RaftBatch, RaftStreamAck>, cb: grpc.sendUnaryData<RaftStreamAck>) => {
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
          const err = this.reject('raft', batch.clusterId, batch.from, batch.to);
          if (err) {
            finish(err);
            return;
          }
          const msgs: Message[] = [];
          for (const wm of batch.messages) {
            if (wm.from !== batch.from || (wm.to !== this.selfId && wm.to !== 0)) continue;
            msgs.push(messageFromWire(wm));
          }
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
        void this.receiveSnapshot(call).then(
          (r) => cb(null, r),
          (err: unknown) => {
            if (err && typeof err === 'object' && 'code' in err && typeof (err as grpc.ServiceError).code === 'number') cb(err as grpc.ServiceError);
            else cb(null, { accepted: false, error: (err as Error)?.message ?? String(err) });
          },
        );
      },
      forward: (call: grpc.ServerUnaryCall<ForwardRequest, ForwardReply>, cb: grpc.sendUnaryData<ForwardReply>) => {
        const req = call.request;
        const err = this.reject('forward', req.clusterId, req.from, 0);
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

  private async receiveSnapshot(call: grpc.ServerReadableStream<SnapshotChunk, SnapshotInstallReply>): Promise<SnapshotInstallReply> {
    let sink: SnapshotSink | null = null;
    let header: Message | null = null;
    let expected = 0;
    let committed = false;
    try {
      for await (const raw of call) {
        const chunk = raw as SnapshotChunk;
        if (!header) {
          const err = this.reject('snapshot', chunk.clusterId, chunk.from, chunk.to);
          if (err) throw err;
          if (!chunk.message?.snapshot) throw new Error('first snapshot chunk carries no Snapshot message');
          header = messageFromWire(chunk.message);
          sink = await this.handler.receiveSnapshot(header.snapshot!.meta, chunk.from);
          this.log.info({ from: chunk.from, index: header.snapshot!.meta.index }, 'receiving snapshot');
        }
        if (chunk.offset !== expected) throw new Error(`snapshot chunk at offset ${chunk.offset}, expected ${expected}`);
        if (chunk.data.byteLength > 0) {
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
