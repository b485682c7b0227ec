// Requests waiting for a leader (src/node/leader-wait.ts): a known leader answers at once, a wait
// ends the moment wake() says a leader is known, runs out at the wait limit or the request's
// deadline (whichever is first) with the host's "no leader" error, and ends at once on stop.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementError } from '../../src/errors.js';
import { LeaderWait } from '../../src/node/leader-wait.js';

function fixture(waitMs: number) {
  const state = { leader: 0, stopped: false };
  const w = new LeaderWait({ leaderId: () => state.leader, stopped: () => state.stopped, noLeader: () => new PlacementError('UNAVAILABLE', 'no leader') }, waitMs);
  return { state, w };
}

describe('waiting for a leader', () => {
  it('answers a known leader at once and wakes waiters when one is elected', async () => {
    const { state, w } = fixture(60_000);
    state.leader = 3;
    assert.equal(await w.leader(Date.now() + 60_000), 3);
    state.leader = 0;
    const t0 = Date.now();
    const waiting = w.leader(Date.now() + 60_000);
    state.leader = 2;
    w.wake();
    assert.equal(await waiting, 2);
    assert.ok(Date.now() - t0 < 30_000, 'woken, not timed out');
  });

  it('gives up at the wait limit or the deadline, whichever is first', async () => {
    const { w } = fixture(40);
    await assert.rejects(w.leader(Date.now() + 60_000), /no leader/);
    const { w: w2 } = fixture(60_000);
    await assert.rejects(w2.leader(Date.now() + 40), /no leader/);
  });

  it('ends at once when the member stops', async () => {
    const { state, w } = fixture(60_000);
    const waiting = w.leader(Date.now() + 60_000);
    state.stopped = true;
    w.wake();
    await assert.rejects(waiting, (e: PlacementError) => e.code === 'UNAVAILABLE' && e.message === 'node is shutting down');
  });

  it('a wake before the timeout ends changeOrTimeout early; without one it resolves at the timeout', async () => {
    const { w } = fixture(60_000);
    const t0 = Date.now();
    const p = w.changeOrTimeout(60_000);
    w.wake();
    await p;
    assert.ok(Date.now() - t0 < 30_000);
    await w.changeOrTimeout(5);
  });
});
