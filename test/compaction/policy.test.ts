// The auto-compaction policy: etcd's flags, and the target it picks from the leader's samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_POLICY, compactionPolicy, compactionTarget, parseRetentionDuration, pruneSamples, type Sample } from '../../src/compaction/policy.js';

test('flags: the default keeps 10,000 revisions and an hour; 0 turns it off; etcd\'s forms of a retention', () => {
  assert.deepEqual(compactionPolicy('', ''), DEFAULT_POLICY);
  assert.deepEqual(DEFAULT_POLICY, { keepRevisions: 10_000, keepMs: 3_600_000 });
  assert.equal(compactionPolicy('', '0'), null);
  assert.equal(compactionPolicy('revision', '0'), null);
  assert.equal(compactionPolicy('periodic', '0'), null);
  assert.deepEqual(compactionPolicy('revision', '1000'), { keepRevisions: 1000, keepMs: 0 });
  assert.deepEqual(compactionPolicy('periodic', '2'), { keepRevisions: 0, keepMs: 7_200_000 }, 'a bare number is hours, as etcd');
  assert.deepEqual(compactionPolicy('', '30m'), { keepRevisions: 0, keepMs: 1_800_000 }, 'a retention alone is periodic, as etcd');
  assert.equal(parseRetentionDuration('1h30m'), 5_400_000);
  assert.equal(parseRetentionDuration('90s'), 90_000);
  assert.equal(parseRetentionDuration('1500ms'), 1500);
  assert.throws(() => compactionPolicy('revision', '1h'), /number of revisions/);
  assert.throws(() => compactionPolicy('periodic', '1 hour'), /not a duration/);
  assert.throws(() => compactionPolicy('periodic', 'h'), /not a duration/);
});

test('target: the older of "current - N revisions" and "the revision as of the retention ago", only forward', () => {
  const p = { keepRevisions: 100, keepMs: 60_000 };
  const samples: Sample[] = [
    { at: 0, revision: 50 },
    { at: 30_000, revision: 400 },
    { at: 60_000, revision: 900 },
  ];
  // At 60 s: the revision as of 0 s is 50; current - 100 = 800 → 50.
  assert.equal(compactionTarget(p, 60_000, 900, -1, samples), 50);
  // Already compacted there: nothing.
  assert.equal(compactionTarget(p, 60_000, 900, 50, samples), 0);
  // At 90 s: as of 30 s = 400; current 450 - 100 = 350 → 350 (keep the 100 revisions).
  assert.equal(compactionTarget(p, 90_000, 450, 50, samples), 350);
  // Nothing sampled long enough ago: nothing (a new leader waits a whole retention).
  assert.equal(compactionTarget(p, 59_999, 900, -1, samples), 0);
  // Revision mode alone.
  assert.equal(compactionTarget({ keepRevisions: 100, keepMs: 0 }, 0, 150, -1, []), 50);
  assert.equal(compactionTarget({ keepRevisions: 100, keepMs: 0 }, 0, 90, -1, []), 0, 'not below revision 1');
  // Pruning keeps the newest sample at or before now - retention, and everything after it.
  const s = [...samples, { at: 120_000, revision: 1000 }];
  pruneSamples(p, 100_000, s);
  assert.deepEqual(s.map((x) => x.at), [30_000, 60_000, 120_000]);
});
