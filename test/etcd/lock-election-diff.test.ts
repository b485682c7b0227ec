// etcd's Lock and Election services (v3lockpb, v3electionpb) beyond what the Go session
// (go-clientv3.test.ts) and the JSON gateway session (gateway-diff.test.ts) cover: with auth on,
// and with requests too large or malformed, each call answered the same by a real 3-member etcd
// 3.4 and by us (code and message); then what only ours is specified for: a waiting Lock whose
// member stops, a waiting Campaign whose client gives up, and a waiter whose lease ended while it
// waited (etcd 3.4 answers it the lock; we answer etcd 3.5's "mutex: session is expired").
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AuthenticateRequest, AuthRoleAddRequest, AuthRoleGrantPermissionRequest, AuthUserAddRequest, AuthUserGrantRoleRequest, AuthEnableRequest, AuthDisableRequest, LeaseGrantRequest, LeaseRevokeRequest, RangeRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Permission_Type } from '../../proto/gen/etcd/authpb/auth.js';
import { LockRequest, UnlockRequest } from '../../proto/gen/etcd/v3lockpb/v3lock.js';
import { CampaignRequest, LeaderRequest, ResignRequest } from '../../proto/gen/etcd/v3electionpb/v3election.js';
import { walkFields } from '../../proto/fields.js';
import { etcdAndOurs } from '../support/differential.js';
import { startCluster } from '../support/cluster.js';
import { RawEtcd, outcome, varintField } from '../support/raw-etcd.js';

const LOCK = '/v3lockpb.Lock/Lock';
const UNLOCK = '/v3lockpb.Lock/Unlock';
const CAMPAIGN = '/v3electionpb.Election/Campaign';
const LEADER = '/v3electionpb.Election/Leader';
const RESIGN = '/v3electionpb.Election/Resign';
const OBSERVE = '/v3electionpb.Election/Observe';

const withToken = (token?: string): grpc.Metadata => {
  const md = new grpc.Metadata();
  if (token) md.set('token', token);
  return md;
};

/**
 * The contents of length-delimited field `no` of a message (etcd's 64-bit ids in a response's
 * header are beyond the generated decoders, so replies are read field by field).
 */
function fieldContent(b: Buffer, no: number): Buffer {
  let out: Buffer = Buffer.alloc(0);
  walkFields(b, (f) => {
    if (f.field !== no || f.wireType !== 2) return;
    let o = f.start;
    while (b[o]! & 0x80) o++; // the tag
    o++;
    while (b[o]! & 0x80) o++; // the length
    out = b.subarray(o + 1, f.end);
  });
  return out;
}

async function tokenOf(c: RawEtcd, name: string, password: string): Promise<string> {
  const { err, rep } = await c.unary('/etcdserverpb.Auth/Authenticate', AuthenticateRequest, { name, password });
  assert.equal(err, null, `authenticate ${name}: ${outcome(err)}`);
  return fieldContent(rep!, 2).toString('utf8');
}

/** A Lock reply as "key K rev R" (LockResponse.key; the header's revision). */
const lockReply = (rep: Buffer): string => `key ${fieldContent(rep, 2).toString()} rev ${varintField(fieldContent(rep, 1), 3)}`;

