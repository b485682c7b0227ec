// Pending linearizable reads on the leader. Each request gets a sequence number that rides in
// the context of the next heartbeat round; once a quorum of voters has acknowledged a round,
// every request registered up to that round is safe to serve at the commit index it recorded.

import type { NodeId } from './types.js';

export interface ReadRequest {
  seq: number;
  /** Commit index when the request arrived: the read must observe at least this. */
  index: number;
  ctx: Uint8Array;
  /** Who asked: the leader itself, or a follower that forwarded a ReadIndex. */
  from: NodeId;
}

export class ReadOnly {
  private queue: ReadRequest[] = [];
  private head = 0;
  /** Monotonic for the node's lifetime so acknowledgements from older rounds never alias. */
  private seq = 0;

  add(index: number, ctx: Uint8Array, from: NodeId): number {
    const seq = ++this.seq;
    this.queue.push({ seq, index, ctx, from });
    return seq;
  }

  pending(): number {
    return this.queue.length - this.head;
  }

  /** Sequence number of the newest pending request, 0 if none. */
  lastSeq(): number {
    return this.pending() > 0 ? this.queue[this.queue.length - 1]!.seq : 0;
  }

  /** Remove and return the oldest requests, in order, as long as `confirmed` holds for them. */
  releaseWhile(confirmed: (r: ReadRequest) => boolean): ReadRequest[] {
    const out: ReadRequest[] = [];
    while (this.head < this.queue.length && confirmed(this.queue[this.head]!)) {
      out.push(this.queue[this.head++]!);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      // Under continuous reads the queue may never drain: drop the served prefix once it
      // dominates, or the array grows with every read ever made (O(1) amortized).
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  reset(): void {
    this.queue = [];
    this.head = 0;
  }
}

/** Heartbeat context: the read round, and in lease mode also the leader's clock at sending. */
export function encodeReadSeq(seq: number, sentAt?: number): Uint8Array {
  const out = new Uint8Array(sentAt === undefined ? 8 : 16);
  const dv = new DataView(out.buffer);
  dv.setFloat64(0, seq);
  if (sentAt !== undefined) dv.setFloat64(8, sentAt);
  return out;
}

export function decodeReadSeq(ctx: Uint8Array): number {
  if (ctx.length !== 8 && ctx.length !== 16) return 0;
  return new DataView(ctx.buffer, ctx.byteOffset, 8).getFloat64(0);
}

/** The leader's clock when the heartbeat was sent (lease mode), -1 if the context has none. */
export function decodeSentAt(ctx: Uint8Array): number {
  if (ctx.length !== 16) return -1;
  return new DataView(ctx.buffer, ctx.byteOffset, 16).getFloat64(8);
}
