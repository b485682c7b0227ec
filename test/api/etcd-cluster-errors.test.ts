// The etcd Cluster service answers src/membership's refusals with etcd 3.4's codes and strings
// (clients match on them); what etcd has no string for keeps our sentence. The refusals come from
// the real policy functions, so a reworded policy message that no longer maps fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { PlacementError } from '../../src/errors.js';
import { addressOfPeerUrl, toEtcdMembershipError } from '../../src/api/etcd/cluster.js';
import { checkAdd, checkPromote, checkRemove, type LeaderView } from '../../src/membership/policy.js';

const view: LeaderView = {
  selfId: 1,
  conf: { voters: [1, 2, 3], learners: [9] },
  progress: [
    { id: 1, isLearner: false, match: 100, recentActive: true },
    { id: 2, isLearner: false, match: 100, recentActive: false },
    { id: 3, isLearner: false, match: 100, recentActive: false },
    { id: 9, isLearner: true, match: 10, recentActive: true },
  ],
  lastIndex: 100,
};

const mapped = (code: PlacementError['code'], message: string | null): grpc.ServiceError => {
  assert.ok(message, 'the policy refused');
  return toEtcdMembershipError(new PlacementError(code, message)) as grpc.ServiceError;
};

test('membership refusals map to etcd 3.4 errors', () => {
  let e = mapped('FAILED_PRECONDITION', checkPromote(view, 9));
  assert.deepEqual([e.code, e.details], [grpc.status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader']);
  e = mapped('FAILED_PRECONDITION', checkPromote(view, 2));
  assert.deepEqual([e.code, e.details], [grpc.status.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member']);
  e = mapped('FAILED_PRECONDITION', checkAdd(view, 10, false));
  assert.deepEqual([e.code, e.details], [grpc.status.UNAVAILABLE, 'etcdserver: unhealthy cluster']);
  e = mapped('FAILED_PRECONDITION', checkRemove(view, 2));
  assert.deepEqual([e.code, e.details], [grpc.status.UNAVAILABLE, 'etcdserver: unhealthy cluster']);
  e = mapped('NOT_FOUND', checkRemove(view, 42));
  assert.deepEqual([e.code, e.details], [grpc.status.NOT_FOUND, 'etcdserver: member not found']);
  e = mapped('ALREADY_EXISTS', 'member 2 already has the address 127.0.0.1:5');
  assert.deepEqual([e.code, e.details], [grpc.status.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists']);
  e = mapped('ALREADY_EXISTS', checkAdd(view, 2, true));
  assert.deepEqual([e.code, e.details], [grpc.status.FAILED_PRECONDITION, 'etcdserver: member ID already exist']);
  // No etcd string: our own sentence, unchanged.
  const busy = new PlacementError('FAILED_PRECONDITION', 'another membership change is still in progress (one change at a time): retry once it has committed');
  assert.equal(toEtcdMembershipError(busy), busy);
});

test('peer URLs: http(s)://host:port is the gRPC address; anything else is etcd\'s invalid URLs', () => {
  assert.equal(addressOfPeerUrl('http://10.0.0.7:1228'), '10.0.0.7:1228');
  assert.equal(addressOfPeerUrl('https://h.example:2380/'), 'h.example:2380');
  assert.equal(addressOfPeerUrl('http://[::1]:1228'), '[::1]:1228');
  for (const bad of ['10.0.0.7:1228', 'ftp://h:1', 'http://h', 'http://h:0', 'http://h:70000', 'http://h:1/path']) {
    assert.throws(() => addressOfPeerUrl(bad), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details === 'etcdserver: given member URLs are invalid', bad);
  }
});
