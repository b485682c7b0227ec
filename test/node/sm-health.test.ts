// The state of trust in a member's state machine: what readyz says and what reads get.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachineHealth, isStateMachineDamage } from '../../src/node/sm-health.js';
import { StateMachineCorruptionError } from '../../storage/index.js';
import { PlacementError } from '../../src/errors.js';

test('a damaged state machine: readyz fails naming the damage, reads get UNAVAILABLE, until it is rebuilt', () => {
  const h = new StateMachineHealth();
  assert.equal(h.readyCheck().ok, true);
  h.guardRead();
  h.fault = '/d/sm/db-000003/000005.ldb at offset 4096: data block checksum mismatch';
  h.rebuilding = true;
  const c = h.readyCheck();
  assert.equal(c.ok, false);
  assert.match(c.detail ?? "", /000005\.ldb at offset 4096: data block checksum mismatch.*rebuilding from the snapshot and the log/);
  assert.throws(() => h.guardRead(), (e: unknown) => e instanceof PlacementError && e.code === 'UNAVAILABLE' && /read from another member/.test(e.message));
  h.stuck = 'no usable snapshot file. Way back: --rejoin';
  assert.match(h.readyCheck().detail ?? "", /cannot rebuild: no usable snapshot file/);
  h.fault = null;
  h.stuck = null;
  assert.equal(h.readyCheck().ok, true);
});

test('what counts as state-machine damage', () => {
  assert.equal(isStateMachineDamage(new StateMachineCorruptionError('/d', [{ file: '/d/x.ldb', reason: 'bad' }])), true);
  assert.equal(isStateMachineDamage(Object.assign(new Error('Corruption: block checksum mismatch'), { code: 'LEVEL_CORRUPTION' })), true);
  assert.equal(isStateMachineDamage(Object.assign(new Error('Database failed to open'), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: { code: 'LEVEL_CORRUPTION', message: 'Corruption: CURRENT file does not end with newline' } })), true);
  assert.equal(isStateMachineDamage(Object.assign(new Error('Database is not open'), { code: 'LEVEL_DATABASE_NOT_OPEN' })), false);
  assert.equal(isStateMachineDamage(new Error('ENOSPC: no space left on device')), false);
});
