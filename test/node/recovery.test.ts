// Real processes, damaged or mismatched data directories (issue 16, items 3-7): what a member
// refuses at start and says about it, and what it repairs on its own.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT, poll, startCluster, type Cluster } from '../support/cluster.js';
import { kvClient, type KvClient } from '../support/kv.js';

const SERVER = join(REPO_ROOT, 'src', 'cli', 'server.ts');

/** Runs the server once on `c`'s node `id` with `extra` args and expects it to exit: code and stderr. */
async function refusedStart(c: Cluster, id: number, extra: string[] = [], peers = c.peersArg): Promise<{ code: number | null; stderr: string }> {
  const h = c.node(id);
  const args = ['--import', 'tsx', SERVER, '--id', String(id), '--cluster-id', c.clusterId, '--data-dir', h.dataDir, '--listen', h.grpcAddress, '--http', h.httpAddress, '--peers', peers, ...extra];
  const p = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PLACEMENT_PEER_SECRET_FILE: c.peerSecretFile } });
  let stderr = '';
  p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const killer = setTimeout(() => p.pid && process.kill(p.pid, 'SIGKILL'), 30_000);
  const code = await new Promise<number | null>((r) => p.once('exit', (c2) => r(c2)));
  clearTimeout(killer);
  return { code, stderr };
}

async function hashes(c: Cluster, ids: number[]): Promise<{ hash: string; appliedIndex: number }[]> {
  return Promise.all(
    ids.map(async (id) => {
      const res = await fetch(`http://${c.node(id).httpAddress}/v1/debug/hash`);
      return ((await res.json()) as { data: { hash: string; appliedIndex: number } }).data;
    }),
  );
}

async function converged(c: Cluster, ids: number[]): Promise<void> {
  const hs = await poll(async () => {
    const h = await hashes(c, ids);
    return h.every((x) => x.appliedIndex === h[0]!.appliedIndex) ? h : null;
  }, { what: `members ${ids.join(', ')} at one applied index`, timeoutMs: 30_000 });
  assert.equal(new Set(hs.map((h) => h.hash)).size, 1, `state hashes agree: ${JSON.stringify(hs)}`);
}

async function readyz(c: Cluster, id: number): Promise<{ status: number; checks: { name: string; ok: boolean; detail: string }[] }> {
  const res = await fetch(`http://${c.node(id).httpAddress}/readyz`);
  const j = (await res.json()) as { checks: { name: string; ok: boolean; detail: string }[] };
  return { status: res.status, checks: j.checks };
}

async function writeMany(kv: KvClient, prefix: string, n: number, size = 64): Promise<void> {
  const batch: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    batch.push(kv.set({ key: `${prefix}/${String(i).padStart(4, '0')}`, value: Buffer.alloc(size, i % 256) }));
    if (batch.length === 32) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
}

