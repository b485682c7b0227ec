// A member refuses a call only on auth state at least as new as the leader's commit index: a
// member that applies behind the leader must not refuse what a change already acknowledged to the
// client allows (found by the Go clientv3 session in CI: "auth disable: ok", then an anonymous put
// on another member answered "user name is empty"). A follower is stopped while auth is disabled
// through the leader, an anonymous Put reaches it while it is stopped, and it is resumed: the put
// is answered after the follower caught up — allowed — not refused on its old state. A call still
// refused after catching up is refused as before. The same for a stream (a watch created
// anonymously on the stopped follower is created once it caught up, not canceled as refused) and
// for the admin API and /metrics on the client port (an anonymous read answered 200, not 401).
//
// The other way round (src/auth/read-recheck.ts): a read permission revoked through the leader
// while a follower is stopped must not be read through that follower once it runs again. The
// follower may judge the read on its old state (allowed) before it applies the revoke; the
// linearizable read then waits for that apply and is judged again there. (The unit cases in
// read-recheck.test.ts make that order certain; this one checks the running member is wired.)
import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as grpc from '@grpc/grpc-js';
import {
  AuthDisableRequest,
  AuthEnableRequest,
  AuthRoleAddRequest,
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthenticateRequest,
  AuthenticateResponse,
  AuthUserAddRequest,
  AuthUserGrantRoleRequest,
  PutRequest,
  RangeRequest,
  RangeResponse,
  WatchRequest,
  WatchResponse,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { decodeClamped } from '../../proto/codec.js';
import { Permission_Type } from '../../proto/gen/etcd/authpb/auth.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { RawEtcd, leaderAndFollower, outcome } from '../support/raw-etcd.js';

const withToken = (token?: string): grpc.Metadata => {
  const md = new grpc.Metadata();
  if (token) md.set('token', token);
  return md;
};

/** The first answer to a watch create on `onMember`'s Watch stream (the stream is then closed). */
function firstWatchAnswer(onMember: RawEtcd, md = new grpc.Metadata()): { answer: Promise<WatchResponse> } {
  const call = onMember.stream('/etcdserverpb.Watch/Watch', WatchRequest, md);
  const answer = new Promise<WatchResponse>((resolve, reject) => {
    call.on('data', (b: Buffer) => {
      resolve(WatchResponse.decode(b));
      call.cancel();
    });
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) reject(err);
    });
  });
  call.write(WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', value: { key: Buffer.from('k') } } }));
  return { answer };
}

/** Raw etcd clients of the leader and of one follower, and a call through the leader that must succeed. */
/**
 * Runs `fn` with the process `pid` stopped, and resumes it as soon as `fn` is done (or failed).
 * `fn` changes things through the leader and sends the requests the stopped member reads when it
 * resumes; it returns their pending answers inside an object (a promise returned bare would be
 * awaited here, before the member can answer).
 */
async function whileStopped<T extends object>(pid: number, fn: () => Promise<T>): Promise<T> {
  process.kill(pid, 'SIGSTOP');
  try {
    return await fn();
  } finally {
    process.kill(pid, 'SIGCONT');
  }
}

