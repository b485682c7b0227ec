// The keyspace against etcd 3.4: revisions, versions, create/mod revisions, count/more and error
// messages of a scripted session, as a real etcd 3.4.23 answered it
// (test/storage/fixtures/etcd-ground-truth.sh prints that session's answers), and every etcd error
// path, each changing nothing.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyspaceError, checkPut, checkRequestSize, checkTxn } from '../../storage/index.js';
import { EtcdHarness } from './etcd-harness.js';
import { ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import {
  Compare,
  Compare_CompareResult as CR,
  Compare_CompareTarget as CT,
  PutRequest,
  RangeRequest,
  RangeRequest_SortOrder as Order,
  RangeRequest_SortTarget as Target,
  RequestOp,
  TxnRequest,
  type ResponseOp,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { tempDir } from './helpers.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

/** [key, create, mod, version, value] (+ lease when set), as etcdctl -w json shows a kv. */
const kv = (k: KeyValue): (string | number)[] => {
  const out: (string | number)[] = [k.key.toString('latin1'), k.createRevision, k.modRevision, k.version, k.value.toString('latin1')];
  if (k.lease) out.push(k.lease);
  return out;
};

const put = (key: string, value: string): RequestOp => ({ request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B(key), value: B(value) }) } });
const del = (key: string, rangeEnd = ''): RequestOp => ({ request: { $case: 'requestDeleteRange', value: { key: B(key), rangeEnd: B(rangeEnd), prevKv: false } } });
const get = (key: string, opts: Partial<RangeRequest> = {}): RequestOp => ({ request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: B(key), ...opts }) } });
const cmp = (key: string, target: CT, result: CR, u: Compare['targetUnion'], rangeEnd = ''): Compare => ({ key: B(key), target, result, targetUnion: u, rangeEnd: B(rangeEnd) });

function responseOf(r: CommandResult) {
  assert.equal(r.code, ResultCode.RESULT_OK, r.message);
  return r.response!.value;
}

function failed(r: CommandResult, code: ResultCode, message: string): void {
  assert.equal(r.message, message);
  assert.equal(r.code, code);
  assert.equal(r.response, undefined);
}

