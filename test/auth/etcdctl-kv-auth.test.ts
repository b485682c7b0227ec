// Differential: the etcd KV service with auth on gives the same etcdctl transcript as etcd 3.4:
// what a user with prefix grants may read and write, a Txn judged on its compares and on both of
// its branches, anonymous callers, and etcd's order of checks (a bad request is answered as bad
// before its caller is judged). A token that does not verify gets etcd's code and message from
// both servers. Compact needs root here, which is stricter than etcd 3.4 (see the last test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KVService, RangeRequest, type RangeResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { etcdctl, firstDifference, runSession, type Step } from '../support/etcdctl.js';
import { startCluster, type Cluster } from '../support/cluster.js';

const ROOT = ['--user', 'root:rootpw'];
const ALICE = ['--user', 'alice:alicepw'];

function txn(compares: string[], success: string[], failure: string[]): string {
  return `${compares.join('\n')}\n\n${success.join('\n')}\n\n${failure.join('\n')}\n\n`;
}

const SETUP: Step[] = [
  { args: ['user', 'add', 'root', '--interactive=false'], stdin: 'rootpw\n' },
  { args: ['role', 'add', 'app'] },
  { args: ['role', 'grant-permission', 'app', '--prefix=true', 'readwrite', '/app/'] },
  { args: ['role', 'grant-permission', 'app', '--prefix=true', 'read', '/pub/'] },
  { args: ['role', 'grant-permission', 'app', 'write', '/drop'] },
  { args: ['user', 'add', 'alice', '--interactive=false'], stdin: 'alicepw\n' },
  { args: ['user', 'grant-role', 'alice', 'app'] },
  { args: ['put', '/pub/x', '1'] },
  { args: ['put', '/secret', 's'] },
  { args: ['auth', 'enable'] },
];

export const KV_AUTH_SESSION: Step[] = [
  ...SETUP,
  // --- Range: read
  { args: ['get', '/pub/x', ...ALICE] },
  { args: ['get', '/pub/', '--prefix', ...ALICE] },
  { args: ['get', '/secret', ...ALICE], note: 'no grant' },
  { args: ['get', '/drop', ...ALICE], note: 'write-only grant' },
  { args: ['get', '/', '--prefix', ...ALICE], note: 'a range only partly granted' },
  { args: ['get', '/secret', ...ROOT] },
  { args: ['get', '/pub/x'], note: 'anonymous' },
  { args: ['get', '', ...ALICE], note: 'bad request before permission: empty key' },
  { args: ['get', ''], note: 'bad request before the missing user' },
  // --- Put and DeleteRange: write (and read with prev_kv)
  { args: ['put', '/app/a', '1', ...ALICE] },
  { args: ['put', '/app/a', '2', '--prev-kv', ...ALICE] },
  { args: ['put', '/drop', 'x', ...ALICE], note: 'write-only grant' },
  { args: ['put', '/drop', 'x', '--prev-kv', ...ALICE], note: 'prev_kv needs read too' },
  { args: ['put', '/pub/x', '2', ...ALICE], note: 'read-only grant' },
  { args: ['put', '/app/b', 'x'], note: 'anonymous' },
  { args: ['put', '', 'x', ...ALICE], note: 'bad request before permission' },
  { args: ['del', '/pub/x', ...ALICE], note: 'read-only grant' },
  { args: ['del', '/app/', '--prefix', '--prev-kv', ...ALICE] },
  { args: ['del', '/drop', ...ALICE] },
  { args: ['del', '/drop', '--prev-kv', ...ALICE], note: 'prev_kv needs read too' },
  { args: ['del', '/', '--prefix', ...ALICE], note: 'a range only partly granted' },
  // --- Txn: compares read, both branches checked whichever runs
  { args: ['txn', ...ALICE], stdin: txn(['value("/pub/x") = "1"'], ['put /app/t 1', 'get /pub/x'], ['get /app/t']) },
  { args: ['txn', ...ALICE], stdin: txn(['value("/pub/x") = "1"'], ['put /app/t 2'], ['put /secret 2']), note: 'the failure branch is not granted' },
  { args: ['txn', ...ALICE], stdin: txn(['value("/secret") = "s"'], ['put /app/t 3'], []), note: 'a compare on a key not granted' },
  { args: ['txn', ...ALICE], stdin: txn([], ['get /app/t', 'get /pub/x'], ['get /secret']), note: 'read-only txn, failure branch not granted' },
  { args: ['txn', ...ALICE], stdin: txn([], ['put /pub/y 1'], []), note: 'read-only grant' },
  { args: ['txn'], stdin: txn([], ['get /pub/x'], []), note: 'anonymous' },
  { args: ['txn', ...ROOT], stdin: txn(['value("/secret") = "s"'], ['put /secret t'], []) },
  { args: ['get', '/app/t', ...ROOT] },
  // --- Compact as root, then auth off
  { args: ['compaction', '3', ...ROOT] },
  { args: ['auth', 'disable', ...ROOT] },
  { args: ['get', '/secret'], note: 'anonymous again' },
];

