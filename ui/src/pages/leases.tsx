// Leases (GET /v1/leases) with the time each has left, and the client sessions open on this node
// (placement_grpc_sessions_open from its /metrics).
import { useEffect, useState } from 'preact/hooks';
import { api, getText } from '../api/client.js';
import { parsePrometheus } from '../api/prom.js';
import { total } from '../api/rates.js';
import type { Lease } from '../api/types.js';
import { Notice, errorText } from '../components/notice.js';
import { formatDateTime, usePoll } from '../hooks.js';

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

export function LeasesPage() {
  const leases = usePoll((signal) => api<{ leases: Lease[] }>('GET', 'v1/leases', { signal }), 2000);
  const sessions = usePoll(async (signal) => total(parsePrometheus(await getText('metrics', { signal })), 'placement_grpc_sessions_open'), 5000);
  const now = useNow(1000);
  const list = [...(leases.data?.leases ?? [])].sort((a, b) => a.expiresAtMs - b.expiresAtMs);
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Leases and sessions</h1>
      {leases.error ? <Notice kind="error">Cannot list leases: {errorText(leases.error)}</Notice> : null}
      <p>
        Client sessions open on this node: <strong id="sessions-open">{sessions.data ?? '—'}</strong>{' '}
        <span class="muted">(KvService.Session streams; each SDK client keeps one per member it talks to)</span>
      </p>
      <div class="table-wrap">
        <table id="leases">
          <caption>{leases.data ? `${list.length} lease${list.length === 1 ? '' : 's'}, soonest to expire first` : 'Leases'}</caption>
          <thead>
            <tr>
              <th scope="col">Lease id</th>
              <th scope="col">TTL</th>
              <th scope="col">Expires</th>
              <th scope="col">Left</th>
            </tr>
          </thead>
          <tbody>
            {list.map((l) => {
              const left = Math.max(0, l.expiresAtMs - now);
              return (
                <tr key={l.id} data-lease-id={l.id}>
                  <th scope="row" class="mono">
                    {l.id} <span class="sub">0x{l.id.toString(16)}</span>
                  </th>
                  <td>{(l.ttlMs / 1000).toFixed(1)} s</td>
                  <td>{formatDateTime(l.expiresAtMs)}</td>
                  <td class={left === 0 ? 'bad' : undefined}>{left === 0 ? 'expired' : `${(left / 1000).toFixed(0)} s`}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {leases.data && list.length === 0 ? <p class="muted">No leases.</p> : null}
    </section>
  );
}
