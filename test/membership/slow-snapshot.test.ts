// Issue 21: a learner whose snapshot takes longer to stream than the leader takes to write its
// next two snapshots still catches up. The leader → learner link is throttled (test/support/
// slow-link.ts) and writes go on the whole time, with snapshots every 256 KiB of entries. Before
// the fix the leader gave the stream up after two election timeouts (and its retries were
// dropped by the busy link), and compacted its log past the snapshot being streamed, so the
// learner, once it had installed one, needed another, forever.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster } from '../support/cluster.js';
import { startSlowLink } from '../support/slow-link.js';
import { runCtl } from '../cli/support/run-ctl.js';

const VALUE = 'v'.repeat(4096);
const LINK_BYTES_PER_SEC = 512 * 1024;
/** Entries behind the leader's commit that count as "in step" (the writer makes ~25 a second). */
const IN_STEP = 50;

test('a learner behind a slow link catches up while writes continue and the leader keeps snapshotting', { timeout: 240_000 }, async () => {
  const c = await startCluster({ nodes: 3, extraArgs: ['--snapshot-bytes', String(256 * 1024)] });
  const client = new PlacementClient({ endpoints: c.nodes.map((h) => h.grpcAddress), refreshIntervalMs: 0 });
  const learnerAddress = c.spareGrpcAddress();
  const [host, port] = learnerAddress.split(':') as [string, string];
  const link = await startSlowLink({ host, port: Number(port) }, LINK_BYTES_PER_SEC);
  let stop = false;
  let writer: Promise<void> = Promise.resolve();
  try {
    // About 4 MiB of keys: the snapshot takes ~8 s or more through the link.
    for (let i = 0; i < 1000; i += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => client.kv.set(`/slow/${i + k}`, VALUE)));
    let n = 0;
    writer = (async () => {
      while (!stop) {
        await client.kv.set(`/slow/${n++ % 1000}`, VALUE);
        await new Promise((r) => setTimeout(r, 40));
      }
    })();

    // The leader dials the learner at the address the member was added with: the slow link.
    const add = await runCtl(['--endpoints', c.nodes[0]!.grpcAddress, '--json', 'member', 'add', link.address, '--learner']);
    assert.equal(add.code, 0, add.stderr);
    const id = (JSON.parse(add.stdout) as { memberId: number }).memberId;
    c.addNode(id, c.nodes.map((h) => h.id).concat(id));
    await c.start(id);
    const t0 = Date.now();
    const inStep = await c.waitFor(
      async () => {
        const leader = await c.waitForLeader({ among: [1, 2, 3] });
        const [ls, me] = await Promise.all([c.tryStatus(leader), c.tryStatus(id)]);
        if (!ls || !me) return null;
        return ls.commitIndex - me.appliedIndex <= IN_STEP ? { lag: ls.commitIndex - me.appliedIndex, leader } : null;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: `learner ${id} within ${IN_STEP} entries of the leader's commit while writes go on` },
    );
    console.log(`# learner ${id} in step after ${Date.now() - t0} ms (lag ${inStep.lag}); ${link.forwarded()} bytes through the link; ${n} writes during the test`);
    // A learner that is in step can be promoted while the writes go on.
    await c.waitFor(async () => (await runCtl(['--endpoints', c.nodes[0]!.grpcAddress, 'member', 'promote', String(id)])).code === 0 || null, { timeoutMs: 30_000, intervalMs: 500, what: `member ${id} promoted` });
    const sent = [1, 2, 3].flatMap((m) => c.logs(m).split('\n').filter((l) => l.includes('"snapshot sent"') && l.includes(`"peer":${id}`)));
    assert.ok(sent.length >= 1 && sent.length <= 2, `snapshots streamed to the learner: ${sent.length} (one, or two if leadership moved)`);
  } finally {
    stop = true;
    await writer.catch(() => {});
    await client.close();
    await c.stop();
    await link.close();
  }
});