describe('etcd Lock and Election services against etcd 3.4', () => {
  const pair = etcdAndOurs();

  test('with auth on: who may lock, campaign, read the leader and unlock, answered as etcd answers', { timeout: 60_000 }, async () => {
    const run = async (address: string): Promise<string[]> => {
      const c = new RawEtcd(address);
      const lines: string[] = [];
      const step = async (note: string, p: Promise<{ err: grpc.ServiceError | null; rep?: Buffer }>, show?: (rep: Buffer) => string): Promise<Buffer | undefined> => {
        const { err, rep } = await p;
        lines.push(`${note}: ${outcome(err)}${!err && show && rep ? ` ${show(rep)}` : ''}`);
        return rep;
      };
      try {
        for (const [path, codec, req] of [
          ['/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'root', password: 'rootpw' })],
          ['/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: 'root', role: 'root' }],
          ['/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'alice', password: 'alicepw' })],
          ['/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'bob', password: 'bobpw' })],
          ['/etcdserverpb.Auth/RoleAdd', AuthRoleAddRequest, { name: 'locker' }],
          ['/etcdserverpb.Auth/RoleGrantPermission', AuthRoleGrantPermissionRequest, { name: 'locker', perm: { permType: Permission_Type.READWRITE, key: Buffer.from('alock/'), rangeEnd: Buffer.from('alock0') } }],
          ['/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: 'alice', role: 'locker' }],
          ['/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 60, ID: 7171 }],
          ['/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 60, ID: 7272 }],
          ['/etcdserverpb.Auth/AuthEnable', AuthEnableRequest, {}],
        ] as const) {
          const { err } = await c.unary(path, codec as never, req as never);
          assert.equal(err, null, `${path}: ${outcome(err)}`);
        }
        const alice = await tokenOf(c, 'alice', 'alicepw');
        const bob = await tokenOf(c, 'bob', 'bobpw');
        const root = await tokenOf(c, 'root', 'rootpw');
        const lock = (token: string | undefined, name: string, lease: number): Promise<{ err: grpc.ServiceError | null; rep?: Buffer }> =>
          c.unary(LOCK, LockRequest, { name: Buffer.from(name), lease }, withToken(token));
        await step('lock as anonymous', lock(undefined, 'alock', 7171));
        await step('lock with a token that is not one', lock('not-a-token', 'alock', 7171));
        await step('lock as bob (no role)', lock(bob, 'alock', 7171));
        await step('lock as alice outside her keys', lock(alice, 'block', 7171));
        await step('lock as alice', lock(alice, 'alock', 7171), lockReply);
        await step('unlock alice\'s key as bob', c.unary(UNLOCK, UnlockRequest, { key: Buffer.from('alock/1c03') }, withToken(bob)));
        await step('unlock as alice', c.unary(UNLOCK, UnlockRequest, { key: Buffer.from('alock/1c03') }, withToken(alice)));
        await step('campaign as bob', c.unary(CAMPAIGN, CampaignRequest, { name: Buffer.from('alock'), lease: 7272, value: Buffer.from('b') }, withToken(bob)));
        await step('campaign as alice', c.unary(CAMPAIGN, CampaignRequest, { name: Buffer.from('alock'), lease: 7272, value: Buffer.from('a') }, withToken(alice)));
        await step('leader as anonymous', c.unary(LEADER, LeaderRequest, { name: Buffer.from('alock') }));
        await step('leader as bob', c.unary(LEADER, LeaderRequest, { name: Buffer.from('alock') }, withToken(bob)));
        await step('leader as alice', c.unary(LEADER, LeaderRequest, { name: Buffer.from('alock') }, withToken(alice)), (rep) => `value ${fieldContent(fieldContent(rep, 2), 5).toString()}`);
        await step('resign as bob', c.unary(RESIGN, ResignRequest, { leader: { name: Buffer.from('alock'), key: Buffer.from('alock/1c68'), rev: 1, lease: 7272 } }, withToken(bob)));
        const off = await c.unary('/etcdserverpb.Auth/AuthDisable', AuthDisableRequest, {}, withToken(root));
        assert.equal(off.err, null, outcome(off.err));
        for (const id of [7171, 7272]) await c.unary('/etcdserverpb.Lease/LeaseRevoke', LeaseRevokeRequest, { ID: id });
        return lines;
      } finally {
        c.close();
      }
    };
    const theirs = await run(pair.etcd.endpoints[0]!);
    // The session must have exercised what it claims on etcd: refusals and successes both.
    assert.match(theirs.join('\n'), /lock as bob \(no role\): error UNKNOWN: etcdserver: permission denied/);
    assert.match(theirs.join('\n'), /lock as alice: ok key alock\/1c03 rev \d+/);
    assert.deepEqual(await run(pair.ours.nodes[1]!.grpcAddress), theirs);
  });

  test('too large, over --max-request-bytes and malformed: refused as etcd refuses, nothing written', { timeout: 60_000 }, async () => {
    const run = async (address: string): Promise<string[]> => {
      const c = new RawEtcd(address);
      try {
        await c.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 60, ID: 7373 });
        const lines: string[] = [];
        const huge = Buffer.alloc(2_200_000, 0x61);
        lines.push(`name over the gRPC limit: ${outcome((await c.unary(LOCK, LockRequest, { name: huge, lease: 7373 })).err)}`);
        const big = Buffer.alloc(1_600_000, 0x62);
        lines.push(`name over --max-request-bytes: ${outcome((await c.unary(LOCK, LockRequest, { name: big, lease: 7373 })).err)}`);
        lines.push(`campaign value over --max-request-bytes: ${outcome((await c.unary(CAMPAIGN, CampaignRequest, { name: Buffer.from('e'), lease: 7373, value: big })).err)}`);
        const { rep } = await c.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true }));
        lines.push(`keys in the store: ${varintField(rep!, 4)}`);
        await c.unary('/etcdserverpb.Lease/LeaseRevoke', LeaseRevokeRequest, { ID: 7373 });
        return lines;
      } finally {
        c.close();
      }
    };
    const theirs = await run(pair.etcd.endpoints[0]!);
    assert.match(theirs[0]!, /RESOURCE_EXHAUSTED: grpc: received message larger than max/);
    assert.deepEqual(await run(pair.ours.nodes[0]!.grpcAddress), theirs);

    // Bytes that are not a LockRequest: ours says so (etcd's Go decoder words it its own way).
    const client = new grpc.Client(pair.ours.nodes[0]!.grpcAddress, grpc.credentials.createInsecure());
    try {
      const err = await new Promise<grpc.ServiceError | null>((resolve) =>
        client.makeUnaryRequest(LOCK, (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x0a, 0xff]), (e) => resolve(e ?? null)),
      );
      assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, outcome(err));
      assert.match(err!.details, /malformed request/);
    } finally {
      client.close();
    }
  });
});

