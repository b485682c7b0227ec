// Outcome classification of a single-attempt operation: only errors that prove the request
// never took effect may be 'fail'; everything else is indeterminate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { classify } from './workload.js';
import { leaderUnreachable } from '../../src/errors.js';

const err = (code: grpc.status, details: string): grpc.ServiceError =>
  Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });

test('definite rejections are failures, unknown outcomes are indeterminate', () => {
  assert.equal(classify(err(grpc.status.INVALID_ARGUMENT, 'key must not be empty')), 'fail');
  assert.equal(classify(err(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1')), 'fail');
  // The server itself could not forward: the request reached a node; it says the outcome is unknown.
  assert.equal(
    classify(err(grpc.status.UNAVAILABLE, 'cannot reach leader 2: No connection established. Last error: read ECONNRESET; outcome unknown, retry')),
    'info',
  );
  // A member that could not forward and says the write was not applied: a failure the checker tests.
  for (const fate of ['not-sent', 'not-committed'] as const) {
    assert.equal(classify(err(grpc.status.UNAVAILABLE, leaderUnreachable(2, '', 'Connection dropped', fate).message)), 'fail', fate);
  }
  assert.equal(classify(err(grpc.status.UNAVAILABLE, leaderUnreachable(2, '', 'Connection dropped', 'unknown').message)), 'info');
  assert.equal(classify(err(grpc.status.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost')), 'info');
  assert.equal(classify(err(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded after 1.000s')), 'info');
  assert.equal(classify(err(grpc.status.UNAVAILABLE, 'Connection dropped')), 'info');
  assert.equal(classify(err(grpc.status.UNAVAILABLE, 'leadership lost before the write was applied; its outcome is unknown')), 'info');
  assert.equal(classify(err(grpc.status.FAILED_PRECONDITION, 'not leader')), 'info');
  assert.equal(classify(err(grpc.status.INTERNAL, 'boom')), 'info');
});
