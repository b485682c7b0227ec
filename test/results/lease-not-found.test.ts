// Regression (issue 16, item 1): a write naming a lease that does not exist used to answer OK and
// write nothing on gRPC Set and CompareAndSwap, on Session, through the SDK and placement-ctl.
// On a real 3-node cluster, at the leader and through a follower (which forwards the write), every
// surface must fail NOT_FOUND "lease 999 not found" and change nothing. The other results a
// client can provoke (an unmet CAS expectation, a sequence number older than the de-duplication
// window) are checked through the follower too.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { kvClient, type KvClient } from '../support/kv.js';
import { NotFoundError, OutcomeUnknownError, PlacementClient } from '../../src/client/index.js';
import { runCtl } from '../cli/support/run-ctl.js';

const LEASE = 999;
const MESSAGE = `lease ${LEASE} not found`;

describe(`writes naming lease ${LEASE}, which does not exist`, { timeout: 120_000 }, () => {
  let c: Cluster;
  let leader: number;
  let follower: number;
  const clients: Array<{ close(): void }> = [];
  const raw = (id: number): KvClient => {
    const k = kvClient(c.node(id).grpcAddress);
    clients.push(k);
    return k;
  };
  const sdk = (id: number, transport: 'session' | 'unary'): PlacementClient => {
    const p = new PlacementClient({ endpoints: [c.node(id).grpcAddress], discoverMembers: false, transport });
    clients.push(p);
    return p;
  };
  /** The cluster revision at every node (they agree once the last write is applied everywhere). */
  const revisions = async (): Promise<number[]> => Promise.all(c.nodes.map(async (n) => (await c.status(n.id)).revision));

  before(async () => {
    c = await startCluster({ nodes: 3 });
    leader = await c.waitForLeader();
    follower = c.nodes.find((n) => n.id !== leader)!.id;
    // One real write so "nothing changed" means something (a new cluster is at revision 1, as
    // etcd, so the first write makes revision 2).
    const k = raw(leader);
    await k.set({ key: '/existing', value: Buffer.from('1') });
    await c.waitFor(async () => (await revisions()).every((r) => r === 2), { what: 'revision 2 everywhere' });
  });
  after(async () => {
    for (const k of clients) k.close();
    await c?.stop();
  });

  const notFound = (what: string) => (e: unknown) => {
    const err = e as grpc.ServiceError;
    assert.equal(grpc.status[err.code], 'NOT_FOUND', `${what}: ${err.details}`);
    assert.equal(err.details, MESSAGE, what);
    return true;
  };
  const sdkNotFound = (what: string) => (e: unknown) => {
    assert.ok(e instanceof NotFoundError, `${what}: ${String(e)}`);
    assert.equal(e.message, MESSAGE, what);
    return true;
  };
  const where = (id: number): string => (id === leader ? 'at the leader' : 'through a follower');
  const both = (): number[] => [leader, follower];

  test('gRPC unary Set, with and without a client id (and its retry): NOT_FOUND', async () => {
    for (const id of both()) {
      const k = raw(id);
      await assert.rejects(k.set({ key: `/unary-set-${id}`, value: Buffer.from('x'), lease: LEASE }), notFound(`unary Set ${where(id)}`));
      const dedup = { key: `/unary-set-dedup-${id}`, value: Buffer.from('x'), lease: LEASE, clientId: `c-${id}`, seq: 1 };
      await assert.rejects(k.set(dedup), notFound(`unary Set with a client id ${where(id)}`));
      // The retry of the same (client id, seq) gets the same answer from the de-duplication record.
      await assert.rejects(k.set(dedup), notFound(`retried unary Set ${where(id)}`));
    }
  });

  test('gRPC unary CompareAndSwap: NOT_FOUND', async () => {
    for (const id of both()) {
      const req = { key: `/unary-cas-${id}`, expect: { $case: 'expectAbsent' as const, value: true }, value: Buffer.from('x'), lease: LEASE };
      await assert.rejects(raw(id).compareAndSwap(req), notFound(`unary CompareAndSwap ${where(id)}`));
    }
  });

  for (const transport of ['session', 'unary'] as const) {
    test(`SDK set and compareAndSwap over ${transport === 'session' ? 'KvService.Session' : 'unary calls'}: NotFoundError`, async () => {
      for (const id of both()) {
        const p = sdk(id, transport);
        await assert.rejects(p.kv.set(`/sdk-${transport}-${id}`, 'x', { lease: LEASE }), sdkNotFound(`SDK set ${where(id)}`));
        await assert.rejects(
          p.kv.compareAndSwap(`/sdk-cas-${transport}-${id}`, { absent: true }, 'x', { lease: LEASE }),
          sdkNotFound(`SDK compareAndSwap ${where(id)}`),
        );
      }
    });
  }

  test('admin HTTP PUT /v1/kv with a lease: 404', async () => {
    for (const id of both()) {
      const res = await fetch(`http://${c.node(id).httpAddress}/v1/kv/http-${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ value: 'x', lease: LEASE }),
      });
      const body = (await res.json()) as { code: number; data: unknown; error: string };
      assert.equal(res.status, 404, `HTTP PUT ${where(id)}: ${JSON.stringify(body)}`);
      assert.deepEqual(body, { code: grpc.status.NOT_FOUND, data: null, error: MESSAGE });
    }
  });

  test('placement-ctl kv put --lease: exit 4 with the message, text and --json', async () => {
    for (const id of both()) {
      const ctl = await runCtl(['--endpoints', c.node(id).grpcAddress, 'kv', 'put', '--lease', String(LEASE), `/ctl-${id}`, 'x']);
      assert.equal(ctl.code, 4, `placement-ctl kv put --lease ${where(id)}: ${ctl.stdout}${ctl.stderr}`);
      assert.equal(ctl.stdout, '');
      assert.equal(ctl.stderr, `placement-ctl: error: ${MESSAGE}\n`);
      const ctlJson = await runCtl(['--endpoints', c.node(id).grpcAddress, '--json', 'kv', 'put', '--lease', String(LEASE), `/ctl-${id}`, 'x']);
      assert.equal(ctlJson.code, 4, ctlJson.stdout);
      assert.deepEqual(JSON.parse(ctlJson.stderr), { error: { code: 'NOT_FOUND', message: MESSAGE, exitCode: 4 } });
    }
  });

  test('none of those writes changed anything: same revision, no new key, on every node', async () => {
    assert.deepEqual(await revisions(), [2, 2, 2]);
    for (const n of c.nodes) {
      const list = await raw(n.id).list({ prefix: '/', serializable: true });
      assert.deepEqual(list.kvs.map((kv) => kv.key), ['/existing'], `keys on node ${n.id}`);
    }
  });

  test('through a follower: an unmet CAS answers succeeded=false, an old sequence number ABORTED; neither writes', async () => {
    const before = await revisions();
    const k = raw(follower);
    const cas = await k.compareAndSwap({ key: '/existing', expect: { $case: 'expectAbsent', value: true }, value: Buffer.from('2') });
    assert.equal(cas.succeeded, false);
    const p = sdk(follower, 'session');
    await p.kv.set('/seq', 'new', {}); // seq 1 of this client
    // A write far ahead moves the client's de-duplication window past seq 2.
    await k.set({ key: '/seq', value: Buffer.from('far'), clientId: p.clientId, seq: 100_000 });
    await assert.rejects(
      k.set({ key: '/seq', value: Buffer.from('old'), clientId: p.clientId, seq: 2 }),
      (e: unknown) => grpc.status[(e as grpc.ServiceError).code] === 'ABORTED' && /outcome unknown/.test((e as grpc.ServiceError).details),
    );
    await assert.rejects(p.kv.set('/seq', 'old again'), (e: unknown) => e instanceof OutcomeUnknownError);
    assert.equal((await k.get({ key: '/seq' })).value.toString(), 'far');
    // Exactly the two applied writes moved the revision, on every node.
    const want = before[0]! + 2;
    await c.waitFor(async () => (await revisions()).every((r) => r === want), { what: `revision ${want} everywhere` });
  });
});
