// placement-ctl auth|user|role as child processes against a real member, differential with
// etcdctl: the same session (users, roles, permissions by key, range, prefix and from-key, auth
// on, what a user may do, passwords from name:password, stdin and --new-user-password, auth off)
// through `etcdctl` against etcd 3.4 and through `placement-ctl` against Placement Center prints
// the same stdout lines; a step that fails fails on both, with etcd's message on stderr.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { etcdctl } from '../support/etcdctl.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl } from './support/run-ctl.js';

const ROOT = ['--user', 'root:rootpw'];
const ALICE = ['--user', 'alice:alicepw'];

interface Step {
  args: string[];
  stdin?: string;
  note?: string;
}

const SESSION: Step[] = [
  { args: ['auth', 'enable'], note: 'refused: no root user' },
  { args: ['user', 'add', 'root', '--interactive=false'], stdin: 'rootpw\n' },
  { args: ['user', 'get', 'root'] },
  { args: ['role', 'add', 'app'] },
  { args: ['role', 'add', 'app'], note: 'error path: exists' },
  { args: ['role', 'grant-permission', 'app', '--prefix=true', 'readwrite', '/app/'] },
  { args: ['role', 'grant-permission', 'app', 'read', '/public'] },
  { args: ['role', 'grant-permission', 'app', 'write', '/w/a', '/w/m'] },
  { args: ['role', 'grant-permission', 'app', '--from-key', 'read', '/z'] },
  { args: ['role', 'grant-permission', 'app', 'READ', '/upper'] },
  { args: ['role', 'grant-permission', 'nosuch', 'read', '/x'], note: 'error path: unknown role' },
  { args: ['role', 'get', 'app'] },
  { args: ['role', 'get', 'nosuch'], note: 'error path: unknown role' },
  { args: ['role', 'add', 'ops'] },
  { args: ['role', 'grant-permission', 'ops', 'readwrite', '/ops', '--prefix'] },
  { args: ['user', 'add', 'alice:alicepw'] },
  { args: ['user', 'add', 'bob', '--new-user-password', 'bobpw'] },
  { args: ['user', 'add', 'alice', '--interactive=false'], stdin: 'x\n', note: 'error path: exists' },
  { args: ['user', 'grant-role', 'alice', 'app'] },
  { args: ['user', 'grant-role', 'alice', 'ops'] },
  { args: ['user', 'grant-role', 'alice', 'nosuch'], note: 'error path: unknown role' },
  { args: ['user', 'get', 'alice'] },
  { args: ['user', 'get', 'alice', '--detail'] },
  { args: ['user', 'get', 'nosuch'], note: 'error path: unknown user' },
  { args: ['user', 'list'] },
  { args: ['role', 'list'] },
  { args: ['auth', 'enable'], note: 'root lacks the root role: the client adds it and grants it' },
  { args: ['user', 'get', 'root', ...ROOT] },
  { args: ['user', 'list'], note: 'anonymous with auth on' },
  { args: ['user', 'list', ...ALICE], note: 'not root' },
  { args: ['user', 'list', '--user', 'alice:wrong'], note: 'wrong password' },
  { args: ['get', '/app/k', ...ALICE] },
  { args: ['get', '/secret', ...ALICE], note: 'no grant' },
  { args: ['role', 'revoke-permission', 'app', '/app/', '--prefix', ...ROOT] },
  { args: ['role', 'revoke-permission', 'app', '/w/a', '/w/m', ...ROOT] },
  { args: ['role', 'revoke-permission', 'app', '/z', '--from-key', ...ROOT] },
  { args: ['role', 'revoke-permission', 'app', '/public', ...ROOT] },
  { args: ['role', 'revoke-permission', 'app', '/nothing', ...ROOT], note: 'error path: not granted' },
  { args: ['role', 'get', 'app', ...ROOT] },
  { args: ['get', '/app/k', ...ALICE], note: 'the revoked prefix' },
  { args: ['user', 'revoke-role', 'alice', 'ops', ...ROOT] },
  { args: ['user', 'revoke-role', 'alice', 'ops', ...ROOT], note: 'error path: not granted' },
  { args: ['user', 'delete', 'root', ...ROOT], note: 'refused: root while auth is on' },
  { args: ['user', 'passwd', 'alice', '--interactive=false', ...ROOT], stdin: 'alicepw2\n' },
  { args: ['user', 'get', 'alice', '--user', 'alice:alicepw2'], note: 'new password; a user may read itself' },
  { args: ['role', 'get', 'app', '--user', 'alice:alicepw2'], note: 'a role the user holds' },
  { args: ['role', 'get', 'ops', '--user', 'alice:alicepw2'], note: 'a role the user no longer holds' },
  { args: ['user', 'get', 'bob', '--user', 'alice:alicepw2'], note: 'another user: root only' },
  { args: ['user', 'get', 'alice', '--detail', '--user', 'alice:alicepw2'] },
  { args: ['auth', 'disable', ...ALICE], note: 'not root' },
  { args: ['auth', 'disable', ...ROOT] },
  { args: ['user', 'list'], note: 'anonymous again' },
  { args: ['role', 'delete', 'app'] },
  { args: ['role', 'delete', 'app'], note: 'error path: gone' },
  { args: ['user', 'get', 'alice'], note: 'the deleted role is gone from the user' },
  { args: ['user', 'delete', 'alice'] },
  { args: ['user', 'delete', 'alice'], note: 'error path: not found' },
];

