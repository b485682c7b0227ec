// Auto-compaction policy (etcd's --auto-compaction-mode / --auto-compaction-retention) and the
// pure rule that turns it into a compaction target.
//
// A policy keeps at least `keepRevisions` revisions AND at least `keepMs` of history: the target
// is the older of "current - keepRevisions" and "the revision as of keepMs ago". etcd's revision
// mode is { keepRevisions: N, keepMs: 0 }, its periodic mode { keepRevisions: 0, keepMs: D };
// without flags we keep 10,000 revisions and an hour, whichever is more.

export interface CompactionPolicy {
  keepRevisions: number;
  keepMs: number;
}

export const DEFAULT_POLICY: CompactionPolicy = { keepRevisions: 10_000, keepMs: 3_600_000 };

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration as etcd takes it: a bare integer is hours; else Go-style units ("1h30m", "90s", "500ms"). */
export function parseRetentionDuration(text: string): number {
  if (/^\d+$/.test(text)) return Number(text) * 3_600_000;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let ms = 0;
  let used = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    ms += Number(m[1]) * UNITS[m[2]!]!;
    used += m[0].length;
  }
  if (used !== text.length || text === '') throw new Error(`"${text}" is not a duration (e.g. 1h, 30m, 90s, or a number of hours)`);
  return Math.round(ms);
}

/** The policy of the flags; null when auto-compaction is off (retention "0"). Throws on bad input. */
export function compactionPolicy(mode: '' | 'periodic' | 'revision', retention: string): CompactionPolicy | null {
  const r = retention.trim();
  if (mode === '' && r === '') return DEFAULT_POLICY;
  if (r === '0') return null;
  if (mode === 'revision') {
    if (r === '') return { keepRevisions: DEFAULT_POLICY.keepRevisions, keepMs: 0 };
    if (!/^\d+$/.test(r)) throw new Error(`revision mode keeps a number of revisions, got "${r}"`);
    return { keepRevisions: Number(r), keepMs: 0 };
  }
  // Periodic, also when only a retention is given (etcd's default mode).
  if (r === '') return { keepRevisions: 0, keepMs: DEFAULT_POLICY.keepMs };
  return { keepRevisions: 0, keepMs: parseRetentionDuration(r) };
}

/** A (time, revision) the leader observed. */
export interface Sample {
  at: number;
  revision: number;
}

/**
 * The revision to compact to now, or 0 for none: the older of the two bounds, only if it moves
 * the compact revision forward. `samples` are the leader's observations in time order; the
 * revision as of keepMs ago is the newest one sampled at or before then (none: nothing is old
 * enough yet).
 */
export function compactionTarget(p: CompactionPolicy, now: number, current: number, compacted: number, samples: readonly Sample[]): number {
  let byTime = current;
  if (p.keepMs > 0) {
    byTime = 0;
    for (const s of samples) if (s.at <= now - p.keepMs) byTime = s.revision;
  }
  const target = Math.min(current - p.keepRevisions, byTime);
  return target > compacted && target >= 1 ? target : 0;
}

/** Drops the samples no future target can need (older than the newest one at or before now - keepMs). */
export function pruneSamples(p: CompactionPolicy, now: number, samples: Sample[]): void {
  let keepFrom = 0;
  for (let i = 0; i < samples.length; i++) if (samples[i]!.at <= now - p.keepMs) keepFrom = i;
  if (keepFrom > 0) samples.splice(0, keepFrom);
}
