// `placement-ctl cluster status` from outside the members' network (issue 25, item 7): members
// advertise addresses this client cannot use (as a Compose cluster's service names are, seen
// from the host), and the client reaches them through other addresses (the published ports).
// Here the members advertise names under `.invalid` (never resolvable, RFC 6761) and reach each
// other through --dial; the client uses their real loopback addresses.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl } from './support/run-ctl.js';

const EXIT = { OK: 0, UNHEALTHY: 7 };
const advertised = (id: number, port: number): string => `pc${id}.invalid:${port}`;

interface StatusJson {
  healthy: boolean;
  problems: string[];
  leaderId: number;
  members: Array<{ id: number; address: string; reachable: boolean; reachableAtAddress: boolean; reachedVia: string | null; role: string }>;
}

describe('cluster status when members advertise addresses the client cannot reach', { timeout: 120_000 }, () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster({
      nodes: 3,
      extraArgs: (_id, nodes) => [
        '--peers',
        nodes.map((n) => `${n.id}=${advertised(n.id, n.grpcPort)}`).join(','),
        '--dial',
        nodes.map((n) => `${n.id}=${n.grpcAddress}`).join(','),
      ],
    });
  });
  after(async () => {
    await c?.stop();
  });

  test('every member reached through --endpoints: shown as "via", healthy, exit 0', async () => {
    const leader = await c.waitForLeader();
    const all = c.nodes.map((n) => n.grpcAddress).join(',');
    const [text, json] = await Promise.all([
      runCtl(['--endpoints', all, '--timeout', '3s', 'cluster', 'status']),
      runCtl(['--endpoints', all, '--timeout', '3s', '--json', 'cluster', 'status']),
    ]);
    assert.equal(text.code, EXIT.OK, text.stderr);
    const rows = text.stdout.trimEnd().split('\n');
    assert.match(rows[0]!, /^ID\s+ADDRESS\s+REACHABLE\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+LEADER$/);
    for (const n of c.nodes) {
      const role = n.id === leader ? 'leader' : 'follower';
      assert.match(rows[n.id]!, new RegExp(`^${n.id}\\s+pc${n.id}\\.invalid:${n.grpcPort}\\s+via ${n.grpcAddress.replace(/\./g, '\\.')}\\s+${role}\\s`));
      assert.match(
        text.stderr,
        new RegExp(`note: member ${n.id} advertises pc${n.id}\\.invalid:${n.grpcPort}, which this client cannot reach \\(name not resolved\\); its status came through ${n.grpcAddress.replace(/\./g, '\\.')}`),
      );
    }
    assert.doesNotMatch(text.stderr, /not healthy/);
    assert.equal(json.code, EXIT.OK, json.stderr);
    const sj = JSON.parse(json.stdout) as StatusJson;
    assert.equal(sj.healthy, true);
    assert.equal(sj.leaderId, leader);
    assert.deepEqual(
      sj.members.map((m) => [m.id, m.address, m.reachable, m.reachableAtAddress, m.reachedVia]),
      c.nodes.map((n) => [n.id, advertised(n.id, n.grpcPort), true, false, n.grpcAddress]),
    );
  });

  test('only one member reachable: the others are unreachable at their advertised names, exit 7', async () => {
    const one = c.node(1);
    const r = await runCtl(['--endpoints', one.grpcAddress, '--timeout', '3s', 'cluster', 'status']);
    assert.equal(r.code, EXIT.UNHEALTHY, r.stderr);
    assert.match(r.stdout, new RegExp(`\\n1\\s+pc1\\.invalid:${one.grpcPort}\\s+via ${one.grpcAddress.replace(/\./g, '\\.')}\\s`));
    for (const n of c.nodes.filter((x) => x.id !== 1)) {
      assert.match(r.stdout, new RegExp(`\\n${n.id}\\s+pc${n.id}\\.invalid:${n.grpcPort}\\s+no\\s+unreachable\\s`));
      assert.match(r.stderr, new RegExp(`member ${n.id} \\(pc${n.id}\\.invalid:${n.grpcPort}\\) unreachable: name not resolved`));
    }
  });
});