describe('auth: a member catches up with the leader before it refuses a call', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 3, extraArgs: ['--metrics-auth', 'true'] });
  });
  after(async () => {
    await c?.stop();
  });

  test('auth disabled through the leader while a follower is stopped: an anonymous put on that follower is allowed', { timeout: 60_000 }, async () => {
    const { follower, leader, onFollower, must } = await leaderAndFollower(c);
    try {
      await must('/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'root', password: 'rootpw' }));
      await must('/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: 'root', role: 'root' });
      await must('/etcdserverpb.Auth/AuthEnable', AuthEnableRequest, {});
      const token = decodeClamped(AuthenticateResponse, await must('/etcdserverpb.Auth/Authenticate', AuthenticateRequest, { name: 'root', password: 'rootpw' })).token;

      // The follower has applied auth enable (its refusal says so) and its channel is connected.
      for (;;) {
        const r = await onFollower.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from('k'), serializable: true }));
        if (r.err?.details === 'etcdserver: user name is empty') break;
        assert.equal(r.err, null, outcome(r.err));
      }

      const { put } = await whileStopped(follower.pid!, async () => {
        await must('/etcdserverpb.Auth/AuthDisable', AuthDisableRequest, {}, withToken(token));
        return { put: onFollower.unary('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('anonymous') })) };
      });
      const r = await put;
      assert.equal(r.err, null, `the put on the follower that was behind: ${outcome(r.err)}`);

      // Still refused after catching up: refused (auth back on, an anonymous put).
      await must('/etcdserverpb.Auth/AuthEnable', AuthEnableRequest, {});
      const refused = await onFollower.unary('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('again') }));
      assert.equal(refused.err?.details, 'etcdserver: user name is empty');

      // A stream: the same with a watch created anonymously on the stopped follower.
      for (;;) {
        const r = await onFollower.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from('k'), serializable: true }));
        if (r.err?.details === 'etcdserver: user name is empty') break;
      }
      const stillRefused = await firstWatchAnswer(onFollower).answer;
      assert.deepEqual([stillRefused.created, stillRefused.canceled, stillRefused.cancelReason], [true, true, 'rpc error: code = InvalidArgument desc = etcdserver: user name is empty']);
      const watch = await whileStopped(follower.pid!, async () => {
        await must('/etcdserverpb.Auth/AuthDisable', AuthDisableRequest, {}, withToken(token));
        return firstWatchAnswer(onFollower);
      });
      const w = await watch.answer;
      assert.deepEqual([w.created, w.canceled, w.cancelReason], [true, false, ''], 'the watch on the follower that was behind');

      // The admin API: an anonymous read of the follower's /v1/kv is refused with auth on, and
      // allowed once the follower caught up with auth disabled through the leader.
      await must('/etcdserverpb.Auth/AuthEnable', AuthEnableRequest, {});
      // The status, and when the request has left for the member's socket (it is accepted by the
      // kernel while the member is stopped).
      const adminRequest = (address = follower.httpAddress, path = '/v1/kv/k', headers: Record<string, string> = {}): { sent: Promise<void>; status: Promise<number> } => {
        const [host, port] = address.split(':');
        let sent!: () => void;
        const sentP = new Promise<void>((r) => (sent = r));
        const status = new Promise<number>((resolve, reject) => {
          const req = http.request({ host, port: Number(port), path, method: 'GET', agent: false, headers }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          });
          req.on('error', reject);
          req.on('finish', sent);
          req.end();
        });
        return { sent: sentP, status };
      };
      const adminGet = (): Promise<number> => adminRequest().status;
      let status = 0;
      for (let i = 0; i < 200 && status !== 401; i++) {
        status = await adminGet();
        if (status !== 401) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(status, 401, 'the follower applied auth enable');
      // /metrics on the client port (etcd's gateway; root only with --metrics-auth) likewise.
      const clientPortMetrics = (): { sent: Promise<void>; status: Promise<number> } => adminRequest(follower.grpcAddress, '/metrics');
      assert.equal(await clientPortMetrics().status, 401, 'anonymous /metrics on the client port with auth on');
      const behind = await whileStopped(follower.pid!, async () => {
        await must('/etcdserverpb.Auth/AuthDisable', AuthDisableRequest, {}, withToken(token));
        const get = adminRequest();
        const metrics = clientPortMetrics();
        await get.sent;
        await metrics.sent;
        return { get, metrics };
      });
      assert.equal(await behind.get.status, 200, 'the admin read on the follower that was behind');
      assert.equal(await behind.metrics.status, 200, '/metrics on the client port of the follower that was behind');

      // A token the leader issued for a user the stopped follower has not applied yet: the
      // follower verifies it again once it caught up (admin API and client-port /metrics).
      await must('/etcdserverpb.Auth/AuthEnable', AuthEnableRequest, {});
      const rootToken = decodeClamped(AuthenticateResponse, await must('/etcdserverpb.Auth/Authenticate', AuthenticateRequest, { name: 'root', password: 'rootpw' })).token;
      status = 0;
      for (let i = 0; i < 200 && status !== 401; i++) {
        status = await adminGet();
        if (status !== 401) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(status, 401, 'the follower applied auth enable');
      const newcomer = await whileStopped(follower.pid!, async () => {
        await must('/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'newcomer', password: 'newpw' }), withToken(rootToken));
        await must('/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: 'newcomer', role: 'root' }, withToken(rootToken));
        const newToken = decodeClamped(AuthenticateResponse, await must('/etcdserverpb.Auth/Authenticate', AuthenticateRequest, { name: 'newcomer', password: 'newpw' })).token;
        const get = adminRequest(follower.httpAddress, '/v1/kv/k', { authorization: `Bearer ${newToken}` });
        const metrics = adminRequest(follower.grpcAddress, '/metrics', { authorization: newToken });
        await get.sent;
        await metrics.sent;
        return { get, metrics };
      });
      assert.equal(await newcomer.get.status, 200, "the admin read with a token for a user the follower had not applied");
      assert.equal(await newcomer.metrics.status, 200, "client-port /metrics with a token for a user the follower had not applied");
    } finally {
      leader.close();
      onFollower.close();
    }
  });
});

