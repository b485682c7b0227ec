// The admin HTTP maintenance routes on a real member: status, hashkv (the same hash as etcd's
// HashKV on the gRPC port), alarms and disarm, defragment, and a backup downloaded from
// GET /v1/maintenance/snapshot that placement-ctl snapshot restore accepts and that starts a new
// cluster holding the keyspace. Bad input is refused with a clear 400 and changes nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { PlacementClient } from '../../src/client/index.js';
import { AlarmRequest_AlarmAction, AlarmType, MaintenanceClient } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { verifyBackupFile } from '../../storage/index.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { runCtl } from '../cli/support/run-ctl.js';

type Envelope<T> = { code: number; data: T; error?: string };

test('admin HTTP /v1/maintenance: status, hashkv, alarms, defragment, snapshot (restorable); bad input refused, nothing changed', { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'maint-http-'));
  let c: Cluster | undefined;
  let restored: Cluster | undefined;
  const clients: PlacementClient[] = [];
  let maint: MaintenanceClient | undefined;
  try {
    c = await startCluster({ nodes: 1 });
    const node = c.nodes[0]!;
    const base = `http://${node.httpAddress}/v1/maintenance`;
    const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: Envelope<T> }> => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as Envelope<T> };
    };
    const client = new PlacementClient({ endpoints: [node.grpcAddress] });
    clients.push(client);
    let last = 0;
    for (let i = 0; i < 50; i++) last = (await client.kv.set(`m/${String(i).padStart(3, '0')}`, `v${i}`)).revision;

    // status: this member's view.
    type Status = { memberId: number; version: string; dbSize: number; leaderId: number; raftIndex: number; raftTerm: number; raftAppliedIndex: number; isLearner: boolean; alarms: unknown[]; errors: string[] };
    const st = await call<Status>('GET', '/status');
    assert.equal(st.status, 200, st.body.error);
    assert.equal(st.body.data.memberId, 1);
    assert.equal(st.body.data.leaderId, 1);
    assert.equal(st.body.data.isLearner, false);
    assert.ok(st.body.data.raftIndex >= 50 && st.body.data.raftAppliedIndex >= 50 && st.body.data.raftTerm >= 1, JSON.stringify(st.body.data));
    assert.ok(st.body.data.dbSize > 0);
    assert.match(st.body.data.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(st.body.data.alarms, []);
    assert.deepEqual(st.body.data.errors, []);

    // hashkv: the same hash etcd's HashKV answers on the gRPC port, at the current and an older revision.
    maint = new MaintenanceClient(node.grpcAddress, grpc.credentials.createInsecure());
    const m = maint;
    const grpcHash = (revision: number): Promise<{ hash: number; compactRevision: number }> =>
      new Promise((resolve, reject) => m.hashKv({ revision }, (err, r) => (err ? reject(err) : resolve(r!))));
    type Hash = { memberId: number; hash: number; revision: number; compactRevision: number };
    const h = await call<Hash>('GET', '/hashkv');
    assert.equal(h.status, 200, h.body.error);
    assert.equal(h.body.data.revision, last);
    assert.equal(h.body.data.compactRevision, -1);
    assert.equal(h.body.data.hash, (await grpcHash(0)).hash);
    const older = await call<Hash>('GET', `/hashkv?revision=${last - 10}`);
    assert.equal(older.body.data.revision, last - 10);
    assert.equal(older.body.data.hash, (await grpcHash(last - 10)).hash);
    assert.notEqual(older.body.data.hash, h.body.data.hash);
    assert.equal((await call<Hash>('GET', `/hashkv?revision=${last}`)).body.data.hash, h.body.data.hash);

    // Bad input: 400 with a message naming the parameter, and nothing changed.
    const backupsDir = join(node.dataDir, 'backups');
    const backupsLeft = (): string[] => {
      try {
        return readdirSync(backupsDir);
      } catch {
        return [];
      }
    };
    const bad: Array<[string, string, unknown, RegExp]> = [
      ['GET', '/hashkv?revision=abc', undefined, /^revision: must be a revision/],
      ['GET', '/hashkv?revision=-1', undefined, /^revision: must be a revision/],
      ['GET', '/hashkv?revision=1.5', undefined, /^revision: must be a revision/],
      ['GET', '/hashkv?revision=99999999999999999', undefined, /^revision: must be a revision/],
      ['GET', '/hashkv?revision=1&revision=2', undefined, /^revision: must be given once/],
      ['GET', '/hashkv?rev=3', undefined, /^query: unknown parameter rev/],
      ['GET', `/hashkv?revision=${last + 1000}`, undefined, new RegExp(`^revision: ${last + 1000} is a future revision`)],
      ['GET', '/status?verbose=1', undefined, /^query: unknown parameter verbose/],
      ['GET', '/alarms?all=1', undefined, /^query: unknown parameter all/],
      ['GET', '/snapshot?revision=3', undefined, /^query: unknown parameter revision/],
      ['POST', '/defragment', { now: true }, /^body: unknown parameter now/],
      ['POST', '/defragment', '[]', /^body: must be a JSON object/],
      ['POST', '/alarms/disarm', { alarm: 'FIRE' }, /^alarm: /],
      ['POST', '/alarms/disarm', { memberId: 'one' }, /^memberId: /],
      ['POST', '/alarms/disarm', { member: 1 }, /^body: unknown parameter member/],
    ];
    const compareState = async (): Promise<string> => JSON.stringify([(await call<Hash>('GET', '/hashkv')).body.data, (await call<unknown>('GET', '/alarms')).body.data]);
    const stateBefore = await compareState();
    for (const [method, path, body, want] of bad) {
      const r = await call<null>(method, path, body);
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}: HTTP ${r.status} ${r.body.error}`);
      assert.notEqual(r.body.code, 0);
      assert.equal(r.body.data, null);
      assert.match(r.body.error ?? '', want, `${method} ${path}`);
    }
    const unknownMember = await call<null>('POST', '/alarms/disarm', { memberId: 99 });
    assert.equal(unknownMember.status, 404);
    assert.match(unknownMember.body.error ?? '', /memberId: 99 is not a member/);
    assert.equal(await compareState(), stateBefore, 'a refused request changed something');
    assert.deepEqual(backupsLeft(), [], 'a refused snapshot left a backup directory');

    // alarms: raise NOSPACE through etcd's Alarm (its member id is the gRPC header's), list, disarm.
    const etcdMember = await new Promise<string>((resolve, reject) => m.status({}, (err, r) => (err ? reject(err) : resolve(String(r!.header!.memberId)))));
    await new Promise<void>((resolve, reject) =>
      m.alarm({ action: AlarmRequest_AlarmAction.ACTIVATE, memberID: Number(etcdMember), alarm: AlarmType.NOSPACE }, (err) => (err ? reject(err) : resolve())),
    );
    const raised = await call<{ alarms: unknown[] }>('GET', '/alarms');
    assert.deepEqual(raised.body.data.alarms, [{ memberId: 1, alarm: 'NOSPACE' }]);
    assert.deepEqual((await call<Status>('GET', '/status')).body.data.errors, ['alarm NOSPACE raised by member 1']);
    await assert.rejects(client.kv.set('grow', 'x'), /database space exceeded/);
    const none = await call<{ disarmed: unknown[]; alarms: unknown[] }>('POST', '/alarms/disarm', { alarm: 'CORRUPT' });
    assert.equal(none.status, 200, none.body.error);
    assert.deepEqual(none.body.data, { disarmed: [], alarms: [{ memberId: 1, alarm: 'NOSPACE' }] });
    const all = await call<{ disarmed: unknown[]; alarms: unknown[] }>('POST', '/alarms/disarm');
    assert.equal(all.status, 200, all.body.error);
    assert.deepEqual(all.body.data, { disarmed: [{ memberId: 1, alarm: 'NOSPACE' }], alarms: [] });
    last = (await client.kv.set('after-disarm', 'ok')).revision;

    // defragment.
    const d = await call<{ memberId: number; dbSizeBefore: number; dbSize: number }>('POST', '/defragment');
    assert.equal(d.status, 200, d.body.error);
    assert.equal(d.body.data.memberId, 1);
    assert.ok(d.body.data.dbSizeBefore > 0 && d.body.data.dbSize > 0);

    // snapshot: a backup file, accepted by placement-ctl snapshot restore, that starts a cluster
    // holding exactly this keyspace.
    const res = await fetch(`${base}/snapshot`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.equal(Number(res.headers.get('content-length')), bytes.length);
    assert.equal(Number(res.headers.get('x-placement-backup-revision')), last);
    const file = join(dir, 'http.backup');
    writeFileSync(file, bytes);
    const { info } = await verifyBackupFile(file);
    assert.equal(info.revision, last);
    assert.equal(info.clusterId, c.clusterId);
    assert.deepEqual(backupsLeft(), [], `the private copy of the backup was not removed: ${JSON.stringify(backupsLeft().map((d) => [d, readdirSync(join(backupsDir, d), { recursive: true })]))}`);
    const peers = '1=127.0.0.1:1';
    const root2 = join(dir, 'restored');
    const r = await runCtl(['snapshot', 'restore', file, '--data-dir', join(root2, 'node-1'), '--id', '1', '--peers', peers, '--cluster-id', 'restored']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`restored revision ${last} of cluster "${c.clusterId}"`));
    // A damaged download is refused by its hash.
    const damaged = Buffer.from(bytes);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x40;
    writeFileSync(join(dir, 'damaged.backup'), damaged);
    const refused = await runCtl(['snapshot', 'restore', join(dir, 'damaged.backup'), '--data-dir', join(dir, 'bad'), '--id', '1', '--peers', peers, '--cluster-id', 'restored']);
    assert.equal(refused.code, 5, refused.stderr);

    copyFileSync(c.peerSecretFile, join(root2, 'peer-secret'));
    restored = await startCluster({ nodes: 1, dataDir: root2, clusterId: 'restored' });
    const c2 = new PlacementClient({ endpoints: [restored.nodes[0]!.grpcAddress] });
    clients.push(c2);
    assert.equal((await c2.kv.get('m/007'))?.value.toString(), 'v7');
    assert.equal((await c2.kv.get('after-disarm'))?.value.toString(), 'ok');
    assert.equal((await c2.kv.list('m/')).kvs.length, 50);
    assert.equal((await c2.kv.set('next', 'x')).revision, last + 1);
  } finally {
    maint?.close();
    for (const cl of clients) cl.close();
    await c?.stop();
    await restored?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
