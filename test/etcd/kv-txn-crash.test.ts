// Crash during a stream of Txns on the etcd API: every member is SIGKILLed at once while
// clients have Txns in flight on all three. After the restart, on every replica, each
// acknowledged Txn is whole — all four of its keys, with its values, at the revision it was
// answered with — and every Txn that was not acknowledged is whole or absent, never partial.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { Compare_CompareResult as CR, Compare_CompareTarget as CT, KVClient, PutRequest, RangeRequest, TxnRequest, type TxnResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster, type Cluster } from '../support/cluster.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const WIDTH = 4;

function txnOf(i: number): TxnRequest {
  const keys = Array.from({ length: WIDTH }, (_, k) => `t/${String(i).padStart(6, '0')}/${k}`);
  return TxnRequest.fromPartial({
    // Only once: the txn's first key must not exist yet.
    compare: [{ key: B(keys[0]!), target: CT.VERSION, result: CR.EQUAL, targetUnion: { $case: 'version', value: 0 }, rangeEnd: Buffer.alloc(0) }],
    success: keys.map((k) => ({ request: { $case: 'requestPut' as const, value: PutRequest.fromPartial({ key: B(k), value: B(`txn-${i}`) }) } })),
  });
}

function txn(client: KVClient, req: TxnRequest): Promise<TxnResponse> {
  return new Promise((resolve, reject) => client.txn(req, new grpc.Metadata(), { deadline: Date.now() + 3000 }, (err, rep) => (err ? reject(err) : resolve(rep))));
}

function range(client: KVClient, req: RangeRequest): Promise<import('../../proto/gen/etcd/etcdserverpb/rpc.js').RangeResponse> {
  return new Promise((resolve, reject) => client.range(req, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, rep) => (err ? reject(err) : resolve(rep))));
}

test('kill -9 of every member during a stream of etcd Txns: acknowledged Txns are whole, none is partial', { timeout: 240_000 }, async () => {
  let c: Cluster | undefined;
  const clients: KVClient[] = [];
  try {
    c = await startCluster({ nodes: 3 });
    for (const n of c.nodes) clients.push(new KVClient(n.grpcAddress, grpc.credentials.createInsecure(), { 'grpc.enable_retries': 0 }));
    const acked = new Map<number, number>(); // txn → revision answered
    let next = 0;
    let stop = false;
    let killed: Promise<void> | undefined;
    const workers = Array.from({ length: 24 }, async (_, w) => {
      const client = clients[w % clients.length]!;
      while (!stop) {
        const i = next++;
        try {
          const r = await txn(client, txnOf(i));
          assert.ok(r.succeeded, `txn ${i} found its key already there`);
          acked.set(i, r.header!.revision);
        } catch {
          // Unanswered (the crash): whole or absent, checked below.
        }
        if (acked.size >= 300 && !killed) {
          // Kill while the other workers still have Txns in flight.
          killed = Promise.all(c!.nodes.map((n) => c!.kill(n.id))).then(() => undefined);
          stop = true;
        }
      }
    });
    await Promise.all(workers);
    await killed;
    const issued = next;
    assert.ok(acked.size >= 300, `only ${acked.size} txns were acknowledged`);

    for (const n of c.nodes) await c.restart(n.id);
    const leader = await c.waitForLeader();
    const target = (await c.status(leader)).commitIndex;
    await c.waitFor(async () => {
      for (const n of c!.nodes) if ((await c!.status(n.id)).appliedIndex < target) return false;
      return true;
    }, { what: 'every replica applied the log' });

    for (const [idx, client] of clients.entries()) {
      const all = await range(client, RangeRequest.fromPartial({ key: B('t/'), rangeEnd: B('t0'), serializable: true }));
      const byTxn = new Map<number, { rev: number; value: string }[]>();
      for (const kv of all.kvs) {
        const i = Number(kv.key.toString('latin1').split('/')[1]);
        let list = byTxn.get(i);
        if (!list) byTxn.set(i, (list = []));
        list.push({ rev: kv.modRevision, value: kv.value.toString('latin1') });
      }
      for (const [i, rev] of acked) {
        const list = byTxn.get(i);
        assert.ok(list, `replica ${idx + 1}: acknowledged txn ${i} is missing`);
        assert.deepEqual(list, Array.from({ length: WIDTH }, () => ({ rev, value: `txn-${i}` })), `replica ${idx + 1}: acknowledged txn ${i} at revision ${rev}`);
      }
      let extra = 0;
      for (const [i, list] of byTxn) {
        assert.ok(i < issued, `txn ${i} was never issued`);
        assert.equal(list.length, WIDTH, `replica ${idx + 1}: txn ${i} is partial: ${JSON.stringify(list)}`);
        assert.ok(list.every((x) => x.rev === list[0]!.rev && x.value === `txn-${i}`), `replica ${idx + 1}: txn ${i} is not at one revision`);
        if (!acked.has(i)) extra++;
      }
      // Each txn is one revision: the keyspace revision counts exactly the txns that happened.
      assert.equal(all.header!.revision, 1 + byTxn.size, `replica ${idx + 1}: ${byTxn.size} txns (${extra} unacknowledged) but revision ${all.header!.revision}`);
    }
  } finally {
    for (const k of clients) k.close();
    await c?.stop();
  }
});
