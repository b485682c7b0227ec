// Pending proposals and batched linearizable reads (src/node/waiters.ts), without a cluster.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ProposalTable, ReadTable } from '../../src/node/waiters.js';
import { PlacementError } from '../../src/errors.js';
import { ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';

const ok = (revision: number): CommandResult => ({ code: ResultCode.RESULT_OK, message: '', revision, prevKv: undefined, succeeded: true, lease: undefined, leases: [], response: undefined });

describe('ProposalTable', () => {
  it('resolves on the same term, rejects when another term applied at the index', async () => {
    const t = new ProposalTable();
    const a = t.add(5, 2, Date.now() + 10_000);
    const b = t.add(6, 2, Date.now() + 10_000);
    t.applied(5, 2, ok(7));
    t.applied(6, 3, ok(8));
    assert.equal((await a).revision, 7);
    await assert.rejects(b, (e: PlacementError) => e.code === 'UNAVAILABLE' && /superseded/.test(e.message));
    assert.equal(t.size, 0);
  });

  it('expires at the deadline and fails everything on leadership loss', async () => {
    const t = new ProposalTable();
    const a = t.add(1, 1, Date.now() - 1);
    const b = t.add(2, 1, Date.now() + 10_000);
    t.expire(Date.now());
    await assert.rejects(a, (e: PlacementError) => e.code === 'DEADLINE_EXCEEDED');
    t.failAll(() => new PlacementError('UNAVAILABLE', 'lost', 3, 'h:1'));
    await assert.rejects(b, (e: PlacementError) => e.code === 'UNAVAILABLE' && e.leaderId === 3);
  });
});

describe('ReadTable', () => {
  it('batches reads into rounds and completes them once applied', async () => {
    const r = new ReadTable(1);
    const done: number[] = [];
    const p1 = r.add(Date.now() + 10_000).then(() => done.push(1));
    const p2 = r.add(Date.now() + 10_000).then(() => done.push(2));
    const ctx1 = r.nextRound(Date.now());
    assert.ok(ctx1);
    assert.equal(r.nextRound(Date.now()), null, 'one round in flight at a time');
    const p3 = r.add(Date.now() + 10_000).then(() => done.push(3));
    r.onReadState(Buffer.from('unrelated'), 10);
    r.onReadState(ctx1, 10);
    const ctx2 = r.nextRound(Date.now());
    assert.ok(ctx2 && !ctx2.equals(ctx1));
    r.onApplied(9);
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(done, []);
    r.onApplied(10);
    await Promise.all([p1, p2]);
    assert.deepEqual(done.sort(), [1, 2]);
    r.onReadState(ctx2, 12);
    r.onApplied(12);
    await p3;
    assert.equal(r.pending, 0);
  });

  it('re-issues a lost round and expires reads past their deadline', async () => {
    const r = new ReadTable(1);
    const p = r.add(Date.now() + 10_000);
    const t0 = Date.now();
    const ctx = r.nextRound(t0);
    assert.ok(ctx);
    assert.equal(r.stale(t0 + 10, 100), false);
    assert.equal(r.stale(t0 + 200, 100), true);
    r.unissue();
    const again = r.nextRound(t0 + 200);
    assert.ok(again);
    r.onReadState(again, 1);
    r.onApplied(1);
    await p;
    const q = r.add(Date.now() - 1);
    r.expire(Date.now());
    await assert.rejects(q, (e: PlacementError) => e.code === 'DEADLINE_EXCEEDED');
  });

  it('an answer meant for a previous incarnation of the process never completes a new round', async () => {
    const before = new ReadTable(7);
    before.add(Date.now() + 10_000).catch(() => {});
    const old = before.nextRound(Date.now())!;
    // Restarted: seq starts over, and the leader still had the old round's answer queued.
    const after = new ReadTable(8);
    let served = false;
    const p = after.add(Date.now() + 10_000).then(() => (served = true));
    assert.equal(after.hasQueued(), true);
    const ctx = after.nextRound(Date.now())!;
    assert.equal(after.hasQueued(), false, 'a round is in flight');
    after.onReadState(old, 3);
    after.onApplied(100);
    await new Promise((res) => setImmediate(res));
    assert.equal(served, false);
    after.onReadState(ctx, 5);
    after.onApplied(100);
    await p;
    assert.equal(served, true);
    // Without an explicit incarnation each table draws one (32 random bits), so two processes of
    // the same member do not produce the same first context.
    const a = new ReadTable();
    const b = new ReadTable();
    a.add(Date.now() + 10_000).catch(() => {});
    b.add(Date.now() + 10_000).catch(() => {});
    assert.ok(!a.nextRound(Date.now())!.equals(b.nextRound(Date.now())!));
  });
});
