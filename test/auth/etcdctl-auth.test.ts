// Differential: one etcdctl auth session against a real etcd 3.4 and against Placement Center
// gives the same normalized transcript (outputs, error strings, exit codes): users, roles,
// permissions by prefix, enabling auth, what a user may and may not do, disabling auth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { firstDifference, runSession, type Step } from '../support/etcdctl.js';
import { startCluster, type Cluster } from '../support/cluster.js';

const ROOT = ['--user', 'root:rootpw'];
const ALICE = ['--user', 'alice:alicepw'];

export const AUTH_SESSION: Step[] = [
  { args: ['auth', 'enable'], note: 'refused: no root user' },
  { args: ['user', 'add', 'root', '--interactive=false'], stdin: 'rootpw\n' },
  { args: ['user', 'get', 'root'] },
  { args: ['role', 'add', 'reader'] },
  { args: ['role', 'add', 'reader'], note: 'error path: exists' },
  { args: ['role', 'add', ''], note: 'error path: empty role name' },
  { args: ['role', 'grant-permission', 'reader', '--prefix=true', 'readwrite', '/app/'] },
  { args: ['role', 'grant-permission', 'reader', 'read', '/public'] },
  { args: ['role', 'get', 'reader'] },
  { args: ['role', 'get', 'nosuch'], note: 'error path: unknown role' },
  { args: ['user', 'add', 'alice', '--interactive=false'], stdin: 'alicepw\n' },
  { args: ['user', 'add', 'alice', '--interactive=false'], stdin: 'alicepw\n', note: 'error path: exists' },
  { args: ['user', 'grant-role', 'alice', 'reader'] },
  { args: ['user', 'grant-role', 'alice', 'nosuch'], note: 'error path: unknown role' },
  { args: ['user', 'get', 'alice'] },
  { args: ['user', 'list'] },
  { args: ['role', 'list'] },
  { args: ['auth', 'enable'], note: 'etcdctl adds the root role and grants it to root when the server says root lacks it' },
  { args: ['user', 'get', 'root', ...ROOT] },
  { args: ['user', 'list'], note: 'anonymous with auth on' },
  { args: ['user', 'list', ...ALICE], note: 'not root' },
  { args: ['user', 'list', '--user', 'alice:wrong'], note: 'wrong password' },
  { args: ['user', 'list', ...ROOT] },
  { args: ['user', 'revoke-role', 'alice', 'nosuch', ...ROOT], note: 'error path: not granted' },
  { args: ['role', 'revoke-permission', 'reader', '/nothing', ...ROOT], note: 'error path: not granted' },
  { args: ['role', 'revoke-permission', 'reader', '/public', ...ROOT] },
  { args: ['role', 'get', 'reader', ...ROOT] },
  { args: ['user', 'delete', 'root', ...ROOT], note: 'refused: root while auth is on' },
  { args: ['user', 'passwd', 'alice', '--interactive=false', ...ROOT], stdin: 'alicepw2\n' },
  { args: ['user', 'list', '--user', 'alice:alicepw2'], note: 'new password works (still not root)' },
  { args: ['auth', 'disable', ...ROOT] },
  { args: ['user', 'list'], note: 'anonymous again' },
  { args: ['role', 'delete', 'reader'] },
  { args: ['user', 'get', 'alice'], note: 'the deleted role is gone from the user' },
  { args: ['user', 'delete', 'alice'] },
  { args: ['user', 'delete', 'alice'], note: 'error path: not found' },
];

test('an etcdctl auth session gives the same transcript against etcd 3.4 and Placement Center', { timeout: 240_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  try {
    [etcd, ours] = await Promise.all([startEtcdCluster({ members: 1 }), startCluster({ nodes: 1 })]);
    const expected = await runSession(etcd.endpoints, AUTH_SESSION);
    const actual = await runSession([ours.node(1).grpcAddress], AUTH_SESSION);
    assert.equal(firstDifference(expected, actual), null);
    // The transcript compares what matters: etcd's refusals are there.
    const at = (note: string): string => expected.steps[AUTH_SESSION.findIndex((s) => s.note === note)]!.result.stderr;
    assert.match(at('refused: no root user'), /root user does not exist/);
    assert.match(at('anonymous with auth on'), /user name is empty/);
    assert.match(at('not root'), /permission denied/);
    assert.match(at('wrong password'), /authentication failed, invalid user ID or password/);
  } finally {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  }
});
