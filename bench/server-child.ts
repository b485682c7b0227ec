// A bench server in a child process of its own (bench:unary-floor, bench:stream-writes): it
// reports its port once listening and its CPU time (user + sys, µs) whenever asked, so the
// driver measures the server alone.
import type { ChildProcess } from 'node:child_process';

/** In the child: answer 'cpu' requests, then report the port. */
export function reportToParent(port: number): void {
  process.on('message', (m: string) => {
    if (m === 'cpu') {
      const u = process.cpuUsage();
      process.send!({ cpu: u.user + u.system });
    }
  });
  process.send!({ port });
}

/** In the driver: the child's next message, after sending `msg` (none: wait for the port report). */
export function ask<T>(child: ChildProcess, msg: string | null): Promise<T> {
  return new Promise((r) => {
    child.once('message', (m) => r(m as T));
    if (msg !== null) child.send(msg);
  });
}
