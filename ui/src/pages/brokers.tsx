// Brokers and shards of one broker cluster: the registry (GET /v1/cluster/nodes?cluster=) and the
// placement map (GET /v1/shards?cluster=), read together every two seconds so a broker's death and
// its shards' new leaders show up on their own. A filter by shard name answers "who holds shard X".
// The cluster names on offer come from the keys under /placement/registry/ and /placement/shards/
// (GET /v1/kv with a delimiter) when the Keys API can list one level; otherwise the name is typed.
import { useContext, useEffect, useState } from 'preact/hooks';
import { ApiError, api } from '../api/client.js';
import { formatBytes } from '../api/bytes.js';
import type { BrokerNode, KvPage, Lease, Shard } from '../api/types.js';
import { Notice, errorText } from '../components/notice.js';
import { ApiContext } from '../context.js';
import { formatTime, useHashParams, usePoll } from '../hooks.js';

const REFRESH_MS = 2000;
/** Where the registry and the shard map live in the keyspace (README, "broker registry"). */
const CLUSTER_ROOTS = ['/placement/registry/', '/placement/shards/'];

interface Placement {
  nodes: BrokerNode[];
  shards: Shard[];
  revision: number;
  /** Lease id → when it expires (ms); null when this node's API or the user cannot list leases. */
  leaseExpiry: Map<number, number> | null;
}

function notPermitted(err: Error | null): boolean {
  return err instanceof ApiError && (err.status === 403 || err.code === 7);
}

/** Broker cluster names found under the registry and shard-map roots (one level each). */
async function knownClusters(signal: AbortSignal): Promise<string[]> {
  const names = new Set<string>();
  for (const root of CLUSTER_ROOTS) {
    const page = await api<KvPage>('GET', 'v1/kv', { signal, query: { prefix: root, delimiter: '/', keysOnly: true, limit: 100 } });
    for (const p of page.prefixes ?? []) names.add(p.slice(root.length, -1));
  }
  return [...names].filter((n) => n !== '').sort();
}

function nodeName(id: number): string {
  return `broker ${id}`;
}

function BrokerRow({ n, held, led, expiresAt, now }: { n: BrokerNode; held: number; led: number; expiresAt: number | undefined; now: number }) {
  const load = n.load;
  return (
    <tr data-node-id={n.nodeId}>
      <th scope="row">
        {nodeName(n.nodeId)}
        {/* The space keeps "broker 7 draining" two words for copying and screen readers. */}
        {n.draining ? <> <span class="badge badge-muted">draining</span></> : null}
      </th>
      <td data-col="type">{n.nodeType || <span class="muted">—</span>}</td>
      <td data-col="zone">{n.zone || <span class="muted">—</span>}</td>
      <td data-col="addresses" class="mono">
        {n.addresses.length === 0 ? (
          <span class="muted">—</span>
        ) : (
          <ul class="plain">
            {n.addresses.map((a) => (
              <li key={a}>{a}</li>
            ))}
          </ul>
        )}
      </td>
      <td data-col="shards">
        {held}
        {led > 0 ? <div class="sub">leads {led}</div> : null}
      </td>
      <td data-col="load">
        {load ? (
          <>
            {load.cpuPercent !== undefined ? `${load.cpuPercent.toFixed(1)} % CPU` : '—'}
            {load.diskTotalBytes ? (
              <div class="sub">
                disk {formatBytes(load.diskUsedBytes ?? 0)} of {formatBytes(load.diskTotalBytes)}
              </div>
            ) : null}
          </>
        ) : (
          <span class="muted">no report yet</span>
        )}
      </td>
      <td data-col="state">
        <span class="good">✓ alive</span>
        {n.draining ? <div class="sub">draining: gets no new replicas, its shards move off</div> : null}
        <div class="sub mono">
          lease {n.leaseId}
          {expiresAt !== undefined ? `, ${Math.max(0, Math.round((expiresAt - now) / 1000))} s left` : ''}
        </div>
      </td>
    </tr>
  );
}

function ShardRow({ s, alive }: { s: Shard; alive: Set<number> }) {
  return (
    <tr data-shard={s.shardName}>
      <th scope="row" class="mono">
        {s.shardName}
      </th>
      <td data-col="leader" data-leader-id={s.leader}>
        {s.leader === 0 ? <span class="bad">no leader</span> : nodeName(s.leader)}
        {s.leader !== 0 && !alive.has(s.leader) ? <div class="sub bad">not registered</div> : null}
      </td>
      <td data-col="replicas">
        <ul class="plain">
          {s.replicas.map((r) => (
            <li key={r}>
              {nodeName(r)}
              {r === s.leader ? <> <span class="badge">leader</span></> : null}
              {alive.has(r) ? null : <span class="bad"> (not registered)</span>}
            </li>
          ))}
        </ul>
        {s.replicas.length < s.replicationFactor ? (
          <div class="sub bad">
            {s.replicas.length} of {s.replicationFactor} replicas
          </div>
        ) : null}
      </td>
      <td data-col="epoch">{s.epoch}</td>
      <td data-col="status">{s.status}</td>
      <td data-col="revision" class="mono">
        {s.modRevision}
      </td>
    </tr>
  );
}

