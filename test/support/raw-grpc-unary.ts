// One unary gRPC call over plain node:http2, keeping what a client library hides: the response
// headers and trailers exactly as they came (for comparing our wire with etcd's).
import * as http2 from 'node:http2';
import { encodeFrame, FrameDecoder } from '../../src/grpc/h2/framing.js';

export interface RawUnaryAnswer {
  /** The response headers (a trailers-only answer carries its status here). */
  headers: Record<string, string | string[] | number | undefined>;
  /** The trailers; null for a trailers-only answer. */
  trailers: Record<string, string | string[] | number | undefined> | null;
  messages: Buffer[];
}

const plain = (h: http2.IncomingHttpHeaders): Record<string, string | string[] | number | undefined> => Object.fromEntries(Object.entries(h));

/** Calls `path` on `address` (host:port, plaintext) with one request message. */
export function rawUnary(address: string, path: string, message: Uint8Array): Promise<RawUnaryAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    const decoder = new FrameDecoder(1 << 20);
    const messages: Buffer[] = [];
    let headers: RawUnaryAnswer['headers'] = {};
    let trailers: RawUnaryAnswer['trailers'] = null;
    stream.on('response', (h) => (headers = plain(h)));
    stream.on('trailers', (t) => (trailers = plain(t)));
    stream.on('data', (chunk: Buffer) => messages.push(...decoder.push(chunk)));
    stream.on('error', reject);
    stream.on('close', () => {
      session.close();
      resolve({ headers, trailers, messages });
    });
    stream.end(encodeFrame(message));
  });
}