describe('identity of a data directory', () => {
  let c: Cluster;
  const extra = new Map<number, string[]>();
  after(async () => c?.stop());

  it('a restart with another --cluster-id or --id is refused, saying which; --peers that disagree with the stored membership are reported', async () => {
    c = await startCluster({ nodes: 3, extraArgs: (id) => extra.get(id) ?? [] });
    await c.stopNode(3);
    const id = JSON.parse(readFileSync(join(c.node(3).dataDir, 'identity.json'), 'utf8')) as { clusterId: string; memberId: number };
    assert.deepEqual([id.clusterId, id.memberId], [c.clusterId, 3]);
    const other = await refusedStart(c, 3, ['--cluster-id', 'someone-else']);
    assert.equal(other.code, 78);
    assert.match(other.stderr, /was created for member 3 of cluster "test".*--cluster-id "someone-else"/);
    assert.match(other.stderr, /Way back: start it with --cluster-id "test" --id 3/);
    // Node 3's directory started as member 2 (with --peers naming 2 at node 3's address).
    const h = c.node(3);
    const asTwo = await refusedStart(c, 2, ['--data-dir', h.dataDir]);
    assert.equal(asTwo.code, 78);
    assert.match(asTwo.stderr, /--id 2 \(it belongs to member 3\)/);
    // --peers without member 2, with a member 4: reported with ids and addresses.
    const peers = c.peersArg.split(',').filter((p) => !p.startsWith('2=')).concat('4=127.0.0.1:9').join(',');
    extra.set(3, ['--peers', peers, '--peer-http', '']);
    await c.start(3);
    extra.delete(3);
    const log = c.logs(3);
    assert.match(log, /--peers lists member 4 at 127\.0\.0\.1:9, but the membership in this member's log\/snapshot has no member 4/);
    assert.match(log, new RegExp(`member 2 of the log/snapshot membership is missing from --peers \\(it was at ${c.node(2).grpcAddress.replace(/\./g, '\\.')}`));
  });
});

describe('a member that lost what it acknowledged', () => {
  let c: Cluster;
  const clients: KvClient[] = [];
  const extra = new Map<number, string[]>();
  after(async () => {
    for (const k of clients) k.close();
    await c?.stop();
  });

  it('restored from an old copy of its whole data directory: the leader re-probes it instead of looping, and it catches up', async () => {
    c = await startCluster({ nodes: 3, extraArgs: (id) => extra.get(id) ?? [] });
    const leader = await c.waitForLeader();
    const f = c.nodes.find((n) => n.id !== leader)!.id;
    const kv = kvClient(c.node(leader).grpcAddress);
    clients.push(kv);
    await writeMany(kv, 'a', 50);
    await c.stopNode(f);
    const backup = join(c.rootDir, `backup-${f}`);
    cpSync(c.node(f).dataDir, backup, { recursive: true });
    await c.start(f);
    await writeMany(kv, 'b', 200);
    await converged(c, [leader, f]);
    await c.kill(f, 'SIGKILL');
    rmSync(c.node(f).dataDir, { recursive: true, force: true });
    cpSync(backup, c.node(f).dataDir, { recursive: true });
    await c.start(f);
    await converged(c, c.nodes.map((n) => n.id));
    assert.match(c.logs(leader), /member \d rejected index \d+, which it had acknowledged/);
  });

  it('its log older than its state machine: refused at start (applied beyond the log); --rejoin brings it back and the marker goes away', async () => {
    const leader = await c.waitForLeader();
    const f = c.nodes.find((n) => n.id !== leader)!.id;
    const kv = kvClient(c.node(leader).grpcAddress);
    clients.push(kv);
    await c.stopNode(f);
    const oldWal = join(c.rootDir, `old-wal-${f}`);
    cpSync(join(c.node(f).dataDir, 'wal'), oldWal, { recursive: true });
    await c.start(f);
    await writeMany(kv, 'c', 100);
    await converged(c, [leader, f]);
    await c.stopNode(f);
    rmSync(join(c.node(f).dataDir, 'wal'), { recursive: true, force: true });
    cpSync(oldWal, join(c.node(f).dataDir, 'wal'), { recursive: true });
    const r = await refusedStart(c, f);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /applied \d+ is out of range \[lastIndex \d+\]/);
    assert.match(r.stderr, /Way back: start this member again with --rejoin/);
    extra.set(f, ['--rejoin']);
    await c.start(f);
    extra.delete(f);
    await poll(async () => !existsSync(join(c.node(f).dataDir, 'REJOINING')), { what: 'the rejoin marker to go', timeoutMs: 30_000 });
    await writeMany(kv, 'd', 20);
    await converged(c, c.nodes.map((n) => n.id));
    assert.match(c.logs(f), /rejoin complete/);
  });
});

describe('snapshot files missing', () => {
  let c: Cluster;
  const clients: KvClient[] = [];
  after(async () => {
    for (const k of clients) k.close();
    await c?.stop();
  });

  it('the newest snapshot file gone on every member: detected at start, a new one taken, and a lagging follower still gets one', async () => {
    c = await startCluster({ nodes: 3, extraArgs: ['--snapshot-every', '40'] });
    const leader = await c.waitForLeader();
    const lag = c.nodes.find((n) => n.id !== leader)!.id;
    const kv = kvClient(c.node(leader).grpcAddress);
    clients.push(kv);
    await writeMany(kv, 'early', 10);
    await c.kill(lag, 'SIGKILL');
    await writeMany(kv, 'late', 300, 256);
    await poll(async () => (await c.status(leader)).snapshotIndex >= 200, { what: 'snapshots on the leader' });
    const others = c.nodes.filter((n) => n.id !== lag).map((n) => n.id);
    for (const id of others) await c.kill(id, 'SIGKILL');
    for (const id of others) {
      const snap = join(c.node(id).dataDir, 'snap');
      // Every snapshot file the log may start from: all of them.
      for (const f of readdirSync(snap)) if (f.endsWith('.snap')) rmSync(join(snap, f));
    }
    for (const id of others) await c.start(id);
    for (const id of others) assert.match(c.logs(id), /the snapshot the log starts from has no file/);
    await c.waitForLeader({ among: others });
    await c.start(lag);
    await converged(c, c.nodes.map((n) => n.id));
    assert.match(c.logs(lag), /snapshot installed/);
    const f = kvClient(c.node(lag).grpcAddress);
    clients.push(f);
    assert.equal((await f.get({ key: 'late/0299', serializable: true })).found, true);
  });
});

