// Moving a member to a new address (etcd's member update) on a real 3-process cluster: the
// change goes through the log, every member dials the member at its new address from then on,
// a member restarted with a --peers that still names the old address uses the recorded one, and
// bad requests (unknown member, an address another member has, a malformed address) are refused
// with nothing changed, on the SDK's gRPC path and on the admin HTTP route.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementClient, PlacementClientError } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl } from '../cli/support/run-ctl.js';

const addressOf = async (client: PlacementClient, id: number): Promise<string | undefined> => (await client.cluster.members()).members.find((m) => m.id === id)?.address;

async function refused(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof PlacementClientError, String(err));
    assert.equal(err.codeName, code, err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('member update: a voter moves to a new address; peers dial it there, also after a restart with stale --peers; bad requests change nothing', { timeout: 180_000 }, async () => {
  let c: Cluster | undefined;
  const clients: PlacementClient[] = [];
  const client = (endpoints: string[]): PlacementClient => {
    const k = new PlacementClient({ endpoints, discoverMembers: false });
    clients.push(k);
    return k;
  };
  try {
    c = await startCluster({ nodes: 3 });
    const viaOne = client([c.node(1).grpcAddress, c.node(2).grpcAddress]);
    await viaOne.kv.set('mu/before', 'b');
    const oldAddress = c.node(3).grpcAddress;

    await c.stopNode(3);
    await c.waitForLeader({ among: [1, 2] });
    const moved = c.spareGrpcAddress();
    const r = await viaOne.cluster.memberUpdate(3, moved);
    assert.equal(r.memberId, 3);
    assert.equal(r.members.find((m) => m.id === 3)?.address, moved, 'the reply lists the new address');
    assert.equal(await addressOf(viaOne, 3), moved);

    // Bad requests: refused, nothing changed.
    await refused(viaOne.cluster.memberUpdate(99, '127.0.0.1:1'), 'NOT_FOUND', /member 99 is not in the cluster/);
    await refused(viaOne.cluster.memberUpdate(3, c.node(1).grpcAddress), 'ALREADY_EXISTS', /member 1 already has the address/);
    await refused(viaOne.cluster.memberUpdate(3, 'no-port'), 'INVALID_ARGUMENT', /address must be host:port/);
    await refused(viaOne.cluster.memberUpdate(2 ** 52 + 2, '127.0.0.1:1'), 'INVALID_ARGUMENT', /member id 4503599627370498 is out of range/);
    await refused(viaOne.cluster.memberUpdate(2 ** 60, '127.0.0.1:1'), 'INVALID_ARGUMENT', /malformed request: Value is larger than Number.MAX_SAFE_INTEGER/);
    await refused(viaOne.cluster.memberUpdate(3, `${'h'.repeat(200_000)}:1`), 'INVALID_ARGUMENT', /address must be host:port .*\(200002 characters\)/);
    // Adding a member checks its address the same way.
    await refused(viaOne.cluster.memberAdd(`${'h'.repeat(200_000)}:1`, { isLearner: true }), 'INVALID_ARGUMENT', /address must be host:port .*\(200002 characters\)/);
    await refused(viaOne.cluster.memberAdd('no-port', { isLearner: true }), 'INVALID_ARGUMENT', /address must be host:port/);
    assert.equal((await viaOne.cluster.members()).members.length, 3, 'no member was added');
    const put = (body: unknown): Promise<Response> =>
      fetch(`http://${c!.node(1).httpAddress}/v1/cluster/members/3`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await put({ address: 'x:99999' })).status, 400);
    assert.equal((await put({ address: moved, extra: 1 })).status, 400);
    assert.equal((await put({})).status, 400);
    const ctl = await runCtl(['--endpoints', c.node(1).grpcAddress, 'member', 'update', '77', '127.0.0.1:2']);
    assert.notEqual(ctl.code, 0);
    assert.match(ctl.stderr, /member 77 is not in the cluster/);
    assert.equal(await addressOf(viaOne, 3), moved, 'the refused requests left the address alone');

    // Member 3 comes back listening at the new address (its --peers still names the old one).
    const h = c.node(3);
    h.grpcAddress = moved;
    h.grpcPort = Number(moved.split(':')[1]);
    await c.start(3);
    await viaOne.kv.set('mu/after-move', 'a');
    const atThree = client([moved]);
    await c.waitFor(async () => (await atThree.kv.get('mu/after-move', { serializable: true }))?.value.toString() === 'a', { what: 'member 3 to replicate a write made after the move', timeoutMs: 30_000 });
    assert.notEqual(moved, oldAddress);

    // Member 1 restarts with --peers naming 3 at the old address: it uses the recorded one, and
    // says so. With member 2 stopped, members 1 and 3 must reach each other to commit.
    await c.restart(1);
    const logLine = new RegExp(`--peers gives member 3 the address ${oldAddress.replace(/\./g, '\\.')}, but the cluster moved it to ${moved.replace(/\./g, '\\.')}`);
    assert.match(c.logs(1), logLine);
    await c.stopNode(2);
    await c.waitForLeader({ among: [1, 3] });
    const viaThree = client([moved, c.node(1).grpcAddress]);
    await viaThree.kv.set('mu/quorum-1-3', 'q');
    const atOne = client([c.node(1).grpcAddress]);
    assert.equal((await atOne.kv.get('mu/quorum-1-3'))?.value.toString(), 'q');
    assert.equal((await atOne.kv.get('mu/before'))?.value.toString(), 'b');
  } finally {
    for (const k of clients) k.close();
    await c?.stop();
  }
});
