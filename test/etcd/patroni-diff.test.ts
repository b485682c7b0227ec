// Patroni's etcd3 DCS (Debian's patroni 3.0.2, unchanged, over etcd's JSON gateway), compared with
// etcd 3.4 without PostgreSQL: test/etcd/python/patroni_session.py drives two Patroni "nodes" through
// the DCS calls Patroni's HA loop makes (initialize, members, the leader race and its CAS writes,
// config/failover/sync/history/status keys, watch wake-ups, a leader lease that expires) against a
// fresh 3-member etcd and a fresh 3-node Placement Center; both must print the same lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAndOurs } from '../support/differential.js';
import { pythonSession, requirePython, sameLines } from '../support/python-session.js';

describe("Patroni's etcd3 DCS, compared with etcd 3.4", () => {
  const pair = etcdAndOurs();

  test('the same HA-loop session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('patroni.dcs.etcd3', 'patroni');
    const etcd = await pythonSession('patroni_session.py', pair.etcd.endpoints[0]!);
    const ours = await pythonSession('patroni_session.py', pair.ours.nodes[0]!.grpcAddress);
    assert.ok(etcd.length >= 60, `etcd's session printed ${etcd.length} lines:\n${etcd.join('\n')}`);
    for (const line of [
      'Etcd3() for pg1 and pg2: "ok"',
      'pg1 attempt_to_acquire_leader: true',
      'pg2 watch, the leader key goes: [true, true, "woken"]',
      'pg2 attempt_to_acquire_leader: true',
      'pg2 acquires once the lease expired: [true, "after ttl"]',
    ]) {
      assert.ok(etcd.includes(line), `etcd's session lacks ${JSON.stringify(line)}:\n${etcd.join('\n')}`);
    }
    sameLines('patroni', etcd, ours);
  });
});
