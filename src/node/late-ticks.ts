// Raft ticks come from a timer. One that arrives far later than its interval means the event
// loop was blocked (a disk read on the apply path under I/O pressure, a long synchronous step, a
// GC pause): a leader blocked for an election timeout sends no heartbeats and loses its
// followers. Operators need to see that before the election, so late ticks are reported (etcd
// logs "leader failed to send out heartbeat on time" for the same reason).

export class LateTicks {
  private last = -1;

  constructor(
    private readonly tickMs: number,
    /** A gap counts as late from this many milliseconds. */
    private readonly lateMs: number,
    private readonly report: (gapMs: number) => void,
  ) {}

  /** Call on every tick. */
  tick(now: number): void {
    const gap = this.last < 0 ? this.tickMs : now - this.last;
    this.last = now;
    if (gap >= this.lateMs) this.report(gap);
  }

  /** Ticking stopped on purpose (paused for a rebuild): the next gap is not a stall. */
  reset(): void {
    this.last = -1;
  }
}
