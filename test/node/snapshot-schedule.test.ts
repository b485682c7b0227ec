// The snapshot schedule (src/node/snapshot-schedule.ts): members take turns instead of all
// snapshotting at the same index, and every member still snapshots about every --snapshot-every
// entries and before --snapshot-bytes of entries pile up.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AMORTIZE_CAP, AMORTIZE_FROM, rankOf, snapshotDue } from '../../src/node/snapshot-schedule.js';

/** Apply `total` entries in batches of `step`; returns the indexes at which `self` snapshotted. */
function run(self: number, members: number[], every: number, total: number, step: number, start = 0): number[] {
  const taken: number[] = [];
  let last = start;
  const rank = rankOf(self, members);
  for (let applied = start + step; applied <= total; applied += step) {
    if (snapshotDue({ applied, lastSnapshot: last, bytesSince: 0, every, bytes: Number.MAX_SAFE_INTEGER, lastSize: 0, rank })) {
      taken.push(applied);
      last = applied;
    }
  }
  return taken;
}

describe('snapshot schedule', () => {
  it('ranks members by id, whatever order they are listed in; a non-member counts as the only one', () => {
    assert.deepEqual(rankOf(7, [9, 7, 3]), { rank: 1, of: 3 });
    assert.deepEqual(rankOf(3, [9, 7, 3, 3]), { rank: 0, of: 3 });
    assert.deepEqual(rankOf(4, [9, 7, 3]), { rank: 0, of: 1 });
  });

  it('a single member snapshots every --snapshot-every entries, as before', () => {
    assert.deepEqual(run(1, [1], 100, 500, 1), [100, 200, 300, 400, 500]);
  });

  it('three members take turns, every/3 entries apart, each every `every` entries once in step', () => {
    const ids = [1, 2, 3];
    const taken = ids.map((id) => run(id, ids, 90, 1000, 1));
    assert.deepEqual(taken[0], [90, 180, 270, 360, 450, 540, 630, 720, 810, 900, 990]);
    // The second member's first turn (30) is less than half an interval in: it waits for 120.
    assert.deepEqual(taken[1]!.slice(0, 3), [120, 210, 300]);
    assert.deepEqual(taken[2]!.slice(0, 3), [60, 150, 240]);
    const all = taken.flat();
    assert.equal(new Set(all).size, all.length, 'no two members snapshot at the same index');
  });

  it('with batches of entries and after an installed snapshot, intervals stay within [every/2, 3·every/2]', () => {
    const ids = [4, 8, 15, 16, 23];
    for (const step of [1, 7, 37, 64]) {
      for (const start of [0, 5, 333]) {
        for (const id of ids) {
          const taken = run(id, ids, 100, 5000, step, start);
          let prev = start;
          for (const t of taken) {
            assert.ok(t - prev >= 50 && t - prev < 150 + step, `member ${id} step ${step} start ${start}: ${prev} -> ${t}`);
            prev = t;
          }
          assert.ok(5000 - prev < 150 + step, `member ${id} step ${step}: last snapshot ${prev} of 5000`);
        }
      }
    }
  });

  it('the bytes bound is never raised: the first member at --snapshot-bytes, later ones a little earlier', () => {
    const due = (self: number, bytesSince: number): boolean =>
      snapshotDue({ applied: 10, lastSnapshot: 0, bytesSince, every: 1_000_000, bytes: 6000, lastSize: 0, rank: rankOf(self, [1, 2, 3]) });
    assert.equal(due(1, 5999), false);
    assert.equal(due(1, 6000), true);
    assert.equal(due(2, 4999), false);
    assert.equal(due(2, 5000), true);
    assert.equal(due(3, 3999), false);
    assert.equal(due(3, 4000), true);
  });

  it('after a large snapshot the next waits until as many bytes were applied (at most the cap), so copying the state costs about a byte per byte applied', () => {
    const MiB = 1024 * 1024;
    const due = (lastSize: number, bytesSince: number, applied = 1000): boolean =>
      snapshotDue({ applied, lastSnapshot: 0, bytesSince, every: 100, bytes: 64 * MiB, lastSize, rank: { rank: 0, of: 1 } });
    // Below AMORTIZE_FROM the entries decide, as before.
    assert.equal(due(AMORTIZE_FROM - 1, 0), true);
    // A 100 MiB snapshot: entries far past --snapshot-every are not enough, 100 MiB of them are.
    assert.equal(due(100 * MiB, 100 * MiB - 1), false);
    assert.equal(due(100 * MiB, 100 * MiB), true);
    // A huge one waits for the cap only (it bounds the log a restart replays).
    assert.equal(due(10 * AMORTIZE_CAP, AMORTIZE_CAP - 1), false);
    assert.equal(due(10 * AMORTIZE_CAP, AMORTIZE_CAP), true);
  });

  it('a state that keeps growing is copied a bounded number of times: total bytes copied stay within a small multiple of the bytes applied', () => {
    // 1,000,000 entries of 330 bytes, the state growing by 350 bytes per entry (history kept).
    const count = (lastSizeOf: (applied: number) => number, amortized: boolean): { snapshots: number; copied: number } => {
      let last = 0;
      let lastSize = 0;
      let snapshots = 0;
      let copied = 0;
      for (let applied = 1000; applied <= 1_000_000; applied += 1000) {
        const d = snapshotDue({ applied, lastSnapshot: last, bytesSince: (applied - last) * 330, every: 100_000, bytes: 64 * 1024 * 1024, lastSize: amortized ? lastSize : 0, rank: { rank: 0, of: 1 } });
        if (!d) continue;
        last = applied;
        lastSize = lastSizeOf(applied);
        snapshots++;
        copied += lastSize;
      }
      return { snapshots, copied };
    };
    const size = (applied: number): number => applied * 350;
    const before = count(size, false);
    const now = count(size, true);
    assert.equal(before.snapshots, 10);
    assert.ok(now.snapshots <= 5, `${now.snapshots} snapshots`);
    assert.ok(now.copied <= 2 * 1_000_000 * 330, `copied ${now.copied} bytes for ${1_000_000 * 330} applied`);
    assert.ok(before.copied > 5 * 1_000_000 * 330, `entry schedule alone: ${before.copied}`);
  });
});
