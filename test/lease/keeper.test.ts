// The node's lessor (src/lease/keeper.ts) under mock timers and a mock clock: a new leader acts
// only once it applied its first entry, then proposes an expiry (with its term and the expiry it
// saw) at each lease's deadline — grace included for inherited leases — retries one that came
// back void while the lease is unchanged, skips one renewed meanwhile, and stops on demotion; and
// the leader's answered-at-once keep-alives (renewNow).
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseKeeper } from '../../src/lease/keeper.js';
import { ResultCode, type Command, type CommandResult, type Lease } from '../../proto/gen/placement/v1/command.js';
import type { LeaseChange } from '../../storage/leases/leases.js';
import type { StateMachine } from '../../storage/index.js';

const silent = { info: () => undefined, warn: () => undefined, debug: () => undefined, error: () => undefined } as never;
const cfg = { tickMs: 50, electionTicks: 10, requestTimeoutMs: 1000, maxLeases: 100, maxKeysPerLease: 100, leaseRenewBatchMs: 10 };

function fakeSm(leases: Lease[]) {
  const sm = {
    appliedIndex: 5,
    leaseObserver: null as ((c: LeaseChange[]) => void) | null,
    listLeases: async () => leases,
    leaseLimits: async () => ({ maxLeases: 100, maxKeysPerLease: 100 }),
  };
  return sm;
}

