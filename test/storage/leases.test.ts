// storage/leases: grants (client-chosen and applier-chosen ids), batched renewals, the leader's
// compare-and-expire, revokes deleting every attached key in ONE revision, and the replicated
// bounds on leases and keys per lease. Time comes only from the command (leader_time_ms).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine } from '../../storage/index.js';
import { Command, ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { PutRequest, RequestOp, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { LeaseChange } from '../../storage/leases/leases.js';
import { tempDir } from './helpers.js';

type Op = NonNullable<Command['op']>;
const B = (s: string): Buffer => Buffer.from(s, 'latin1');

class H {
  index = 0;
  term = 1;
  changes: LeaseChange[] = [];
  constructor(readonly sm: StateMachine) {
    sm.leaseObserver = (c) => this.changes.push(...c);
  }
  static async open(dir: string): Promise<H> {
    return new H(await StateMachine.open(dir));
  }
  async run(op: Op, leaderTimeMs = 0): Promise<CommandResult> {
    const [r] = await this.sm.apply([{ index: ++this.index, term: this.term, data: Command.encode(Command.fromPartial({ op, leaderTimeMs })).finish() }]);
    return r!;
  }
  /** Empty entries (a leader's no-op) up to `index`: the applier accepts no gap. */
  async skipTo(index: number): Promise<void> {
    const entries = [];
    while (this.index < index) entries.push({ index: ++this.index, term: this.term, data: new Uint8Array(0) });
    await this.sm.apply(entries);
  }
  grant(id: number, ttlMs: number, at = 0): Promise<CommandResult> {
    return this.run({ $case: 'leaseGrant', value: { id, ttlMs } }, at);
  }
  put(key: string, lease: number): Promise<CommandResult> {
    return this.run({ $case: 'put', value: { key, value: B('v'), lease, prevKv: false } });
  }
  etcdPut(key: string, lease: number): Promise<CommandResult> {
    return this.run({ $case: 'etcdPut', value: PutRequest.fromPartial({ key: B(key), value: B('v'), lease }) });
  }
  expire(id: number, expiresAtMs: number, term: number, at: number): Promise<CommandResult> {
    return this.run({ $case: 'leaseExpire', value: { id, expiresAtMs, term } }, at);
  }
}

describe('storage/leases', () => {
  it('grant with id 0 takes the Raft index of the grant (skipping taken ids), never reusing one', async () => {
    const h = await H.open(tempDir(after));
    after(() => h.sm.close());
    await h.skipTo(9);
    assert.equal((await h.grant(11, 5000)).lease?.id, 11); // index 10
    const r = await h.grant(0, 5000); // index 11: taken, so 12
    assert.equal(r.code, ResultCode.RESULT_OK);
    assert.equal(r.lease?.id, 12);
    await h.run({ $case: 'leaseRevoke', value: { id: 12 } }); // index 12
    assert.equal((await h.grant(0, 5000)).lease?.id, 13, 'index 13: the revoked 12 is not handed out again');
    assert.equal((await h.grant(12, 5000)).lease?.id, 12, 'a client may choose a free id');
    assert.equal((await h.grant(12, 5000)).code, ResultCode.RESULT_ALREADY_EXISTS);
    assert.equal((await h.grant(2 ** 53, 5000)).code, ResultCode.RESULT_INVALID);
    assert.equal(h.sm.revision, 1, 'grants and revokes of leases without keys move no revision');
  });

  it('a renewal batch renews every named lease at the leader time, leaves missing ones out, moves no revision', async () => {
    const h = await H.open(tempDir(after));
    after(() => h.sm.close());
    await h.grant(1, 5000, 1000);
    await h.grant(2, 9000, 1000);
    await h.put('k', 1);
    const rev = h.sm.revision;
    h.changes = [];
    const r = await h.run({ $case: 'leaseRenew', value: { ids: [2, 7, 1, 2] } }, 50_000);
    assert.equal(r.code, ResultCode.RESULT_OK);
    assert.deepEqual(
      r.leases.map((l) => [l.id, l.expiresAtMs, l.keys]),
      [
        [2, 59_000, 0],
        [1, 55_000, 1],
      ],
    );
    assert.equal(h.sm.revision, rev);
    assert.deepEqual(
      h.changes.map((c) => [c.id, c.lease?.expiresAtMs]),
      [
        [2, 59_000],
        [1, 55_000],
      ],
    );
    assert.equal((await h.sm.getLease(1))?.expiresAtMs, 55_000);
  });

  it("the leader's expiry applies only if the lease is unchanged, due at the leader time, and proposed in the deciding term", async () => {
    const h = await H.open(tempDir(after));
    after(() => h.sm.close());
    h.term = 3;
    await h.grant(5, 4000, 10_000); // expires at 14,000
    for (const k of ['a', 'b', 'c']) await h.put(k, 5);
    await h.put('x', 0);
    const rev = h.sm.revision;
    // Renewed since the leader looked.
    assert.equal((await h.expire(5, 13_000, 3, 20_000)).code, ResultCode.RESULT_COMPARE_FAILED);
    // Not due at the command's leader time.
    assert.equal((await h.expire(5, 14_000, 3, 13_999)).code, ResultCode.RESULT_COMPARE_FAILED);
    // Decided by the leader of term 2, proposed (forwarded) in term 3.
    assert.equal((await h.expire(5, 14_000, 2, 20_000)).code, ResultCode.RESULT_COMPARE_FAILED);
    assert.equal(h.sm.revision, rev, 'refused expiries change nothing');
    assert.ok(await h.sm.getLease(5));
    h.changes = [];
    const r = await h.expire(5, 14_000, 3, 14_000);
    assert.equal(r.code, ResultCode.RESULT_OK);
    assert.equal(r.revision, rev + 1, 'every key deleted in ONE revision');
    const ev = await h.sm.events({ key: B('\0'), rangeEnd: B('\0'), fromRevision: rev + 1 });
    assert.deepEqual(
      ev.events.map((e) => [e.type, e.kv!.key.toString(), e.kv!.modRevision]),
      [
        [1, 'a', rev + 1],
        [1, 'b', rev + 1],
        [1, 'c', rev + 1],
      ],
    );
    assert.equal(await h.sm.getLease(5), undefined);
    assert.equal(await h.sm.exists('x'), true);
    assert.deepEqual(h.changes, [{ id: 5, lease: null }]);
    assert.equal((await h.expire(5, 14_000, 3, 20_000)).code, ResultCode.RESULT_NOT_FOUND);
  });

  it('bounds leases and keys per lease by the replicated limits: a refusal changes nothing; re-puts and detaches keep the count exact', async () => {
    const h = await H.open(tempDir(after));
    after(() => h.sm.close());
    assert.equal((await h.run({ $case: 'leaseLimits', value: { maxLeases: 2, maxKeysPerLease: 2 } })).code, ResultCode.RESULT_OK);
    assert.deepEqual(await h.sm.leaseLimits(), { maxLeases: 2, maxKeysPerLease: 2 });
    await h.grant(1, 5000);
    await h.grant(2, 5000);
    const third = await h.grant(3, 5000);
    assert.equal(third.code, ResultCode.RESULT_LIMIT_EXCEEDED);
    assert.match(third.message, /2 leases, the most max-leases allows/);
    assert.equal(await h.sm.getLease(3), undefined);

    assert.equal((await h.put('a', 1)).code, ResultCode.RESULT_OK);
    assert.equal((await h.etcdPut('b', 1)).code, ResultCode.RESULT_OK);
    const rev = h.sm.revision;
    const native = await h.put('c', 1);
    assert.equal(native.code, ResultCode.RESULT_LIMIT_EXCEEDED);
    assert.match(native.message, /lease 1 already has the most keys attached that max-keys-per-lease allows/);
    const etcd = await h.etcdPut('c', 1);
    assert.equal(etcd.code, ResultCode.RESULT_LIMIT_EXCEEDED);
    assert.match(etcd.message, /max-keys-per-lease/);
    // A Txn attaching two keys to lease 2 at a bound of 2 succeeds; one more key through a Txn
    // with another write is refused whole.
    const putOp = (k: string, lease: number): RequestOp => ({ request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B(k), value: B('v'), lease }) } });
    assert.equal((await h.run({ $case: 'etcdTxn', value: TxnRequest.fromPartial({ success: [putOp('d', 2), putOp('e', 2)] }) })).code, ResultCode.RESULT_OK);
    const rev2 = h.sm.revision;
    const txn = await h.run({ $case: 'etcdTxn', value: TxnRequest.fromPartial({ success: [putOp('z', 0), putOp('f', 2)] }) });
    assert.equal(txn.code, ResultCode.RESULT_LIMIT_EXCEEDED);
    assert.equal(h.sm.revision, rev2);
    assert.equal(await h.sm.exists('z'), false, 'nothing of the refused Txn remains');
    assert.equal(rev + 1, rev2);
    assert.equal(await h.sm.exists('c'), false);
    // At the bound, re-putting an attached key is fine; detaching one frees a place.
    assert.equal((await h.put('a', 1)).code, ResultCode.RESULT_OK);
    assert.equal((await h.sm.getLease(1))?.keys, 2);
    assert.equal((await h.put('a', 0)).code, ResultCode.RESULT_OK);
    assert.equal((await h.sm.getLease(1))?.keys, 1);
    assert.equal((await h.put('c', 1)).code, ResultCode.RESULT_OK);
    // Moving a key from lease 1 to lease 2 (full) is refused and leaves it on lease 1.
    assert.equal((await h.put('c', 2)).code, ResultCode.RESULT_LIMIT_EXCEEDED);
    assert.equal((await h.sm.get('c'))?.lease, 1);
    // A revoke frees a lease place.
    await h.run({ $case: 'leaseRevoke', value: { id: 1 } });
    assert.equal((await h.grant(3, 5000)).code, ResultCode.RESULT_OK);
    assert.deepEqual(await h.sm.leaseKeys(3), []);
    assert.equal((await h.run({ $case: 'leaseLimits', value: { maxLeases: 0, maxKeysPerLease: 1 } })).code, ResultCode.RESULT_INVALID);
  });
});
