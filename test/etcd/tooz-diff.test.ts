// tooz, OpenStack's coordination library (Debian's python3-tooz, its etcd3+http driver unchanged,
// over etcd's JSON gateway), compared with etcd 3.4: test/etcd/python/tooz_session.py runs four
// coordinators through locks (contention, timeouts, heartbeats, break, leases that expire) and group
// membership (create, join, capabilities, leave, delete and their errors, stop) against a fresh
// 3-member etcd and a fresh 3-node Placement Center; both must print the same lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAndOurs } from '../support/differential.js';
import { pythonSession, requirePython, sameLines } from '../support/python-session.js';

describe("tooz's etcd3+http driver, compared with etcd 3.4", () => {
  const pair = etcdAndOurs();

  test('the same coordination session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('tooz.coordination, tooz.drivers.etcd3gw', 'python3-tooz');
    const etcd = await pythonSession('tooz_session.py', pair.etcd.endpoints[0]!);
    const ours = await pythonSession('tooz_session.py', pair.ours.nodes[0]!.grpcAddress);
    assert.ok(etcd.length >= 100, `etcd's session printed ${etcd.length} lines:\n${etcd.join('\n')}`);
    for (const line of [
      'started, hearts beating: [[true, true], [true, false], [true, true], [true, false]]',
      'bob acquire(blocking=False) while alice holds it: false',
      'bob acquire(blocking=True) returns once alice released: [true, "waited"]',
      'get_members g1: ["alice", "bob"]',
      'get_member_capabilities g1 alice, updated: {"role": "conductor", "tags": ["a", "b"], "weight": 2}',
      'alice acquire(blocking=20) dave-res once dave\'s lease expired: [true, "after ttl"]',
      'carol still holds carol-res past the ttl: [false, true]',
      'get_groups at the end: []',
    ]) {
      assert.ok(etcd.includes(line), `etcd's session lacks ${JSON.stringify(line)}:\n${etcd.join('\n')}`);
    }
    sameLines('tooz', etcd, ours);
  });
});
