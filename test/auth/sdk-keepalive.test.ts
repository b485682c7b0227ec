// The SDK's lease keep-alives with auth on: the keep-alive stream carries the client's token like
// every other call, so a session (a lease kept alive in the background) outlives its TTL, and a
// keep-alive refused for a stale token is renewed once. Found by `npm run chaos -- --secure`: the
// stream was opened without the token, every keep-alive was refused as anonymous, and every
// session lease ran out after its TTL ("requested lease not found" for the lockers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { enableAuthWithAlice, startAuthTestNode } from '../support/auth-node.js';

test('SDK with auth: lease keep-alives carry the token, a session outlives its TTL, a stale token is replaced', { timeout: 60_000 }, async () => {
  const n = await startAuthTestNode('auth-keepalive');
  try {
    await enableAuthWithAlice(n.client());

    const alice = n.client({ auth: { username: 'alice', password: 'alicepw' } });
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
    const root = n.client({ auth: { username: 'root', password: 'rootpw' } });
    await root.authAdmin.roleAdd('extra');
    await root.authAdmin.userGrantRole('alice', 'extra');
    const again = await alice.lease.keepAlive(l2.id);
    assert.ok(again.ttlMs > 0);
    await session.close();
  } finally {
    await n.stop();
  }
});