interface Outcome {
  ok: boolean;
  stdout: string;
  /** etcd's message of a failed step ("etcdserver: …"), '' for a success. */
  error: string;
}

/** The last etcd message on stderr (etcdctl's retry warnings come first, its "Error:" line last). */
const etcdMessage = (stderr: string): string => [...stderr.matchAll(/etcdserver: [^\n)"]*/g)].pop()?.[0] ?? `<no etcd message in: ${stderr.trim()}>`;

let etcd: EtcdCluster | undefined;
let ours: Cluster | undefined;

describe('placement-ctl auth|user|role against a real member, with etcdctl against etcd 3.4 as the contract', { timeout: 600_000 }, () => {
  before(async () => {
    [etcd, ours] = await Promise.all([startEtcdCluster({ members: 1 }), startCluster({ nodes: 1 })]);
  });

  after(async () => {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  });

  it('the same session prints the same lines through etcdctl (etcd 3.4) and placement-ctl (us)', async () => {
    const expected: Outcome[] = [];
    for (const s of SESSION) {
      const r = await etcdctl(etcd!.endpoints, s.args, { stdin: s.stdin });
      expected.push({ ok: r.code === 0, stdout: r.stdout, error: r.code === 0 ? '' : etcdMessage(r.stderr) });
    }
    const endpoint = ours!.node(1).grpcAddress;
    for (const [i, s] of SESSION.entries()) {
      const r = await runCtl(['--endpoints', endpoint, ...s.args], { input: s.stdin });
      const got: Outcome = { ok: r.code === 0, stdout: r.stdout, error: r.code === 0 ? '' : etcdMessage(r.stderr) };
      assert.deepEqual(got, expected[i], `step ${i}: ${s.args.join(' ')}${s.note ? ` (${s.note})` : ''}\nstderr: ${r.stderr}`);
    }
    // The contract is etcd's: its refusals are in the session.
    const at = (note: string): Outcome => expected[SESSION.findIndex((s) => s.note === note)]!;
    assert.match(at('refused: no root user').error, /root user does not exist/);
    assert.match(at('anonymous with auth on').error, /user name is empty/);
    assert.match(at('not root').error, /permission denied/);
    assert.match(at('wrong password').error, /authentication failed, invalid user ID or password/);
    assert.match(expected[SESSION.findIndex((s) => s.args[1] === 'get' && s.args[2] === 'app')]!.stdout, /KV Read:\n\t\[\/app\/, \/app0\) \(prefix \/app\/\)/);
  });

  it('a password from the prompt (no terminal: lines on stdin), twice; a mismatch and an empty one are refused', async () => {
    const endpoint = ours!.node(1).grpcAddress;
    const ok = await runCtl(['--endpoints', endpoint, 'user', 'add', 'carol'], { input: 'carolpw\ncarolpw\n' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, 'User carol created\n');
    assert.match(ok.stderr, /Password of carol: Type password of carol again for confirmation: /);
    const differ = await runCtl(['--endpoints', endpoint, 'user', 'add', 'dave'], { input: 'one\ntwo\n' });
    assert.equal(differ.code, 2);
    assert.match(differ.stderr, /given passwords are different/);
    const empty = await runCtl(['--endpoints', endpoint, 'user', 'add', 'erin'], { input: '\n' });
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /empty password/);
    const list = await runCtl(['--endpoints', endpoint, 'user', 'list']);
    assert.doesNotMatch(list.stdout, /dave|erin/);
    // --user without a password asks for it; --password gives it.
    await runCtl(['--endpoints', endpoint, 'user', 'add', 'root:rootpw']);
    await runCtl(['--endpoints', endpoint, 'auth', 'enable']);
    const asked = await runCtl(['--endpoints', endpoint, '--user', 'root', 'user', 'list'], { input: 'rootpw\n' });
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stderr, /^Password: /);
    const given = await runCtl(['--endpoints', endpoint, '--user', 'root', '--password', 'rootpw', 'user', 'list', '--json']);
    assert.equal(given.code, 0, given.stderr);
    const users = (JSON.parse(given.stdout) as { users: string[] }).users;
    assert.ok(users.includes('carol') && users.includes('root') && !users.includes('dave') && !users.includes('erin'), users.join(','));
    const both = await runCtl(['--endpoints', endpoint, '--user', 'root:rootpw', '--password', 'x', 'user', 'list']);
    assert.equal(both.code, 2);
    await runCtl(['--endpoints', endpoint, '--user', 'root:rootpw', 'auth', 'disable']);
  });
});
