// Python's etcd clients, unchanged, against etcd 3.4 and against us: python3-etcd3gw (OpenStack's
// client, which tooz uses for locks and group membership; it speaks etcd's JSON gateway) and
// python3-etcd3 (gRPC), both from Debian. Each runs one session (test/etcd/python/*.py: KV, txn,
// leases, locks, watches, compaction, errors) against a fresh 3-member etcd and a fresh 3-node
// Placement Center, and the lines they print must be the same, revisions and error texts included.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdAndOurs } from '../support/differential.js';
import { pythonSession, requirePython, sameLines } from '../support/python-session.js';

describe('Python etcd clients, compared with etcd 3.4', () => {
  const pair = etcdAndOurs();

  test('python3-etcd3gw (the JSON gateway): the same session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('etcd3gw', 'python3-etcd3gw');
    const etcd = await pythonSession('etcd3gw_session.py', pair.etcd.endpoints[0]!);
    const ours = await pythonSession('etcd3gw_session.py', pair.ours.nodes[0]!.grpcAddress);
    assert.ok(etcd.length >= 40, `etcd's session printed ${etcd.length} lines`);
    sameLines('etcd3gw', etcd, ours);
  });

  test('python3-etcd3 (gRPC): the same session prints the same lines', { timeout: 240_000 }, async () => {
    requirePython('etcd3', 'python3-etcd3');
    const etcd = await pythonSession('etcd3_session.py', pair.etcd.endpoints[1]!);
    const ours = await pythonSession('etcd3_session.py', pair.ours.nodes[1]!.grpcAddress);
    assert.ok(etcd.length >= 40, `etcd's session printed ${etcd.length} lines`);
    sameLines('etcd3', etcd, ours);
  });
});
