// Collections this dashboard has no dedicated page for yet (roles): each documented GET
// collection is shown as a table of the first list in its answer, refreshed every few seconds. A dedicated page replaces this when it is written.
import { api } from '../api/client.js';
import { Notice, errorText } from '../components/notice.js';
import { usePoll } from '../hooks.js';

/** The first array in an answer (its rows), e.g. data.brokers. */
function rowsOf(data: unknown): Array<Record<string, unknown>> {
  if (Array.isArray(data)) return data as Array<Record<string, unknown>>;
  if (data && typeof data === 'object') {
    for (const v of Object.values(data)) if (Array.isArray(v)) return v as Array<Record<string, unknown>>;
  }
  return [];
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '—';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function Collection({ path }: { path: string }) {
  const polled = usePoll((signal) => api<unknown>('GET', path.slice(1), { signal }), 3000, [path]);
  const rows = rowsOf(polled.data);
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const title = `${path}`;
  return (
    <section class="panel" aria-label={title}>
      <h2 class="mono">{title}</h2>
      {polled.error ? <Notice kind="error">{errorText(polled.error)}</Notice> : null}
      <div class="table-wrap">
        <table>
          <caption class="visually-hidden">{title}</caption>
          <thead>
            <tr>
              {columns.map((c) => (
                <th scope="col" key={c}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                {columns.map((c) => (
                  <td key={c} class="mono">
                    {cell(r[c])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {polled.data !== null && rows.length === 0 ? <p class="muted">Empty.</p> : null}
    </section>
  );
}
