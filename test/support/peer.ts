// Test helpers for the peer service: security settings for in-process transports, and a probe
// that opens a node's PeerService the way an outside process would (an attacker without the
// secret, a process holding the secret but not a member, a rogue or buggy member), to send
// hand-made Raft batches, snapshot chunks and forwards.
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { PeerServiceClient } from '../../proto/services.js';
import type { ForwardReply, ForwardRequest, PeerHelloReply, RaftBatch, RaftMessage, SnapshotChunk, SnapshotInstallReply } from '../../proto/gen/placement/v1/peer.js';
import { encodeMessage } from '../../proto/codec.js';
import { Command } from '../../proto/gen/placement/v1/command.js';
import { MessageType } from '../../raft/types.js';
import type { PeerSecurity } from '../../src/transport/index.js';
import { PeerAuthClient, deriveClusterKey, type PeerSession } from '../../src/transport/peer-auth.js';
import { peerLimits } from '../../src/transport/validate.js';

export const TEST_SECRET = Buffer.from('transport-test-secret-0123456789abcdef');

/** A peer secret file's secret, as a node reads it (surrounding whitespace trimmed). */
export function readPeerSecret(file: string): Buffer {
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'utf8');
}

/** Secret-based security for an in-process PeerTransport (plaintext). */
export function testSecurity(clusterId: string, secret = TEST_SECRET): PeerSecurity {
  return {
    key: deriveClusterKey(secret, clusterId),
    requireCert: false,
    dial: () => grpc.credentials.createInsecure(),
    limits: peerLimits({ maxKeyBytes: 4096, maxValueBytes: 1024 * 1024, maxLeaseTtlMs: 3_600_000 }),
  };
}

/** A command as a client would propose it, encoded as a Raft entry carries it. */
export function commandEntry(op: NonNullable<Command['op']>): Buffer {
  return encodeMessage(Command, { clientId: '', seq: 0, leaderTimeMs: 0, op });
}

/** A wire Raft message with every field defaulted. */
export function wireMessage(m: Partial<RaftMessage> & { type: MessageType; from: number; to: number }): RaftMessage {
  return { term: 0, logTerm: 0, index: 0, entries: [], commit: 0, reject: false, rejectHint: 0, context: Buffer.alloc(0), snapshot: undefined, readSeq: 0, ...m };
}

export interface ProbeOptions {
  address: string;
  clusterId: string;
  /** The member id the probe claims to be. */
  from: number;
  to: number;
  /** Hold this cluster secret (opens a session with Hello); absent: no secret at all. */
  secret?: Buffer;
  credentials?: grpc.ChannelCredentials;
  channelOptions?: grpc.ChannelOptions;
}

/** An outside process speaking PeerService to one node. */
export class PeerProbe {
  readonly client: PeerServiceClient;
  private session: PeerSession | null = null;

  constructor(private readonly o: ProbeOptions) {
    this.client = new PeerServiceClient(o.address, o.credentials ?? grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      ...o.channelOptions,
    });
  }

  hello(clientNonce: Buffer): Promise<PeerHelloReply> {
    return new Promise((resolve, reject) =>
      this.client.hello({ clusterId: this.o.clusterId, from: this.o.from, to: this.o.to, clientNonce }, (err, r) => (err ? reject(err) : resolve(r))),
    );
  }

  /** Opens a session when the probe holds a secret (rejects like the node's Hello does). */
  async authenticate(): Promise<void> {
    if (!this.o.secret) return;
    const auth = new PeerAuthClient({ clusterId: this.o.clusterId, selfId: this.o.from, key: deriveClusterKey(this.o.secret, this.o.clusterId) });
    try {
      this.session = await auth.open(this.o.to, (req) =>
        new Promise((resolve, reject) => this.client.hello(req, (err, r) => (err ? reject(err) : resolve(r)))),
      );
    } catch (err) {
      // A node that predates peer authentication has no Hello: the probe then goes on like any
      // process could (this is how the regression probes show what they did to the old code).
      if ((err as grpc.ServiceError).code !== grpc.status.UNIMPLEMENTED) throw err;
    }
  }

  private md(method: string): grpc.Metadata {
    return this.session ? this.session.metadata(method) : new grpc.Metadata();
  }

  /**
   * Opens a Raft stream and sends nothing: resolves with the response headers' keys once they
   * arrive, or with null if the stream ends first. The stream is then cancelled.
   */
  raftHeaders(): Promise<string[] | null> {
    return new Promise((resolve) => {
      const s = this.client.raft(this.md('Raft'), () => resolve(null));
      s.on('error', () => {});
      s.on('metadata', (md) => {
        resolve(Object.keys(md.getMap()));
        s.cancel();
      });
    });
  }

  /** Sends batches on one Raft stream; resolves with the stream's error (null when it ended cleanly). */
  raft(batches: RaftBatch[]): Promise<grpc.ServiceError | null> {
    return new Promise((resolve) => {
      const s = this.client.raft(this.md('Raft'), (err) => resolve(err));
      s.on('error', () => {});
      for (const b of batches) s.write(b);
      s.end();
    });
  }

  batch(messages: RaftMessage[], over: Partial<RaftBatch> = {}): RaftBatch {
    return { clusterId: this.o.clusterId, from: this.o.from, to: this.o.to, messages, ...over };
  }

  forward(req: Pick<ForwardRequest, 'kind'> & Partial<ForwardRequest>, deadlineMs = 5000): Promise<ForwardReply> {
    return new Promise((resolve, reject) =>
      this.client.forward({ clusterId: this.o.clusterId, from: this.o.from, term: 0, ...req }, this.md('Forward'), { deadline: Date.now() + deadlineMs }, (err, r) =>
        err ? reject(err) : resolve(r),
      ),
    );
  }

  installSnapshot(chunks: SnapshotChunk[]): Promise<SnapshotInstallReply> {
    return new Promise((resolve, reject) => {
      const call = this.client.installSnapshot(this.md('InstallSnapshot'), (err, r) => (err ? reject(err) : resolve(r)));
      call.on('error', () => {});
      for (const c of chunks) call.write(c);
      call.end();
    });
  }

  close(): void {
    this.client.close();
  }
}