describe('keyspace: the etcd 3.4 session of fixtures/etcd-ground-truth.sh', () => {
  it('gives the revisions, versions, counts and errors etcd 3.4.23 gave', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    assert.equal((await h.get('a')).revision, 1, 'a new store is at revision 1');
    assert.equal(responseOf(await h.put('a', '1')).header!.revision, 2);
    assert.equal(responseOf(await h.put('a', '2')).header!.revision, 3);
    assert.equal(responseOf(await h.put('b', '1')).header!.revision, 4);
    let d = responseOf(await h.del('a')) as { header: { revision: number }; deleted: number };
    assert.deepEqual([d.header.revision, d.deleted], [5, 1]);
    d = responseOf(await h.del('a')) as typeof d;
    assert.deepEqual([d.header.revision, d.deleted], [5, 0], 'deleting nothing makes no revision');
    assert.equal(responseOf(await h.put('a', '3')).header!.revision, 6);

    // txn: mod("a") = "6" → put c 1, put d 1, del b, get a
    let t = responseOf(await h.txn({ compare: [cmp('a', CT.MOD, CR.EQUAL, { $case: 'modRevision', value: 6 })], success: [put('c', '1'), put('d', '1'), del('b'), get('a')] })) as {
      header: { revision: number };
      succeeded: boolean;
      responses: ResponseOp[];
    };
    assert.deepEqual([t.header.revision, t.succeeded], [7, true]);
    const hdrs = t.responses.map((r) => (r.response!.value as { header: { revision: number } }).header.revision);
    assert.deepEqual(hdrs, [7, 7, 7, 7]);
    assert.equal((t.responses[2]!.response!.value as { deleted: number }).deleted, 1);
    const rr = t.responses[3]!.response!.value as { kvs: KeyValue[]; count: number };
    assert.deepEqual([rr.kvs.map(kv), rr.count], [[['a', 6, 6, 1, '3']], 1]);

    // txn: value("a") = "x" fails → get a --prefix; a read-only txn makes no revision
    t = responseOf(await h.txn({ compare: [cmp('a', CT.VALUE, CR.EQUAL, { $case: 'value', value: B('x') })], success: [put('c', '2')], failure: [get('a', { rangeEnd: B('b') })] })) as typeof t;
    assert.deepEqual([t.header.revision, t.succeeded], [7, false]);
    const fr = t.responses[0]!.response!.value as { header: { revision: number }; kvs: KeyValue[]; count: number };
    assert.deepEqual([fr.header.revision, fr.kvs.map(kv), fr.count], [7, [['a', 6, 6, 1, '3']], 1]);

    for (const [k, v, rev] of [['p/1', 'x', 8], ['p/2', 'y', 9], ['p/3', 'z', 10], ['p/2', 'yy', 11]] as const) {
      assert.equal(responseOf(await h.put(k, v)).header!.revision, rev);
    }
    const dp = responseOf(await h.del('p/', 'p0', true)) as { header: { revision: number }; deleted: number; prevKvs: KeyValue[] };
    assert.deepEqual([dp.header.revision, dp.deleted], [12, 3]);
    assert.deepEqual(dp.prevKvs.map(kv), [['p/1', 8, 8, 1, 'x'], ['p/2', 9, 11, 2, 'yy'], ['p/3', 10, 10, 1, 'z']]);

    let g = await h.get('p/', { rangeEnd: B('p0'), revision: 10 });
    assert.deepEqual([g.revision, g.kvs.map(kv), g.count, g.more], [12, [['p/1', 8, 8, 1, 'x'], ['p/2', 9, 9, 1, 'y'], ['p/3', 10, 10, 1, 'z']], 3, false]);
    g = await h.get('p/', { rangeEnd: B('p0'), revision: 10, sortTarget: Target.VERSION, sortOrder: Order.DESCEND, limit: 2 });
    assert.deepEqual([g.kvs.map(kv), g.count, g.more], [[['p/1', 8, 8, 1, 'x'], ['p/2', 9, 9, 1, 'y']], 3, true]);
    g = await h.get('a', { rangeEnd: B('\0'), revision: 11, limit: 3 });
    assert.deepEqual([g.kvs.map(kv), g.count, g.more], [[['a', 6, 6, 1, '3'], ['c', 7, 7, 1, '1'], ['d', 7, 7, 1, '1']], 6, true]);
    g = await h.get('p/', { rangeEnd: B('p0'), revision: 10, keysOnly: true });
    assert.deepEqual([g.kvs.map(kv), g.count], [[['p/1', 8, 8, 1, ''], ['p/2', 9, 9, 1, ''], ['p/3', 10, 10, 1, '']], 3]);
    g = await h.get('p/', { rangeEnd: B('p0'), revision: 10, sortTarget: Target.MOD, sortOrder: Order.ASCEND, limit: 2 });
    assert.deepEqual([g.kvs.map(kv), g.count, g.more], [[['p/1', 8, 8, 1, 'x'], ['p/2', 9, 9, 1, 'y']], 3, true]);

    // Leases: a grant makes no revision; the revoke deletes both keys in one revision.
    assert.equal((await h.cmd({ $case: 'leaseGrant', value: { id: 77, ttlMs: 100_000 } })).revision, 12);
    assert.equal(responseOf(await h.put('l1', 'v', { lease: 77 })).header!.revision, 13);
    assert.equal(responseOf(await h.put('l2', 'v', { lease: 77 })).header!.revision, 14);
    assert.deepEqual((await h.get('l1')).kvs.map(kv), [['l1', 13, 13, 1, 'v', 77]]);
    assert.equal((await h.cmd({ $case: 'leaseRevoke', value: { id: 77 } })).revision, 15);
    g = await h.get('l', { rangeEnd: B('m') });
    assert.deepEqual([g.revision, g.kvs, g.count], [15, [], 0]);
    assert.deepEqual((await h.get('c')).kvs.map(kv), [['c', 7, 7, 1, '1']]);

    assert.equal(responseOf(await h.compact(5)).header!.revision, 15);
    await assert.rejects(h.get('a', { revision: 4 }), { message: 'etcdserver: mvcc: required revision has been compacted' });
    g = await h.get('a', { revision: 5 });
    assert.deepEqual([g.revision, g.kvs, g.count], [15, [], 0]);
    assert.deepEqual((await h.get('a', { revision: 6 })).kvs.map(kv), [['a', 6, 6, 1, '3']]);
    failed(await h.compact(5), ResultCode.RESULT_OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    failed(await h.compact(100), ResultCode.RESULT_OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision');
    failed(await h.put('nokey', '', { ignoreValue: true }), ResultCode.RESULT_INVALID, 'etcdserver: key not found');
    assert.equal(responseOf(await h.put('a', '', { ignoreValue: true })).header!.revision, 16);
    failed(await h.txn({ success: [put('x', '1'), put('x', '2')] }), ResultCode.RESULT_INVALID, 'etcdserver: duplicate key given in txn request');
    t = responseOf(await h.txn({ compare: [cmp('c', CT.VERSION, CR.GREATER, { $case: 'version', value: 0 })], success: [put('c', '3'), put('e', '1')] })) as typeof t;
    assert.deepEqual([t.header.revision, t.succeeded, t.responses.map((r) => (r.response!.value as { header: { revision: number } }).header.revision)], [17, true, [17, 17]]);
    const all = [['a', 6, 16, 2, '3'], ['c', 7, 17, 2, '3'], ['d', 7, 7, 1, '1'], ['e', 17, 17, 1, '1']];
    g = await h.get('\0', { rangeEnd: B('\0') });
    assert.deepEqual([g.revision, g.kvs.map(kv), g.count, g.more], [17, all, 4, false]);
    assert.equal(h.sm.revision, 17);
  });
});

describe('keyspace: etcd errors, each changing nothing', () => {
  it('Put, DeleteRange, Txn and Compaction refusals answer etcd\'s message and code', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    await h.put('k', 'v');
    await h.cmd({ $case: 'leaseGrant', value: { id: 5, ttlMs: 1000 } });
    const rev = h.sm.revision;
    const hash = await h.sm.hash();
    const INVALID = ResultCode.RESULT_INVALID;
    const cases: [Promise<CommandResult>, ResultCode, string][] = [
      [h.put('', 'v'), INVALID, 'etcdserver: key is not provided'],
      [h.put('k', 'v', { ignoreValue: true }), INVALID, 'etcdserver: value is provided'],
      [h.put('k', '', { ignoreLease: true, lease: 5 }), INVALID, 'etcdserver: lease is provided'],
      [h.put('missing', '', { ignoreValue: true }), INVALID, 'etcdserver: key not found'],
      [h.put('missing', '', { ignoreLease: true }), INVALID, 'etcdserver: key not found'],
      [h.put('k', 'v', { lease: 999 }), ResultCode.RESULT_NOT_FOUND, 'etcdserver: requested lease not found'],
      // etcd checks the lease before the key on a Put.
      [h.put('missing', '', { ignoreValue: true, lease: 999 }), ResultCode.RESULT_NOT_FOUND, 'etcdserver: requested lease not found'],
      [h.del(''), INVALID, 'etcdserver: key is not provided'],
      [h.txn({ compare: [cmp('', CT.VERSION, CR.EQUAL, undefined)] }), INVALID, 'etcdserver: key is not provided'],
      [h.txn({ success: [get('')] }), INVALID, 'etcdserver: key is not provided'],
      [h.txn({ failure: [del('')] }), INVALID, 'etcdserver: key is not provided'],
      [h.txn({ success: [{ request: undefined }] }), INVALID, 'etcdserver: key not found'],
      [h.txn({ success: [put('a', '1'), del('a')] }), INVALID, 'etcdserver: duplicate key given in txn request'],
      [h.txn({ success: [del('a', 'c'), put('b', '1')] }), INVALID, 'etcdserver: duplicate key given in txn request'],
      [h.txn({ success: [put('a', '1'), { request: { $case: 'requestTxn', value: TxnRequest.fromPartial({ failure: [put('a', '2')] }) } }] }), INVALID, 'etcdserver: duplicate key given in txn request'],
      [h.txn({ success: [del('a', 'c'), { request: { $case: 'requestTxn', value: TxnRequest.fromPartial({ success: [put('b', '2')] }) } }] }), INVALID, 'etcdserver: duplicate key given in txn request'],
      [h.txn({ success: Array.from({ length: 10_001 }, (_, i) => put(`k${i}`, 'v')) }), INVALID, 'etcdserver: too many operations in txn request'],
      [h.txn({ success: [get('k', { revision: rev + 1 })] }), ResultCode.RESULT_OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
      [h.txn({ success: [put('k', 'v', ), { request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B('z'), lease: 999 }) } }] }), ResultCode.RESULT_NOT_FOUND, 'etcdserver: requested lease not found'],
      [h.txn({ success: [{ request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B('missing'), ignoreValue: true }) } }] }), INVALID, 'etcdserver: key not found'],
      [h.compact(rev + 1), ResultCode.RESULT_OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
    ];
    for (const [p, code, message] of cases) failed(await p, code, message);
    assert.equal(h.sm.revision, rev);
    assert.equal(await h.sm.hash(), hash, 'no refused command changed anything');
    // Compaction: at or below the compact revision is refused, and reads below it fail.
    responseOf(await h.compact(rev));
    failed(await h.compact(rev), ResultCode.RESULT_OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    failed(await h.txn({ success: [get('k', { revision: rev - 1 })] }), ResultCode.RESULT_OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted');
    await assert.rejects(h.get('k', { revision: rev - 1 }), (e: unknown) => e instanceof KeyspaceError && e.grpcCode === 11 && e.kind === 'COMPACTED' && e.compactRevision === rev);
    await assert.rejects(h.get('k', { revision: rev + 1 }), (e: unknown) => e instanceof KeyspaceError && e.grpcCode === 11 && e.message === 'etcdserver: mvcc: required revision is a future revision');
    await assert.rejects(h.get(''), (e: unknown) => e instanceof KeyspaceError && e.grpcCode === 3 && e.message === 'etcdserver: key is not provided');
    await assert.rejects(h.sm.events({ key: B('k'), fromRevision: rev - 1 }), { message: 'etcdserver: mvcc: required revision has been compacted' });
    assert.equal(h.sm.revision, rev);
  });

  it('the checks the gRPC layer runs before proposing: configured op limit, request size', () => {
    const ops = (n: number): RequestOp[] => Array.from({ length: n }, (_, i) => put(`k${i}`, 'v'));
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: ops(128) })), undefined);
    assert.equal(checkTxn(TxnRequest.fromPartial({ success: ops(129) }))?.message, 'etcdserver: too many operations in txn request');
    assert.equal(checkTxn(TxnRequest.fromPartial({ failure: ops(3) }), 2)?.kind, 'TOO_MANY_OPS');
    // A nested txn gets what its parent leaves: 2 compares leave 1 of 3.
    const nested = (n: number): RequestOp => ({ request: { $case: 'requestTxn', value: TxnRequest.fromPartial({ success: ops(n).map((o, i) => ({ request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B(`n${i}`) }) } })) }) } });
    const c2 = [cmp('a', CT.VERSION, CR.EQUAL, undefined), cmp('b', CT.VERSION, CR.EQUAL, undefined)];
    assert.equal(checkTxn(TxnRequest.fromPartial({ compare: c2, success: [nested(1)] }), 3), undefined);
    assert.equal(checkTxn(TxnRequest.fromPartial({ compare: c2, success: [nested(2)] }), 3)?.kind, 'TOO_MANY_OPS');
    assert.equal(checkPut(PutRequest.fromPartial({ key: B('k'), value: B('v') })), undefined);
    const deep = (depth: number): TxnRequest => {
      let t = TxnRequest.fromPartial({ success: [put('leaf', 'v')] });
      for (let i = 1; i < depth; i++) t = TxnRequest.fromPartial({ success: [{ request: { $case: 'requestTxn', value: t } }] });
      return t;
    };
    assert.equal(checkTxn(deep(128)), undefined);
    assert.equal(checkTxn(deep(129), 10_000)?.kind, 'TOO_MANY_OPS');
    assert.equal(checkRequestSize(1.5 * 1024 * 1024), undefined);
    assert.equal(checkRequestSize(1.5 * 1024 * 1024 + 1)?.message, 'etcdserver: request is too large');
    assert.equal(checkRequestSize(101, 100)?.grpcCode, 3);
  });

  it('a forged txn nested thousands deep is refused on every replica, not a stack overflow', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    const varint = (n: number): Buffer => {
      const out: number[] = [];
      for (; n >= 0x80; n >>>= 7) out.push((n & 0x7f) | 0x80);
      out.push(n);
      return Buffer.from(out);
    };
    const field = (tag: number, body: Buffer): Buffer => Buffer.concat([varint(tag), varint(body.length), body]);
    for (const depth of [129, 3000]) {
      // Built as bytes, inside out: encoding it with the generated code would overflow the stack here.
      let txn: Buffer = Buffer.from(TxnRequest.encode(TxnRequest.fromPartial({ success: [put('leaf', 'v')] })).finish());
      for (let i = 1; i < depth; i++) txn = field((2 << 3) | 2, field((4 << 3) | 2, txn)); // success: [RequestOp{request_txn}]
      const [r] = await h.sm.apply([{ index: ++h.index, term: 1, data: field((42 << 3) | 2, txn) }]); // Command.etcd_txn
      assert.equal(r!.code, ResultCode.RESULT_INVALID, `depth ${depth}: ${r!.message}`);
      assert.match(r!.message, /^(etcdserver: too many operations in txn request|undecodable command)/);
    }
    assert.equal(h.sm.revision, 1);
    assert.deepEqual((await h.get('leaf')).kvs, []);
  });

  it('duplicate-key rule: the two branches of a nested txn may put the same key; overlapping deletes are fine; a from-key delete is not an interval (as etcd)', async () => {
    const h = await EtcdHarness.open(tempDir(after));
    after(() => h.sm.close());
    await h.put('b', 'old');
    const branches: RequestOp = { request: { $case: 'requestTxn', value: TxnRequest.fromPartial({ compare: [cmp('b', CT.VALUE, CR.EQUAL, { $case: 'value', value: B('old') })], success: [put('x', 'then')], failure: [put('x', 'else')] }) } };
    let t = responseOf(await h.txn({ success: [branches] })) as { header: { revision: number }; responses: ResponseOp[] };
    assert.equal(t.header.revision, 3);
    assert.equal((t.responses[0]!.response!.value as { header: { revision: number } }).header.revision, 0, 'a nested txn\'s header is empty, as etcd leaves it');
    assert.deepEqual((await h.get('x')).kvs.map(kv), [['x', 3, 3, 1, 'then']]);
    t = responseOf(await h.txn({ success: [del('a', 'c'), del('b', 'y')] })) as typeof t;
    assert.deepEqual(t.responses.map((r) => (r.response!.value as { deleted: number }).deleted), [1, 1]);
    // etcd's interval check takes range_end "\0" literally: [b, "\0") holds no key, so a put
    // after a from-key delete passes; the put then recreates the key the delete removed.
    await h.put('b', 'again');
    t = responseOf(await h.txn({ success: [del('a', '\0'), put('b', 'new')] })) as typeof t;
    assert.equal((t.responses[0]!.response!.value as { deleted: number }).deleted, 1);
    assert.deepEqual((await h.get('b')).kvs.map(kv), [['b', 6, 6, 1, 'new']]);
    // …and a put with ignore_value after it finds no key: etcd's member panics there; this
    // refuses the whole txn and keeps nothing of it.
    const rev = h.sm.revision;
    const r = await h.txn({ success: [del('a', '\0'), { request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B('b'), ignoreValue: true }) } }] });
    failed(r, ResultCode.RESULT_INVALID, 'etcdserver: key not found');
    assert.equal(h.sm.revision, rev);
    assert.deepEqual((await h.get('b')).kvs.map(kv), [['b', 6, 6, 1, 'new']]);
  });
});
