// Differential: the same etcdctl session of membership and maintenance commands against a real
// etcd 3.4 and a 3-member Placement Center cluster: member list (json), adding a learner at an
// address nothing listens on, promoting it (refused: not in sync), removing it twice, endpoint
// status, endpoint hashkv (every member agrees), move-leader to a follower, alarm list,
// defragment, snapshot save. Ids, URLs, names, sizes, indexes and hashes differ between the two
// servers; the transcript replaces them (each id, URL and name by a placeholder) and keeps
// everything else: messages, error strings, exit codes, the shape of the JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, startCluster, type Cluster } from '../support/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { etcdctl, type CtlResult } from '../support/etcdctl.js';
import { verifyBackupFile } from '../../storage/index.js';

/** JSON with every integer of 16+ digits (uint64 ids) as a string, so that none is rounded. */
const parseJson = (s: string): unknown => JSON.parse(s.replace(/([:\[,]\s*)(\d{16,})/g, '$1"$2"'));

interface StatusRow {
  Endpoint: string;
  Status: { header: { member_id: string | number }; leader: string | number; raftIndex: number; raftTerm: number; dbSize: number; version: string; raftAppliedIndex?: number; errors?: string[]; isLearner?: boolean };
}

async function scenario(endpoints: string[], spare: string, backupDir: string): Promise<{ lines: string[]; backup: string; learnerAfterUpdate: boolean }> {
  const lines: string[] = [];
  // Placeholders for what legitimately differs, by order of first appearance.
  const names = new Map<string, string>();
  const place = (kind: string, v: string): string => {
    const k = `${kind}:${v.toLowerCase()}`;
    if (!names.has(k)) names.set(k, `<${kind}${[...names.keys()].filter((x) => x.startsWith(`${kind}:`)).length + 1}>`);
    return names.get(k)!;
  };
  const ids = new Map<string, string>();
  /** Every member id in decimal and hex → the same placeholder. */
  const learnIds = (decimal: string): void => {
    const hex = BigInt(decimal).toString(16);
    const p = place('id', hex);
    ids.set(decimal, p);
    ids.set(hex, p);
  };
  const norm = (s: string): string =>
    s
      // etcdctl prints ids with %16x: ours have 53 bits (14 hex digits), so it pads them.
      .replace(/(Member|cluster) +([0-9a-f]+)/g, '$1 $2')
      .replace(/member\[127\.0\.0\.1:\d+\]/g, 'member[<endpoint>]')
      .replace(/\b(\d{6,}|[0-9a-f]{8,16})\b/g, (m) => ids.get(m) ?? ids.get(m.replace(/^0+/, '')) ?? m)
      .replace(/https?:\/\/127\.0\.0\.1:\d+/g, (u) => (u.endsWith(spare) ? '<spare-url>' : place('url', u)))
      .replace(/took = [\d.]+(ns|µs|ms|s|m)/g, 'took = <duration>')
      .replace(/\{"level":[^\n]*\n?/g, '');
  const record = (what: string, r: CtlResult): void => {
    lines.push(`$ ${what} → exit ${r.code}`, norm(r.stdout).trimEnd(), norm(r.stderr).trimEnd());
  };

  // member list: the JSON's shape and each member's fields.
  const list = await etcdctl(endpoints, ['member', 'list', '-w', 'json']);
  assert.equal(list.code, 0, list.stderr);
  const lj = parseJson(list.stdout) as { header: Record<string, unknown>; members: Array<Record<string, unknown>> };
  for (const m of lj.members) learnIds(String(m.ID));
  learnIds(String(lj.header.cluster_id));
  lines.push(`member list json: header ${Object.keys(lj.header).sort().join(',')}`);
  const shape = lj.members
    .map((m) => `{${Object.keys(m).sort().join(',')}} name:${m.name ? 'set' : 'empty'} peers:${(m.peerURLs as string[]).length} clients:${(m.clientURLs as string[]).length}`)
    .sort();
  lines.push(...shape);
  // Text: names and URLs as placeholders (etcd's members have distinct peer and client URLs, ours
  // one port for both), lines sorted (etcd lists them by its random ids).
  const text = await etcdctl(endpoints, ['member', 'list']);
  lines.push(
    `member list → exit ${text.code}`,
    ...text.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => l.replace(/^[0-9a-f]+, (\w+), [^,]+, [^,]+, [^,]+, (\w+)$/, '<id>, $1, <name>, <peer-url>, <client-url>, $2')),
  );

  // A learner at an address nothing listens on: added, unstarted, cannot be promoted, removed.
  // etcd refuses membership changes until its members have been connected for 5 s ("unhealthy
  // cluster"); a cluster that has just started waits that long.
  let add = await etcdctl(endpoints, ['member', 'add', 'newbie', `--peer-urls=http://${spare}`, '--learner']);
  for (const until = Date.now() + 30_000; add.code !== 0 && /unhealthy cluster/.test(add.stderr) && Date.now() < until; ) {
    await new Promise((r) => setTimeout(r, 500));
    add = await etcdctl(endpoints, ['member', 'add', 'newbie', `--peer-urls=http://${spare}`, '--learner']);
  }
  const added = /Member\s+([0-9a-f]+) added/.exec(add.stdout);
  assert.ok(added, `member add: ${add.stdout}${add.stderr}`);
  learnIds(BigInt(`0x${added[1]}`).toString());
  // ETCD_INITIAL_CLUSTER names every member in the server's order: sorted here.
  record(
    'member add --learner',
    {
      ...add,
      stdout: add.stdout
        .replace(/ETCD_INITIAL_CLUSTER="([^"]*)"/, (_, v: string) => `ETCD_INITIAL_CLUSTER="${v.split(',').map((e) => e.replace(/^[^=]*=/, (n) => (n === 'newbie=' ? n : '<name>='))).sort().join(',')}"`),
    },
  );
  const afterAdd = parseJson((await etcdctl(endpoints, ['member', 'list', '-w', 'json'])).stdout) as { members: Array<Record<string, unknown>> };
  const newbie = afterAdd.members.find((m) => BigInt(String(m.ID)).toString(16) === added[1]);
  lines.push(`the learner in member list: ${JSON.stringify({ name: newbie?.name, isLearner: newbie?.isLearner, clientURLs: newbie?.clientURLs, peerURLs: (newbie?.peerURLs as string[] | undefined)?.map(norm) })}`);
  record('member promote (not in sync)', await etcdctl(endpoints, ['member', 'promote', added[1]]));
  // member update: the unstarted learner moves to another URL; an unknown member; another member's URL.
  const [movedPort] = await freePorts(1);
  record('member update (the learner, new URL)', await etcdctl(endpoints, ['member', 'update', added[1], `--peer-urls=http://127.0.0.1:${movedPort}`]));
  const afterUpdate = parseJson((await etcdctl(endpoints, ['member', 'list', '-w', 'json'])).stdout) as { members: Array<Record<string, unknown>> };
  const updated = afterUpdate.members.find((m) => BigInt(String(m.ID)).toString(16) === added[1]);
  lines.push(`the learner after member update: ${JSON.stringify({ peerURLs: (updated?.peerURLs as string[] | undefined)?.map(norm) })}`);
  // etcd 3.4 replaces the member's Raft attributes with the update's, learner flag included, so its
  // member list then shows the learner as a voter (while Raft still has it as a learner); ours
  // keeps saying what it is. Compared apart: the caller checks `learnerAfterUpdate`.
  const learnerAfterUpdate = updated?.isLearner === true;
  record('member update (unknown)', await etcdctl(endpoints, ['member', 'update', 'abcdef', `--peer-urls=http://127.0.0.1:${movedPort}`]));
  const otherUrl = (afterUpdate.members.find((m) => BigInt(String(m.ID)).toString(16) !== added[1])?.peerURLs as string[])[0]!;
  record("member update (another member's URL)", await etcdctl(endpoints, ['member', 'update', added[1], `--peer-urls=${otherUrl}`]));
  record('member add (bad URL)', await etcdctl(endpoints, ['member', 'add', 'bad', '--peer-urls=ftp://nowhere']));
  record('member remove', await etcdctl(endpoints, ['member', 'remove', added[1]]));
  record('member remove (again)', await etcdctl(endpoints, ['member', 'remove', added[1]]));
  record('member promote (unknown)', await etcdctl(endpoints, ['member', 'promote', 'abcdef']));

  // Maintenance.
  for (let i = 0; i < 5; i++) assert.equal((await etcdctl(endpoints, ['put', `k${i}`, `v${i}`])).code, 0);
  const status = await etcdctl(endpoints, ['endpoint', 'status', '-w', 'json']);
  assert.equal(status.code, 0, status.stderr);
  const rows = parseJson(status.stdout) as StatusRow[];
  const leader = String(rows[0]!.Status.leader);
  lines.push(`endpoint status: ${rows.length} rows, fields ${Object.keys(rows[0]!.Status).sort().join(',')}`);
  lines.push(`every member names the same leader: ${rows.every((r) => String(r.Status.leader) === leader)}; one of them is it: ${rows.filter((r) => String(r.Status.header.member_id) === leader).length}`);
  lines.push(`db sizes positive: ${rows.every((r) => r.Status.dbSize > 0)}; terms equal: ${new Set(rows.map((r) => r.Status.raftTerm)).size === 1}`);
  const hashkv = await etcdctl(endpoints, ['endpoint', 'hashkv', '-w', 'json']);
  assert.equal(hashkv.code, 0, hashkv.stderr);
  const hashes = parseJson(hashkv.stdout) as Array<{ HashKV: { hash: number; compact_revision?: number; header: { revision: number } } }>;
  lines.push(`endpoint hashkv: ${hashes.length} rows, all equal: ${new Set(hashes.map((h) => h.HashKV.hash)).size === 1}, fields ${Object.keys(hashes[0]!.HashKV).sort().join(',')}`);
  const follower = rows.find((r) => String(r.Status.header.member_id) !== leader)!;
  const target = BigInt(String(follower.Status.header.member_id)).toString(16);
  const moved = await etcdctl(endpoints, ['move-leader', target]);
  lines.push(
    `move-leader → exit ${moved.code}: ${moved.stdout.trim() === `Leadership transferred from ${BigInt(leader).toString(16)} to ${target}` ? 'transferred from the leader to the target' : moved.stdout + moved.stderr}`,
  );
  const after = parseJson((await etcdctl(endpoints, ['endpoint', 'status', '-w', 'json'])).stdout) as StatusRow[];
  lines.push(`leader after move-leader is the target: ${after.every((r) => BigInt(String(r.Status.leader)).toString(16) === target)}`);
  record('move-leader (unknown member)', await etcdctl(endpoints, ['move-leader', 'abcdef']));
  record('alarm list', await etcdctl(endpoints, ['alarm', 'list']));
  record('defrag', await etcdctl([endpoints[0]!], ['defrag']));
  const backup = join(backupDir, 'backup.db');
  record('snapshot save', await etcdctl([endpoints[0]!], ['snapshot', 'save', backup]));
  return { lines: lines.map((l) => l.replaceAll(backupDir, '<dir>')), backup, learnerAfterUpdate };
}

