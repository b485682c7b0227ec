// The operator's flow with etcd's own tool against a 3-member cluster: `etcdctl member add
// --learner` answers the new member's id and name (member-<id>: the --id to start it with), the
// member is started with --join and catches up, `etcdctl member promote` makes it a voter,
// `etcdctl move-leader` hands leadership to it, and `etcdctl member remove` takes it out (it
// shuts down).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { etcdctl } from '../support/etcdctl.js';

/** JSON with every uint64 field value (16+ digits) as a string, so that none is rounded. */
const parseJson = (s: string): unknown => JSON.parse(s.replace(/("\w+":\s*)(\d{16,})/g, '$1"$2"'));
const hex = (id: unknown): string => BigInt(String(id)).toString(16);

interface MemberJson {
  ID: string | number;
  name?: string;
  peerURLs?: string[];
  clientURLs?: string[];
  isLearner?: boolean;
}

test('etcdctl member add --learner, start with --join, promote, move-leader, remove', { timeout: 240_000 }, async () => {
  let c: Cluster | undefined;
  try {
    // The log is never compacted here (the default --snapshot-every is far away): the new member
    // must still get a snapshot, since replaying the log from its first entry would leave it
    // without the founding voters (no entry records them) — it then refused its own leader.
    c = await startCluster({ nodes: 3 });
    const eps = c.nodes.map((n) => n.grpcAddress);
    for (let i = 0; i < 50; i++) assert.equal((await etcdctl(eps, ['put', `k${i}`, `v${i}`])).code, 0);
    const address = c.spareGrpcAddress();
    const add = await etcdctl(eps, ['member', 'add', 'newbie', `--peer-urls=http://${address}`, '--learner', '-w', 'json']);
    assert.equal(add.code, 0, add.stderr);
    const added = parseJson(add.stdout) as { member: MemberJson; members: MemberJson[] };
    const m = /^member-(\d+)$/.exec(added.member.name ?? '');
    assert.ok(m, `the added member's name gives its --id: ${JSON.stringify(added.member)}`);
    const id = Number(m[1]);
    assert.equal(added.member.isLearner, true);
    assert.deepEqual(added.member.peerURLs, [`http://${address}`]);
    assert.equal(added.members.length, 4);
    const idHex = hex(added.member.ID);

    c.addNode(id, [1, 2, 3]);
    await c.start(id);
    // Caught up: the leader's view of its match index reaches the log (promotion then passes).
    let last = '';
    const promote = await c
      .waitFor(async () => {
        const r = await etcdctl(eps, ['member', 'promote', idHex]);
        if (r.code === 0) return r;
        last = r.stderr;
        return null;
      }, { what: 'the learner promoted', timeoutMs: 60_000, intervalMs: 500 })
      .catch((err: Error) => {
        throw new Error(`${err.message}: last refusal ${last}\n--- member ${id} log ---\n${c!.logs(id).slice(-3000)}`);
      });
    assert.match(promote.stdout, new RegExp(`Member\\s+${idHex} promoted in cluster`));
    const list = parseJson((await etcdctl(eps, ['member', 'list', '-w', 'json'])).stdout) as { members: MemberJson[] };
    const me = list.members.find((x) => hex(x.ID) === idHex)!;
    assert.equal(me.isLearner ?? false, false);
    assert.equal(me.name, `member-${id}`, 'started: it has a name');
    assert.deepEqual(me.clientURLs, [`http://${address}`]);

    // The new voter serves etcd reads of what was written before it joined.
    const get = await c.waitFor(async () => {
      const r = await etcdctl([address], ['get', 'k42', '--print-value-only']);
      return r.code === 0 ? r : null;
    }, { what: 'a read on the new voter', timeoutMs: 20_000, intervalMs: 500 });
    assert.equal(get.stdout.trim(), 'v42', `${get.code} ${get.stderr}`);
    const moved = await etcdctl([...eps, address], ['move-leader', idHex]);
    assert.equal(moved.code, 0, moved.stderr);
    assert.match(moved.stdout, new RegExp(`Leadership transferred from \\w+ to ${idHex}`));
    assert.equal(await c.waitForLeader(), id);

    const rm = await etcdctl(eps, ['member', 'remove', idHex]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.match(rm.stdout, new RegExp(`Member\\s+${idHex} removed from cluster`));
    // The removed member (the leader until then) stops; the others go on.
    await c.waitFor(async () => (c!.node(id).proc === null ? true : null), { what: `member ${id} to exit`, timeoutMs: 30_000 });
    const after = parseJson((await etcdctl(eps, ['member', 'list', '-w', 'json'])).stdout) as { members: MemberJson[] };
    assert.equal(after.members.length, 3);
    assert.equal((await etcdctl(eps, ['put', 'after', 'removal'])).code, 0);
  } finally {
    await c?.stop();
  }
});
