// A learner member, asked by raw etcd gRPC clients, answers as etcd 3.4's does: Status and
// serializable Ranges, nothing else. Every other unary call, and every stream (Watch,
// LeaseKeepAlive, Snapshot), is refused with Unavailable "etcdserver: rpc not supported for
// learner", which sends etcd clients to another member. Both clusters get a running learner
// (etcdctl member add --learner, then the member started) and the same calls, compared one by one.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  AlarmRequest,
  AlarmRequest_AlarmAction,
  CompactionRequest,
  DeleteRangeRequest,
  LeaseGrantRequest,
  LeaseKeepAliveRequest,
  LeaseLeasesRequest,
  MemberListRequest,
  PutRequest,
  RangeRequest,
  SnapshotRequest,
  StatusRequest,
  TxnRequest,
  WatchRequest,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { PlacementClient } from '../../src/client/index.js';
import { poll } from '../support/cluster.js';
import { etcdAndOurs } from '../support/differential.js';
import { etcdctl } from '../support/etcdctl.js';
import { RawEtcd, outcome, varintField } from '../support/raw-etcd.js';

const KEY = Buffer.from('learner/k');

/** A stream's first outcome: its error, or 'ok' once a response came. */
function streamOutcome(s: grpc.ClientReadableStream<Buffer> | grpc.ClientDuplexStream<unknown, Buffer>): Promise<string> {
  return new Promise<string>((resolve) => {
    const t = setTimeout(() => resolve('nothing within 5 s'), 5000);
    s.on('data', () => {
      clearTimeout(t);
      resolve('ok');
    });
    s.on('error', (e: grpc.ServiceError) => {
      clearTimeout(t);
      resolve(outcome(e));
    });
  }).finally(() => s.cancel());
}

/** Every call, on the learner at `address`, with its outcome. */
async function ask(address: string): Promise<Record<string, string>> {
  const c = new RawEtcd(address);
  try {
    const unary = async <T>(path: string, enc: { encode(m: T): { finish(): Uint8Array } }, req: T): Promise<string> => {
      const r = await c.unary(path, enc, req);
      if (r.err) return outcome(r.err);
      return path === '/etcdserverpb.KV/Range' ? `ok count ${varintField(r.rep!, 4)}` : 'ok';
    };
    const out: Record<string, string> = {
      'Status': await unary('/etcdserverpb.Maintenance/Status', StatusRequest, StatusRequest.create()),
      'Range serializable': await unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.create({ key: KEY, serializable: true })),
      'Range linearizable': await unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.create({ key: KEY })),
      'Put': await unary('/etcdserverpb.KV/Put', PutRequest, PutRequest.create({ key: KEY, value: Buffer.from('no') })),
      'DeleteRange': await unary('/etcdserverpb.KV/DeleteRange', DeleteRangeRequest, DeleteRangeRequest.create({ key: KEY })),
      'Txn (reads only)': await unary('/etcdserverpb.KV/Txn', TxnRequest, TxnRequest.create({ success: [{ request: { $case: 'requestRange', value: RangeRequest.create({ key: KEY }) } }] })),
      'Compact': await unary('/etcdserverpb.KV/Compact', CompactionRequest, CompactionRequest.create({ revision: 1 })),
      'LeaseGrant': await unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, LeaseGrantRequest.create({ TTL: 30 })),
      'LeaseLeases': await unary('/etcdserverpb.Lease/LeaseLeases', LeaseLeasesRequest, LeaseLeasesRequest.create()),
      'MemberList': await unary('/etcdserverpb.Cluster/MemberList', MemberListRequest, MemberListRequest.create()),
      'Alarm GET': await unary('/etcdserverpb.Maintenance/Alarm', AlarmRequest, AlarmRequest.create({ action: AlarmRequest_AlarmAction.GET })),
    };
    const watch = c.stream('/etcdserverpb.Watch/Watch', WatchRequest, new grpc.Metadata());
    watch.write(WatchRequest.create({ requestUnion: { $case: 'createRequest', value: { key: KEY } as never } }));
    out['Watch'] = await streamOutcome(watch);
    const ka = c.stream('/etcdserverpb.Lease/LeaseKeepAlive', LeaseKeepAliveRequest, new grpc.Metadata());
    ka.write(LeaseKeepAliveRequest.create({ ID: 1 }));
    out['LeaseKeepAlive'] = await streamOutcome(ka);
    out['Snapshot'] = await streamOutcome(c.serverStream('/etcdserverpb.Maintenance/Snapshot', SnapshotRequest, SnapshotRequest.create()));
    return out;
  } finally {
    c.close();
  }
}