/** A Range with `md` straight over gRPC: its code and message (etcdctl cannot send a bad token). */
function rawRange(addr: string, md: grpc.Metadata): Promise<{ code: grpc.status; details: string }> {
  const d = KVService.range;
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  const req = { ...RangeRequest.decode(new Uint8Array(0)), key: Buffer.from('/pub/x') };
  return new Promise((resolve) => {
    client.makeUnaryRequest(d.path, d.requestSerialize, d.responseDeserialize, req, md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, _rep?: RangeResponse) => {
      client.close();
      resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' });
    });
  });
}

test('etcd KV with auth on: the same etcdctl transcript from etcd 3.4 and Placement Center', { timeout: 300_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  try {
    [etcd, ours] = await Promise.all([startEtcdCluster({ members: 1 }), startCluster({ nodes: 1 })]);
    const expected = await runSession(etcd.endpoints, KV_AUTH_SESSION);
    const actual = await runSession([ours.node(1).grpcAddress], KV_AUTH_SESSION);
    assert.equal(firstDifference(expected, actual), null);
    // The transcript holds etcd's refusals, not a run of successes.
    const at = (note: string, i = 0): string => expected.steps[KV_AUTH_SESSION.map((s, n) => (s.note === note ? n : -1)).filter((n) => n >= 0)[i]!]!.result.stderr;
    assert.match(at('no grant'), /etcdserver: permission denied/);
    assert.match(at('anonymous'), /etcdserver: user name is empty/);
    assert.match(at('bad request before the missing user'), /etcdserver: key is not provided/);
    assert.match(at('the failure branch is not granted'), /etcdserver: permission denied/);
  } finally {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  }
});

test('a token that does not verify: etcd\'s code and message from both; Compact needs root here (etcd 3.4 lets any user compact)', { timeout: 300_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  try {
    [etcd, ours] = await Promise.all([startEtcdCluster({ members: 1 }), startCluster({ nodes: 1 })]);
    const servers = { etcd: etcd.endpoints, ours: [ours.node(1).grpcAddress] };
    for (const endpoints of Object.values(servers)) await runSession(endpoints, SETUP);
    const bad = new grpc.Metadata();
    bad.set('token', 'not-a-token.1');
    const [e, o] = await Promise.all([rawRange(servers.etcd[0]!, bad), rawRange(servers.ours[0]!, bad)]);
    assert.deepEqual(o, e);
    assert.deepEqual(o, { code: grpc.status.UNAUTHENTICATED, details: 'etcdserver: invalid auth token' });

    // Compaction drops every key's history: root only here. etcd 3.4 does not check it.
    const ctl = (endpoints: string[], args: string[]) => etcdctl(endpoints, args);
    const etcdAlice = await ctl(servers.etcd, ['compaction', '2', ...ALICE]);
    assert.equal(etcdAlice.code, 0, etcdAlice.stderr);
    const oursAlice = await ctl(servers.ours, ['compaction', '2', ...ALICE]);
    assert.notEqual(oursAlice.code, 0);
    assert.match(oursAlice.stderr, /etcdserver: permission denied/);
    const oursAnon = await ctl(servers.ours, ['compaction', '2']);
    assert.match(oursAnon.stderr, /etcdserver: user name is empty/);
    const oursRoot = await ctl(servers.ours, ['compaction', '2', ...ROOT]);
    assert.equal(oursRoot.code, 0, oursRoot.stderr);
  } finally {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  }
});
