// The fencing checker on hand-made histories: the owner's writes pass; a write by a queued
// contender, a write while nobody holds the lock and an out-of-order history are each reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkFencing, fencedValue, type LockHistoryEvent } from './checker/locks.js';

const P = 'lk/m/';
const F = 'lk/fenced';
const put = (revision: number, key: string, createRevision: number, value = ''): LockHistoryEvent => ({ revision, type: 'put', key, createRevision, value });
const del = (revision: number, key: string): LockHistoryEvent => ({ revision, type: 'delete', key, createRevision: 0, value: '' });

// a takes the lock at 10, b queues at 11; a writes, releases; b owns and writes.
const good: LockHistoryEvent[] = [
  put(10, `${P}a`, 10),
  put(11, `${P}b`, 11),
  put(12, F, 12, fencedValue(10, 'a')),
  put(13, F, 12, fencedValue(10, 'a')),
  del(14, `${P}a`),
  put(15, F, 12, fencedValue(11, 'b')),
  del(16, `${P}b`),
];

test('writes by the owner of the lock at their revision pass', () => {
  const r = checkFencing(P, F, good);
  assert.equal(r.ok, true, r.message);
  assert.equal(r.fencedWrites, 3);
});

test('a write by a queued contender while the owner still holds the lock is reported', () => {
  const bad = [...good.slice(0, 3), put(13, F, 12, fencedValue(11, 'b')), ...good.slice(4)];
  const r = checkFencing(P, F, bad);
  assert.equal(r.ok, false);
  assert.match(r.message, /revision 13: lk\/fenced written with token 11 .* belonged to the key created at 10/);
});

test('a write after the holder released, with nobody holding the lock, is reported', () => {
  const r = checkFencing(P, F, [put(10, `${P}a`, 10), del(11, `${P}a`), put(12, F, 12, fencedValue(10, 'a'))]);
  assert.equal(r.ok, false);
  assert.match(r.message, /revision 12: .* while nobody held the lock/);
});

test('the owner is judged before the revision’s own events (a write in the revision that deletes the owner still counts as the owner’s)', () => {
  const r = checkFencing(P, F, [put(10, `${P}a`, 10), put(11, F, 11, fencedValue(10, 'a')), del(11, `${P}a`)]);
  assert.equal(r.ok, true, r.message);
});

test('a history out of revision order is reported', () => {
  const r = checkFencing(P, F, [put(10, `${P}a`, 10), put(9, F, 9, fencedValue(10, 'a'))]);
  assert.equal(r.ok, false);
  assert.match(r.message, /out of order/);
});
