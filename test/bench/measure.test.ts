// The bench's read/write ratio lines: each read row against the writes at its own level.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readRatios, type Result } from '../../bench/measure.js';

const row = (name: string, inFlight: number, perSecond: number): Result => ({ name, inFlight, ops: perSecond * 5, errors: 0, seconds: 5, p50: 1, p99: 2 });
const isWrite = (r: Result): boolean => r.name.startsWith('write');

describe('readRatios', () => {
  it('divides each read row by the writes at the same in-flight level', () => {
    const lines = readRatios([row('write', 16, 3000), row('write', 64, 6000), row('write', 256, 8000), row('read lin', 64, 19_800), row('read lin', 256, 40_000)], isWrite);
    assert.deepEqual(lines, ['read lin at 64 in flight: 3.30× the writes/s at 64', 'read lin at 256 in flight: 5.00× the writes/s at 256']);
  });

  it('falls back to the highest write level below the read level, and skips rows with no write below them', () => {
    const lines = readRatios([row('write', 16, 3000), row('write', 64, 6000), row('read ser', 8, 9000), row('read ser', 256, 30_000)], isWrite);
    assert.deepEqual(lines, ['read ser at 256 in flight: 5.00× the writes/s at 64']);
  });
});
