// Keys: a tree browser by "/" (one level at a time: GET /v1/kv?prefix=…&delimiter=/), a search by
// key prefix, pages of 50; a key's value as text, formatted JSON or hex; create (only if absent),
// edit (only if unchanged since it was read: expectedModRevision), delete (after confirmation);
// and the key's history when the API can read a key at an earlier revision.
import { useContext, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import { asJson, asText, formatBytes, fromBase64, hexDump, toBase64 } from '../api/bytes.js';
import { keyHistory, type History } from '../api/history.js';
import type { KeyValue, KvPage } from '../api/types.js';
import { ConfirmDialog } from '../components/dialog.js';
import { Notice, errorText } from '../components/notice.js';
import { ApiContext } from '../context.js';
import { useHashParams, usePoll } from '../hooks.js';

const PAGE_SIZE = 50;
const DELIMITER = '/';

function keysHash(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `#/keys?${s}` : '#/keys';
}

/** Every ancestor folder of `prefix`, e.g. "/brokers/1/" → "/", "/brokers/", "/brokers/1/". */
function crumbs(prefix: string): string[] {
  const out: string[] = [];
  for (let i = prefix.indexOf(DELIMITER); i >= 0; i = prefix.indexOf(DELIMITER, i + 1)) out.push(prefix.slice(0, i + 1));
  return out;
}

function Breadcrumbs({ prefix }: { prefix: string }) {
  const parts = crumbs(prefix);
  return (
    <nav aria-label="Folder" class="crumbs">
      <ol>
        <li>
          <a href={keysHash({})} aria-current={prefix === '' ? 'page' : undefined}>
            all keys
          </a>
        </li>
        {parts.map((p, i) => {
          const prev = i === 0 ? '' : parts[i - 1]!;
          return (
            <li key={p}>
              <a href={keysHash({ prefix: p })} aria-current={p === prefix ? 'page' : undefined}>
                {p.slice(prev.length)}
              </a>
            </li>
          );
        })}
      </ol>
    </nav>
  );
}

function KeyList({ prefix, search, selected, reload }: { prefix: string; search: string; selected: string; reload: number }) {
  const [cursors, setCursors] = useState<string[]>(['']);
  const [scope, setScope] = useState(`${prefix}\n${search}`);
  if (scope !== `${prefix}\n${search}`) {
    setScope(`${prefix}\n${search}`);
    setCursors(['']);
  }
  const startAfter = cursors.at(-1) ?? '';
  const page = usePoll(
    (signal) =>
      api<KvPage>('GET', 'v1/kv', {
        signal,
        query: search
          ? { prefix: search, keysOnly: true, limit: PAGE_SIZE, startAfter }
          : { prefix, delimiter: DELIMITER, keysOnly: true, limit: PAGE_SIZE, startAfter },
      }),
    0,
    [prefix, search, startAfter, reload],
  );
  const data = page.data;
  const base = search || prefix;
  return (
    <div class="key-list">
      {page.error ? <Notice kind="error">Cannot list keys: {errorText(page.error)}</Notice> : null}
      {!data && !page.error ? <p aria-busy="true">Loading…</p> : null}
      {data ? (
        <>
          <ul id="key-entries" class="entries" aria-label={search ? `Keys starting with ${search}` : `Contents of ${prefix || 'all keys'}`}>
            {(data.prefixes ?? []).map((p) => (
              <li key={`p:${p}`}>
                <a class="folder" href={keysHash({ prefix: p })} data-prefix={p}>
                  <span aria-hidden="true">▸ </span>
                  {p.slice(base.length) || p}
                  <span class="visually-hidden"> (folder)</span>
                </a>
              </li>
            ))}
            {data.kvs.map((kv) => (
              <li key={`k:${kv.key}`}>
                <a
                  class="key"
                  href={keysHash({ prefix: search ? undefined : prefix, q: search || undefined, key: kv.key })}
                  aria-current={kv.key === selected ? 'true' : undefined}
                  data-key={kv.key}
                >
                  {search ? kv.key : kv.key.slice(prefix.length) || kv.key}
                </a>
              </li>
            ))}
          </ul>
          {data.kvs.length === 0 && (data.prefixes ?? []).length === 0 ? <p class="muted">No keys here.</p> : null}
          <div class="pager">
            <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
              Previous page
            </button>
            <span class="muted">Page {cursors.length}</span>
            <button type="button" disabled={!data.more} onClick={() => setCursors([...cursors, data.nextKey])}>
              Next page
            </button>
          </div>
        </>
      ) : null}
    </div>
  );
}

type ViewMode = 'text' | 'json' | 'hex';

function defaultView(bytes: Uint8Array): ViewMode {
  if (asJson(bytes).ok) return 'json';
  return asText(bytes) === null ? 'hex' : 'text';
}

function ValueView({ bytes }: { bytes: Uint8Array }) {
  const [mode, setMode] = useState<ViewMode>(() => defaultView(bytes));
  const text = asText(bytes);
  const json = asJson(bytes);
  return (
    <div class="value-view">
      <fieldset class="segmented">
        <legend>Show value as</legend>
        {(['text', 'json', 'hex'] as const).map((m) => (
          <label key={m}>
            <input type="radio" name="view" value={m} checked={mode === m} onChange={() => setMode(m)} />
            {m === 'json' ? 'JSON' : m === 'hex' ? 'Hex' : 'Text'}
          </label>
        ))}
      </fieldset>
      {mode === 'text' ? (
        text === null ? (
          <Notice kind="info">Not valid UTF-8 text: see it as hex.</Notice>
        ) : (
          <pre id="value" class="value" tabIndex={0} aria-label="Value as text">
            {text}
          </pre>
        )
      ) : mode === 'json' ? (
        json.ok ? (
          <pre id="value" class="value" tabIndex={0} aria-label="Value as JSON">
            {json.text}
          </pre>
        ) : (
          <Notice kind="info">{json.error}</Notice>
        )
      ) : (
        <pre id="value" class="value hex" tabIndex={0} aria-label="Value as hex">
          {hexDump(bytes)}
        </pre>
      )}
    </div>
  );
}

interface Loaded extends KeyValue {
  bytes: Uint8Array;
}

async function readKey(key: string, signal?: AbortSignal, revision?: number): Promise<Loaded | null> {
  try {
    const kv = await api<KeyValue>('GET', 'v1/kv', { signal, query: { key, encoding: 'base64', revision } });
    return { ...kv, bytes: fromBase64(kv.value ?? '') };
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

function HistoryPanel({ kv }: { kv: Loaded }) {
  const description = useContext(ApiContext);
  const [state, setState] = useState<{ running: boolean; history: History<Loaded> | null; error: string | null }>({ running: false, history: null, error: null });
  const available = description?.hasQueryParam('get', '/v1/kv', 'revision') ?? false;
  if (!available) {
    return (
      <section aria-labelledby="history-title" class="panel" id="history">
        <h3 id="history-title">History</h3>
        <p class="unavailable" id="history-unavailable">
          Not available on this server: its API cannot read a key at an earlier revision (GET /v1/kv documents no <code>revision</code> parameter).
        </p>
      </section>
    );
  }
  const run = async (): Promise<void> => {
    setState({ running: true, history: null, error: null });
    try {
      const history = await keyHistory(kv, async (revision) => {
        try {
          return await readKey(kv.key, undefined, revision);
        } catch (err) {
          if (err instanceof ApiError && /compact/i.test(err.message)) return 'compacted';
          throw err;
        }
      });
      setState({ running: false, history, error: null });
    } catch (err) {
      setState({ running: false, history: null, error: errorText(err) });
    }
  };
  const h = state.history;
  return (
    <section aria-labelledby="history-title" class="panel" id="history">
      <h3 id="history-title">History</h3>
      <button type="button" onClick={() => void run()} disabled={state.running}>
        {state.running ? 'Reading…' : h ? 'Read again' : 'Show history'}
      </button>
      {state.error ? <Notice kind="error">{state.error}</Notice> : null}
      {h ? (
        <>
          <table>
            <caption class="visually-hidden">Versions of {kv.key}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Mod revision</th>
                <th scope="col">Version</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {h.versions.map((v) => {
                const t = asText(v.bytes);
                return (
                  <tr key={v.modRevision}>
                    <td>{v.modRevision}</td>
                    <td>{v.version}</td>
                    <td class="mono">{t === null ? `(binary, ${v.bytes.length} bytes)` : t.length > 120 ? `${t.slice(0, 120)}…` : t}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <p class="muted">
            {h.stoppedBy === 'compacted'
              ? 'Older revisions were compacted.'
              : h.stoppedBy === 'limit'
                ? `The ${h.versions.length} newest versions.`
                : `Every version since the key was created at revision ${kv.createRevision}.`}
          </p>
        </>
      ) : null}
    </section>
  );
}

function Editor({ kv, onSaved, onDiscard }: { kv: Loaded; onSaved: () => void; onDiscard: () => void }) {
  const text = asText(kv.bytes);
  const encoding = text === null ? 'base64' : 'utf8';
  const [draft, setDraft] = useState(text ?? toBase64(kv.bytes));
  const [state, setState] = useState<{ saving: boolean; error: string | null; conflict: boolean }>({ saving: false, error: null, conflict: false });
  const save = async (e: Event): Promise<void> => {
    e.preventDefault();
    setState({ saving: true, error: null, conflict: false });
    try {
      await api('PUT', 'v1/kv', {
        query: { key: kv.key },
        body: { value: draft, encoding, lease: kv.lease, expectedModRevision: kv.modRevision },
      });
      onSaved();
    } catch (err) {
      const conflict = err instanceof ApiError && err.code === 9;
      setState({ saving: false, error: errorText(err), conflict });
    }
  };
  return (
    <form onSubmit={(e) => void save(e)} class="editor" aria-label={`Edit ${kv.key}`}>
      <label for="edit-value">Value{encoding === 'base64' ? ' (base64: the value is not UTF-8 text)' : ''}</label>
      <textarea id="edit-value" rows={12} value={draft} onInput={(e) => setDraft((e.target as HTMLTextAreaElement).value)} spellcheck={false} />
      <p class="muted">Saved only if nobody changed the key since mod revision {kv.modRevision}.</p>
      {state.error ? (
        <Notice kind="error" id="save-error">
          {state.conflict ? 'Not saved: the key changed since you opened it. ' : 'Not saved: '}
          {state.error}
        </Notice>
      ) : null}
      <div class="actions">
        {state.conflict ? (
          <button type="button" onClick={onDiscard}>
            Discard my edit and show the current value
          </button>
        ) : (
          <button type="button" onClick={onDiscard}>
            Cancel
          </button>
        )}
        <button type="submit" class="primary" disabled={state.saving}>
          {state.saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}

function KeyDetail({ keyName, onChanged, onDeleted }: { keyName: string; onChanged: () => void; onDeleted: () => void }) {
  const [reload, setReload] = useState(0);
  const [editing, setEditing] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const loaded = usePoll((signal) => readKey(keyName, signal), 0, [keyName, reload]);
  const kv = loaded.data;
  const remove = async (): Promise<void> => {
    setConfirming(false);
    try {
      await api('DELETE', 'v1/kv', { query: { key: keyName } });
      onDeleted();
    } catch (err) {
      setMessage({ kind: 'error', text: `Not deleted: ${errorText(err)}` });
    }
  };
  return (
    <section aria-labelledby="key-title" class="key-detail">
      <h2 id="key-title" class="mono">
        {keyName}
      </h2>
      {message ? <Notice kind={message.kind}>{message.text}</Notice> : null}
      {loaded.error ? <Notice kind="error">Cannot read the key: {errorText(loaded.error)}</Notice> : null}
      {loaded.at === 0 && !loaded.error ? <p aria-busy="true">Loading…</p> : null}
      {loaded.at !== 0 && kv === null ? <Notice kind="info">No such key (it may have been deleted).</Notice> : null}
      {kv ? (
        <>
          <dl class="meta" id="key-meta">
            <div>
              <dt>Mod revision</dt>
              <dd data-field="modRevision">{kv.modRevision}</dd>
            </div>
            <div>
              <dt>Created at revision</dt>
              <dd>{kv.createRevision}</dd>
            </div>
            <div>
              <dt>Version</dt>
              <dd>{kv.version}</dd>
            </div>
            <div>
              <dt>Lease</dt>
              <dd>{kv.lease === 0 ? 'none' : kv.lease}</dd>
            </div>
            <div>
              <dt>Size</dt>
              <dd>{formatBytes(kv.bytes.length)}</dd>
            </div>
          </dl>
          {editing ? (
            <Editor
              kv={kv}
              onSaved={() => {
                setEditing(false);
                setMessage({ kind: 'ok', text: 'Saved.' });
                setReload((n) => n + 1);
                onChanged();
              }}
              onDiscard={() => {
                setEditing(false);
                setMessage(null);
                setReload((n) => n + 1);
              }}
            />
          ) : (
            <>
              <ValueView key={`${kv.key}@${kv.modRevision}`} bytes={kv.bytes} />
              <div class="actions">
                <button
                  type="button"
                  onClick={() => {
                    setMessage(null);
                    setEditing(true);
                  }}
                >
                  Edit
                </button>
                <button type="button" onClick={() => setReload((n) => n + 1)}>
                  Reload
                </button>
                <button type="button" class="danger" onClick={() => setConfirming(true)}>
                  Delete…
                </button>
              </div>
            </>
          )}
          <HistoryPanel key={`${kv.key}@${kv.modRevision}`} kv={kv} />
          <ConfirmDialog open={confirming} title="Delete this key?" confirmLabel="Delete" danger onConfirm={() => void remove()} onCancel={() => setConfirming(false)}>
            <p>
              <span class="mono">{keyName}</span> will be deleted on every member. This cannot be undone.
            </p>
          </ConfirmDialog>
        </>
      ) : null}
    </section>
  );
}

function NewKey({ prefix, onCreated, onCancel }: { prefix: string; onCreated: (key: string) => void; onCancel: () => void }) {
  const [key, setKey] = useState(prefix);
  const [value, setValue] = useState('');
  const [error, setError] = useState<string | null>(null);
  const create = async (e: Event): Promise<void> => {
    e.preventDefault();
    setError(null);
    try {
      await api('PUT', 'v1/kv', { query: { key }, body: { value, expectedModRevision: 0 } });
      onCreated(key);
    } catch (err) {
      setError(err instanceof ApiError && err.code === 9 ? `${key} already exists: open it to edit it.` : errorText(err));
    }
  };
  return (
    <form onSubmit={(e) => void create(e)} class="editor" aria-labelledby="new-title">
      <h2 id="new-title">New key</h2>
      <label for="new-key">Key</label>
      <input id="new-key" class="mono" value={key} required onInput={(e) => setKey((e.target as HTMLInputElement).value)} />
      <label for="new-value">Value (UTF-8 text)</label>
      <textarea id="new-value" rows={10} value={value} spellcheck={false} onInput={(e) => setValue((e.target as HTMLTextAreaElement).value)} />
      {error ? <Notice kind="error">Not created: {error}</Notice> : null}
      <div class="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="submit" class="primary">
          Create
        </button>
      </div>
    </form>
  );
}

export function KeysPage() {
  const [params, setParams] = useHashParams();
  const prefix = params.get('prefix') ?? '';
  const search = params.get('q') ?? '';
  const selected = params.get('key') ?? '';
  const creating = params.get('new') === '1';
  const [reload, setReload] = useState(0);
  const [searchDraft, setSearchDraft] = useState(search);
  return (
    <section aria-labelledby="page-title" class="keys-page">
      <h1 id="page-title">Keys</h1>
      <div class="keys-layout">
        <div class="keys-browser panel">
          <form
            role="search"
            class="search"
            onSubmit={(e) => {
              e.preventDefault();
              setParams({ q: searchDraft || null, key: null, new: null });
            }}
          >
            <label for="key-search">Keys starting with</label>
            <div class="inline">
              <input id="key-search" class="mono" type="search" value={searchDraft} placeholder="/brokers/" onInput={(e) => setSearchDraft((e.target as HTMLInputElement).value)} />
              <button type="submit">Search</button>
            </div>
          </form>
          {search ? (
            <p>
              Keys starting with <span class="mono">{search}</span>{' '}
              <a
                href={keysHash({ prefix })}
                onClick={() => setSearchDraft('')}
              >
                back to the folder
              </a>
            </p>
          ) : (
            <Breadcrumbs prefix={prefix} />
          )}
          <KeyList prefix={prefix} search={search} selected={selected} reload={reload} />
          <button type="button" id="new-key-button" onClick={() => setParams({ new: '1', key: null })}>
            New key…
          </button>
        </div>
        <div class="keys-detail panel">
          {creating ? (
            <NewKey
              prefix={search || prefix}
              onCreated={(key) => {
                setReload((n) => n + 1);
                setParams({ new: null, key });
              }}
              onCancel={() => setParams({ new: null })}
            />
          ) : selected ? (
            <KeyDetail
              key={selected}
              keyName={selected}
              onChanged={() => setReload((n) => n + 1)}
              onDeleted={() => {
                setReload((n) => n + 1);
                setParams({ key: null });
              }}
            />
          ) : (
            <p class="muted">Choose a key to see its value, or create one.</p>
          )}
        </div>
      </div>
    </section>
  );
}
