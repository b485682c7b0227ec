// Keep-alive batching (src/lease/renewals.ts): keep-alives arriving within the window become ONE
// renewal command; each is answered only when that command's result comes back (applied), with
// its lease or null; a failed command fails every keep-alive it carried. The proposer is a fake
// that holds results until the test releases them, and the window is driven by mock timers.
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { RenewalBatcher } from '../../src/lease/renewals.js';
import { MAX_RENEW_IDS } from '../../src/validation/command.js';
import { ResultCode, type Command, type CommandResult, type Lease } from '../../proto/gen/placement/v1/command.js';

interface Proposed {
  ids: number[];
  resolve(r: CommandResult): void;
  reject(e: unknown): void;
}

function harness(batchMs = 10) {
  const proposed: Proposed[] = [];
  const batches: number[] = [];
  const b = new RenewalBatcher({
    batchMs,
    timeoutMs: 1000,
    onBatch: (n) => batches.push(n),
    propose: (cmd: Command) =>
      new Promise<CommandResult>((resolve, reject) => {
        assert.equal(cmd.op?.$case, 'leaseRenew');
        proposed.push({ ids: cmd.op.$case === 'leaseRenew' ? cmd.op.value.ids : [], resolve, reject });
      }),
  });
  return { b, proposed, batches };
}

const lease = (id: number): Lease => ({ id, ttlMs: 5000, expiresAtMs: 10_000 + id, keys: 0 });
const ok = (leases: Lease[]): CommandResult => ({ code: ResultCode.RESULT_OK, revision: 1, message: '', leases }) as unknown as CommandResult;

describe('lease renewals: keep-alive batching', () => {
  it('keep-alives within the window share one command and are answered only once it is applied', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { b, proposed, batches } = harness();
      const answers: Array<[number, Lease | null]> = [];
      const ps = [1, 2, 3, 2, 9].map((id) => b.renew(id).then((l) => answers.push([id, l])));
      assert.equal(proposed.length, 0, 'nothing proposed before the window closes');
      mock.timers.tick(10);
      assert.equal(proposed.length, 1, 'one command for the whole window');
      assert.deepEqual(proposed[0]!.ids, [1, 2, 3, 9], 'each lease once');
      assert.deepEqual(batches, [4]);
      await Promise.resolve();
      assert.deepEqual(answers, [], 'no keep-alive is answered before its renewal is applied');
      const later = b.renew(4);
      mock.timers.tick(10);
      assert.equal(proposed.length, 2, 'a keep-alive after the window goes in the next command');
      proposed[0]!.resolve(ok([lease(1), lease(2), lease(3)])); // 9 does not exist
      await Promise.all(ps);
      assert.deepEqual(
        answers.sort((x, y) => x[0] - y[0]),
        [
          [1, lease(1)],
          [2, lease(2)],
          [2, lease(2)],
          [3, lease(3)],
          [9, null],
        ],
      );
      proposed[1]!.reject(new Error('leadership lost'));
      await assert.rejects(later, /leadership lost/);
    } finally {
      mock.timers.reset();
    }
  });

  it('a refused command fails every keep-alive it carried; a full batch goes at once; close() fails what waits', async () => {
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const { b, proposed } = harness();
      const p = b.renew(5);
      mock.timers.tick(10);
      proposed[0]!.resolve({ code: ResultCode.RESULT_INVALID, revision: 0, message: 'too many ids', leases: [] } as unknown as CommandResult);
      await assert.rejects(p, /too many ids/);

      const many = Array.from({ length: MAX_RENEW_IDS }, (_, i) => b.renew(i + 100));
      assert.equal(proposed.length, 2, `${MAX_RENEW_IDS} distinct leases fill a command: proposed without waiting`);
      assert.equal(proposed[1]!.ids.length, MAX_RENEW_IDS);
      proposed[1]!.resolve(ok([]));
      assert.deepEqual(new Set(await Promise.all(many)), new Set([null]));

      const waiting = b.renew(7);
      b.close(new Error('node is shutting down'));
      await assert.rejects(waiting, /shutting down/);
      await assert.rejects(b.renew(8), /stopped/);
    } finally {
      mock.timers.reset();
    }
  });

  it('each keep-alive waits at most its own wait (capped by the window); the most impatient one sends the command', () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const { b, proposed } = harness(200);
      void b.renew(1, 100);
      mock.timers.tick(99);
      assert.equal(proposed.length, 0, 'not before its wait is up');
      mock.timers.tick(1);
      assert.deepEqual(proposed.map((p) => p.ids), [[1]], 'sent when its wait is up');

      void b.renew(2, 5000); // capped at the window: 200
      mock.timers.tick(150);
      void b.renew(3, 20); // more impatient: pulls the command earlier
      mock.timers.tick(19);
      assert.equal(proposed.length, 1);
      mock.timers.tick(1);
      assert.deepEqual(proposed[1]!.ids, [2, 3], 'one command for both, when the shorter wait is up');

      void b.renew(4, 5000);
      mock.timers.tick(199);
      assert.equal(proposed.length, 2, 'a long wait is capped at the window');
      void b.renew(5, 150); // later than the armed flush: does not postpone it
      mock.timers.tick(1);
      assert.deepEqual(proposed[2]!.ids, [4, 5]);
      for (const p of proposed) p.resolve(ok([]));
    } finally {
      mock.timers.reset();
    }
  });
});
