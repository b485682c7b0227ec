// Live: a tail of the watch stream (the GET operation the API documents as text/event-stream)
// on a key prefix, newest first, pausable. Events are shown as they come: a JSON event's key,
// type and value in columns, anything else as its text.
import { useContext, useEffect, useRef, useState } from 'preact/hooks';
import { send } from '../api/client.js';
import { readEvents, type ServerEvent } from '../api/sse.js';
import { Notice, errorText } from '../components/notice.js';
import { ApiContext } from '../context.js';
import { formatTime } from '../hooks.js';

const MAX_ROWS = 500;

interface Row {
  n: number;
  at: number;
  event: string;
  key: string;
  type: string;
  value: string;
}

function toRow(n: number, e: ServerEvent): Row {
  let key = '';
  let type = '';
  let value = e.data;
  try {
    const d = JSON.parse(e.data) as Record<string, unknown>;
    if (d && typeof d === 'object') {
      const kv = (d.kv ?? d) as Record<string, unknown>;
      key = typeof kv.key === 'string' ? kv.key : '';
      type = typeof d.type === 'string' ? d.type : '';
      value = typeof kv.value === 'string' ? kv.value : JSON.stringify(d);
    }
  } catch {
    /* not JSON: shown as text */
  }
  return { n, at: Date.now(), event: e.event, key, type, value: value.length > 200 ? `${value.slice(0, 200)}…` : value };
}

export function LivePage() {
  const description = useContext(ApiContext);
  const stream = description?.eventStreams()[0];
  const takesPrefix = stream ? description!.hasQueryParam('get', stream.path, 'prefix') : false;
  const [prefix, setPrefix] = useState('/');
  const [watching, setWatching] = useState<string | null>(null);
  const [paused, setPaused] = useState(false);
  const [rows, setRows] = useState<Row[]>([]);
  const [held, setHeld] = useState<Row[]>([]);
  const [error, setError] = useState<string | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const counter = useRef(0);

  useEffect(() => {
    if (watching === null || !stream) return;
    const controller = new AbortController();
    setError(null);
    void (async () => {
      try {
        const res = await send('GET', stream.path.slice(1), {
          query: takesPrefix ? { prefix: watching } : {},
          signal: controller.signal,
          timeoutMs: 24 * 3600 * 1000,
          headers: { accept: 'text/event-stream' },
        });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
        await readEvents(
          res.body,
          (e) => {
            const row = toRow(++counter.current, e);
            if (pausedRef.current) setHeld((h) => [row, ...h].slice(0, MAX_ROWS));
            else setRows((r) => [row, ...r].slice(0, MAX_ROWS));
          },
          controller.signal,
        );
        if (!controller.signal.aborted) setError('The server ended the stream.');
      } catch (err) {
        if (!controller.signal.aborted) setError(errorText(err));
      }
    })();
    return () => controller.abort();
  }, [watching, stream?.path]);

  if (!stream) return <Notice kind="info">This server's API has no event stream to watch.</Notice>;
  const resume = (): void => {
    setRows((r) => [...held, ...r].slice(0, MAX_ROWS));
    setHeld([]);
    setPaused(false);
  };
  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">Live</h1>
      <form
        class="inline"
        onSubmit={(e) => {
          e.preventDefault();
          setRows([]);
          setHeld([]);
          setWatching(prefix);
        }}
      >
        {takesPrefix ? (
          <>
            <label for="watch-prefix">Watch keys starting with</label>
            <input id="watch-prefix" class="mono" value={prefix} onInput={(e) => setPrefix((e.target as HTMLInputElement).value)} />
          </>
        ) : null}
        <button type="submit" class="primary">
          {watching === null ? 'Start' : 'Restart'}
        </button>
        {watching !== null ? (
          <>
            <button type="button" id="watch-pause" aria-pressed={paused} onClick={() => (paused ? resume() : setPaused(true))}>
              {paused ? `Resume (${held.length} new)` : 'Pause'}
            </button>
            <button type="button" onClick={() => setWatching(null)}>
              Stop
            </button>
          </>
        ) : null}
        <button type="button" onClick={() => setRows([])}>
          Clear
        </button>
      </form>
      <p class="muted">
        From <span class="mono">GET {stream.path}</span>
        {watching !== null ? (paused ? '; paused: new events are held' : '; watching') : ''}.
      </p>
      {error ? <Notice kind="error">{error}</Notice> : null}
      <div class="table-wrap">
        <table id="events">
          <caption class="visually-hidden">Events, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Type</th>
              <th scope="col">Key</th>
              <th scope="col">Value</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.n}>
                <td>{formatTime(r.at)}</td>
                <td>{r.event}</td>
                <td>{r.type}</td>
                <td class="mono">{r.key}</td>
                <td class="mono">{r.value}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
