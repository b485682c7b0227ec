// A stream opened while the member's state had auth off keeps the credentials it was opened with:
// once auth is on, its messages are judged by the token they carry, not as anonymous. Found by
// `npm run chaos -- --secure`: a member rebuilding its state machine (corrupt-sm) answered with
// auth off for a moment; a Session stream a client opened then, with a valid token, was refused
// "user name is empty" for every later operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig } from '../../src/config/index.js';
import { startNode, type RunningNode } from '../../src/node/index.js';
import { PlacementClient } from '../../src/client/index.js';
import { freePorts } from '../support/cluster.js';
import * as grpc from '@grpc/grpc-js';
import { AuthClient } from '../../proto/gen/etcd/etcdserverpb/rpc.js';

test('a Session stream opened while auth was off is judged by its token once auth is on', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'auth-stream-open-'));
  const [gp] = await freePorts(1);
  const cfg = resolveConfig({ id: '1', dataDir: join(dir, 'data'), listen: `127.0.0.1:${gp}`, http: 'off', logLevel: 'silent' }, {});
  let running: RunningNode | undefined;
  const clients: PlacementClient[] = [];
  const client = (o: Partial<ConstructorParameters<typeof PlacementClient>[0]> = {}): PlacementClient => {
    const c = new PlacementClient({ endpoints: [`127.0.0.1:${running!.grpcPort}`], discoverMembers: false, ...o });
    clients.push(c);
    return c;
  };
  try {
    running = await startNode(cfg);
    const admin = client();
    await admin.authAdmin.userAdd('root', 'rootpw');
    await admin.authAdmin.userGrantRole('root', 'root');
    await admin.authAdmin.userAdd('alice', 'alicepw');
    await admin.authAdmin.roleAdd('t');
    await admin.authAdmin.roleGrantPermission('t', { type: 'readwrite', key: '/t/', prefix: true });
    await admin.authAdmin.userGrantRole('alice', 't');
    await admin.authAdmin.enable();
    // alice's token, then auth off for a while.
    const authClient = new AuthClient(`127.0.0.1:${running.grpcPort}`, grpc.credentials.createInsecure());
    const token = await new Promise<string>((res, rej) => authClient.authenticate({ name: 'alice', password: 'alicepw' }, (e, r) => (e ? rej(e) : res(r.token))));
    authClient.close();
    await client({ auth: { username: 'root', password: 'rootpw' } }).authAdmin.disable();

    // alice opens her Session stream (with her token) while auth is off...
    const alice = client({ auth: { token }, transport: 'session' });
    await alice.kv.set('/t/a', '1');
    // ...auth comes on again, and the same stream carries on as alice: allowed where she may
    // write, refused (as alice, not as anonymous) where she may not.
    await admin.authAdmin.enable();
    await alice.kv.set('/t/b', '2');
    assert.equal(await alice.kv.getString('/t/b'), '2');
    await assert.rejects(alice.kv.set('/elsewhere', 'x'), /permission denied/);
    // An anonymous stream is still anonymous.
    await assert.rejects(admin.kv.set('/t/c', 'x'), /user name is empty/);
  } finally {
    for (const c of clients) c.close();
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
