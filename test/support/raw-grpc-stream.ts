// A gRPC stream call over plain node:http2 with gRPC's framing, for tests about flow control: a
// write's callback here means its bytes went to the member (grpc-js's client confirms writes it
// only buffered, and node:http2 confirms a batch of queued writes only as a whole).
import * as http2 from 'node:http2';
import { encodeFrame, FrameDecoder } from '../../src/grpc/h2/framing.js';
import { settled } from './settled.js';

export interface RawStream {
  /** Writes `message` `count` times, each once the one before left; `sent()` counts those that left. */
  sendEach(message: Uint8Array, count: number): { sent: () => number; done: Promise<void> };
  /**
   * Without reading the responses, sends `message` `count` times until nothing more leaves (for a
   * second, at most `limitMs`): `heldAt` is how many left. `finish()` reads again and resolves once
   * every one left.
   */
  sendUnread(message: Uint8Array, count: number, limitMs: number): Promise<{ heldAt: number; finish: () => Promise<void> }>;
  close(): void;
}

/** Opens `path` on `address` (host:port, plaintext); `onMessage` gets each response message. */
export function rawStream(address: string, path: string, onMessage: (m: Buffer) => void): RawStream {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => {});
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
  stream.on('error', () => {});
  const decoder = new FrameDecoder(1 << 20);
  stream.on('data', (chunk: Buffer) => {
    for (const m of decoder.push(chunk)) onMessage(m);
  });
  return {
    sendEach(message, count) {
      const frame = encodeFrame(message);
      let sent = 0;
      const done = (async () => {
        for (let i = 0; i < count; i++) {
          await new Promise<void>((resolve, reject) => stream.write(frame, (err) => (err ? reject(err) : resolve())));
          sent++;
        }
      })();
      return { sent: () => sent, done };
    },
    async sendUnread(message, count, limitMs) {
      stream.pause();
      const w = this.sendEach(message, count);
      const heldAt = await settled(w.sent, 1_000, limitMs);
      return {
        heldAt,
        finish: () => {
          stream.resume();
          return w.done;
        },
      };
    },
    close() {
      stream.close();
      session.close();
    },
  };
}
