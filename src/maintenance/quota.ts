// The space quota (etcd's --quota-backend-bytes): this member measures its state machine on disk
// and, once past the quota, raises the NOSPACE alarm for itself through the log, so every replica
// refuses the writes that grow the store from the same point on (storage/alarms/alarms.ts). Writes
// accepted before the alarm is applied may overshoot the quota by what a check interval admits.
// The alarm stays until an operator clears it (`alarm disarm`, after compaction and
// defragmentation); if the store is still past the quota it is raised again at the next check.
import { AlarmRequest_AlarmAction, AlarmType } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { Command, CommandResult } from '../../proto/gen/placement/v1/command.js';
import type { Alarm } from '../../storage/index.js';

export const QUOTA_CHECK_MS = 500;

export interface QuotaHost {
  readonly selfId: number;
  readonly quotaBytes: number;
  dbSize(): Promise<number>;
  alarms(): Promise<Alarm[]>;
  propose(cmd: Command, deadline: number): Promise<CommandResult>;
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
  const check = async (): Promise<void> => {
    const size = await h.dbSize();
    if (size <= h.quotaBytes) return;
    if ((await h.alarms()).some((a) => a.memberId === h.selfId && a.alarm === AlarmType.NOSPACE)) return;
    h.log.warn({ size, quota: h.quotaBytes }, 'the state machine passed the space quota: raising the NOSPACE alarm (writes that grow the store are refused until it is cleared)');
    await h.propose(alarmCommand(AlarmRequest_AlarmAction.ACTIVATE, h.selfId, AlarmType.NOSPACE), Date.now() + 5000);
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