/** The one-line answer to "who holds shard X" when the filter names exactly one shard. */
function ShardAnswer({ s }: { s: Shard }) {
  return (
    <p id="shard-answer" class="notice notice-info" role="status">
      Shard <strong class="mono">{s.shardName}</strong>:{' '}
      {s.leader === 0 ? 'no leader' : `led by ${nodeName(s.leader)} at epoch ${s.epoch}`}; replicas on {s.replicas.map(nodeName).join(', ') || 'no broker'}; status {s.status}.
    </p>
  );
}

function ClusterChooser({ cluster, known, onChoose }: { cluster: string; known: string[]; onChoose: (name: string) => void }) {
  const [value, setValue] = useState(cluster);
  useEffect(() => setValue(cluster), [cluster]);
  return (
    <form
      class="inline panel"
      aria-label="Broker cluster"
      onSubmit={(e) => {
        e.preventDefault();
        onChoose(value.trim());
      }}
    >
      <label for="broker-cluster">Broker cluster</label>
      <input id="broker-cluster" class="mono" list="known-clusters" value={value} required autocomplete="off" placeholder="mq1" onInput={(e) => setValue((e.target as HTMLInputElement).value)} />
      <datalist id="known-clusters">
        {known.map((k) => (
          <option key={k} value={k} />
        ))}
      </datalist>
      <button type="submit" class="primary">
        Show
      </button>
      {known.length > 0 ? (
        <span class="muted">
          Known here: {known.map((k, i) => (
            <span key={k}>
              {i > 0 ? ', ' : ''}
              <a href={`#/brokers?cluster=${encodeURIComponent(k)}`} data-cluster={k}>
                {k}
              </a>
            </span>
          ))}
        </span>
      ) : null}
    </form>
  );
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

export function BrokersPage() {
  const description = useContext(ApiContext);
  const [params, setParams] = useHashParams();
  const cluster = params.get('cluster') ?? '';
  const filter = params.get('shard') ?? '';
  const canDiscover = description?.hasQueryParam('get', '/v1/kv', 'delimiter') ?? false;
  const canListLeases = description?.has('get', '/v1/leases') ?? false;
  const now = useNow(1000);

  const known = usePoll((signal) => (canDiscover ? knownClusters(signal) : Promise.resolve([])), 10_000, [canDiscover]);
  const knownNames = known.data ?? [];
  // Nothing chosen yet and the keyspace names one cluster: show it rather than an empty page.
  useEffect(() => {
    if (cluster === '' && knownNames.length > 0) setParams({ cluster: knownNames[0]! });
  }, [cluster, knownNames.join('\n')]);

  const placement = usePoll<Placement | null>(
    async (signal) => {
      if (cluster === '') return null;
      const [nodes, shards, leases] = await Promise.all([
        api<{ nodes: BrokerNode[]; revision: number }>('GET', 'v1/cluster/nodes', { signal, query: { cluster } }),
        api<{ shards: Shard[]; revision: number }>('GET', 'v1/shards', { signal, query: { cluster } }),
        // The lease time left is a nicety: without /v1/leases (or the right to list them) the page still works.
        canListLeases ? api<{ leases: Lease[] }>('GET', 'v1/leases', { signal }).catch(() => null) : Promise.resolve(null),
      ]);
      return {
        nodes: [...nodes.nodes].sort((a, b) => a.nodeId - b.nodeId),
        shards: [...shards.shards].sort((a, b) => a.shardName.localeCompare(b.shardName)),
        revision: Math.max(nodes.revision, shards.revision),
        leaseExpiry: leases ? new Map(leases.leases.map((l) => [l.id, l.expiresAtMs])) : null,
      };
    },
    REFRESH_MS,
    [cluster, canListLeases],
  );

  const p = placement.data;
  const alive = new Set((p?.nodes ?? []).map((n) => n.nodeId));
  const held = new Map<number, number>();
  const led = new Map<number, number>();
  for (const s of p?.shards ?? []) {
    for (const r of s.replicas) held.set(r, (held.get(r) ?? 0) + 1);
    if (s.leader !== 0) led.set(s.leader, (led.get(s.leader) ?? 0) + 1);
  }
  const needle = filter.trim().toLowerCase();
  const shown = (p?.shards ?? []).filter((s) => s.shardName.toLowerCase().includes(needle));
  const exact = needle === '' ? undefined : shown.find((s) => s.shardName.toLowerCase() === needle) ?? (shown.length === 1 ? shown[0] : undefined);
  const leaderless = (p?.shards ?? []).filter((s) => s.leader === 0).length;
  const draining = (p?.nodes ?? []).filter((n) => n.draining).length;

  return (
    <section aria-labelledby="page-title">
      <h1 id="page-title">
        Brokers and shards {cluster ? <span class="muted mono">{cluster}</span> : null}
      </h1>
      <ClusterChooser cluster={cluster} known={knownNames} onChoose={(name) => setParams({ cluster: name || null, shard: null })} />
      {cluster === '' ? (
        <Notice kind="info">
          Name a broker cluster to see its brokers and shards{canDiscover && known.data ? ' (none is registered on this cluster yet)' : ''}.
        </Notice>
      ) : null}
      {placement.error ? (
        notPermitted(placement.error) ? (
          <Notice kind="error">Not permitted: {errorText(placement.error)} (the page needs read access to /placement/registry/{cluster}/nodes/ and /placement/shards/{cluster}/)</Notice>
        ) : (
          <Notice kind="error">
            Cannot read the brokers and shards: {errorText(placement.error)}
            {p ? ` (showing data from ${formatTime(placement.at)})` : ''}
          </Notice>
        )
      ) : null}
      {cluster !== '' && !p && !placement.error ? <p aria-busy="true">Loading…</p> : null}
      {p ? (
        <>
          <dl class="summary">
            <div>
              <dt>Brokers alive</dt>
              <dd id="brokers-alive">{p.nodes.length}</dd>
            </div>
            <div>
              <dt>Draining</dt>
              <dd>{draining}</dd>
            </div>
            <div>
              <dt>Shards</dt>
              <dd id="shards-total">{p.shards.length}</dd>
            </div>
            <div>
              <dt>Shards without a leader</dt>
              <dd id="shards-leaderless" class={leaderless > 0 ? 'bad' : undefined}>
                {leaderless}
              </dd>
            </div>
            <div>
              <dt>At revision</dt>
              <dd>{p.revision}</dd>
            </div>
          </dl>

          <div class="table-wrap">
            <table id="brokers">
              <caption>
                Registered brokers of {cluster}: a registration lives as long as its lease, so a broker that stops heartbeating leaves this list when its lease expires
              </caption>
              <thead>
                <tr>
                  <th scope="col">Broker</th>
                  <th scope="col">Type</th>
                  <th scope="col">Zone</th>
                  <th scope="col">Addresses</th>
                  <th scope="col">Shards</th>
                  <th scope="col">Load</th>
                  <th scope="col">State and lease</th>
                </tr>
              </thead>
              <tbody>
                {p.nodes.map((n) => (
                  <BrokerRow key={n.nodeId} n={n} held={held.get(n.nodeId) ?? 0} led={led.get(n.nodeId) ?? 0} expiresAt={p.leaseExpiry?.get(n.leaseId)} now={now} />
                ))}
              </tbody>
            </table>
          </div>
          {p.nodes.length === 0 ? <p class="muted">No broker of {cluster} is registered.</p> : null}

          <section aria-labelledby="shards-title" class="panel">
            <h2 id="shards-title">Placement map</h2>
            <div class="inline">
              <label for="shard-filter">Find a shard</label>
              <input
                id="shard-filter"
                type="search"
                class="mono"
                value={filter}
                autocomplete="off"
                placeholder="shard name"
                onInput={(e) => setParams({ shard: (e.target as HTMLInputElement).value || null })}
              />
            </div>
            {exact ? <ShardAnswer s={exact} /> : null}
            <div class="table-wrap">
              <table id="shards">
                <caption>
                  {needle === '' ? `${p.shards.length} shard${p.shards.length === 1 ? '' : 's'}` : `${shown.length} of ${p.shards.length} shards match “${filter.trim()}”`}; the epoch rises whenever the leader changes
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Shard</th>
                    <th scope="col">Leader</th>
                    <th scope="col">Replicas</th>
                    <th scope="col">Epoch</th>
                    <th scope="col">Status</th>
                    <th scope="col">Changed at revision</th>
                  </tr>
                </thead>
                <tbody>
                  {shown.map((s) => (
                    <ShardRow key={s.shardName} s={s} alive={alive} />
                  ))}
                </tbody>
              </table>
            </div>
            {p.shards.length === 0 ? <p class="muted">No shards in {cluster}.</p> : shown.length === 0 ? <p class="muted">No shard name contains “{filter.trim()}”.</p> : null}
          </section>
        </>
      ) : null}
    </section>
  );
}