test('etcdctl member, endpoint, move-leader, alarm, defrag and snapshot save: the same session against etcd 3.4 and Placement Center', { timeout: 300_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'maint-diff-'));
  try {
    const [spareEtcd] = await freePorts(1);
    etcd = await startEtcdCluster({ members: 3 });
    const expected = await scenario(etcd.endpoints, `127.0.0.1:${spareEtcd}`, join(dir));
    await etcd.stop();
    etcd = undefined;
    ours = await startCluster({ nodes: 3 });
    const oursDir = join(dir, 'ours');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(oursDir);
    const actual = await scenario(ours.nodes.map((n) => n.grpcAddress), ours.spareGrpcAddress(), oursDir);
    assert.equal(actual.lines.join('\n'), expected.lines.join('\n'));
    assert.equal(expected.learnerAfterUpdate, false, 'etcd 3.4 lists an updated learner as a voter (if this fails, the etcd in use fixed that)');
    assert.equal(actual.learnerAfterUpdate, true, 'an updated learner is still listed as a learner');
    // Our backup is one we can read back: its hash and trailer hold.
    assert.ok(statSync(actual.backup).size > 0);
    const v = await verifyBackupFile(actual.backup);
    assert.ok(v.fileLen > 0);
  } finally {
    await etcd?.stop();
    await ours?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
