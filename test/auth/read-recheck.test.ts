// A read is judged on the state it is served from (src/auth/read-recheck.ts). A linearizable read
// waits for its barrier (the member catching up with the leader's commit) after it was judged on
// arrival; a permission revoked, or auth enabled, in between — committed before the read arrived
// but applied late on this member — must refuse it, as etcd checks a linearizable Range only after
// its read barrier. Here each surface (etcd Range and read-only Txn, the native Get/Exists/List,
// the admin API's reads) is driven with a barrier that resolves only after the test changed the
// auth state, so the outcome does not depend on timing; the same reads with the state unchanged,
// or changed in a way that still allows them, are answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import { Authenticator } from '../../src/auth/authenticator.js';
import { TokenIssuer } from '../../src/auth/tokens.js';
import { bindCaller } from '../../src/auth/context.js';
import { authKvGuard } from '../../src/auth/kv-guard.js';
import { httpAuthMiddleware } from '../../src/auth/guard.js';
import { kvOperations } from '../../src/api/etcd/kv.js';
import type { EtcdNode } from '../../src/api/etcd/node.js';
import { kvOps, type ServingNode } from '../../src/grpc/services.js';
import { createAdminApp } from '../../src/http/app.js';
import type { ReadOptions } from '../../src/http/backend.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { PlacementError } from '../../src/errors.js';
import type { AuthSnapshot } from '../../storage/index.js';
import type { User } from '../../proto/gen/placement/v1/command.js';
import type { KeyValue } from '../../proto/gen/placement/v1/kv.js';
import { RangeRequest, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { MemoryBackend } from '../http/memory-backend.js';

const user = (name: string, read: boolean): User => ({
  name,
  passwordHash: Buffer.alloc(0),
  salt: Buffer.alloc(0),
  permissions: read ? [{ prefix: 'k', read: true, write: false }] : [],
  createdAtMs: 0,
  updatedAtMs: 0,
});

/** Auth on at revision 5, alice may read under "k". */
const allowed: AuthSnapshot = { enabled: true, revision: 5, users: new Map([['alice', user('alice', true)]]), roles: new Map() };
/** Revision 6: alice's read permission revoked. */
const revoked: AuthSnapshot = { ...allowed, revision: 6, users: new Map([['alice', user('alice', false)]]) };
/** Revision 6: something else changed, alice still reads. */
const unrelated: AuthSnapshot = { ...allowed, revision: 6, users: new Map([['alice', user('alice', true)], ['bob', user('bob', false)]]) };
/** Auth off at revision 5, then on at 6 (an anonymous caller judged while it was off). */
const off: AuthSnapshot = { ...allowed, enabled: false };

/** An auth state the test moves, and a read barrier that moves it before it resolves. */
function world(start: AuthSnapshot): { state: () => AuthSnapshot; barrier: (then: AuthSnapshot) => void; readBarrier: () => Promise<void>; authn: Authenticator } {
  let state = start;
  let next: AuthSnapshot | null = null;
  const authn = new Authenticator({ auth: () => state, tokens: new TokenIssuer(new Uint8Array(32), 60_000), clientCertAuth: false });
  return {
    state: () => state,
    barrier: (then) => {
      next = then;
    },
    // The member catches up while the read waits: what was committed before it arrived is applied.
    readBarrier: async () => {
      await new Promise((r) => setImmediate(r));
      if (next) state = next;
    },
    authn,
  };
}

const KV: KeyValue = { key: 'k', value: Buffer.from('secret'), createRevision: 2, modRevision: 2, version: 1, lease: 0 };

function nativeNode(w: ReturnType<typeof world>): ServingNode {
  return {
    limits: { maxKeyBytes: 4096, maxValueBytes: 1 << 20, maxListLimit: 1000, requestTimeoutMs: 5000 },
    readBarrier: w.readBarrier,
    readsCurrent: () => true,
    getKvSync: () => KV,
    getKv: async () => KV,
    listKv: async () => ({ kvs: [KV], more: false, nextKey: '' }),
    header: () => ({ clusterId: 1, memberId: 1, revision: 2, raftTerm: 2, appliedIndex: 0 }),
    authState: w.state,
  } as unknown as ServingNode;
}

const refusal = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'answered';
  } catch (err) {
    if (err instanceof PlacementError) return `${err.code}: ${err.message}`;
    const e = err as grpc.ServiceError;
    return `${grpc.status[e.code]}: ${e.details ?? e.message}`;
  }
};

