// Auto-compaction (etcd's --auto-compaction-mode / --auto-compaction-retention): every member
// runs one, only the leader acts. Each check it samples (time, revision), and proposes a
// Compaction command when the policy (policy.ts) allows a compact revision above the current one.
// The samples live in the leader's memory only: a new leader starts sampling afresh, so it never
// compacts history younger than the retention it has itself observed (as etcd's compactor does).
import type { Logger } from '../log.js';
import { PlacementError } from '../errors.js';
import { compactKeyspace, type CompactionHost } from './compact.js';
import { compactionTarget, pruneSamples, type CompactionPolicy, type Sample } from './policy.js';

export interface AutoCompactionHost extends CompactionHost {
  isLeader(): boolean;
  readonly cfg: { readonly requestTimeoutMs: number };
}

export class AutoCompactor {
  private readonly samples: Sample[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  /** Compactions this member proposed (tests, logs). */
  compactions = 0;

  constructor(
    private readonly host: AutoCompactionHost,
    private readonly policy: CompactionPolicy,
    private readonly opts: { intervalMs: number; log: Logger; now?: () => number },
  ) {}

  /** How often it checks: the configured interval, or a tenth of a shorter periodic retention. */
  get intervalMs(): number {
    const p = this.policy.keepMs > 0 ? Math.max(1000, Math.floor(this.policy.keepMs / 10)) : Infinity;
    return Math.min(this.opts.intervalMs, p);
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check (the timer's; tests call it directly). */
  async check(): Promise<void> {
    if (this.busy) return;
    if (!this.host.isLeader()) {
      this.samples.length = 0;
      return;
    }
    const now = (this.opts.now ?? Date.now)();
    const ks = this.host.keyspace;
    this.samples.push({ at: now, revision: ks.revision });
    const target = compactionTarget(this.policy, now, ks.revision, ks.compactRevision, this.samples);
    pruneSamples(this.policy, now, this.samples);
    if (target === 0) return;
    this.busy = true;
    try {
      await compactKeyspace(this.host, target, false, Date.now() + this.host.cfg.requestTimeoutMs, undefined);
      this.compactions++;
      this.opts.log.info({ revision: target, current: ks.revision }, 'auto-compaction: compacted');
    } catch (err) {
      // Someone compacted further meanwhile (OUT_OF_RANGE), or leadership moved: the next check decides again.
      const level = err instanceof PlacementError && err.code === 'OUT_OF_RANGE' ? 'debug' : 'warn';
      this.opts.log[level]({ err: (err as Error).message, revision: target }, 'auto-compaction: not compacted');
    } finally {
      this.busy = false;
    }
  }
}
