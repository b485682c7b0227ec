// A member killed while it sends a backup leaves the backup's private copy (a whole snapshot of
// the state machine) under <data-dir>/backups/; the next start removes it and says so, and the
// member's data is untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PlacementClient } from '../../src/client/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';

const listBackups = (dataDir: string): string[] => {
  try {
    return readdirSync(join(dataDir, 'backups'));
  } catch {
    return [];
  }
};

test('a backup copy left by a member killed mid-backup is removed at its next start; the data stays', { timeout: 120_000 }, async () => {
  let c: Cluster | undefined;
  let client: PlacementClient | undefined;
  try {
    c = await startCluster({ nodes: 1 });
    const node = c.nodes[0]!;
    client = new PlacementClient({ endpoints: [node.grpcAddress] });
    const value = Buffer.alloc(512 * 1024, 0x62);
    for (let i = 0; i < 40; i++) await client.kv.set(`big/${i}`, value); // 20 MiB: more than the sockets buffer
    client.close();
    client = undefined;

    // Start a download, read one piece, stop reading: the member is now mid-backup.
    const res = await fetch(`http://${node.httpAddress}/v1/maintenance/snapshot`);
    assert.equal(res.status, 200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.ok(first.value && first.value.length > 0);
    const left = listBackups(node.dataDir);
    assert.equal(left.length, 1, 'the backup in flight has one private copy');
    await c.kill(node.id, 'SIGKILL');
    await reader.cancel().catch(() => {});
    assert.deepEqual(listBackups(node.dataDir), left, 'SIGKILL left the copy behind');

    await c.start(node.id);
    await c.waitForLeader();
    assert.deepEqual(listBackups(node.dataDir), [], 'the restart removed the stale copy');
    assert.match(c.logs(node.id), /removed backup copies left by a process that stopped while sending them/);
    assert.ok(c.logs(node.id).includes(left[0]!), 'the log names what was removed');

    client = new PlacementClient({ endpoints: [node.grpcAddress] });
    const back = await client.kv.get('big/39');
    assert.ok(back && Buffer.from(back.value).equals(value), 'the data is intact');
  } finally {
    client?.close();
    await c?.stop();
  }
});
