// Cluster: who leads, every member's own view (role, term, indexes, lag, health, version, DB
// size), the leader changes seen while the page is open, and live charts from this node's
// /metrics. Reads GET /v1/cluster/overview every second and GET /metrics every two.
import { useContext, useEffect, useState } from 'preact/hooks';
import { api, getText } from '../api/client.js';
import { formatBytes } from '../api/bytes.js';
import { parsePrometheus } from '../api/prom.js';
import { pointBetween, total, type Point, type Scrape } from '../api/rates.js';
import type { ClusterOverview, MemberOverview } from '../api/types.js';
import { Chart } from '../components/chart.js';
import { Notice, errorText } from '../components/notice.js';
import { formatTime, usePoll } from '../hooks.js';
import { ThemeContext } from '../theme.js';

interface LeaderChange {
  at: number;
  leaderId: number;
  term: number | null;
}

/** Points kept per chart: five minutes at one scrape every two seconds. */
const MAX_POINTS = 150;

/**
 * What the page has seen, kept while the dashboard is open (across visits to other pages): the
 * chart points, the last scrape to compute the next point from, and the leader changes.
 */
const kept: { points: Point[]; last: Scrape | null; leaderChanges: number | null; changes: LeaderChange[] } = {
  points: [],
  last: null,
  leaderChanges: null,
  changes: [],
};

function leaderName(id: number): string {
  return id === 0 ? 'no leader' : `node ${id}`;
}

function MemberRow({ m, leader }: { m: MemberOverview; leader: MemberOverview | undefined }) {
  const s = m.status;
  const applyLag = s && leader?.status ? Math.max(0, leader.status.commitIndex - s.appliedIndex) : null;
  const failing = m.health?.checks.filter((c) => !c.ok) ?? [];
  return (
    <tr data-member-id={m.id} class={m.isLeader ? 'is-leader' : undefined}>
      <th scope="row">
        node {m.id}
        <div class="sub">{m.address}</div>
      </th>
      <td data-col="role">
        {s ? s.role : '—'}
        {/* The serving node's view, when the member itself does not say so (or cannot be asked). */}
        {m.isLeader && s?.role !== 'leader' ? <span class="badge">leader</span> : null}
        {m.role === 'learner' ? <span class="badge badge-muted">learner</span> : null}
      </td>
      <td data-col="term">{s?.term ?? '—'}</td>
      <td data-col="commit">{s?.commitIndex ?? '—'}</td>
      <td data-col="applied">
        {s?.appliedIndex ?? '—'}
        {applyLag ? <div class="sub">{applyLag} to apply</div> : null}
      </td>
      <td data-col="lag" title="Log entries behind the leader's last index, as the leader reports">
        {m.lag === null ? '—' : m.lag}
      </td>
      <td data-col="health">
        {!m.reachable ? (
          <span class="bad">unreachable{m.error ? `: ${m.error}` : ''}</span>
        ) : m.health?.status === 'ok' ? (
          <span class="good">✓ ready</span>
        ) : m.health ? (
          <span class="bad">✗ {failing.map((c) => (c.detail ? `${c.name}: ${c.detail}` : c.name)).join('; ') || 'failing'}</span>
        ) : (
          '—'
        )}
      </td>
      <td data-col="version">{s?.version ?? '—'}</td>
      <td data-col="db">{formatBytes(s?.dbSizeBytes)}</td>
    </tr>
  );
}

function useMetricsSeries(): { points: Point[]; leaderChanges: number | null; error: Error | null } {
  const [state, setState] = useState({ points: kept.points, leaderChanges: kept.leaderChanges });
  const polled = usePoll(
    async (signal) => {
      const samples = parsePrometheus(await getText('metrics', { signal }));
      const scrape: Scrape = { at: Date.now(), samples };
      if (kept.last) kept.points = [...kept.points, pointBetween(kept.last, scrape)].slice(-MAX_POINTS);
      kept.last = scrape;
      kept.leaderChanges = total(samples, 'placement_raft_leader_changes_total');
      setState({ points: kept.points, leaderChanges: kept.leaderChanges });
      return true;
    },
    2000,
  );
  return { ...state, error: polled.error };
}

