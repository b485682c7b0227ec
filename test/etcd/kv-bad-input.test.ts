// Bad input on the etcd KV API of a 3-node cluster: every request etcd refuses is answered with
// etcd's gRPC code and message, and changes nothing — the revision and the state hash of every
// replica are the same before and after. Also: a range end below the key reads and deletes
// nothing (etcd's answer, not an error), a request over the receive limit is refused before it is
// decoded, a malformed one with INVALID_ARGUMENT, and a writing txn whose range is at a compacted
// revision is refused on every replica (etcd 3.4 applies it on the members the client is not
// connected to: etcd issue #18667).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  Compare_CompareResult as CR,
  Compare_CompareTarget as CT,
  CompactionRequest,
  DeleteRangeRequest,
  KVClient,
  PutRequest,
  RangeRequest,
  TxnRequest,
  type RequestOp,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster, type Cluster } from '../support/cluster.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const put = (key: string, value = 'v'): RequestOp => ({ request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B(key), value: B(value) }) } });
const get = (key: string, revision = 0): RequestOp => ({ request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: B(key), revision }) } });

type Call<Req, Rep> = (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, rep: Rep) => void) => unknown;

function call<Req, Rep>(client: KVClient, fn: Call<Req, Rep>, req: Req, md = new grpc.Metadata()): Promise<Rep> {
  return new Promise((resolve, reject) => fn.call(client, req, md, { deadline: Date.now() + 10_000 }, (err, rep) => (err ? reject(err) : resolve(rep))));
}

/** Our de-dup ids for an etcd write (src/api/etcd/metadata.ts): the client's id and its sequence number. */
function dedup(clientId: string, seq?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('x-placement-client-id', clientId);
  if (seq !== undefined) md.set('x-placement-seq', seq);
  return md;
}

