// Model test of the multi-version keyspace: random Put / DeleteRange / Txn (nested, with range
// reads and compares) / Compact / lease grant and revoke, applied to the state machine (in random
// batch sizes) and to the in-memory model (keyspace-model.ts). Every command's result must match;
// and every few commands, random Ranges at EVERY retained revision must match — on the live state
// machine, on a fresh one restored from its snapshot, and after a close and reopen — whatever
// physical compaction has removed so far.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotStore, StateMachine, type ApplyEntry } from '../../storage/index.js';
import { Command, ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import {
  Compare_CompareResult as CR,
  Compare_CompareTarget as CT,
  CompactionResponse,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnResponse,
  type Compare,
  type RequestOp,
  type TxnRequest,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Model, ModelError } from './keyspace-model.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
// Bytes that stress the layout: NUL (escaped in the history index), 0xff, prefixes of each other.
const KEYS = ['a', 'a\u0000', 'a\u0000b', 'ab', 'b', 'b/1', 'b/2', 'b/3', 'c', 'z\u0000\u00ff', '\u00ff', '\u00ff\u00ff'];
const BOUNDS = ['', 'a', 'a\u0000', 'ab', 'b', 'b/', 'b0', 'c', 'd', '\u00ff', '\u00ff\u00ff\u00ff'];

type Op = NonNullable<Command['op']>;

class Gen {
  leaseIds = [1, 2, 3];
  constructor(
    readonly r: () => number,
    readonly model: Model,
  ) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  key(): string {
    return this.pick(KEYS);
  }
  /** A range_end: none (single key), "\0" (from key), or a bound. */
  end(): string {
    const x = this.r();
    if (x < 0.45) return '';
    if (x < 0.55) return '\u0000';
    return this.pick(BOUNDS.filter((b) => b !== ''));
  }
  value(): string {
    return this.pick(['', 'v', 'w', 'x', 'long-' + 'y'.repeat(this.int(40))]);
  }
  revision(): number {
    const m = this.model;
    const x = this.r();
    if (x < 0.5) return 0;
    if (x < 0.9) return Math.max(1, m.compactRev) + this.int(m.rev - Math.max(1, m.compactRev) + 1);
    return x < 0.95 ? m.rev + 1 : Math.max(0, m.compactRev - 1);
  }
  rangeReq(): RangeRequest {
    return RangeRequest.fromPartial({
      key: B(this.r() < 0.1 ? '\u0000' : this.key()),
      rangeEnd: B(this.end()),
      limit: this.r() < 0.4 ? this.int(4) : 0,
      revision: this.revision(),
      sortOrder: this.r() < 0.3 ? this.int(3) : 0,
      sortTarget: this.r() < 0.3 ? this.int(5) : 0,
      keysOnly: this.r() < 0.15,
      countOnly: this.r() < 0.1,
      minModRevision: this.r() < 0.1 ? this.int(this.model.rev + 1) : 0,
      maxModRevision: this.r() < 0.1 ? this.int(this.model.rev + 1) : 0,
      minCreateRevision: this.r() < 0.1 ? this.int(this.model.rev + 1) : 0,
      maxCreateRevision: this.r() < 0.1 ? this.int(this.model.rev + 1) : 0,
    });
  }
  put(): PutRequest {
    const x = this.r();
    return PutRequest.fromPartial({
      key: B(this.key()),
      value: B(x < 0.1 ? '' : this.value()),
      lease: this.r() < 0.2 ? this.pick(this.leaseIds) : 0,
      prevKv: this.r() < 0.5,
      ignoreValue: x < 0.1,
      ignoreLease: this.r() < 0.05,
    });
  }
  compare(): Compare {
    const target = this.int(5) as CT;
    const n = this.int(this.model.rev + 2);
    const u: Compare['targetUnion'] =
      target === CT.VALUE
        ? { $case: 'value', value: B(this.value()) }
        : target === CT.CREATE
          ? { $case: 'createRevision', value: n }
          : target === CT.MOD
            ? { $case: 'modRevision', value: n }
            : target === CT.VERSION
              ? { $case: 'version', value: this.int(4) }
              : { $case: 'lease', value: this.pick([0, ...this.leaseIds]) };
    return { key: B(this.key()), rangeEnd: B(this.r() < 0.7 ? '' : this.end()), target, result: this.int(4) as CR, targetUnion: u };
  }
  requestOp(depth: number): RequestOp {
    const x = this.r();
    if (x < 0.35) return { request: { $case: 'requestPut', value: this.put() } };
    if (x < 0.55) return { request: { $case: 'requestDeleteRange', value: { key: B(this.key()), rangeEnd: B(this.end()), prevKv: this.r() < 0.5 } } };
    if (x < 0.85 || depth >= 2) return { request: { $case: 'requestRange', value: this.rangeReq() } };
    return { request: { $case: 'requestTxn', value: this.txn(depth + 1) } };
  }
  txn(depth = 0): TxnRequest {
    const n = (): number => this.int(depth === 0 ? 5 : 3);
    return {
      compare: Array.from({ length: this.int(3) }, () => this.compare()),
      success: Array.from({ length: n() }, () => this.requestOp(depth)),
      failure: Array.from({ length: n() }, () => this.requestOp(depth)),
    };
  }
  command(): Op {
    const x = this.r();
    if (x < 0.4) return { $case: 'etcdPut', value: this.put() };
    if (x < 0.55) return { $case: 'etcdDeleteRange', value: { key: B(this.key()), rangeEnd: B(this.end()), prevKv: this.r() < 0.5 } };
    if (x < 0.85) return { $case: 'etcdTxn', value: this.txn() };
    if (x < 0.87) {
      // Compactions keep most of the history retained: the reads below cover many revisions.
      const m = this.model;
      const rev = this.r() < 0.8 ? m.compactRev + 1 + this.int(Math.max(1, (m.rev - m.compactRev) / 3)) : this.pick([m.compactRev, m.rev + 1]);
      return { $case: 'etcdCompaction', value: { revision: rev, physical: false } };
    }
    if (x < 0.95) return { $case: 'leaseGrant', value: { id: this.pick(this.leaseIds), ttlMs: 1000 } };
    return { $case: 'leaseRevoke', value: { id: this.pick(this.leaseIds) } };
  }
}

/** What the model says the command answers: [code, message, encoded etcd response or ''] */
function expected(m: Model, op: Op): { code: ResultCode; message: string; response: string; revision: number } {
  const ok = (response: string) => ({ code: ResultCode.RESULT_OK, message: '', response, revision: m.rev });
  try {
    switch (op.$case) {
      case 'etcdPut':
        return ok(hex(PutResponse.encode(m.put(op.value)).finish()));
      case 'etcdDeleteRange':
        return ok(hex(DeleteRangeResponse.encode(m.deleteRange(op.value)).finish()));
      case 'etcdTxn':
        return ok(hex(TxnResponse.encode(m.txn(op.value)).finish()));
      case 'etcdCompaction':
        m.compact(op.value.revision);
        return ok(hex(CompactionResponse.encode({ header: { clusterId: 0, memberId: 0, revision: m.rev, raftTerm: 0 } }).finish()));
      case 'leaseGrant':
        if (m.leases.has(op.value.id)) return { code: ResultCode.RESULT_ALREADY_EXISTS, message: `lease ${op.value.id} exists`, response: '', revision: m.rev };
        m.leases.add(op.value.id);
        return { code: ResultCode.RESULT_OK, message: '', response: '', revision: m.rev };
      case 'leaseRevoke':
        if (!m.revokeLease(op.value.id)) return { code: ResultCode.RESULT_NOT_FOUND, message: `lease ${op.value.id} not found`, response: '', revision: m.rev };
        return { code: ResultCode.RESULT_OK, message: '', response: '', revision: m.rev };
      default:
        throw new Error(`no model for ${op.$case}`);
    }
  } catch (e) {
    if (!(e instanceof ModelError)) throw e;
    const code = /mvcc:/.test(e.message) ? ResultCode.RESULT_OUT_OF_RANGE : /lease not found/.test(e.message) ? ResultCode.RESULT_NOT_FOUND : ResultCode.RESULT_INVALID;
    return { code, message: e.message, response: '', revision: m.rev };
  }
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function encodedResponse(r: CommandResult): string {
  const x = r.response;
  if (!x) return '';
  switch (x.$case) {
    case 'etcdPut':
      return hex(PutResponse.encode(x.value).finish());
    case 'etcdDeleteRange':
      return hex(DeleteRangeResponse.encode(x.value).finish());
    case 'etcdTxn':
      return hex(TxnResponse.encode(x.value).finish());
    case 'etcdCompaction':
      return hex(CompactionResponse.encode(x.value).finish());
  }
}

const show = (o: unknown): string => JSON.stringify(o, (_k, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('latin1') : v));

/** Random ranges at every retained revision agree with the model. */
async function checkReads(label: string, sm: StateMachine, m: Model, g: Gen, perRevision: number): Promise<number> {
  assert.equal(sm.revision, m.rev, `${label}: revision`);
  assert.equal(sm.compactRevision, m.compactRev, `${label}: compact revision`);
  let n = 0;
  for (let rev = Math.max(1, m.compactRev); rev <= m.rev; rev++) {
    for (let i = 0; i < perRevision; i++) {
      const req = g.rangeReq();
      req.revision = i === 0 ? rev : req.revision;
      let want: string;
      try {
        const e = m.range(req);
        want = hex(RangeResponse.encode({ header: { clusterId: 0, memberId: 0, revision: e.revision, raftTerm: 0 }, kvs: e.kvs, more: e.more, count: e.count }).finish());
      } catch (err) {
        want = `error ${(err as Error).message}`;
      }
      let got: string;
      try {
        const r = await sm.range(req);
        got = hex(RangeResponse.encode({ header: { clusterId: 0, memberId: 0, revision: r.revision, raftTerm: 0 }, kvs: r.kvs, more: r.more, count: r.count }).finish());
        assert.equal(r.truncated, false);
      } catch (err) {
        got = `error ${(err as Error).message}`;
      }
      if (got !== want) {
        const dec = (s: string) => (s.startsWith('error') ? s : show(RangeResponse.decode(Buffer.from(s, 'hex'))));
        assert.fail(`${label}: range ${show(req)} at revision ${m.rev}, compacted ${m.compactRev}\n got ${dec(got)}\nwant ${dec(want)}`);
      }
      n++;
    }
  }
  return n;
}

describe('keyspace model test', () => {
  it('commands, and ranges at every retained revision, agree with the model; also after snapshot install and reopen', { timeout: 300_000 }, async () => {
    const seed = seedFromEnv('keyspace model');
    const rand = rng(seed);
    const m = new Model();
    const g = new Gen(rand, m);
    const dir = tempDir(after, 'ksmodel');
    let sm = await StateMachine.open(`${dir}/a`);
    // The same log, one entry per batch: results and state must not depend on batching.
    const one = await StateMachine.open(`${dir}/b`);
    after(async () => {
      await sm.close().catch(() => undefined);
      await one.close().catch(() => undefined);
    });
    const store = await SnapshotStore.open(`${dir}/snap`);
    let index = 0;
    let ranges = 0;
    const STEPS = Number(process.env.MODEL_STEPS ?? 600);
    let done = 0;
    while (done < STEPS) {
      const n = 1 + g.int(12);
      const entries: ApplyEntry[] = [];
      const want: ReturnType<typeof expected>[] = [];
      const ops: Op[] = [];
      for (let i = 0; i < n; i++) {
        const op = g.command();
        ops.push(op);
        want.push(expected(m, op));
        entries.push({ index: ++index, term: 1, data: Command.encode(Command.fromPartial({ op, leaderTimeMs: index })).finish() });
      }
      const got = await sm.apply(entries);
      for (const e of entries) assert.deepEqual(await one.apply([e]), [got[e.index - entries[0]!.index]], 'one entry per batch gives the same result');
      for (let i = 0; i < n; i++) {
        const r = got[i]!;
        const w = want[i]!;
        const ctx = `step ${done + i} (${ops[i]!.$case}) ${show(ops[i])}`;
        assert.equal(r.message, w.message, ctx);
        assert.equal(r.code, w.code, ctx);
        assert.equal(r.revision, w.revision, ctx);
        if (encodedResponse(r) !== w.response) assert.fail(`${ctx}\n got ${show(r.response)}\nwant ${w.response}`);
      }
      done += n;
      if (g.r() < 0.15) await sm.waitCompaction(m.compactRev);
      if (done % 100 < n) ranges += await checkReads(`live after ${done}`, sm, m, g, 2);
    }
    assert.equal(await sm.hash(), await one.hash(), 'same log, same hash, whatever the batching and compaction progress');
    ranges += await checkReads('live', sm, m, g, 4);

    // A fresh state machine restored from a snapshot answers every retained revision the same.
    const info = await sm.createSnapshot(store, { confState: { voters: [1], learners: [] } });
    const fresh = await StateMachine.open(`${dir}/c`);
    after(() => fresh.close().catch(() => undefined));
    await fresh.installSnapshot(store.openReader(info.meta));
    assert.equal(await fresh.hash(), await sm.hash());
    ranges += await checkReads('installed', fresh, m, g, 4);
    await fresh.waitCompaction(m.compactRev);
    ranges += await checkReads('installed, compacted', fresh, m, g, 2);
    assert.equal(await fresh.hash(), await sm.hash(), 'physical compaction does not change the hash');

    // And after a close and reopen.
    await sm.close();
    sm = await StateMachine.open(`${dir}/a`);
    ranges += await checkReads('reopened', sm, m, g, 4);
    console.log(`# ${done} commands, ${ranges} ranges checked; revision ${m.rev}, compacted at ${m.compactRev}`);
  });
});
