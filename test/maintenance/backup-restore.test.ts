// Backup while writes run, restore into a new 3-member cluster: every write acknowledged at or
// before the backup's revision is there with its value and revision, none after it; a damaged
// backup, a non-empty data directory and the old cluster's id are refused and write nothing; the
// restored members and the old cluster's refuse each other's peer sessions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PlacementClient } from '../../src/client/index.js';
import { verifyBackupFile } from '../../storage/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl } from '../cli/support/run-ctl.js';
import { PeerProbe, readPeerSecret } from '../support/peer.js';
import * as grpc from '@grpc/grpc-js';

test('snapshot save during writes, restore into a new cluster: exactly the writes up to the backup revision', { timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'backup-restore-'));
  let old: Cluster | undefined;
  let restored: Cluster | undefined;
  const clients: PlacementClient[] = [];
  try {
    old = await startCluster({ nodes: 3 });
    const client = new PlacementClient({ endpoints: old.nodes.map((n) => n.grpcAddress) });
    clients.push(client);
    const acked = new Map<string, { value: string; revision: number }>();
    let stop = false;
    let n = 0;
    const writer = async (): Promise<void> => {
      while (!stop) {
        const i = n++;
        const key = `w/${String(i).padStart(6, '0')}`;
        const value = `value-${i}`;
        const r = await client.kv.set(key, value);
        acked.set(key, { value, revision: r.revision });
      }
    };
    const writers = [writer(), writer(), writer(), writer()];
    while (acked.size < 100) await new Promise((r) => setTimeout(r, 20));
    const backup = join(dir, 'backup.db');
    const saved = await runCtl(['--endpoints', old.nodes[1]!.grpcAddress, '--json', 'snapshot', 'save', backup]);
    assert.equal(saved.code, 0, saved.stderr);
    const countAtSave = acked.size;
    while (acked.size < countAtSave + 100) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await Promise.all(writers);

    const { info } = await verifyBackupFile(backup);
    assert.equal(JSON.parse(saved.stdout).revision, info.revision);
    assert.equal(info.clusterId, old.clusterId);
    const before = [...acked].filter(([, a]) => a.revision <= info.revision);
    const after = [...acked].filter(([, a]) => a.revision > info.revision);
    // The backup was taken while writes ran: some acknowledged writes fall on each side.
    assert.ok(before.length >= 100 && after.length >= 100, `writes before/after the backup: ${before.length}/${after.length}`);

    // Refusals, each leaving nothing behind.
    const peers = '1=127.0.0.1:1,2=127.0.0.1:2,3=127.0.0.1:3';
    const damaged = join(dir, 'damaged.db');
    copyFileSync(backup, damaged);
    const bytes = readFileSync(damaged);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    writeFileSync(damaged, bytes);
    const bad = await runCtl(['snapshot', 'restore', damaged, '--data-dir', join(dir, 'bad'), '--id', '1', '--peers', peers, '--cluster-id', 'restored']);
    assert.equal(bad.code, 5, bad.stderr);
    assert.match(bad.stderr, /SHA-256 does not match/);
    assert.equal(existsSync(join(dir, 'bad')), false);
    const sameId = await runCtl(['snapshot', 'restore', backup, '--data-dir', join(dir, 'same'), '--id', '1', '--peers', peers, '--cluster-id', old.clusterId]);
    assert.equal(sameId.code, 5);
    assert.match(sameId.stderr, /needs another --cluster-id/);
    assert.equal(existsSync(join(dir, 'same')), false);
    mkdirSync(join(dir, 'busy'));
    writeFileSync(join(dir, 'busy', 'keep-me'), 'data');
    const busy = await runCtl(['snapshot', 'restore', backup, '--data-dir', join(dir, 'busy'), '--id', '1', '--peers', peers, '--cluster-id', 'restored']);
    assert.equal(busy.code, 5);
    assert.match(busy.stderr, /is not empty/);
    assert.equal(readFileSync(join(dir, 'busy', 'keep-me'), 'utf8'), 'data');

    // Restore every member of the new cluster from the same backup. The addresses given here are
    // only recorded; the members' --peers at start say where they listen.
    const root2 = join(dir, 'restored');
    for (const id of [1, 2, 3]) {
      const r = await runCtl(['snapshot', 'restore', backup, '--data-dir', join(root2, `node-${id}`), '--id', String(id), '--peers', peers, '--cluster-id', 'restored']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`restored revision ${info.revision} of cluster "${old.clusterId}"`));
    }
    // Even holding the old cluster's peer secret, the restored members and the old ones refuse
    // each other: every peer session is bound to the cluster id.
    copyFileSync(old.peerSecretFile, join(root2, 'peer-secret'));
    restored = await startCluster({ nodes: 3, dataDir: root2, clusterId: 'restored' });
    const secret = readPeerSecret(old.peerSecretFile);
    for (const [to, as] of [
      [restored.nodes[0]!, old.clusterId],
      [old.nodes[0]!, 'restored'],
    ] as const) {
      const probe = new PeerProbe({ address: to.grpcAddress, clusterId: as, from: 2, to: 1, secret });
      try {
        await assert.rejects(probe.authenticate(), (e: grpc.ServiceError) => e.code === grpc.status.FAILED_PRECONDITION && /cluster id mismatch/.test(e.details));
      } finally {
        probe.client.close();
      }
    }
    await old.stop();
    old = undefined;
    const c2 = new PlacementClient({ endpoints: restored.nodes.map((h) => h.grpcAddress) });
    clients.push(c2);
    for (const [key, a] of before) {
      const kv = await c2.kv.get(key);
      assert.ok(kv, `${key} (revision ${a.revision} ≤ ${info.revision}) is missing after the restore`);
      assert.equal(kv.value.toString(), a.value);
      assert.equal(kv.modRevision, a.revision);
    }
    for (const [key, a] of after) assert.equal(await c2.kv.get(key), undefined, `${key} (revision ${a.revision} > ${info.revision}) is in the restored cluster`);
    // Every member holds the same keyspace, and the new cluster takes writes after the restored revision.
    const w = await c2.kv.set('after-restore', 'yes');
    assert.equal(w.revision, info.revision + 1);
  } finally {
    for (const c of clients) c.close();
    await old?.stop();
    await restored?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