describe('etcd KV API: bad input', () => {
  let c: Cluster;
  let kv: KVClient;

  before(async () => {
    c = await startCluster({ nodes: 3 });
    const leader = await c.waitForLeader();
    // A follower: its requests are forwarded, so the leader's checks are exercised too.
    const follower = c.nodes.find((n) => n.id !== leader)!;
    kv = new KVClient(follower.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.max_send_message_length': 16 << 20 });
  });
  after(async () => {
    kv?.close();
    await c?.stop();
  });

  const state = async (): Promise<{ revision: number; hash: string }[]> => {
    // Every replica has applied everything the leader has before its hash is compared.
    const leader = await c.waitForLeader();
    const target = (await c.status(leader)).commitIndex;
    await c.waitFor(async () => {
      for (const n of c.nodes) if ((await c.status(n.id)).appliedIndex < target) return false;
      return true;
    });
    return Promise.all(
      c.nodes.map(async (n) => {
        const h = ((await (await fetch(`http://${n.httpAddress}/v1/debug/hash`)).json()) as { data: { revision: number; hash: string } }).data;
        return { revision: h.revision, hash: h.hash };
      }),
    );
  };

  it('refuses each with etcd\'s code and message, and nothing changes on any replica', async () => {
    for (const k of ['a', 'b', 'c']) await call(kv, kv.put, PutRequest.fromPartial({ key: B(k), value: B('1') }));
    await call(kv, kv.put, PutRequest.fromPartial({ key: B('a'), value: B('2') }));
    await call(kv, kv.compact, CompactionRequest.fromPartial({ revision: 3 }));
    const before = await state();
    assert.equal(before[0]!.revision, 5);
    assert.ok(before.every((s) => s.hash === before[0]!.hash), 'replicas agree before');

    const INVALID = grpc.status.INVALID_ARGUMENT;
    const OUT = grpc.status.OUT_OF_RANGE;
    const cases: [string, () => Promise<unknown>, number, string][] = [
      ['Put with an empty key', () => call(kv, kv.put, PutRequest.fromPartial({ value: B('x') })), INVALID, 'etcdserver: key is not provided'],
      ['Range with an empty key', () => call(kv, kv.range, RangeRequest.fromPartial({})), INVALID, 'etcdserver: key is not provided'],
      ['DeleteRange with an empty key', () => call(kv, kv.deleteRange, DeleteRangeRequest.fromPartial({ rangeEnd: B('z') })), INVALID, 'etcdserver: key is not provided'],
      ['Put ignore_value with a value', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('a'), value: B('x'), ignoreValue: true })), INVALID, 'etcdserver: value is provided'],
      ['Put ignore_lease with a lease', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('a'), lease: 7, ignoreLease: true })), INVALID, 'etcdserver: lease is provided'],
      ['Put ignore_value of a missing key', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('zz'), ignoreValue: true })), INVALID, 'etcdserver: key not found'],
      ['Put with a lease that does not exist', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('a'), value: B('x'), lease: 99 })), grpc.status.NOT_FOUND, 'etcdserver: requested lease not found'],
      ['Put over --max-request-bytes', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('big'), value: Buffer.alloc(1_600_000, 1) })), INVALID, 'etcdserver: request is too large'],
      ['Txn over --max-request-bytes', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: [put('t1', 'x'.repeat(800_000)), put('t2', 'x'.repeat(800_000))] })), INVALID, 'etcdserver: request is too large'],
      ['Put over the receive limit', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('big'), value: Buffer.alloc(2_200_000, 1) })), grpc.status.RESOURCE_EXHAUSTED, 'grpc: received message larger than max (2200010 vs. 2097152)'],
      ['Txn putting a key twice', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: [put('d'), put('d')] })), INVALID, 'etcdserver: duplicate key given in txn request'],
      ['Txn putting a key it deletes', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: [{ request: { $case: 'requestDeleteRange', value: DeleteRangeRequest.fromPartial({ key: B('c'), rangeEnd: B('e') }) } }, put('d')] })), INVALID, 'etcdserver: duplicate key given in txn request'],
      ['Txn with 129 operations', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: Array.from({ length: 129 }, (_, i) => put(`m/${i}`)) })), INVALID, 'etcdserver: too many operations in txn request'],
      ['Txn with 129 compares', () => call(kv, kv.txn, TxnRequest.fromPartial({ compare: Array.from({ length: 129 }, () => ({ key: B('a'), target: CT.VERSION, result: CR.GREATER, rangeEnd: Buffer.alloc(0), targetUnion: { $case: 'version', value: 0 } })) })), INVALID, 'etcdserver: too many operations in txn request'],
      ['Txn compare with an empty key', () => call(kv, kv.txn, TxnRequest.fromPartial({ compare: [{ key: Buffer.alloc(0), target: CT.VERSION, result: CR.EQUAL, rangeEnd: Buffer.alloc(0) }], success: [put('e')] })), INVALID, 'etcdserver: key is not provided'],
      ['Txn with an empty operation', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: [{ request: undefined }] })), INVALID, 'etcdserver: key not found'],
      ['Range at a future revision', () => call(kv, kv.range, RangeRequest.fromPartial({ key: B('a'), revision: 100 })), OUT, 'etcdserver: mvcc: required revision is a future revision'],
      ['Range at a compacted revision', () => call(kv, kv.range, RangeRequest.fromPartial({ key: B('a'), revision: 2 })), OUT, 'etcdserver: mvcc: required revision has been compacted'],
      ['read-only Txn at a future revision', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: [get('a', 100)] })), OUT, 'etcdserver: mvcc: required revision is a future revision'],
      ['writing Txn reading a compacted revision', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: [get('a', 2), put('a', 'never')] })), OUT, 'etcdserver: mvcc: required revision has been compacted'],
      ['writing Txn reading a future revision', () => call(kv, kv.txn, TxnRequest.fromPartial({ success: [put('a', 'never'), get('a', 100)] })), OUT, 'etcdserver: mvcc: required revision is a future revision'],
      ['Compact at the compacted revision', () => call(kv, kv.compact, CompactionRequest.fromPartial({ revision: 3 })), OUT, 'etcdserver: mvcc: required revision has been compacted'],
      ['Compact at a future revision', () => call(kv, kv.compact, CompactionRequest.fromPartial({ revision: 100 })), OUT, 'etcdserver: mvcc: required revision is a future revision'],
      ['Put with a de-dup id and no sequence', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('a'), value: B('x') }), dedup('c1')), INVALID, 'x-placement-client-id needs x-placement-seq, a positive integer, and an id of 1..256 characters'],
      ['Put with a de-dup sequence of 0', () => call(kv, kv.put, PutRequest.fromPartial({ key: B('a'), value: B('x') }), dedup('c1', '0')), INVALID, 'x-placement-client-id needs x-placement-seq, a positive integer, and an id of 1..256 characters'],
    ];
    for (const [what, run, code, message] of cases) {
      await assert.rejects(run(), (err: grpc.ServiceError) => {
        assert.equal(err.details, message, what);
        assert.equal(err.code, code, `${what}: code ${grpc.status[err.code]}`);
        return true;
      });
    }

    // A range end below the key is no error in etcd: nothing is read or deleted.
    const r = await call(kv, kv.range, RangeRequest.fromPartial({ key: B('c'), rangeEnd: B('a') }));
    assert.deepEqual([r.kvs, r.count, r.more, r.header!.revision], [[], 0, false, 5]);
    const d = await call(kv, kv.deleteRange, DeleteRangeRequest.fromPartial({ key: B('c'), rangeEnd: B('a') }));
    assert.deepEqual([d.deleted, d.header!.revision], [0, 5]);

    // A request that does not decode.
    const raw = new grpc.Client(c.nodes[0]!.grpcAddress, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError>((resolve) =>
        raw.makeUnaryRequest('/etcdserverpb.KV/Put', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0x05, 0x61]), (e) => resolve(e!)),
      );
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /^malformed request/);
    } finally {
      raw.close();
    }

    const after_ = await state();
    assert.deepEqual(after_, before, 'no replica changed');
  });

  it('applies a write with de-dup ids once, however often it is sent', async () => {
    const first = await call(kv, kv.put, PutRequest.fromPartial({ key: B('dd'), value: B('1') }), dedup('dedup-client', '1'));
    const again = await call(kv, kv.put, PutRequest.fromPartial({ key: B('dd'), value: B('1') }), dedup('dedup-client', '1'));
    assert.equal(again.header!.revision, first.header!.revision, 'the retry is answered with the first write\'s revision');
    const next = await call(kv, kv.put, PutRequest.fromPartial({ key: B('dd'), value: B('2') }), dedup('dedup-client', '2'));
    assert.equal(next.header!.revision, first.header!.revision + 1);
    const r = await call(kv, kv.range, RangeRequest.fromPartial({ key: B('dd') }));
    assert.deepEqual([r.kvs[0]!.version, r.kvs[0]!.modRevision, Buffer.from(r.kvs[0]!.value).toString()], [2, next.header!.revision, '2']);
  });
});