/** Resolves once the learner at `address` serves the key written through the voters. */
function caughtUp(address: string): Promise<unknown> {
  const c = new RawEtcd(address);
  return poll(
    async () => {
      const r = await c.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.create({ key: KEY, serializable: true }));
      return !r.err && varintField(r.rep!, 4) === 1;
    },
    { what: `the learner at ${address} caught up`, timeoutMs: 60_000, intervalMs: 200 },
  ).finally(() => c.close());
}

describe('a learner answers etcd clients as etcd 3.4 does', () => {
  const pair = etcdAndOurs();

  test('Status and serializable Ranges only; every other call and stream refused with etcd\'s error', { timeout: 180_000 }, async () => {
    const etcdEndpoints = pair.etcd.endpoints;
    const ourEndpoints = pair.ours.nodes.map((n) => n.grpcAddress);
    for (const eps of [etcdEndpoints, ourEndpoints]) assert.equal((await etcdctl(eps, ['put', KEY.toString(), 'v'])).code, 0);

    const etcdLearner = await pair.etcd.addLearner('m4');
    const spare = pair.ours.spareGrpcAddress();
    const added = await poll(
      async () => {
        const r = await etcdctl(ourEndpoints, ['member', 'add', 'newbie', `--peer-urls=http://${spare}`, '--learner', '-w', 'json']);
        return r.code === 0 ? r : null;
      },
      { what: 'member add --learner (ours)', timeoutMs: 30_000, intervalMs: 500 },
    );
    // Our member add names the new member member-<id>: the --id it starts with.
    const id = Number(/"member":\{[^}]*"name":"member-(\d+)"/.exec(added.stdout)?.[1]);
    assert.ok(id > 0, added.stdout);
    pair.ours.addNode(id, [1, 2, 3]);
    await pair.ours.start(id);
    await Promise.all([caughtUp(etcdLearner.grpcAddress), caughtUp(spare)]);

    const theirs = await ask(etcdLearner.grpcAddress);
    const ours = await ask(spare);
    assert.deepEqual(ours, theirs);
    assert.equal(theirs['Status'], 'ok');
    assert.equal(theirs['Range serializable'], 'ok count 1');
    assert.equal(theirs['Put'], 'error UNAVAILABLE: etcdserver: rpc not supported for learner');
    assert.equal(theirs['Watch'], 'error UNAVAILABLE: etcdserver: rpc not supported for learner');
    // Nothing the learner refused was done: the key is as it was, through a voter.
    const get = await etcdctl(ourEndpoints, ['get', KEY.toString(), '--print-value-only']);
    assert.equal(get.stdout, 'v\n');

    // Our SDK, given the learner first, takes its refusal as "nothing done here" and goes on to a
    // voter, for writes too (an etcd write, a lease, a lock's txn).
    const sdk = new PlacementClient({ endpoints: [spare, ...ourEndpoints], deadlineMs: 10_000 });
    try {
      await sdk.etcd.put('learner/sdk', 'x');
      const lease = await sdk.lease.grant(10_000);
      await sdk.etcd.put('learner/leased', 'y', { lease: lease.id });
      const r = await sdk.etcd.range('learner/sdk');
      assert.equal(Buffer.from(r.kvs[0]!.value).toString(), 'x');
    } finally {
      sdk.close();
    }
  });
});
