// A stream opened while the member's state had auth off keeps the credentials it was opened with:
// once auth is on, its messages are judged by the token they carry, not as anonymous. Found by
// `npm run chaos -- --secure`: a member rebuilding its state machine (corrupt-sm) answered with
// auth off for a moment; a Session stream a client opened then, with a valid token, was refused
// "user name is empty" for every later operation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AuthClient } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { enableAuthWithAlice, startAuthTestNode } from '../support/auth-node.js';

test('a Session stream opened while auth was off is judged by its token once auth is on', { timeout: 60_000 }, async () => {
  const n = await startAuthTestNode('auth-stream-open');
  try {
    const admin = n.client();
    await enableAuthWithAlice(admin);
    // alice's token, then auth off for a while.
    const authClient = new AuthClient(n.grpcAddress, grpc.credentials.createInsecure());
    const token = await new Promise<string>((res, rej) => authClient.authenticate({ name: 'alice', password: 'alicepw' }, (e, r) => (e ? rej(e) : res(r.token))));
    authClient.close();
    await n.client({ auth: { username: 'root', password: 'rootpw' } }).authAdmin.disable();

    // alice opens her Session stream (with her token) while auth is off...
    const alice = n.client({ auth: { token }, transport: 'session' });
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
    await n.stop();
  }
});
