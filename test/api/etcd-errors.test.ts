// The cluster's own conditions answer etcd 3.4's Unavailable errors on the etcd API (clientv3's
// rpctypes turns each string into its typed error), built by the same functions the node uses,
// so a reworded node message that no longer maps fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { leaderUnreachable, PlacementError } from '../../src/errors.js';
import { toEtcdError } from '../../src/api/etcd/errors.js';
import { LEADER_ADDRESS_KEY, LEADER_ID_KEY } from '../../src/grpc/services.js';

const mapped = (e: PlacementError): [number, string] => {
  const g = toEtcdError(e);
  return [g.code, g.details];
};

test('the leader unreachable, a timeout, no leader and a stop map to etcd 3.4 errors', () => {
  for (const fate of ['not-sent', 'not-committed', 'unknown'] as const) {
    const pe = leaderUnreachable(3, '10.0.0.3:2379', 'No connection established. Last error: connect ECONNREFUSED 10.0.0.3:2379', fate);
    assert.deepEqual(mapped(pe), [grpc.status.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost']);
    // The leader it could not reach is still named, for clients that redirect (our SDK).
    const md = toEtcdError(pe).metadata;
    assert.deepEqual([md.get(LEADER_ID_KEY)[0], md.get(LEADER_ADDRESS_KEY)[0]], ['3', '10.0.0.3:2379']);
  }
  assert.match(leaderUnreachable(3, '', 'x', 'not-sent').message, /nothing was sent to it$/);
  assert.match(leaderUnreachable(3, '', 'x', 'not-committed').message, /nothing was applied$/);
  assert.match(leaderUnreachable(3, '', 'x', 'unknown').message, /outcome unknown/);
  assert.deepEqual(mapped(new PlacementError('DEADLINE_EXCEEDED', 'forwarded write to leader 2 timed out; its outcome is unknown')), [grpc.status.UNAVAILABLE, 'etcdserver: request timed out']);
  assert.deepEqual(mapped(new PlacementError('UNAVAILABLE', 'no leader (member 1 is follower in term 4); retry later')), [grpc.status.UNAVAILABLE, 'etcdserver: no leader']);
  assert.deepEqual(mapped(new PlacementError('UNAVAILABLE', 'node is shutting down')), [grpc.status.UNAVAILABLE, 'etcdserver: server stopped']);
  // The native API keeps our sentence: only the etcd API speaks etcd's.
  assert.deepEqual(mapped(new PlacementError('UNAVAILABLE', 'something else')), [grpc.status.UNAVAILABLE, 'something else']);
});
