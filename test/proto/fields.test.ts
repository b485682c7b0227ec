// proto/fields.ts: the top-level field walk the de-duplication fingerprint and the forward stamp
// read log entries with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from '../../proto/gen/placement/v1/command.js';
import { walkFields, type WireField } from '../../proto/fields.js';

test('walks every top-level field in wire order with its byte range and varint value; stops on false; refuses what is cut', () => {
  const cmd = Command.fromPartial({ clientId: 'c', seq: 2 ** 40, leaderTimeMs: 5, forwardedBy: 3, forwardSeq: 9, op: { $case: 'put', value: { key: 'k', value: Buffer.from('v') } } });
  const data = Command.encode(cmd).finish();
  const seen: WireField[] = [];
  walkFields(data, (f) => void seen.push({ ...f }));
  assert.deepEqual(
    seen.map((f) => [f.field, f.wireType, f.value]),
    [
      [1, 2, 0],
      [2, 0, 2 ** 40],
      [3, 0, 5],
      [5, 0, 3],
      [6, 0, 9],
      [10, 2, 0],
    ],
  );
  assert.equal(seen[0]!.start, 0);
  for (let i = 1; i < seen.length; i++) assert.equal(seen[i]!.start, seen[i - 1]!.end, 'ranges are contiguous');
  assert.equal(seen[seen.length - 1]!.end, data.length);
  const upTo: number[] = [];
  walkFields(data, (f) => (upTo.push(f.field), f.field < 3));
  assert.deepEqual(upTo, [1, 2, 3]);
  assert.throws(() => walkFields(data.subarray(0, data.length - 1), () => undefined), RangeError, 'a length past the end');
  assert.throws(() => walkFields(Uint8Array.from([0x10, 0x80]), () => undefined), RangeError, 'a truncated varint');
  assert.throws(() => walkFields(Uint8Array.from([0x0b]), () => undefined), RangeError, 'a group (wire type 3)');
});
