// etcd's metric names on /metrics of the client port, compared with a real 3-member etcd 3.4
// (src/metrics/etcd-names.ts): the same etcdctl session against both, every member scraped before,
// during (an etcdctl watch open) and after it. What etcd's alerts and dashboards read must be there
// with etcd's type and label names, and what they compute (open watch streams, RPCs by code,
// revisions, one leader, member ids) must come out the same on both.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { poll, startCluster, type Cluster } from '../support/cluster.js';
import { isEtcdName } from '../../src/metrics/etcd-names.js';
import { etcdAndOurs } from '../support/differential.js';
import { etcdctl, etcdctlWatch } from '../support/etcdctl.js';
import { parseExposition, type Family } from '../metrics/exposition.js';

/** What etcd's published alerts and its Grafana dashboard read, and the debugging series we also serve. */
const NAMES = [
  'etcd_server_has_leader',
  'etcd_server_is_leader',
  'etcd_server_is_learner',
  'etcd_server_id',
  'etcd_server_version',
  'etcd_cluster_version',
  'etcd_server_leader_changes_seen_total',
  'etcd_server_proposals_committed_total',
  'etcd_server_proposals_applied_total',
  'etcd_server_proposals_pending',
  'etcd_server_proposals_failed_total',
  'etcd_server_read_indexes_failed_total',
  'etcd_server_quota_backend_bytes',
  'etcd_disk_wal_fsync_duration_seconds',
  'etcd_disk_backend_commit_duration_seconds',
  'etcd_disk_wal_write_bytes_total',
  'etcd_mvcc_db_total_size_in_bytes',
  'etcd_mvcc_db_total_size_in_use_in_bytes',
  'etcd_debugging_mvcc_db_total_size_in_bytes',
  'etcd_debugging_mvcc_keys_total',
  'etcd_debugging_mvcc_current_revision',
  'etcd_debugging_mvcc_compact_revision',
  'etcd_debugging_mvcc_watch_stream_total',
  'etcd_debugging_mvcc_watcher_total',
  'etcd_debugging_mvcc_slow_watcher_total',
  'etcd_debugging_lease_renewed_total',
  'etcd_debugging_server_lease_expired_total',
  'etcd_network_peer_round_trip_time_seconds',
  'etcd_network_peer_sent_bytes_total',
  'etcd_network_peer_received_bytes_total',
  'etcd_network_client_grpc_received_bytes_total',
  'etcd_network_client_grpc_sent_bytes_total',
  'grpc_server_started_total',
  'grpc_server_handled_total',
];

type Scrape = Map<string, Family>[];

interface System {
  name: string;
  endpoints: string[];
  metricsUrls: string[];
}

async function scrape(s: System): Promise<Scrape> {
  return Promise.all(
    s.metricsUrls.map(async (url) => {
      const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 200, `${s.name} ${url}`);
      return parseExposition(await res.text());
    }),
  );
}

/** Sum over the members of the samples named `name` whose labels include `labels`. */
function sum(sc: Scrape, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const fams of sc) {
    for (const f of fams.values()) {
      for (const x of f.samples) if (x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v)) total += x.value;
    }
  }
  return total;
}

function perMember(sc: Scrape, name: string): number[] {
  return sc.map((fams) => fams.get(name)?.samples.find((x) => x.name === name)?.value ?? NaN);
}

/** A family's type and label names (without `le`), over the members that have it. */
function shape(sc: Scrape, name: string): string {
  const types = new Set(sc.map((f) => f.get(name)?.type).filter((t) => t !== undefined));
  const labels = new Set(sc.flatMap((f) => (f.get(name)?.samples ?? []).flatMap((x) => Object.keys(x.labels))).filter((l) => l !== 'le'));
  return `${[...types].join('|')} {${[...labels].sort().join(',')}}`;
}

const WATCH = { grpc_service: 'etcdserverpb.Watch', grpc_method: 'Watch', grpc_type: 'bidi_stream' };
const openWatchStreams = (sc: Scrape): number => sum(sc, 'grpc_server_started_total', WATCH) - sum(sc, 'grpc_server_handled_total', WATCH);
const rpc = (method: string, code: string) => ({ grpc_service: 'etcdserverpb.KV', grpc_method: method, grpc_type: 'unary', grpc_code: code });

interface Run {
  before: Scrape;
  during: Scrape;
  after: Scrape;
  memberIds: string[];
  /** Puts of m/x until the watch delivered one (the first may come before the watch is in place). */
  markers: number;
}

