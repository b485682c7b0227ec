// The keyspace events watchers are fed from: the events a batch hands over while applying
// (StateMachine.applyWithEvents) must be exactly the events read back from the stored history
// (StateMachine.eventRecords) — same records, revisions, kinds and previous values — for random
// Puts, DeleteRanges, Txns, lease revokes and compactions; nothing is collected when nobody asks.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { StateMachine, type ApplyEntry, type KeyEvent } from '../../storage/index.js';
import { Command } from '../../proto/gen/placement/v1/command.js';
import { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { Tx } from '../../storage/state-machine/tx.js';
import { keyAndVersion } from '../../storage/keyspace/events.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const KEYS = ['a', 'a\u0000', 'ab', 'b/1', 'b/2', 'b/3', 'c', '\u00ff'];
type Op = NonNullable<Command['op']>;

function randomOp(r: () => number, rev: number, compact: number): Op {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const x = r();
  if (x < 0.45) return { $case: 'etcdPut', value: { key: B(pick(KEYS)), value: B(`v${Math.floor(r() * 100)}`), lease: r() < 0.2 ? 7 : 0, prevKv: false, ignoreValue: false, ignoreLease: false } };
  if (x < 0.6) return { $case: 'etcdDeleteRange', value: { key: B(pick(KEYS)), rangeEnd: B(r() < 0.5 ? '' : pick(['b0', '\u0000', 'c'])), prevKv: false } };
  if (x < 0.85) {
    const keys = [...new Set(Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(KEYS)))];
    return {
      $case: 'etcdTxn',
      value: {
        compare: [],
        success: keys.map((k, i) =>
          i % 2 === 0
            ? { request: { $case: 'requestPut' as const, value: { key: B(k), value: B('t'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } } }
            : { request: { $case: 'requestDeleteRange' as const, value: { key: B(k), rangeEnd: B(''), prevKv: false } } },
        ),
        failure: [],
      },
    };
  }
  if (x < 0.9) return { $case: 'leaseGrant', value: { id: 7, ttlMs: 1000 } };
  if (x < 0.95) return { $case: 'leaseRevoke', value: { id: 7 } };
  return { $case: 'etcdCompaction', value: { revision: Math.min(rev, compact + 1 + Math.floor(r() * 3)), physical: false } };
}

const entry = (index: number, op: Op): ApplyEntry => ({ index, term: 1, data: Command.encode({ clientId: '', seq: 0, leaderTimeMs: 1, op }).finish() });

function summary(e: KeyEvent, prev: Buffer | null | undefined): string {
  const kv = KeyValue.decode(e.kv);
  return JSON.stringify({ rev: e.rev, sub: e.sub, key: e.key, del: e.isDelete, create: e.isCreate, kv: e.kv.toString('hex'), mod: kv.modRevision, prev: prev ? prev.toString('hex') : null });
}

describe('keyspace events', () => {
  it('the events a batch hands over equal the events read back from history, previous values included', async () => {
    const seed = seedFromEnv('keyspace-events');
    const r = rng(seed);
    const sm = await StateMachine.open(tempDir(after, 'events'));
    after(() => sm.close());
    let index = 0;
    let collected = 0;
    for (let round = 0; round < 60; round++) {
      const before = sm.revision;
      const batch = Array.from({ length: 1 + Math.floor(r() * 8) }, () => entry(++index, randomOp(r, sm.revision, Math.max(0, sm.compactRevision))));
      const out = await sm.applyWithEvents(batch, { collectEvents: () => true });
      assert.ok(out.events, 'events collected when asked');
      assert.equal(out.revision, sm.revision);
      // Live events resolve prev_kv from the pointer the write left; the read-back looks it up in
      // the history index. Both follow etcd: no previous value for a create or below the compact revision.
      const live = out.events.map((e) => {
        let prev: Buffer | null = null;
        if (!e.isCreate && e.prevMain >= 0 && e.rev - 1 >= sm.compactRevision) prev = sm.eventRecordSync(e.prevMain, e.prevSub) ?? null;
        return summary(e, prev);
      });
      if (sm.compactRevision > before + 1) continue; // the batch's own early revisions may be compacted already
      const page = await sm.eventRecords({ fromRevision: before + 1, toRevision: out.revision, prevFor: () => true });
      assert.equal(page.more, false);
      const stored = page.events.map((e) => summary(e, e.prevKv));
      assert.deepEqual(live, stored, `seed ${seed}, round ${round}: revisions ${before + 1}..${out.revision}`);
      for (const e of out.events) assert.equal(keyAndVersion(e.kv).key, e.key);
      collected += live.length;
    }
    assert.ok(collected > 50, `a real history (${collected} events)`);
  });

  it('collects nothing when nobody watches, and paging never splits a revision', async () => {
    const sm = await StateMachine.open(tempDir(after, 'events'));
    after(() => sm.close());
    const txn: Op = {
      $case: 'etcdTxn',
      value: {
        compare: [],
        success: ['x1', 'x2', 'x3'].map((k) => ({ request: { $case: 'requestPut' as const, value: { key: B(k), value: B('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } } })),
        failure: [],
      },
    };
    const put = (k: string): Op => ({ $case: 'etcdPut', value: { key: B(k), value: B('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } });
    const out = await sm.applyWithEvents([entry(1, put('a')), entry(2, txn), entry(3, put('b'))], { collectEvents: () => false });
    assert.equal(out.events, null);
    assert.equal(out.revision, 4);
    const p1 = await sm.eventRecords({ fromRevision: 2, limit: 2 });
    assert.deepEqual(p1.events.map((e) => [e.rev, e.key]), [[2, 'a'], [3, 'x1'], [3, 'x2'], [3, 'x3']], 'the Txn is read whole past the limit');
    assert.equal(p1.nextRevision, 4);
    assert.equal(p1.more, true);
    const p2 = await sm.eventRecords({ fromRevision: p1.nextRevision, match: (k) => k !== 'b' });
    assert.deepEqual(p2.events, []);
    assert.equal(p2.nextRevision, 5);
    assert.equal(p2.more, false);
    const empty = await sm.eventRecords({ fromRevision: 9 });
    assert.equal(empty.nextRevision, 9, 'a future start stays where it is');
  });

  it('a rolled-back Txn takes its events back', () => {
    const tx = new Tx(undefined as never, 1, -1, 0, 0);
    tx.events = [];
    tx.events.push({ rev: 2, sub: 0, key: 'a', kv: B(''), isDelete: false, isCreate: true, prevMain: -1, prevSub: -1 });
    tx.begin();
    tx.events.push({ rev: 3, sub: 0, key: 'b', kv: B(''), isDelete: false, isCreate: true, prevMain: -1, prevSub: -1 });
    tx.rollback();
    assert.deepEqual(tx.events.map((e) => e.key), ['a']);
  });
});