test('native reads: judged again after their barrier when the auth state moved', async () => {
  for (const [name, start, then, by, want] of [
    ['revoked while waiting', allowed, revoked, { user: 'alice', authRevision: 5 }, 'PERMISSION_DENIED: etcdserver: permission denied'],
    ['auth enabled while waiting (anonymous)', off, { ...allowed, revision: 6 }, { user: '', authRevision: 5 }, 'UNAUTHENTICATED: etcdserver: user name is empty'],
    ['an unrelated change', allowed, unrelated, { user: 'alice', authRevision: 5 }, 'answered'],
    ['nothing changed', allowed, allowed, { user: 'alice', authRevision: 5 }, 'answered'],
  ] as const) {
    for (const op of ['get', 'exists', 'list'] as const) {
      const w = world(start);
      const ops = kvOps(nativeNode(w));
      w.barrier(then);
      const deadline = Date.now() + 5000;
      const p =
        op === 'get'
          ? ops.get({ key: 'k', serializable: false, kvMetadataOnly: false }, deadline, by)
          : op === 'exists'
            ? ops.exists({ key: 'k', serializable: false }, deadline, by)
            : ops.list({ prefix: 'k', startAfter: '', limit: 10, keysOnly: false, serializable: false }, deadline, by);
      assert.equal(await refusal(p), want, `${op}: ${name}`);
    }
  }
});

function etcdNode(w: ReturnType<typeof world>): EtcdNode {
  return {
    cfg: { clusterId: 'c', id: 1, requestTimeoutMs: 5000, maxTxnOps: 128, maxRequestBytes: 1 << 20 },
    keyspace: {
      revision: 2,
      range: async () => ({ kvs: [], more: false, count: 0, revision: 2, truncated: false }),
      readTxn: async () => ({ response: { header: undefined, succeeded: true, responses: [] }, truncated: false }),
    },
    raftTerm: 2,
    knownLeader: 1,
    isLearner: false,
    propose: () => Promise.reject(new Error('no writes here')),
    readBarrier: w.readBarrier,
    readsCurrent: () => true,
    accepting: () => true,
    track: <T>(p: Promise<T>) => p,
  } as unknown as EtcdNode;
}

test('etcd Range and read-only Txn: the permission is checked after the read barrier, as etcd does', async () => {
  for (const [name, then, want] of [
    ['revoked while waiting', revoked, 'PERMISSION_DENIED: etcdserver: permission denied'],
    ['an unrelated change', unrelated, 'answered'],
  ] as const) {
    const w = world(allowed);
    const kv = kvOperations(etcdNode(w), { maxReplyBytes: 4 << 20, guard: authKvGuard(w.authn) });
    const call = { metadata: new grpc.Metadata() };
    bindCaller(call, w.authn.caller({ user: 'alice' }), { user: 'alice' });
    const deadline = Date.now() + 5000;
    w.barrier(then);
    assert.equal(await refusal(Promise.resolve().then(() => kv.range(RangeRequest.fromPartial({ key: Buffer.from('k') }), deadline, call as never))), want, `Range: ${name}`);
    const w2 = world(allowed);
    const kv2 = kvOperations(etcdNode(w2), { maxReplyBytes: 4 << 20, guard: authKvGuard(w2.authn) });
    w2.barrier(then);
    const txn = TxnRequest.fromPartial({ success: [{ request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: Buffer.from('k') }) } }] });
    assert.equal(await refusal(Promise.resolve().then(() => kv2.txn(txn, deadline, call as never))), want, `read-only Txn: ${name}`);
  }
  // A serializable read needs no barrier when nothing answered is unwritten: judged on arrival.
  const w = world(revoked);
  const kv = kvOperations(etcdNode(w), { maxReplyBytes: 4 << 20, guard: authKvGuard(w.authn) });
  const call = { metadata: new grpc.Metadata() };
  bindCaller(call, w.authn.caller({ user: 'alice' }), { user: 'alice' });
  assert.equal(await refusal(Promise.resolve().then(() => kv.range(RangeRequest.fromPartial({ key: Buffer.from('k'), serializable: true }), Date.now() + 5000, call as never))), 'PERMISSION_DENIED: etcdserver: permission denied');
});

test('admin API reads: judged again after their barrier when the auth state moved', async () => {
  for (const [name, then, want] of [
    ['revoked while waiting', revoked, 403],
    ['an unrelated change', unrelated, 200],
  ] as const) {
    const w = world(allowed);
    const token = await w.authn.tokens.issue('alice', 5);
    class Behind extends MemoryBackend {
      override async get(key: string, opts?: ReadOptions): Promise<KeyValue | null> {
        await w.readBarrier();
        return super.get(key, opts);
      }
      override async list(opts: Parameters<MemoryBackend['list']>[0], read?: ReadOptions): ReturnType<MemoryBackend['list']> {
        await w.readBarrier();
        return super.list(opts, read);
      }
      authState(): AuthSnapshot {
        return w.state();
      }
    }
    const backend = new Behind();
    backend.kv.set('k', KV);
    const app = createAdminApp({ backend, auth: httpAuthMiddleware(w.authn, { metricsAuth: false }), metrics: new Metrics({ defaultMetrics: false }), uiDir: null });
    for (const path of ['/v1/kv/k', '/v1/kv?prefix=k', '/v1/kv?prefix=k&delimiter=/']) {
      w.barrier(then);
      const res = await request(app).get(path).set('Authorization', `Bearer ${token}`);
      assert.equal(res.status, want, `${path}: ${name}: ${JSON.stringify(res.body)}`);
      if (want === 403) assert.equal(res.body.error, 'etcdserver: permission denied');
      w.barrier(allowed);
      await w.readBarrier();
    }
  }
});