describe('state machine damage', () => {
  let c: Cluster;
  const clients: KvClient[] = [];
  after(async () => {
    for (const k of clients) k.close();
    await c?.stop();
  });

  /** LevelDB writes the memtable out as a table when it opens a database: restart to get tables. */
  async function withTables(id: number): Promise<void> {
    await c.stopNode(id);
    await c.start(id);
    await c.waitForLeader();
  }

  function flipInTable(dataDir: string): string {
    const smDir = join(dataDir, 'sm');
    const db = join(smDir, readFileSync(join(smDir, 'CURRENT_DB'), 'utf8').trim());
    const table = readdirSync(db).filter((n) => n.endsWith('.ldb')).sort()[0];
    assert.ok(table, `a table file in ${db}: ${readdirSync(db).join(', ')}`);
    const path = join(db, table);
    const b = readFileSync(path);
    b[Math.floor(b.length / 2)] ^= 0x20;
    writeFileSync(path, b);
    const old = new Date(Date.now() - 3_600_000);
    utimesSync(path, old, old);
    return path;
  }

  it('a flipped byte in a table, found at start: moved aside and rebuilt from the snapshot and the log, no peer needed', async () => {
    c = await startCluster({ nodes: 3, extraArgs: ['--snapshot-every', '100', '--sm-check-interval-ms', '2000'] });
    const leader = await c.waitForLeader();
    const f = c.nodes.find((n) => n.id !== leader)!.id;
    const kv = kvClient(c.node(leader).grpcAddress);
    clients.push(kv);
    await writeMany(kv, 'x', 400, 512);
    await converged(c, c.nodes.map((n) => n.id));
    await withTables(f);
    await c.stopNode(f);
    const damaged = flipInTable(c.node(f).dataDir);
    await c.start(f);
    assert.match(c.logs(f), new RegExp(`${damaged.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*checksum mismatch`));
    assert.ok(readdirSync(join(c.node(f).dataDir, 'sm')).some((n) => n.startsWith('quarantine-db-')), 'the damaged database is kept aside');
    await converged(c, c.nodes.map((n) => n.id));
  });

  it('a flipped byte in a table of a running member: not ready, then rebuilt in place, and it serves again', async () => {
    const leader = await c.waitForLeader();
    const f = c.nodes.find((n) => n.id !== leader)!.id;
    const kv = kvClient(c.node(leader).grpcAddress);
    clients.push(kv);
    await writeMany(kv, 'y', 300, 512);
    await converged(c, c.nodes.map((n) => n.id));
    await withTables(f);
    const before = c.logs(f).length;
    const damaged = flipInTable(c.node(f).dataDir);
    const since = (): string => c.logs(f).slice(before);
    await poll(async () => /state machine damaged: not ready/.test(since()), { what: 'the background check to find it', timeoutMs: 30_000 });
    assert.ok(since().includes(damaged), 'the log names the file');
    await poll(async () => /state machine rebuilt/.test(since()), { what: 'the rebuild', timeoutMs: 30_000 });
    await poll(async () => (await readyz(c, f)).status === 200, { what: 'ready again' });
    await writeMany(kv, 'z', 20);
    await converged(c, c.nodes.map((n) => n.id));
    const fk = kvClient(c.node(f).grpcAddress);
    clients.push(fk);
    assert.equal((await fk.get({ key: 'y/0299', serializable: true })).found, true);
  });

  it('CURRENT_DB naming a database that does not exist: refused with the way back, the real one untouched', async () => {
    const leader = await c.waitForLeader();
    const f = c.nodes.find((n) => n.id !== leader)!.id;
    await c.stopNode(f);
    const smDir = join(c.node(f).dataDir, 'sm');
    const live = readFileSync(join(smDir, 'CURRENT_DB'), 'utf8').trim();
    writeFileSync(join(smDir, 'CURRENT_DB'), 'db-000999');
    const r = await refusedStart(c, f);
    assert.equal(r.code, 78, r.stderr);
    assert.match(r.stderr, /CURRENT_DB names db-000999, which does not exist/);
    assert.ok(existsSync(join(smDir, live)));
    writeFileSync(join(smDir, 'CURRENT_DB'), live);
    await c.start(f);
    await converged(c, c.nodes.map((n) => n.id));
  });
});
