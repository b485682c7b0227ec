// The SDK's retry rule for the etcd API: its writes carry no de-duplication id, so a Put/Txn that
// may have reached a server is never sent again (it could apply twice); reads, and writes whose
// attempt certainly reached nobody (connection refused), move on to the next member.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KVService } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { PlacementClient, UnavailableError, op, seededRandom } from '../../src/client/index.js';
import { deadAddress } from './support/fake-cluster.js';

const SEED = 20261203;

/** A member whose every KV call fails with UNAVAILABLE after reaching it (etcd's "leader changed"). */
async function failingMember(calls: string[]): Promise<{ address: string; server: grpc.Server }> {
  const server = new grpc.Server();
  const fail = (name: string) => (_call: unknown, cb: grpc.sendUnaryData<never>) => {
    calls.push(name);
    cb({ code: grpc.status.UNAVAILABLE, details: 'etcdserver: leader changed' } as grpc.ServiceError, null);
  };
  server.addService(KVService, { range: fail('range'), put: fail('put'), deleteRange: fail('deleteRange'), txn: fail('txn'), compact: fail('compact') });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  return { address: `127.0.0.1:${port}`, server };
}

let a: { address: string; server: grpc.Server };
let b: { address: string; server: grpc.Server };
const callsA: string[] = [];
const callsB: string[] = [];
before(async () => {
  a = await failingMember(callsA);
  b = await failingMember(callsB);
});
after(() => {
  a.server.forceShutdown();
  b.server.forceShutdown();
});

const client = (endpoints: string[]): PlacementClient =>
  new PlacementClient({ endpoints, discoverMembers: false, refreshIntervalMs: 0, deadlineMs: 1500, random: seededRandom(SEED), backoff: { initialMs: 20, maxMs: 50 } });

test('an etcd write that reached a member is not sent again; a read is', async () => {
  console.log(`seed ${SEED}`);
  const c = client([a.address, b.address]);
  try {
    callsA.length = 0;
    callsB.length = 0;
    await assert.rejects(c.etcd.put('k', 'v'), UnavailableError);
    await assert.rejects(c.txn().then(op.put('k', 'v')).commit(), UnavailableError);
    assert.deepEqual([...callsA, ...callsB].sort(), ['put', 'txn'], 'a write was sent twice');
    callsA.length = 0;
    callsB.length = 0;
    await assert.rejects(c.etcd.range('k'));
    await assert.rejects(c.txn().then(op.get('k')).commit());
    assert.ok(callsA.includes('range') && callsB.includes('range'), `range tried one member only: ${callsA} / ${callsB}`);
    assert.ok(callsA.includes('txn') && callsB.includes('txn'), `a read-only txn tried one member only: ${callsA} / ${callsB}`);
  } finally {
    c.close();
  }
});

test('an etcd write whose connection was refused moves on to the next member', async () => {
  // A member of its own: a call the previous test's client still had in flight when it gave up
  // can reach a or b after that test ended, and would be counted here.
  const callsC: string[] = [];
  const m = await failingMember(callsC);
  const c = client([await deadAddress(), m.address]);
  try {
    await assert.rejects(c.etcd.put('k', 'v'), UnavailableError);
    assert.deepEqual(callsC, ['put']);
  } finally {
    c.close();
    m.server.forceShutdown();
  }
});
