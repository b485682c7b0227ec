// A raw etcd gRPC client for differential tests that compare answers call by call: requests
// encoded by the generated code, responses kept as bytes (etcd's ids exceed 2^53, so the
// generated decoders, which use numbers, refuse its responses), outcomes as one line each.
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { walkFields } from '../../proto/fields.js';
import type { Cluster } from './cluster.js';

/** A top-level varint field of a response (0 when absent): a count, a leader id's presence. */
export function varintField(b: Buffer, field: number): number {
  let v = 0;
  walkFields(b, (f) => {
    if (f.field === field && f.wireType === 0) v = f.value;
  });
  return v;
}

const insecure = grpc.credentials.createInsecure();
const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 5000 });
const raw = (b: Buffer): Buffer => b;

/** A call's outcome as a line: 'ok', or its code and message. */
export const outcome = (err: grpc.ServiceError | null): string => (err ? `error ${grpc.status[err.code]}: ${err.details}` : 'ok');

export class RawEtcd {
  private readonly c: grpc.Client;
  constructor(at: string) {
    this.c = new grpc.Client(at, insecure);
  }
  unary<T>(path: string, encode: { encode(m: T): { finish(): Uint8Array } }, req: T, md = new grpc.Metadata()): Promise<{ err: grpc.ServiceError | null; rep?: Buffer }> {
    return new Promise((resolve) =>
      this.c.makeUnaryRequest(path, (m: T) => Buffer.from(encode.encode(m).finish()), raw, req, md, deadline(), (err, rep) => resolve({ err: err ?? null, rep })),
    );
  }
  stream<T>(path: string, encode: { encode(m: T): { finish(): Uint8Array } }, md: grpc.Metadata): grpc.ClientDuplexStream<T, Buffer> {
    return this.c.makeBidiStreamRequest(path, (m: T) => Buffer.from(encode.encode(m).finish()), raw, md, {});
  }
  serverStream<T>(path: string, encode: { encode(m: T): { finish(): Uint8Array } }, req: T): grpc.ClientReadableStream<Buffer> {
    return this.c.makeServerStreamRequest(path, (m: T) => Buffer.from(encode.encode(m).finish()), raw, req, new grpc.Metadata(), {});
  }
  /** Each request in turn: its outcome line, or the reply without its header (replyWithoutHeader). */
  async answers<T>(path: string, encode: { encode(m: T): { finish(): Uint8Array } }, requests: readonly T[], md = new grpc.Metadata()): Promise<string[]> {
    const out: string[] = [];
    for (const req of requests) {
      const { err, rep } = await this.unary(path, encode, req, md);
      out.push(err ? outcome(err) : replyWithoutHeader(rep!));
    }
    return out;
  }
  close(): void {
    this.c.close();
  }
}

/** A reply without its header (field 1: each cluster's ids and raft term), as hex fields. */
export function replyWithoutHeader(rep: Buffer): string {
  const parts: string[] = [];
  walkFields(rep, (f) => {
    if (f.field !== 1) parts.push(rep.subarray(f.start, f.end).toString('hex'));
  });
  return parts.join(' ');
}

/** A generated request as JSON, its byte fields as latin1 text (for a failure message). */
export function showRequest(q: unknown): string {
  return JSON.stringify(q, (_k, v: unknown) => (v && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('latin1') : v));
}

/**
 * Raw clients of a cluster's leader and of one follower, and `must`: a call through the leader
 * that has to succeed (its reply bytes). The caller closes both clients.
 */
export async function leaderAndFollower(c: Cluster): Promise<{
  follower: Cluster['nodes'][number];
  leader: RawEtcd;
  onFollower: RawEtcd;
  must: (path: string, enc: unknown, req: unknown, md?: grpc.Metadata) => Promise<Buffer>;
}> {
  const leaderId = await c.waitForLeader();
  const follower = c.nodes.find((n) => n.id !== leaderId)!;
  const leader = new RawEtcd(c.node(leaderId).grpcAddress);
  const onFollower = new RawEtcd(follower.grpcAddress);
  const must = async (path: string, enc: unknown, req: unknown, md?: grpc.Metadata): Promise<Buffer> => {
    const r = await leader.unary(path, enc as never, req as never, md);
    assert.equal(r.err, null, `${path}: ${outcome(r.err)}`);
    return r.rep!;
  };
  return { follower, leader, onFollower, must };
}
