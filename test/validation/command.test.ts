// The limits every replicated command obeys (src/validation/command.ts), operation by operation,
// in the words a client gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from '../../proto/gen/placement/v1/command.js';
import { commandProblem } from '../../src/validation/command.js';

const lim = { maxKeyBytes: 8, maxValueBytes: 16, maxLeaseTtlMs: 60_000 };
const cmd = (op: Command['op']): Command => ({ clientId: '', seq: 0, leaderTimeMs: 0, op });
const check = (op: Command['op']): string | null => commandProblem(cmd(op), lim);
const user = (name: string, over: object = {}) => ({ name, passwordHash: Buffer.alloc(64), salt: Buffer.alloc(16), permissions: [], createdAtMs: 0, updatedAtMs: 0, ...over });

test('keys, values and compare-and-swap expectations', () => {
  assert.equal(check({ $case: 'put', value: { key: 'k', value: Buffer.alloc(16), lease: 7, prevKv: false } }), null);
  assert.equal(check({ $case: 'put', value: { key: '', value: Buffer.alloc(1), lease: 0, prevKv: false } }), 'key must not be empty');
  assert.equal(check({ $case: 'put', value: { key: 'é'.repeat(5), value: Buffer.alloc(1), lease: 0, prevKv: false } }), 'key is 10 bytes, over the limit of 8 bytes (max-key-bytes)');
  assert.equal(check({ $case: 'put', value: { key: 'k', value: Buffer.alloc(17), lease: 0, prevKv: false } }), 'value is 17 bytes, over the limit of 16 bytes (max-value-bytes)');
  assert.equal(check({ $case: 'delete', value: { key: 'k'.repeat(9), prevKv: false } }), 'key is 9 bytes, over the limit of 8 bytes (max-key-bytes)');
  const cas = (expect: unknown) => check({ $case: 'cas', value: { key: 'k', value: Buffer.alloc(1), lease: 0, expect: expect as never } });
  assert.equal(cas({ $case: 'expectedModRevision', value: 3 }), null);
  assert.match(cas(undefined)!, /needs one expectation/);
  assert.match(cas({ $case: 'expectedValue', value: Buffer.alloc(17) })!, /value is 17 bytes/);
  assert.equal(cas({ $case: 'expectAbsent', value: false }), 'expect_absent must be true when set');
});

test('leases: ids below 2^53 (0 on a grant: the applier picks), TTL within 1..max-lease-ttl-ms, bounded renewals', () => {
  assert.equal(check({ $case: 'leaseGrant', value: { id: 1, ttlMs: 60_000 } }), null);
  assert.equal(check({ $case: 'leaseGrant', value: { id: 0, ttlMs: 1000 } }), null);
  assert.equal(check({ $case: 'leaseGrant', value: { id: 2 ** 53, ttlMs: 1000 } }), 'lease id 9007199254740992 is outside 0..2^53-1');
  assert.equal(check({ $case: 'leaseGrant', value: { id: -1, ttlMs: 1000 } }), 'lease id -1 is outside 0..2^53-1');
  assert.equal(check({ $case: 'leaseRenew', value: { ids: [1, 2, 3] } }), null);
  assert.equal(check({ $case: 'leaseRenew', value: { ids: [1, 0] } }), 'lease id must be non-zero');
  assert.match(check({ $case: 'leaseRenew', value: { ids: new Array<number>(100_001).fill(1) } })!, /at most 100000 leases per renewal/);
  assert.equal(check({ $case: 'leaseExpire', value: { id: 0, expiresAtMs: 1, term: 1 } }), 'lease id must be non-zero');
  assert.equal(check({ $case: 'leaseLimits', value: { maxLeases: 0, maxKeysPerLease: 5 } }), 'lease limits must be at least 1');
  assert.equal(check({ $case: 'leaseLimits', value: { maxLeases: 10, maxKeysPerLease: 5 } }), null);
  assert.equal(check({ $case: 'leaseGrant', value: { id: 1, ttlMs: 60_001 } }), 'lease TTL 60001 ms is outside 1..60000 ms (max-lease-ttl-ms)');
  assert.match(check({ $case: 'leaseGrant', value: { id: 1, ttlMs: 0 } })!, /outside/);
  assert.match(check({ $case: 'leaseGrant', value: { id: 1, ttlMs: -5 } })!, /outside/);
  assert.equal(check({ $case: 'leaseRevoke', value: { id: 0 } }), 'lease id must be non-zero');
  assert.equal(check({ $case: 'leaseKeepAlive', value: { id: 9 } }), null);
});

test('users and config entries: names as the admin API accepts them, bounded fields', () => {
  assert.equal(check({ $case: 'userPut', value: { user: user('alice.b@x-1'), createOnly: true, updateOnly: false } }), null);
  assert.match(check({ $case: 'userPut', value: { user: user('bad name'), createOnly: true, updateOnly: false } })!, /user name "bad name" is invalid/);
  assert.match(check({ $case: 'userPut', value: { user: user('a'.repeat(129)), createOnly: true, updateOnly: false } })!, /is invalid/);
  assert.equal(check({ $case: 'userPut', value: { user: undefined, createOnly: true, updateOnly: false } }), 'user is missing');
  assert.match(check({ $case: 'userPut', value: { user: user('a', { salt: Buffer.alloc(2000) }), createOnly: true, updateOnly: false } })!, /oversized/);
  assert.match(check({ $case: 'userPut', value: { user: user('a', { permissions: Array.from({ length: 1001 }, () => ({ prefix: '', read: true, write: false })) }), createOnly: true, updateOnly: false } })!, /at most 1000 permissions/);
  assert.match(check({ $case: 'userPut', value: { user: user('a', { permissions: [{ prefix: 'p'.repeat(9), read: true, write: false }] }), createOnly: true, updateOnly: false } })!, /permission prefix is 9 bytes/);
  assert.match(check({ $case: 'userDelete', value: { name: '' } })!, /is invalid/);
  assert.equal(check({ $case: 'configSet', value: { name: 'brokers/limits:v1', value: Buffer.alloc(16) } }), null);
  assert.match(check({ $case: 'configSet', value: { name: 'x y', value: Buffer.alloc(1) } })!, /config entry name "x y" is invalid/);
  assert.match(check({ $case: 'configSet', value: { name: 'x', value: Buffer.alloc(17) } })!, /value is 17 bytes/);
  assert.equal(check({ $case: 'configDelete', value: { name: 'x' } }), null);
});

test('a command without an operation (or with one this version does not know) is refused', () => {
  assert.equal(check(undefined), 'command carries no operation');
  assert.equal(check({ $case: 'somethingNew', value: {} } as never), 'unknown operation somethingNew');
});
