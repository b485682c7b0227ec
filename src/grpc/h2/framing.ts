// gRPC's message framing on an HTTP/2 stream: each message is a 1-byte compressed flag, a 4-byte
// big-endian length and the message bytes. Messages arrive split and merged across DATA chunks.
// Only the identity encoding is served (grpc-encoding is refused at the headers, server.ts), so a
// frame flagged compressed is a protocol error.
import { CODE, GrpcWireError } from './errors.js';

const PREFIX = 5;
export const FRAME_PREFIX = PREFIX;

/**
 * Does `chunk` hold exactly one whole, uncompressed message of at most `maxMessageBytes`? (Most
 * unary requests arrive so: the message is then a view of the chunk, without a decoder.)
 */
export function isOneFrame(chunk: Buffer, maxMessageBytes: number): boolean {
  return chunk.length >= PREFIX && chunk[0] === 0 && chunk.readUInt32BE(1) === chunk.length - PREFIX && chunk.length - PREFIX <= maxMessageBytes;
}

/** One message framed for the wire. */
export function encodeFrame(message: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, PREFIX);
  return out;
}

/**
 * Reassembles messages from a stream's DATA chunks. push() returns the messages completed by a
 * chunk; a frame over `maxMessageBytes` is refused from its prefix alone (RESOURCE_EXHAUSTED,
 * before its bytes are buffered), a bad flag is INTERNAL; after an error the decoder stays failed.
 * end() at the end of the stream refuses a message cut short.
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Length of the message being read, or -1 while its prefix is incomplete. */
  private need = -1;
  private failed: GrpcWireError | null = null;

  /**
   * `tooLarge` words the refusal of a frame over the limit (grpc-js words it one way for unary
   * calls and another for streams; clients see the same text from us as from it).
   */
  constructor(
    private readonly maxMessageBytes: number,
    private readonly tooLarge: (len: number, max: number) => string = (len, max) => `Received message larger than max (${len} vs. ${max})`,
  ) {}

  push(chunk: Buffer): Buffer[] {
    if (this.failed) throw this.failed;
    const out: Buffer[] = [];
    let buf = this.pendingBytes > 0 ? Buffer.concat([...this.pending, chunk]) : chunk;
    this.pending = [];
    this.pendingBytes = 0;
    for (;;) {
      if (this.need < 0) {
        if (buf.length < PREFIX) break;
        const flag = buf[0]!;
        if (flag !== 0) throw this.fail(flag === 1 ? new GrpcWireError(CODE.INTERNAL, 'compressed message without a negotiated grpc-encoding') : new GrpcWireError(CODE.INTERNAL, `invalid message flag ${flag}`));
        const len = buf.readUInt32BE(1);
        if (len > this.maxMessageBytes) throw this.fail(new GrpcWireError(CODE.RESOURCE_EXHAUSTED, this.tooLarge(len, this.maxMessageBytes)));
        this.need = len;
        buf = buf.subarray(PREFIX);
      }
      if (buf.length < this.need) break;
      out.push(buf.subarray(0, this.need));
      buf = buf.subarray(this.need);
      this.need = -1;
    }
    if (buf.length > 0) {
      this.pending.push(buf);
      this.pendingBytes = buf.length;
    }
    return out;
  }

  /** The stream ended: throws if a message was cut short. */
  end(): void {
    if (this.failed) throw this.failed;
    if (this.need >= 0 || this.pendingBytes > 0) {
      const what = this.need >= 0 ? `${this.pendingBytes} of ${this.need} message bytes` : `${this.pendingBytes} of ${PREFIX} prefix bytes`;
      throw this.fail(new GrpcWireError(CODE.INTERNAL, `stream ended inside a message (${what})`));
    }
  }

  private fail(e: GrpcWireError): GrpcWireError {
    this.failed = e;
    this.pending = [];
    this.pendingBytes = 0;
    return e;
  }
}
