// A forwarded write whose reply was lost is answered from the forwarding member's own log
// (src/node/forward-outcomes.ts): the stamp must be found in the applied entry's bytes, only for
// the member that stamped it, and the wait must end at the deadline when the entry never comes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command, ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { ForwardOutcomes, stampOf } from '../../src/node/forward-outcomes.js';

const put = (key: string): Command =>
  Command.fromPartial({ clientId: 'c', seq: 9, leaderTimeMs: Date.now(), caller: { user: 'alice', authRevision: 4 }, op: { $case: 'etcdPut', value: { key: Buffer.from(key), value: Buffer.from('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } } });
const ok = (revision: number): CommandResult => ({ code: ResultCode.RESULT_OK, revision, message: '', payload: undefined } as unknown as CommandResult);
const encode = (c: Command): Uint8Array => Command.encode(c).finish();

describe('forward outcomes', () => {
  it('reads the stamp from the encoded entry, for the member that stamped it only', () => {
    const f = new ForwardOutcomes(7, 2 ** 52 - 3);
    const cmd = put('k');
    const p = f.stamp(cmd, 4);
    assert.equal(p.seq, 2 ** 52 - 3);
    const data = encode(cmd);
    assert.equal(stampOf(data, 7), 2 ** 52 - 3);
    assert.equal(stampOf(data, 8), 0, 'another member');
    assert.equal(stampOf(encode(put('k')), 7), 0, 'not stamped');
    // Field order on the wire does not matter, and a truncated entry is no stamp at all.
    const reordered = Buffer.concat([encode(Command.fromPartial({ op: cmd.op })), Buffer.from([0x30, 5, 0x28, 7])]);
    assert.equal(stampOf(reordered, 7), 0, 'a stamp after the operation is not looked for');
    assert.equal(stampOf(Buffer.from([0x28, 7, 0x30, 0x85]), 7), 0);
    assert.equal(stampOf(Buffer.from([0x28, 7, 0x30, 5]), 7), 5);
  });

  it('answers a lost reply from the applied entry, before or after the loss is noticed', async () => {
    const f = new ForwardOutcomes(2, 100);
    const early = put('a');
    const late = put('b');
    const pe = f.stamp(early, 3);
    const pl = f.stamp(late, 3);
    assert.equal(f.size, 2);
    // Applied before the broken connection was noticed.
    f.applied(encode(early), 3, ok(41));
    assert.deepEqual(await f.outcome(pe, Date.now() + 10_000), { applied: ok(41) });
    // Applied while the member waits.
    const waiting = f.outcome(pl, Date.now() + 10_000);
    f.applied(encode(put('b')), 3, ok(50)); // the same request from another client: not this forward
    f.applied(encode(late), 3, ok(42));
    assert.deepEqual(await waiting, { applied: ok(42) });
    f.release(pe);
    f.release(pl);
    assert.equal(f.size, 0);
  });

  it('an entry of a later term applied without the stamp means it never commits; not across skipped entries', async () => {
    const f = new ForwardOutcomes(2, 100);
    const lost = f.stamp(put('a'), 5);
    const waiting = f.outcome(lost, Date.now() + 10_000);
    f.applied(encode(put('z')), 5, ok(60)); // its own term: it could still come
    f.applied(new Uint8Array(0), 6, null); // the next leader's first entry
    assert.equal(await waiting, 'never-committed');
    // Entries were skipped after the stamp (a snapshot installed): a later term proves nothing.
    const blind = f.stamp(put('b'), 6);
    f.gap();
    f.applied(new Uint8Array(0), 7, null);
    const t0 = Date.now();
    assert.equal(await f.outcome(blind, t0 + 30), 'unknown');
    assert.ok(Date.now() - t0 >= 25, 'waited for the deadline');
    // A forward stamped after the gap is judged again.
    const after = f.stamp(put('c'), 7);
    f.applied(new Uint8Array(0), 8, null);
    assert.equal(await f.outcome(after, Date.now() + 10_000), 'never-committed');
  });

  it('numbers stay below 2^53', () => {
    const f = new ForwardOutcomes(1, Number.MAX_SAFE_INTEGER - 1);
    assert.equal(f.stamp(put('x'), 1).seq, Number.MAX_SAFE_INTEGER - 1);
    assert.equal(f.stamp(put('y'), 1).seq, 1, 'wraps instead of losing precision');
  });
});
