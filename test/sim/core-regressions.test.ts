// Core bugs the simulator ran into, reduced to minimal deterministic scenarios (core-repro.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lostAppendNeverResent, snapshotThenAppendBeforeReady } from './core-repro.js';

test('a follower that restores a snapshot and then accepts an Append before ready() persists every appended entry', () => {
  const r = snapshotThenAppendBeforeReady();
  assert.ok(r.ok, `Ready asks to persist entries [${r.got}] after snapshot 3, expected [4,5,6]`);
});

test('a leader resends to a follower whose Appends were silently lost, without new proposals', () => {
  const r = lostAppendNeverResent();
  assert.ok(r.ok, `follower 2 stuck at ${r.followerLast}, leader at ${r.leaderLast}`);
});
