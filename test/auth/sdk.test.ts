// The SDK with auth: a name and password get a token, calls carry it (unary and on the session
// stream), a token made stale by a role change is replaced transparently, a forbidden key is
// PERMISSION_DENIED (the etcd KV API too); a client with credentials works against a cluster with
// auth off.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/index.js';
import { startNode, type RunningNode } from '../../src/node/index.js';
import { PlacementClient } from '../../src/client/index.js';
import { freePorts } from '../support/cluster.js';

test('SDK: credentials get a token, a stale token is renewed transparently, forbidden keys are refused', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-sdk-'));
  const [gp] = await freePorts(1);
  const cfg = resolveConfig({ id: '1', dataDir: join(dir, 'data'), listen: `127.0.0.1:${gp}`, http: 'off', logLevel: 'silent' }, {});
  let running: RunningNode | undefined;
  const clients: PlacementClient[] = [];
  try {
    running = await startNode(cfg);
    const endpoints = [`127.0.0.1:${running.grpcPort}`];
    for (const transport of ['session', 'unary'] as const) {
      const alice = new PlacementClient({ endpoints, auth: { username: 'alice', password: 'alicepw' }, transport, discoverMembers: false });
      clients.push(alice);
      // Auth still off: credentials are not needed and do not get in the way.
      await alice.kv.set(`/t/${transport}/before`, 'x');
    }
    const admin = new PlacementClient({ endpoints, discoverMembers: false, transport: 'unary' });
    clients.push(admin);
    // Users and roles straight through the node's proposals (the Auth service's commands).
    const p = (op: Parameters<RunningNode['node']['propose']>[0]['op']) => running!.node.propose({ clientId: '', seq: 0, leaderTimeMs: 0, op }, undefined, undefined);
    const hash = await import('../../src/http/passwords.js').then((m) => Promise.all([m.hashPassword('rootpw'), m.hashPassword('alicepw')]));
    await p({ $case: 'authUserAdd', value: { name: 'root', passwordHash: hash[0].hash, salt: hash[0].salt, noPassword: false } });
    await p({ $case: 'authUserGrantRole', value: { user: 'root', role: 'root' } });
    await p({ $case: 'authUserAdd', value: { name: 'alice', passwordHash: hash[1].hash, salt: hash[1].salt, noPassword: false } });
    await p({ $case: 'authRoleAdd', value: { name: 't' } });
    await p({ $case: 'authRoleGrantPermission', value: { name: 't', perm: { permType: 2, key: Buffer.from('/t/'), rangeEnd: Buffer.from('/t0') } } });
    await p({ $case: 'authUserGrantRole', value: { user: 'alice', role: 't' } });
    await p({ $case: 'authEnable', value: {} });

    await assert.rejects(admin.kv.set('/t/anon', 'x'), /user name is empty/);
    for (const [i, transport] of (['session', 'unary'] as const).entries()) {
      const alice = clients[i]!;
      await alice.kv.set(`/t/${transport}/a`, '1');
      assert.equal(await alice.kv.getString(`/t/${transport}/a`), '1');
      await assert.rejects(alice.kv.set('/elsewhere', '1'), /permission denied/);
      // A role change makes alice's token stale: the next call authenticates again by itself.
      await p({ $case: 'authRoleAdd', value: { name: `extra-${transport}` } });
      await p({ $case: 'authUserGrantRole', value: { user: 'alice', role: `extra-${transport}` } });
      await alice.kv.set(`/t/${transport}/b`, '2');
      assert.equal(await alice.kv.getString(`/t/${transport}/b`), '2');
    }
    // The SDK's etcd KV API carries the same token; the service checks it (src/auth/kv-guard.ts).
    const aliceEtcd = clients[1]!;
    await aliceEtcd.etcd.put('/t/etcd', 'e');
    assert.equal(Buffer.from((await aliceEtcd.etcd.range('/t/etcd')).kvs[0]!.value).toString(), 'e');
    await assert.rejects(aliceEtcd.etcd.put('/elsewhere', 'e'), /permission denied/);
    await assert.rejects(aliceEtcd.etcd.compact(1), /permission denied/);
    await assert.rejects(admin.etcd.range('/t/etcd'), /user name is empty/);
    const wrong = new PlacementClient({ endpoints, auth: { username: 'alice', password: 'nope' }, discoverMembers: false });
    clients.push(wrong);
    await assert.rejects(wrong.kv.set('/t/x', '1'), /authentication failed, invalid user ID or password/);
  } finally {
    for (const c of clients) c.close();
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
