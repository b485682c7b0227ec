// Waiting for a writable stream (a gRPC call, an HTTP response) to take writes again.
import type { EventEmitter } from 'node:events';

/**
 * Resolves once `stream` emits 'drain', or ends ('close', a gRPC call's 'cancelled'), or `signal`
 * aborts: a writer waiting here is never left hanging on a stream that went away.
 */
export function drained(stream: EventEmitter, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('cancelled', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('cancelled', done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