/** The same session on `s`: puts, a bad and a good range, an etcdctl watch open while scraping. */
async function session(s: System): Promise<Run> {
  const ok = async (args: string[]) => {
    const r = await etcdctl(s.endpoints, args);
    assert.equal(r.code, 0, `${s.name}: etcdctl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const before = await scrape(s);
  for (const k of ['m/a', 'm/b', 'm/c']) await ok(['put', k, 'v']);
  const bad = await etcdctl(s.endpoints, ['get', '']);
  assert.match(bad.stderr, /key is not provided/, `${s.name}: get ""`);
  await ok(['get', 'm/', '--prefix']);
  let during: Scrape = [];
  let markers = 0;
  await etcdctlWatch([s.endpoints[1]!], ['m/', '--prefix'], (out) => out.includes('m/end'), {
    whileRunning: async (output) => {
      // The watch is in place once it delivered a write made after it started.
      await poll(async () => {
        await ok(['put', 'm/x', 'w']);
        markers++;
        return output().includes('m/x') ? true : null;
      }, { timeoutMs: 15_000, intervalMs: 300, what: `${s.name}: etcdctl watch delivers` });
      during = await scrape(s);
      await ok(['put', 'm/end', 'w']);
    },
  });
  const after = await poll(async () => {
    const sc = await scrape(s);
    // Followers apply the last write a moment after the leader answered it.
    return openWatchStreams(sc) === 0 && new Set(perMember(sc, 'etcd_debugging_mvcc_current_revision')).size === 1 ? sc : null;
  }, { timeoutMs: 15_000, what: `${s.name}: the watch stream counted as ended, every member at one revision` });
  const list = await ok(['member', 'list', '-w', 'json']);
  // Ids are 64-bit: read as text, not through JSON numbers.
  const memberIds = [...list.matchAll(/"ID":(\d+)/g)].map((m) => BigInt(m[1]!).toString(16)).sort();
  return { before, during, after, memberIds, markers };
}

describe('etcd metric names, compared with etcd 3.4', () => {
  const pair = etcdAndOurs();

  test('the same names, types and labels, and the same answers to what etcd\'s alerts and dashboards ask', { timeout: 180_000 }, async () => {
    const systems: System[] = [
      { name: 'etcd', endpoints: pair.etcd.endpoints, metricsUrls: pair.etcd.members.map((m) => `${m.clientUrl}/metrics`) },
      { name: 'ours', endpoints: pair.ours.nodes.map((n) => n.grpcAddress), metricsUrls: pair.ours.nodes.map((n) => `http://${n.grpcAddress}/metrics`) },
    ];
    const [etcd, ours] = [await session(systems[0]!), await session(systems[1]!)];

    // etcd measures peer round trips on every member every few seconds; ours on the leader as it
    // replicates. Both have them for at least two peers once the cluster has run a little (etcd's
    // prober starts on each member at its own time: one scrape can show a single peer measured).
    const peers = async (s: System): Promise<Scrape> =>
      poll(async () => {
        const sc = await scrape(s);
        const measured = new Set(sc.flatMap((f) => (f.get('etcd_network_peer_round_trip_time_seconds')?.samples ?? []).map((x) => x.labels.To)));
        return measured.size >= 2 ? sc : null;
      }, { timeoutMs: 30_000, what: `${s.name}: round trips to two peers measured` });
    const [etcdPeers, ourPeers] = [await peers(systems[0]!), await peers(systems[1]!)];

    for (const name of NAMES) {
      const rtt = name === 'etcd_network_peer_round_trip_time_seconds';
      const probe = rtt ? [etcdPeers, ourPeers] : [etcd.during, ours.during];
      assert.equal(shape(probe[1]!, name), shape(probe[0]!, name), `${name}: type and labels (etcd: ${shape(probe[0]!, name)})`);
      // Every member has each of them (etcd's peer prober starts on each member at its own time).
      if (!rtt) for (const [label, sc] of [['etcd', etcd.during], ['ours', ours.during]] as const) assert.ok(sc.every((f) => f.has(name)), `${label}: ${name} on every member`);
    }

    for (const [label, r] of [['etcd', etcd], ['ours', ours]] as const) {
      const delta = (name: string, labels: Record<string, string>) => sum(r.after, name, labels) - sum(r.before, name, labels);
      const facts = {
        'one leader': sum(r.during, 'etcd_server_is_leader'),
        'members with a leader': sum(r.during, 'etcd_server_has_leader'),
        'open watch streams during': openWatchStreams(r.during),
        'watchers during': sum(r.during, 'etcd_debugging_mvcc_watcher_total'),
        'open watch streams after': openWatchStreams(r.after),
        'Puts OK': delta('grpc_server_handled_total', rpc('Put', 'OK')),
        'Ranges refused InvalidArgument': delta('grpc_server_handled_total', rpc('Range', 'InvalidArgument')),
        'revision moved': Math.max(...perMember(r.after, 'etcd_debugging_mvcc_current_revision')) - Math.max(...perMember(r.before, 'etcd_debugging_mvcc_current_revision')),
        'keys added (each member)': perMember(r.after, 'etcd_debugging_mvcc_keys_total').map((v, i) => v - perMember(r.before, 'etcd_debugging_mvcc_keys_total')[i]!).join(','),
        'quota': perMember(r.after, 'etcd_server_quota_backend_bytes').join(','),
        'cluster version': r.after.map((f) => f.get('etcd_cluster_version')?.samples[0]?.labels.cluster_version).join(','),
        // Byte counts differ (etcd's 64-bit ids take more bytes than ours): that they moved is what matches.
        'client bytes in and out counted': delta('etcd_network_client_grpc_received_bytes_total', {}) > 0 && delta('etcd_network_client_grpc_sent_bytes_total', {}) > 0,
      };
      assert.deepEqual(facts, {
        'one leader': 1,
        'members with a leader': 3,
        'open watch streams during': 1,
        'watchers during': 1,
        'open watch streams after': 0,
        'Puts OK': 4 + r.markers,
        'Ranges refused InvalidArgument': 1,
        'revision moved': 4 + r.markers,
        'keys added (each member)': '5,5,5',
        'quota': [2147483648, 2147483648, 2147483648].join(','),
        'cluster version': '3.4,3.4,3.4',
        'client bytes in and out counted': true,
      }, label);
      // Each member names itself by the id `etcdctl member list` shows for it.
      const ids = r.after.map((f) => f.get('etcd_server_id')?.samples[0]?.labels.server_id ?? '').sort();
      assert.deepEqual(ids, r.memberIds, `${label}: etcd_server_id`);
      for (const f of r.after) {
        assert.ok((f.get('etcd_server_leader_changes_seen_total')?.samples[0]?.value ?? 0) >= 1, `${label}: a leader was seen`);
        assert.ok((f.get('etcd_disk_wal_fsync_duration_seconds')?.samples.find((x) => x.name.endsWith('_count'))?.value ?? 0) > 0, `${label}: WAL syncs`);
      }
    }
    // Peer round trips and traffic are labelled with the other members' ids.
    for (const [label, sc, r] of [['etcd', etcdPeers, etcd], ['ours', ourPeers, ours]] as const) {
      for (const [name, key] of [['etcd_network_peer_round_trip_time_seconds', 'To'], ['etcd_network_peer_sent_bytes_total', 'To'], ['etcd_network_peer_received_bytes_total', 'From']] as const) {
        // (etcd also counts bytes its stream handler reads before it knows the sender, as From="0".)
        const ids = new Set(sc.flatMap((f) => (f.get(name)?.samples ?? []).map((x) => x.labels[key]!)).filter((id) => id !== '0'));
        assert.ok(ids.size >= 2 && [...ids].every((id) => r.memberIds.includes(id)), `${label}: ${name} ${key} ${[...ids].join(',')} of ${r.memberIds.join(',')}`);
      }
    }

    // A member killed: the leader counts failures to send to it, under its id (what etcd's
    // "members down" alert reads). Last: the clusters run on two members after this.
    const etcdLeader = await pair.etcd.leader();
    const etcdVictim = pair.etcd.members.find((m) => m !== etcdLeader)!;
    const ourLeader = pair.ours.node(await pair.ours.waitForLeader());
    const ourVictim = pair.ours.nodes.find((n) => n.id !== ourLeader.id)!;
    const cases = [
      { label: 'etcd', leaderUrl: `${etcdLeader.clientUrl}/metrics`, victimUrl: `${etcdVictim.clientUrl}/metrics`, kill: async () => process.kill(etcdVictim.pid, 'SIGKILL') },
      { label: 'ours', leaderUrl: `http://${ourLeader.grpcAddress}/metrics`, victimUrl: `http://${ourVictim.grpcAddress}/metrics`, kill: () => pair.ours.kill(ourVictim.id) },
    ];
    for (const k of cases) {
      const one = async (url: string): Promise<Scrape> => scrape({ name: k.label, endpoints: [], metricsUrls: [url] });
      const victimId = (await one(k.victimUrl))[0]!.get('etcd_server_id')?.samples[0]?.labels.server_id ?? '';
      const failures = async (): Promise<number> => sum(await one(k.leaderUrl), 'etcd_network_peer_sent_failures_total', { To: victimId });
      const before = await failures();
      await k.kill();
      await poll(async () => ((await failures()) > before ? true : null), { timeoutMs: 20_000, what: `${k.label}: the leader counts failures to send to the killed member ${victimId}` });
      assert.equal(shape(await one(k.leaderUrl), 'etcd_network_peer_sent_failures_total'), 'counter {To}', k.label);
    }
  });
});

describe('--etcd-metric-names=false', () => {
  let c: Cluster | undefined;
  after(async () => {
    await c?.stop();
  });

  test('leaves etcd\'s names out of both /metrics, ours stay', async () => {
    c = await startCluster({ nodes: 1, extraArgs: ['--etcd-metric-names', 'false'] });
    await c.waitForLeader();
    const n = c.nodes[0]!;
    for (const url of [`http://${n.grpcAddress}/metrics`, `http://${n.httpAddress}/metrics`]) {
      const fams = parseExposition(await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text());
      assert.deepEqual([...fams.keys()].filter(isEtcdName), [], url);
      assert.ok(fams.has('placement_raft_has_leader') && fams.has('placement_grpc_started_total'), url);
    }
  });
});
