// A read-only Txn (Range operations only) served from a snapshot without Raft (readTxn, what the
// etcd KV service does, as etcd does) answers exactly what the same Txn answers when applied
// through the log: random states, random compares and ranges, at current and past revisions.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isReadOnlyTxn } from '../../storage/index.js';
import {
  Compare_CompareResult as CR,
  Compare_CompareTarget as CT,
  RangeRequest,
  TxnRequest,
  type Compare,
  type RequestOp,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { ResultCode } from '../../proto/gen/placement/v1/command.js';
import { EtcdHarness } from './etcd-harness.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const KEYS = ['a', 'a/1', 'a/2', 'b', 'b/1', 'c'];

describe('keyspace: read-only txn without Raft', () => {
  it('answers what the applied txn answers, and refuses what it refuses', async () => {
    const seed = seedFromEnv('read-only txn');
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    for (let i = 0; i < 60; i++) {
      if (r() < 0.75) await h.put(pick(KEYS), `v${i}`);
      else await h.del(pick(KEYS), r() < 0.3 ? 'b' : '');
    }
    await h.compact(Math.floor(h.sm.revision / 3));
    const compact = h.sm.compactRevision;

    const range = (): RequestOp => {
      const key = pick(KEYS);
      const roll = r();
      const revision = roll < 0.5 ? 0 : roll < 0.9 ? compact + Math.floor(r() * (h.sm.revision - compact + 1)) : pick([compact - 1, h.sm.revision + 3]);
      return {
        request: {
          $case: 'requestRange',
          value: RangeRequest.fromPartial({
            key: B(key),
            rangeEnd: r() < 0.5 ? B(key + '0') : r() < 0.3 ? B('\0') : Buffer.alloc(0),
            revision,
            limit: r() < 0.3 ? 1 + Math.floor(r() * 3) : 0,
            sortOrder: Math.floor(r() * 3),
            sortTarget: Math.floor(r() * 5),
            keysOnly: r() < 0.2,
            countOnly: r() < 0.1,
          }),
        },
      };
    };
    const compare = (): Compare => {
      const target = Math.floor(r() * 5) as CT;
      const n = Math.floor(r() * 12);
      const u: Compare['targetUnion'] =
        target === CT.VALUE
          ? { $case: 'value', value: B(`v${Math.floor(r() * 60)}`) }
          : target === CT.VERSION
            ? { $case: 'version', value: n % 4 }
            : target === CT.CREATE
              ? { $case: 'createRevision', value: n }
              : target === CT.MOD
                ? { $case: 'modRevision', value: n * 5 }
                : { $case: 'lease', value: 0 };
      const key = pick(KEYS);
      return { key: B(key), target, result: Math.floor(r() * 4) as CR, targetUnion: u, rangeEnd: r() < 0.3 ? B(key + '0') : Buffer.alloc(0) };
    };

    let compared = 0;
    let refused = 0;
    for (let i = 0; i < 150; i++) {
      const txn = TxnRequest.fromPartial({
        compare: Array.from({ length: Math.floor(r() * 3) }, compare),
        success: Array.from({ length: Math.floor(r() * 3) }, range),
        failure: Array.from({ length: Math.floor(r() * 3) }, range),
      });
      assert.ok(isReadOnlyTxn(txn));
      const rev = h.sm.revision;
      const local = await h.sm.readTxn(txn).then(
        (x) => ({ ok: x.response }),
        (e: Error) => ({ err: e.message }),
      );
      const applied = await h.txn(txn);
      assert.equal(h.sm.revision, rev, 'a read-only txn makes no revision');
      if (applied.code === ResultCode.RESULT_OK) {
        assert.deepEqual(local, { ok: applied.response!.value }, `txn ${i} (seed ${seed})`);
        compared++;
      } else {
        assert.deepEqual(local, { err: applied.message }, `txn ${i} (seed ${seed})`);
        refused++;
      }
    }
    assert.ok(compared > 50 && refused > 0, `${compared} answered, ${refused} refused`);
  });

  it('refuses a txn that writes, and one etcd refuses before running it', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    const put: RequestOp = { request: { $case: 'requestPut', value: { key: B('k'), value: B('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } } };
    await assert.rejects(h.sm.readTxn(TxnRequest.fromPartial({ success: [put] })), /writes/);
    await assert.rejects(h.sm.readTxn(TxnRequest.fromPartial({ compare: [{ key: Buffer.alloc(0), target: CT.VERSION, result: CR.EQUAL, rangeEnd: Buffer.alloc(0) }] })), {
      message: 'etcdserver: key is not provided',
    });
  });
});