describe('Lock and Election: waits that end without their turn', () => {
  test('a Lock waiting on a member that stops fails at once with etcd\'s "server stopped"', { timeout: 60_000 }, async () => {
    const c = await startCluster({ nodes: 3 });
    try {
      const leader = await c.waitForLeader();
      const follower = c.nodes.find((n) => n.id !== leader)!;
      const a = new RawEtcd(c.node(leader).grpcAddress);
      const b = new RawEtcd(follower.grpcAddress);
      try {
        await a.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 60, ID: 8181 });
        await a.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 60, ID: 8282 });
        assert.equal(outcome((await a.unary(LOCK, LockRequest, { name: Buffer.from('s'), lease: 8181 })).err), 'ok');
        const waiting = b.unary(LOCK, LockRequest, { name: Buffer.from('s'), lease: 8282 });
        // Queued: its key exists (the wait itself is what the stop must end).
        await c.waitFor(async () => varintField((await a.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from('s/205a') }))).rep!, 4) === 1, { timeoutMs: 10_000, what: 'the waiter queued' });
        const t0 = Date.now();
        await c.stopNode(follower.id);
        const { err } = await waiting;
        assert.ok(err && (err.code === grpc.status.UNAVAILABLE), outcome(err));
        assert.ok(Date.now() - t0 < 10_000, `the waiting Lock ended ${Date.now() - t0} ms after the stop`);
      } finally {
        a.close();
        b.close();
      }
    } finally {
      await c.stop();
    }
  });

  test('a waiting Campaign whose client gives up leaves the line; a waiter whose lease ended gets "mutex: session is expired"', { timeout: 60_000 }, async () => {
    const c = await startCluster({ nodes: 3 });
    try {
      const leader = await c.waitForLeader();
      const a = new RawEtcd(c.node(leader).grpcAddress);
      const b = new RawEtcd(c.nodes.find((n) => n.id !== leader)!.grpcAddress);
      const count = async (key: string): Promise<number> => varintField((await a.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from(key) }))).rep!, 4);
      try {
        await a.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 60, ID: 9191 });
        await a.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 60, ID: 9292 });
        // The shortest lease the cluster grants (raised to its minimum TTL), never kept alive.
        await a.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 1, ID: 9393 });

        // Campaign: B queues behind A, then its client cancels; its key goes.
        assert.equal(outcome((await a.unary(CAMPAIGN, CampaignRequest, { name: Buffer.from('e'), lease: 9191, value: Buffer.from('a') })).err), 'ok');
        const stream = b.serverStream(OBSERVE, LeaderRequest, { name: Buffer.from('e') });
        const observed: Buffer[] = [];
        stream.on('data', (d: Buffer) => observed.push(d));
        stream.on('error', () => undefined);
        const cancelled = new Promise<grpc.ServiceError | null>((resolve) => {
          const client = new grpc.Client(c.nodes.find((n) => n.id !== leader)!.grpcAddress, grpc.credentials.createInsecure());
          const call = client.makeUnaryRequest(CAMPAIGN, (m: CampaignRequest) => Buffer.from(CampaignRequest.encode(m).finish()), (x: Buffer) => x, CampaignRequest.fromPartial({ name: Buffer.from('e'), lease: 9292, value: Buffer.from('b') }), (e) => {
            client.close();
            resolve(e ?? null);
          });
          void c.waitFor(async () => (await count('e/244c')) === 1, { timeoutMs: 10_000 }).then(() => call.cancel());
        });
        assert.equal((await cancelled)?.code, grpc.status.CANCELLED);
        await c.waitFor(async () => (await count('e/244c')) === 0, { timeoutMs: 10_000, what: 'the candidate that left to lose its key' });
        assert.equal(await count('e/23e7'), 1, 'the leader keeps its key');
        assert.equal(observed.length, 1, 'observe saw the leader and nothing from the candidate that left');
        stream.cancel();

        // Lock: C (lease 9393) waits behind A; its lease ends while it waits; A unlocks.
        assert.equal(outcome((await a.unary(LOCK, LockRequest, { name: Buffer.from('l'), lease: 9191 })).err), 'ok');
        const waiter = b.unary(LOCK, LockRequest, { name: Buffer.from('l'), lease: 9393 });
        await c.waitFor(async () => (await count('l/24b1')) === 1, { timeoutMs: 10_000, what: 'the waiter queued' });
        await c.waitFor(async () => (await count('l/24b1')) === 0, { timeoutMs: 15_000, what: 'the waiter\'s lease to expire' });
        assert.equal(outcome((await a.unary(UNLOCK, UnlockRequest, { key: Buffer.from('l/23e7') })).err), 'ok');
        assert.equal(outcome((await waiter).err), 'error UNKNOWN: mutex: session is expired');
      } finally {
        a.close();
        b.close();
      }
    } finally {
      await c.stop();
    }
  });
});
