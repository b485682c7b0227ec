// placement-ctl argument parsing and error → exit-code mapping, in process (no child needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { status } from '@grpc/grpc-js';
import { InvalidArgumentError as CommanderInvalidArgument } from 'commander';
import { CtlError, UsageError, classify, parseDuration, parseEndpoints, parsePositiveInt } from '../../src/cli/ctl/program.js';
import { EXIT } from '../../src/cli/ctl/exit-codes.js';
import { percentile } from '../../src/cli/ctl/perf.js';
import {
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  PlacementClientError,
  UnavailableError,
  errorFromStatus,
} from '../../src/client/index.js';

test('durations', () => {
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('5s'), 5000);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('1m'), 60_000);
  assert.equal(parseDuration('2'), 2000);
  for (const bad of ['', 'soon', '5h', '-1s', '0ms', '0.2ms']) assert.throws(() => parseDuration(bad), CommanderInvalidArgument, bad);
});

test('endpoints and integers', () => {
  assert.deepEqual(parseEndpoints('127.0.0.1:1228, 127.0.0.1:1238,127.0.0.1:1228'), ['127.0.0.1:1228', '127.0.0.1:1238']);
  assert.deepEqual(parseEndpoints('grpc://node-1.example:1228'), ['node-1.example:1228']);
  assert.deepEqual(parseEndpoints('[::1]:1228'), ['[::1]:1228']);
  for (const bad of ['', ',', 'localhost', 'host:port', 'a:1,b', 'a:0', 'a:70000']) assert.throws(() => parseEndpoints(bad), UsageError, bad);
  assert.equal(parsePositiveInt('10'), 10);
  for (const bad of ['0', '-3', '1.5', 'x', '']) assert.throws(() => parsePositiveInt(bad), CommanderInvalidArgument, bad);
});

test('errors map to documented exit codes', () => {
  assert.equal(classify(new UnavailableError('cannot reach any of a:1: connection refused')).exitCode, EXIT.UNAVAILABLE);
  assert.equal(classify(new DeadlineExceededError('slow')).exitCode, EXIT.UNAVAILABLE);
  assert.equal(classify(new NotFoundError('x')).exitCode, EXIT.NOT_FOUND);
  assert.equal(classify(new InvalidArgumentError('key is empty')).exitCode, EXIT.REJECTED);
  assert.equal(classify(errorFromStatus(status.FAILED_PRECONDITION, 'lease gone')).exitCode, EXIT.REJECTED);
  assert.equal(classify(errorFromStatus(status.INTERNAL, 'boom')).exitCode, EXIT.FAILURE);
  assert.equal(classify(new PlacementClientError(status.UNKNOWN, '?')).exitCode, EXIT.FAILURE);
  assert.equal(classify(new UsageError('bad')).exitCode, EXIT.USAGE);
  assert.equal(classify(new CtlError('nope', EXIT.NOT_FOUND)).exitCode, EXIT.NOT_FOUND);
  assert.equal(classify(new Error('unexpected')).exitCode, EXIT.FAILURE);
  assert.equal(new Set(Object.values(EXIT)).size, Object.values(EXIT).length, 'exit codes are distinct');
});

test('percentiles (nearest rank)', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(xs, 50), 50);
  assert.equal(percentile(xs, 99), 99);
  assert.equal(percentile(xs, 100), 100);
  assert.equal(percentile([7], 99), 7);
  assert.equal(percentile([], 50), 0);
});