describe('auth: a linearizable read on a member that applied a revoke late is refused', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({ nodes: 3 });
  });
  after(async () => {
    await c?.stop();
  });

  test('read permission revoked through the leader while a follower is stopped: the read on that follower is refused', { timeout: 60_000 }, async () => {
    const { follower, leader, onFollower, must } = await leaderAndFollower(c);
    try {
      const tokenOf = async (name: string, password: string): Promise<string> =>
        decodeClamped(AuthenticateResponse, await must('/etcdserverpb.Auth/Authenticate', AuthenticateRequest, { name, password })).token;
      await must('/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'root', password: 'rootpw' }));
      await must('/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: 'root', role: 'root' });
      await must('/etcdserverpb.Auth/RoleAdd', AuthRoleAddRequest, { name: 'reader' });
      await must('/etcdserverpb.Auth/RoleGrantPermission', AuthRoleGrantPermissionRequest, { name: 'reader', perm: { permType: Permission_Type.READ, key: Buffer.from('secret'), rangeEnd: Buffer.alloc(0) } });
      await must('/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'alice', password: 'alicepw' }));
      await must('/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: 'alice', role: 'reader' });
      await must('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: Buffer.from('secret'), value: Buffer.from('s3cr3t') }));
      await must('/etcdserverpb.Auth/AuthEnable', AuthEnableRequest, {});
      const rootToken = await tokenOf('root', 'rootpw');
      const aliceToken = await tokenOf('alice', 'alicepw');

      // The follower serves alice's read (it has applied all of the above).
      const readOnFollower = () => onFollower.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from('secret') }), withToken(aliceToken));
      const first = await readOnFollower();
      assert.equal(first.err, null, outcome(first.err));
      assert.equal(Buffer.from(decodeClamped(RangeResponse, first.rep!).kvs[0]!.value).toString(), 's3cr3t');

      const { read } = await whileStopped(follower.pid!, async () => {
        await must('/etcdserverpb.Auth/RoleRevokePermission', AuthRoleRevokePermissionRequest, { role: 'reader', key: Buffer.from('secret'), rangeEnd: Buffer.alloc(0) }, withToken(rootToken));
        return { read: readOnFollower() };
      });
      const r = await read;
      // Refused, whichever the follower saw first: the permission gone (judged after the
      // barrier), or alice's token issued before her role changed (judged on arrival).
      assert.ok(
        r.err?.details === 'etcdserver: permission denied' || r.err?.details === 'etcdserver: invalid auth token',
        `the read on the follower that applied the revoke late: ${outcome(r.err)}`,
      );
    } finally {
      leader.close();
      onFollower.close();
    }
  });
});
