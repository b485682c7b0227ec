// The space quota (etcd's --quota-backend-bytes): this member measures its state machine on disk
// and, once past the quota, raises the NOSPACE alarm for itself through the log, so every replica
// refuses the writes that grow the store from the same point on (storage/alarms/alarms.ts). Writes
// accepted before the alarm is applied may overshoot the quota by what a check interval admits.
// The alarm stays until an operator clears it (`alarm disarm`, after compaction and
// defragmentation); if the store is still past the quota it is raised again at the next check.
//
// Measuring the store lists and stats every LevelDB file (a thread-pool hop each), which on a busy
// leader cost ~5% of its CPU at one check per 500 ms. So a check measures only when the bytes
// applied since the last measurement could have carried the store past the quota (each applied
// byte counted QUOTA_GROWTH_PER_APPLIED_BYTE times: history record, current record and index,
// plus LevelDB's own copies before compaction), or when the last measurement is older than
// QUOTA_MAX_STALE_MS (growth that applied entries do not show: a restored snapshot, a compaction
// in progress). Near the quota every check measures, as before.
import { AlarmRequest_AlarmAction, AlarmType } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { Command, CommandResult, CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { Alarm } from '../../storage/index.js';

export const QUOTA_CHECK_MS = 500;
export const QUOTA_MAX_STALE_MS = 10_000;
export const QUOTA_GROWTH_PER_APPLIED_BYTE = 4;

/** What the last measurement saw: when, the store's size, and the applied-bytes counter then. */
export interface QuotaProbe {
  readonly at: number;
  readonly size: number;
  readonly applied: number;
}

/** Whether a check must measure the store now (see the header). */
export function quotaCheckDue(last: QuotaProbe | null, now: number, applied: number, quotaBytes: number): boolean {
  if (last === null || now - last.at >= QUOTA_MAX_STALE_MS) return true;
  return last.size + (applied - last.applied) * QUOTA_GROWTH_PER_APPLIED_BYTE >= quotaBytes;
}

export interface QuotaHost {
  readonly selfId: number;
  readonly quotaBytes: number;
  dbSize(): Promise<number>;
  /** Bytes of log entries this member has applied since it started (a counter that only grows). */
  appliedBytes(): number;
  alarms(): Promise<Alarm[]>;
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
  log: { warn(obj: object, msg?: string): void };
}

/** The command raising or clearing `alarm` for member `memberId`. */
export function alarmCommand(action: AlarmRequest_AlarmAction, memberId: number, alarm: AlarmType): Command {
  return { clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'etcdAlarm', value: { action, memberID: memberId, alarm } } };
}

/** Starts the periodic check; returns its stop function. */
export function watchQuota(h: QuotaHost, intervalMs = QUOTA_CHECK_MS): () => void {
  if (h.quotaBytes <= 0) return () => undefined;
  let busy = false;
  let last: QuotaProbe | null = null;
  const check = async (): Promise<void> => {
    const now = Date.now();
    const applied = h.appliedBytes();
    if (!quotaCheckDue(last, now, applied, h.quotaBytes)) return;
    const size = await h.dbSize();
    last = { at: now, size, applied };
    if (size <= h.quotaBytes) return;
    if ((await h.alarms()).some((a) => a.memberId === h.selfId && a.alarm === AlarmType.NOSPACE)) return;
    h.log.warn({ size, quota: h.quotaBytes }, 'the state machine passed the space quota: raising the NOSPACE alarm (writes that grow the store are refused until it is cleared)');
    await h.propose(alarmCommand(AlarmRequest_AlarmAction.ACTIVATE, h.selfId, AlarmType.NOSPACE), Date.now() + 5000, undefined);
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    check()
      .catch(() => undefined) // no leader right now, shutting down: the next round tries again
      .finally(() => (busy = false));
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
