// The shard-leader checker on hand-made histories: a clean history passes; a leader change without
// a new epoch, an epoch going back, two leaders at one epoch, a leader outside the replicas and a
// broker told it leads at an epoch it does not are each reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkShardLeaders, type LeaderClaim, type ShardVersion } from './checker/shards.js';

const v = (revision: number, leader: number, epoch: number, replicas = [1, 2]): ShardVersion => ({ revision, shard: 's', leader, epoch, replicas });
const good = [v(5, 1, 1), v(9, 2, 2, [2, 3]), v(12, 2, 2, [2, 3])];
const claims: LeaderClaim[] = [
  { broker: 1, shard: 's', epoch: 1 },
  { broker: 2, shard: 's', epoch: 2 },
];

test('epochs that rise with each leader change, and leader events that match, pass', () => {
  const r = checkShardLeaders(good, claims);
  assert.equal(r.ok, true, r.message);
});

test('a leader change without a new epoch is reported', () => {
  const r = checkShardLeaders([v(5, 1, 1), v(9, 2, 1)], []);
  assert.match(r.message, /leader changed from 1 to 2 at revision 9 without a new epoch/);
});

test('an epoch going back is reported', () => {
  assert.match(checkShardLeaders([v(5, 1, 2), v(9, 1, 1)], []).message, /epoch went back from 2 to 1/);
});

test('two leaders at one epoch (via a leaderless version between them) are reported', () => {
  assert.match(checkShardLeaders([v(5, 1, 1), v(7, 0, 1), v(9, 2, 1)], []).message, /epoch 1 names two leaders, 1 and then 2/);
});

test('a leader outside the replicas is reported', () => {
  assert.match(checkShardLeaders([v(5, 3, 1)], []).message, /leader 3 at revision 5 is not one of its replicas/);
});

test('a broker told it leads at an epoch whose committed leader is another is reported', () => {
  const r = checkShardLeaders(good, [...claims, { broker: 1, shard: 's', epoch: 2 }]);
  assert.equal(r.ok, false);
  assert.match(r.message, /broker 1 was told it leads s at epoch 2, but the committed leader at that epoch is 2/);
});
