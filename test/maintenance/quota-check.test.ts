// The space-quota check measures the store (a readdir and a stat per LevelDB file) only when the
// bytes applied since its last measurement could have carried the store past the quota, or when
// that measurement is stale; near or past the quota it measures at every check.
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { QUOTA_CHECK_MS, QUOTA_GROWTH_PER_APPLIED_BYTE, QUOTA_MAX_STALE_MS, quotaCheckDue, watchQuota } from '../../src/maintenance/quota.js';
import { AlarmType } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { Alarm } from '../../storage/index.js';

const MiB = 1024 * 1024;

test('quotaCheckDue: first check, growth that could cross the quota, and a stale measurement', () => {
  const quota = 100 * MiB;
  assert.equal(quotaCheckDue(null, 0, 0, quota), true);
  const last = { at: 1_000, size: 60 * MiB, applied: 5_000 };
  assert.equal(quotaCheckDue(last, 1_500, 5_000, quota), false, 'nothing applied');
  const justBelow = Math.ceil((40 * MiB) / QUOTA_GROWTH_PER_APPLIED_BYTE) - 1;
  assert.equal(quotaCheckDue(last, 1_500, 5_000 + justBelow, quota), false);
  assert.equal(quotaCheckDue(last, 1_500, 5_000 + justBelow + 1, quota), true);
  assert.equal(quotaCheckDue(last, 1_000 + QUOTA_MAX_STALE_MS - 1, 5_000, quota), false);
  assert.equal(quotaCheckDue(last, 1_000 + QUOTA_MAX_STALE_MS, 5_000, quota), true);
  // Past the quota (alarm raised, or disarmed while still too big): every check measures.
  assert.equal(quotaCheckDue({ at: 1_000, size: quota, applied: 0 }, 1_001, 0, quota), true);
});

test('watchQuota measures only when due, and raises NOSPACE once the store passes the quota', async (t) => {
  mock.timers.enable({ apis: ['setInterval', 'Date'], now: 0 });
  t.after(() => mock.timers.reset());
  const quota = 10 * MiB;
  let size = 1 * MiB;
  let applied = 0;
  let measured = 0;
  const alarms: Alarm[] = [];
  const proposed: unknown[] = [];
  const stop = watchQuota({
    selfId: 7,
    quotaBytes: quota,
    dbSize: async () => {
      measured++;
      return size;
    },
    appliedBytes: () => applied,
    alarms: async () => alarms,
    propose: async (cmd) => {
      proposed.push(cmd);
      alarms.push({ memberId: 7, alarm: AlarmType.NOSPACE } as Alarm);
      return {} as never;
    },
    log: { warn: () => undefined },
  });
  t.after(stop);
  const tick = async (): Promise<void> => {
    mock.timers.tick(QUOTA_CHECK_MS);
    for (let i = 0; i < 10; i++) await Promise.resolve();
  };
  await tick();
  assert.equal(measured, 1, 'the first check measures');
  // Small writes far below the quota: no measurement until the last one goes stale.
  for (let i = 0; i < 10; i++) {
    applied += 1024;
    size += 2048;
    await tick();
  }
  assert.equal(measured, 1, 'small growth far from the quota is not measured');
  for (let i = 0; i < QUOTA_MAX_STALE_MS / QUOTA_CHECK_MS; i++) await tick();
  assert.equal(measured, 2, 'a stale measurement is refreshed');
  // Growth that could cross the quota is measured at the next check, and the alarm is raised.
  applied += 3 * MiB;
  size = quota + 1;
  await tick();
  assert.equal(measured, 3);
  assert.equal(proposed.length, 1, 'NOSPACE proposed');
  // Past the quota, every check measures (so a disarmed alarm is raised again), without proposing twice.
  await tick();
  await tick();
  assert.equal(measured, 5);
  assert.equal(proposed.length, 1);
});
