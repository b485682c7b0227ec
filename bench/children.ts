// The reference systems' server processes (bench/etcd.ts, bench/zookeeper.ts): every child is
// killed by pid when the bench ends, fails, or is interrupted, so no server outlives a run.
import type { ChildProcess } from 'node:child_process';

export class Children {
  private readonly procs = new Set<ChildProcess>();
  private readonly cleanups: Array<() => void> = [];

  constructor() {
    process.on('exit', () => {
      this.killAll();
      for (const c of this.cleanups) c();
    });
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  }

  add(proc: ChildProcess): ChildProcess {
    this.procs.add(proc);
    return proc;
  }

  /** Also run `fn` at exit (e.g. removing a temp dir), after the children are killed. */
  atExit(fn: () => void): void {
    this.cleanups.push(fn);
  }

  /** SIGKILLs every child still running and resolves once all have exited. */
  async stopAll(): Promise<void> {
    const exits = [...this.procs].map((p) =>
      p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise<void>((r) => p.once('exit', () => r())),
    );
    this.killAll();
    await Promise.all(exits);
  }

  private killAll(): void {
    for (const p of this.procs) {
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}