export function ClusterPage() {
  const theme = useContext(ThemeContext);
  const overview = usePoll((signal) => api<ClusterOverview>('GET', 'v1/cluster/overview', { signal, timeoutMs: 8000 }), 1000);
  const [changes, setChanges] = useState<LeaderChange[]>(kept.changes);
  const metrics = useMetricsSeries();
  const o = overview.data;

  useEffect(() => {
    if (!o) return;
    const list = kept.changes;
    if (list.length > 0 && list[0]!.leaderId === o.leaderId) return;
    const leader = o.members.find((m) => m.id === o.leaderId);
    const self = o.members.find((m) => m.id === o.servedBy);
    kept.changes = [{ at: Date.now(), leaderId: o.leaderId, term: leader?.status?.term ?? self?.status?.term ?? null }, ...list].slice(0, 50);
    setChanges(kept.changes);
  }, [o?.leaderId, overview.at]);

  if (!o) {
    return (
      <section aria-labelledby="page-title">
        <h1 id="page-title">Cluster</h1>
        {overview.error ? <Notice kind="error">Cannot read the cluster: {errorText(overview.error)}</Notice> : <p aria-busy="true">Loading…</p>}
      </section>
    );
  }
  const leader = o.members.find((m) => m.id === o.leaderId);
  const self = o.members.find((m) => m.id === o.servedBy);
  const reachable = o.members.filter((m) => m.reachable).length;
  const xs = metrics.points.map((p) => p.at / 1000);
  const col = (f: (p: Point) => number | null) => metrics.points.map(f);

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">
        Cluster <span class="muted">{o.clusterId}</span>
      </h1>
      {overview.error ? <Notice kind="error">Last refresh failed: {errorText(overview.error)} (showing data from {formatTime(overview.at)})</Notice> : null}
      <dl class="summary">
        <div>
          <dt>Leader</dt>
          <dd id="leader" data-leader-id={o.leaderId} aria-live="polite">
            {leaderName(o.leaderId)}
          </dd>
        </div>
        <div>
          <dt>Term</dt>
          <dd>{leader?.status?.term ?? self?.status?.term ?? '—'}</dd>
        </div>
        <div>
          <dt>Members answering</dt>
          <dd id="reachable" class={reachable < o.members.length ? 'bad' : undefined}>
            {reachable} of {o.members.length}
          </dd>
        </div>
        <div>
          <dt>Revision</dt>
          <dd>{leader?.status?.revision ?? self?.status?.revision ?? '—'}</dd>
        </div>
        <div>
          <dt>This page is served by</dt>
          <dd id="served-by">node {o.servedBy}</dd>
        </div>
      </dl>

      <div class="table-wrap">
        <table id="members">
          <caption>Members, each as it reports itself (lag as the leader reports it)</caption>
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Role</th>
              <th scope="col">Term</th>
              <th scope="col">Commit</th>
              <th scope="col">Applied</th>
              <th scope="col">Lag</th>
              <th scope="col">Health</th>
              <th scope="col">Version</th>
              <th scope="col">DB size</th>
            </tr>
          </thead>
          <tbody>
            {o.members.map((m) => (
              <MemberRow key={m.id} m={m} leader={leader} />
            ))}
          </tbody>
        </table>
      </div>

      <div class="two-col">
        <section aria-labelledby="changes-title" class="panel">
          <h2 id="changes-title">Leader changes</h2>
          <p class="muted">
            Seen while this page is open
            {metrics.leaderChanges !== null ? `; node ${o.servedBy} has counted ${metrics.leaderChanges} since it started` : ''}.
          </p>
          <ol id="leader-changes" class="plain">
            {changes.map((c) => (
              <li key={c.at}>
                <time>{formatTime(c.at)}</time> {leaderName(c.leaderId)}
                {c.term !== null ? ` (term ${c.term})` : ''}
              </li>
            ))}
          </ol>
        </section>
        <section aria-labelledby="metrics-title" class="panel charts-panel">
          <h2 id="metrics-title">Node {o.servedBy}, live</h2>
          {metrics.error ? <Notice kind="error">Cannot read /metrics: {errorText(metrics.error)}</Notice> : null}
          {metrics.points.length === 0 ? <p class="muted">Charts start after the second scrape of /metrics (two seconds).</p> : null}
          <div class="charts">
            <Chart
              id="chart-writes"
              title="Writes per second"
              unit="/s"
              theme={theme}
              series={[
                { label: 'applied (whole cluster)', colorVar: '--series-1' },
                { label: 'received here', colorVar: '--series-2' },
              ]}
              data={[xs, col((p) => p.writesApplied), col((p) => p.writesReceived)]}
            />
            <Chart id="chart-reads" title="Reads per second served here" unit="/s" theme={theme} series={[{ label: 'reads', colorVar: '--series-1' }]} data={[xs, col((p) => p.reads)]} />
            <Chart
              id="chart-latency"
              title="gRPC request latency, p99"
              unit="ms"
              digits={2}
              theme={theme}
              series={[{ label: 'p99', colorVar: '--series-3' }]}
              data={[xs, col((p) => p.p99Ms)]}
            />
            <Chart
              id="chart-raft"
              title="Raft messages per second"
              unit="/s"
              theme={theme}
              series={[
                { label: 'sent', colorVar: '--series-1' },
                { label: 'received', colorVar: '--series-2' },
              ]}
              data={[xs, col((p) => p.raftSent), col((p) => p.raftReceived)]}
            />
            <Chart
              id="chart-wal"
              title="WAL fsync time"
              unit="ms"
              digits={2}
              theme={theme}
              series={[
                { label: 'p99', colorVar: '--series-3' },
                { label: 'mean', colorVar: '--series-2' },
              ]}
              data={[xs, col((p) => p.walSyncP99Ms), col((p) => p.walSyncMeanMs)]}
            />
          </div>
        </section>
      </div>
    </section>
  );
}
