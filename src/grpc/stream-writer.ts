// A server stream's messages handed straight to the grpc-js call under its Duplex.
//
// grpc-js's server stream objects are Writables whose _write passes one message to the call and
// waits until HTTP/2 has written it before passing the next: N messages written in one turn (a
// revision fanned out to the watchers of one stream, the keep-alives one renewal answers) leave
// as N socket writes over N event-loop turns. Passed to the call directly they are queued on the
// HTTP/2 stream together and leave in one or two writes (bench:stream-writes).
//
// Order is kept: every message goes to the one HTTP/2 stream in the order written, and ending
// the call (call.end(), which sends the status) still goes through the Duplex, after them. This
// relies on the server's interceptors passing messages on synchronously, as ours do (src/auth/
// guard.ts intercepts only what it receives): grpc-js's ServerInterceptingCall holds a single
// message aside while an interceptor's metadata step is pending, and a second would replace it.
import type * as grpc from '@grpc/grpc-js';

/** Writes one message; `done` runs once HTTP/2 has taken it (never, if the call was cancelled). */
export type MessageWriter<T> = (message: T, done?: () => void) => void;

interface CallUnderneath {
  sendMessage(message: unknown, callback: () => void): void;
}

type ServerStream<T> = grpc.ServerWritableStream<unknown, T> | grpc.ServerDuplexStream<unknown, T>;

const noop = (): void => undefined;

/** The grpc-js call under the stream object, or null when it does not have the expected shape. */
function callUnderneath(stream: ServerStream<unknown>): CallUnderneath | null {
  const inner = (stream as unknown as { call?: Partial<CallUnderneath> }).call;
  return inner && typeof inner.sendMessage === 'function' ? (inner as CallUnderneath) : null;
}

export function messageWriter<T>(stream: ServerStream<T>): MessageWriter<T> {
  const call = callUnderneath(stream);
  if (!call) {
    // Not the grpc-js shape this was written against: the Duplex, one message at a time.
    return (message, done) => {
      stream.write(message, done);
    };
  }
  return (message, done) => {
    // After end() the HTTP/2 stream takes no more data (a write would be an error on it).
    if (stream.writableEnded || stream.destroyed) return;
    call.sendMessage(message, done ?? noop);
  };
}

/** Whether `messageWriter` bypasses the Duplex for this stream (for tests). */
export function writesDirectly(stream: ServerStream<unknown>): boolean {
  return callUnderneath(stream) !== null;
}
