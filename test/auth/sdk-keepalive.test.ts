// The SDK's lease keep-alives with auth on: the keep-alive stream carries the client's token like
// every other call, so a session (a lease kept alive in the background) outlives its TTL, and a
// keep-alive refused for a stale token is renewed once. Found by `npm run chaos -- --secure`: the
// stream was opened without the token, every keep-alive was refused as anonymous, and every
// session lease ran out after its TTL ("requested lease not found" for the lockers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/index.js';
import { startNode, type RunningNode } from '../../src/node/index.js';
import { PlacementClient } from '../../src/client/index.js';
import { freePorts } from '../support/cluster.js';

test('SDK with auth: lease keep-alives carry the token, a session outlives its TTL, a stale token is replaced', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-keepalive-'));
  const [gp] = await freePorts(1);
  const cfg = resolveConfig({ id: '1', dataDir: join(dir, 'data'), listen: `127.0.0.1:${gp}`, http: 'off', logLevel: 'silent' }, {});
  let running: RunningNode | undefined;
  const clients: PlacementClient[] = [];
  try {
    running = await startNode(cfg);
    const endpoints = [`127.0.0.1:${running.grpcPort}`];
    const admin = new PlacementClient({ endpoints, discoverMembers: false });
    clients.push(admin);
    await admin.authAdmin.userAdd('root', 'rootpw');
    await admin.authAdmin.userGrantRole('root', 'root');
    await admin.authAdmin.userAdd('alice', 'alicepw');
    await admin.authAdmin.roleAdd('t');
    await admin.authAdmin.roleGrantPermission('t', { type: 'readwrite', key: '/t/', prefix: true });
    await admin.authAdmin.userGrantRole('alice', 't');
    await admin.authAdmin.enable();

    const alice = new PlacementClient({ endpoints, auth: { username: 'alice', password: 'alicepw' }, discoverMembers: false });
    clients.push(alice);
    const l = await alice.lease.grant(2000);
    const kept = await alice.lease.keepAlive(l.id);
    assert.equal(kept.id, l.id);
    assert.ok(kept.ttlMs > 0, `the keep-alive renewed the lease: ${JSON.stringify(kept)}`);

    // A session's lease, kept alive in the background, outlives its TTL several times over.
    const session = await alice.session({ ttlMs: 2000 });
    await session.put('/t/ephemeral', 'x');
    const expired = new Promise<void>((resolve) => session.on('state', (st) => st === 'expired' && resolve()));
    const outcome = await Promise.race([expired.then(() => 'expired'), new Promise((r) => setTimeout(() => r('alive'), 6000))]);
    assert.equal(outcome, 'alive', 'the session stayed alive past three TTLs');
    assert.equal(await alice.kv.getString('/t/ephemeral'), 'x');

    // A role change makes alice's token stale: the next keep-alive authenticates again by itself.
    const l2 = await alice.lease.grant(10_000);
    const root = new PlacementClient({ endpoints, auth: { username: 'root', password: 'rootpw' }, discoverMembers: false });
    clients.push(root);
    await root.authAdmin.roleAdd('extra');
    await root.authAdmin.userGrantRole('alice', 'extra');
    const again = await alice.lease.keepAlive(l2.id);
    assert.ok(again.ttlMs > 0);
    await session.close();
  } finally {
    for (const c of clients) c.close();
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