describe('lease keeper: expiry on the leader', () => {
  it('acts once its first entry is applied, proposes each expiry at its deadline with its term, retries a void one, stops when demoted', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 100_000 });
    try {
      const proposed: Command[] = [];
      const answers: Array<(r: CommandResult) => void> = [];
      const k = new LeaseKeeper(cfg, {
        log: silent,
        propose: (cmd) => {
          proposed.push(cmd);
          return new Promise((resolve) => answers.push(resolve));
        },
      });
      // Lease 1 expires at 100,500, lease 2 at 105,000; the leader takes office at 105,000.
      const sm = fakeSm([
        { id: 1, ttlMs: 2000, expiresAtMs: 100_500, keys: 0 },
        { id: 2, ttlMs: 5000, expiresAtMs: 105_000, keys: 0 },
      ]);
      await k.open(sm as unknown as StateMachine);
      k.leadership(7, 3); // leader of term 3 whose first entry is index 7; applied is 5
      mock.timers.tick(5000);
      assert.equal(proposed.length, 0, 'nothing before the first entry of its term is applied');
      k.applied(7); // promoted now, at 105,000
      assert.equal(k.timing.graceMs, 1000);
      const expiries = (): unknown[] => proposed.filter((c) => c.op?.$case === 'leaseExpire').map((c) => (c.op as { value: unknown }).value);
      mock.timers.tick(0);
      // Lease 1: its expiry plus the grace (101,500) is past: no new leader extends it further.
      assert.deepEqual(expiries(), [{ id: 1, expiresAtMs: 100_500, term: 3 }]);
      // Lease 2 expires at 105,000 but is inherited: holders get the grace after promotion.
      mock.timers.tick(999);
      assert.equal(expiries().length, 1, 'an inherited lease gets the grace');
      mock.timers.tick(1);
      assert.deepEqual(expiries(), [
        { id: 1, expiresAtMs: 100_500, term: 3 },
        { id: 2, expiresAtMs: 105_000, term: 3 },
      ]);
      // Lease 1's expiry comes back void (say a renewal raced it, but none was applied): retried.
      const at = proposed.findIndex((c) => c.op?.$case === 'leaseExpire');
      answers[at]!({ code: ResultCode.RESULT_COMPARE_FAILED, revision: 0, message: '', leases: [] } as unknown as CommandResult);
      // Lease 2 was renewed meanwhile (applied): its expiry is void and it is not retried.
      sm.leaseObserver!([{ id: 2, lease: { id: 2, ttlMs: 5000, expiresAtMs: 111_000, keys: 0 } }]);
      answers[at + 1]!({ code: ResultCode.RESULT_COMPARE_FAILED, revision: 0, message: '', leases: [] } as unknown as CommandResult);
      await Promise.resolve();
      await Promise.resolve();
      const before = proposed.length;
      mock.timers.tick(100);
      await Promise.resolve();
      const retried = proposed.slice(before).map((c) => (c.op as { value: { id: number } }).value.id);
      assert.deepEqual(retried, [1], 'lease 1 retried; lease 2 (renewed) not');
      // Demoted: lease 2's new deadline passes without a proposal.
      k.leadership(0, 4);
      const n = proposed.length;
      mock.timers.tick(10_000);
      assert.equal(proposed.length, n, 'a follower proposes no expiry');
      k.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('answers a keep-alive at once on the leader while the replicated expiry covers it; past D/2 the first one renews and waits; never on a follower', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 100_000 });
    try {
      const proposed: Command[] = [];
      const answers: Array<(r: CommandResult) => void> = [];
      const k = new LeaseKeeper(cfg, {
        log: silent,
        propose: (cmd) => {
          proposed.push(cmd);
          return new Promise((resolve) => answers.push(resolve));
        },
      });
      // Lease 1 (T 60 s, D = 5 s) renewed at 100,000; lease 2 has the minimum TTL (D = 0).
      const sm = fakeSm([
        { id: 1, ttlMs: 60_000, expiresAtMs: 160_000, keys: 0 },
        { id: 2, ttlMs: 1500, expiresAtMs: 101_500, keys: 0 },
      ]);
      await k.open(sm as unknown as StateMachine);
      assert.equal(k.renewNow(1, 100_100), undefined, 'a follower renews every keep-alive through Raft');
      k.leadership(5, 3);
      k.applied(5);
      const renewals = (): number[][] => proposed.filter((c) => c.op?.$case === 'leaseRenew').map((c) => (c.op as { value: { ids: number[] } }).value.ids);
      assert.equal(k.renewNow(1, 102_500)?.id, 1, 'within D/2: at once');
      assert.equal(k.renewNow(2, 100_001), undefined, 'D = 0: always a renewal');
      assert.equal(k.renewNow(99, 100_500), undefined, 'an unknown lease is answered by the renewal (TTL 0)');
      assert.equal(k.renewNow(1, 102_600), undefined, 'past D/2 with no renewal under way: this one renews');
      const waiting = k.renew(1);
      assert.equal(k.renewNow(1, 102_700)?.id, 1, 'while that renewal is pending: at once');
      mock.timers.tick(cfg.leaseRenewBatchMs);
      assert.deepEqual(renewals(), [[1]], 'one renewal, for the keep-alive that waits');
      assert.equal(k.renewNow(1, 104_900)?.id, 1, 'while it is proposed: at once');
      assert.equal(k.renewNow(1, 105_001), undefined, 'past D: never at once');
      // The leader holds the lease until receipt + T of what it answered at once.
      const entry = k.table.get(1)!;
      assert.equal(k.remainingMs(entry, 105_000), 164_900 - 105_000);
      const renewed = { id: 1, ttlMs: 60_000, expiresAtMs: 162_610, keys: 0 };
      sm.leaseObserver!([{ id: 1, lease: renewed }]);
      answers[proposed.findIndex((c) => c.op?.$case === 'leaseRenew')]!({ code: ResultCode.RESULT_OK, revision: 1, message: '', leases: [renewed] } as unknown as CommandResult);
      assert.deepEqual(await waiting, renewed, 'the waiting keep-alive is answered once its renewal is applied');
      assert.equal(k.renewNow(1, 105_001)?.id, 1, 'renewed: at once again');
      k.leadership(0, 4);
      assert.equal(k.renewNow(1, 105_002), undefined, 'demoted: never at once');
      k.close();
    } finally {
      mock.timers.reset();
    }
  });

  it('a keep-alive waits for others at most 1% of its lease TTL, within the member cap', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 100_000 });
    try {
      const proposed: Command[] = [];
      const k = new LeaseKeeper({ ...cfg, leaseRenewBatchMs: 200 }, {
        log: silent,
        propose: (cmd) => {
          proposed.push(cmd);
          return new Promise(() => undefined);
        },
      });
      const sm = fakeSm([
        { id: 1, ttlMs: 60_000, expiresAtMs: 160_000, keys: 0 },
        { id: 2, ttlMs: 5_000, expiresAtMs: 105_000, keys: 0 },
      ]);
      await k.open(sm as unknown as StateMachine);
      const renewed = (): number[][] => proposed.map((c) => (c.op as { value: { ids: number[] } }).value.ids);
      void k.renew(1);
      mock.timers.tick(199);
      assert.deepEqual(renewed(), [], 'a 60 s lease waits up to the 200 ms cap');
      mock.timers.tick(1);
      assert.deepEqual(renewed(), [[1]]);
      void k.renew(1);
      void k.renew(2);
      mock.timers.tick(49);
      assert.equal(proposed.length, 1);
      mock.timers.tick(1);
      assert.deepEqual(renewed(), [[1], [1, 2]], 'a 5 s lease waits 50 ms, and takes the waiting 60 s one along');
      void k.renew(99);
      mock.timers.tick(15);
      assert.deepEqual(renewed()[2], [99], 'an unknown lease waits as one of the minimum TTL (1.5 s: 15 ms)');
    } finally {
      mock.timers.reset();
    }
  });
});
