// Long storage jobs (snapshot create/install, checksum scans) run on the main thread between
// awaits that may all resolve at once (cached iterator entries, buffered writes): promises alone
// never let timers or sockets in. A Pacer hands the event loop a turn whenever the current slice
// of work has run for `sliceMs`, so a 500 MiB snapshot never holds the loop for longer.

export class Pacer {
  private last = performance.now();
  constructor(private readonly sliceMs = 4) {}

  /** Yields to the event loop (setImmediate) if this slice has run for sliceMs or more. */
  pace(): Promise<void> | undefined {
    if (performance.now() - this.last < this.sliceMs) return undefined;
    return new Promise<void>((resolve) =>
      setImmediate(() => {
        this.last = performance.now();
        resolve();
      }),
    );
  }
}
