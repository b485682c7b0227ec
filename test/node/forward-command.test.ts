// A follower's forwarded write and what its answer or its loss means (src/node/forward-command.ts),
// with a fake leader: "not leader" is null (nothing proposed: wait for the next leader), the
// leader's error comes back as this member's own with its code, a lost reply of a command with a
// client id is "unknown" at once, and one without is settled by this member's own log.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Command, ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import type { ForwardReply } from '../../proto/gen/placement/v1/peer.js';
import { LeaderUnreachableError, PlacementError } from '../../src/errors.js';
import { errorOfReply, forwardCommand, type ForwardHost } from '../../src/node/forward-command.js';
import { ForwardOutcomes } from '../../src/node/forward-outcomes.js';

const put = (clientId: string): Command =>
  Command.fromPartial({ clientId, seq: clientId ? 1 : 0, op: { $case: 'etcdPut', value: { key: Buffer.from('k'), value: Buffer.from('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } } });
const ok = (revision: number): CommandResult => ({ code: ResultCode.RESULT_OK, revision, message: '', payload: undefined }) as unknown as CommandResult;
const reply = (over: Partial<ForwardReply>): ForwardReply => ({ errorCode: 0, errorMessage: '', leaderId: 1, result: undefined, term: 3, members: [], leaderLastIndex: 0, memberId: 0, ...over });
const silent = { info: () => {}, warn: () => {}, debug: () => {}, error: () => {} } as unknown as ForwardHost['log'];

function host(forward: ForwardHost['forward'], forwards = new ForwardOutcomes(2)): ForwardHost & { sent: number[] } {
  const sent: number[] = [];
  return {
    sent,
    term: () => 3,
    forward: (to, req, deadline) => {
      sent.push(req.term ?? 0);
      return forward(to, req, deadline);
    },
    forwards,
    addressOf: (id) => `10.0.0.${id}:2379`,
    log: silent,
  };
}

describe('forwarding a write to the leader', () => {
  it('returns the result, null on "not leader", and the leader\'s error with its code', async () => {
    const h = host(async () => reply({ result: ok(7) }));
    assert.deepEqual(await forwardCommand(h, 1, put('c'), Date.now() + 5000), ok(7));
    assert.deepEqual(h.sent, [3], 'the forward names the term this member knows');
    assert.equal(await forwardCommand(host(async () => reply({ errorCode: grpc.status.FAILED_PRECONDITION, errorMessage: 'not leader (member 1)' })), 1, put('c'), Date.now() + 5000), null);
    await assert.rejects(forwardCommand(host(async () => reply({ errorCode: grpc.status.NOT_FOUND, errorMessage: 'lease not found', leaderId: 1 })), 1, put('c'), Date.now() + 5000), (e: PlacementError) => {
      assert.equal(e.code, 'NOT_FOUND');
      assert.equal(e.message, 'lease not found');
      assert.equal(e.leaderId, 1);
      return true;
    });
    // A code this member has no name for is INTERNAL, never dropped.
    assert.equal(errorOfReply({ errorCode: 99, errorMessage: 'odd', leaderId: 0 }, () => '').code, 'INTERNAL');
  });

  it('a lost reply: unknown at once with a client id; settled by the log without one', async () => {
    const lost = Object.assign(new Error('connection reset'), { code: grpc.status.UNAVAILABLE, details: 'connection reset' });
    const withId = await forwardCommand(host(async () => Promise.reject(lost)), 1, put('c'), Date.now() + 5000);
    assert.ok(withId instanceof LeaderUnreachableError);
    assert.equal(withId.fate, 'unknown');

    // Without a client id the member waits for its own log: here the entry is applied.
    const forwards = new ForwardOutcomes(2);
    const cmd = put('');
    let applied!: () => void;
    const h = host(async () => {
      // The leader proposed it (the stamp is in the command by now) and the reply is lost.
      applied = () => forwards.applied(Command.encode(cmd).finish(), 3, ok(9));
      throw lost;
    }, forwards);
    const outcome = forwardCommand(h, 1, cmd, Date.now() + 5000);
    await new Promise((r) => setImmediate(r));
    applied();
    assert.deepEqual(await outcome, ok(9));
    assert.equal(forwards.size, 0, 'the stamp is released');

    // Neither applied nor overtaken by the deadline: the outcome is unknown, and said so.
    const never = forwardCommand(host(async () => Promise.reject(Object.assign(new Error('deadline'), { code: grpc.status.DEADLINE_EXCEEDED, details: 'deadline' }))), 1, put(''), Date.now() + 50);
    await assert.rejects(never, (e: PlacementError) => e.code === 'DEADLINE_EXCEEDED' && /outcome is unknown/.test(e.message));
  });
});
