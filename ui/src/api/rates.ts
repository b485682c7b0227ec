// What the cluster page charts, computed from two scrapes of the node's own /metrics: rates are
// the difference of counters over the time between the scrapes, latencies the quantile of the
// histogram buckets filled in that time (as Prometheus' histogram_quantile of an increase).
// Pure, tested in Node (test/ui/metrics.test.ts).
import type { Sample } from './prom.js';

export interface Scrape {
  /** When it was taken (ms). */
  at: number;
  samples: Sample[];
}

type Filter = (labels: Record<string, string>) => boolean;

/** The sum of every series named `name` that passes `filter`; null when there is none. */
export function total(samples: Sample[], name: string, filter: Filter = () => true): number | null {
  let sum = 0;
  let seen = false;
  for (const s of samples) {
    if (s.name === name && filter(s.labels)) {
      sum += s.value;
      seen = true;
    }
  }
  return seen ? sum : null;
}

/** Cumulative bucket counts of the histogram `base` summed over its label sets, by upper bound. */
export function buckets(samples: Sample[], base: string, filter: Filter = () => true): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${base}_bucket` || !filter(s.labels)) continue;
    const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/**
 * The q-quantile of the observations between two cumulative bucket sets, interpolated linearly
 * within the bucket it falls in (Prometheus' histogram_quantile). Null when nothing was observed
 * or a counter went backwards (the node restarted between the scrapes).
 */
export function quantileBetween(q: number, before: Map<number, number>, after: Map<number, number>): number | null {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  if (bounds.length === 0 || bounds.at(-1) !== Infinity) return null;
  const counts = bounds.map((le) => (after.get(le) ?? 0) - (before.get(le) ?? 0));
  if (counts.some((c) => c < 0)) return null;
  const n = counts.at(-1)!;
  if (n <= 0) return null;
  const rank = q * n;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! >= rank) {
      const upper = bounds[i]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      // Above the largest finite bound nothing better than that bound is known.
      if (upper === Infinity) return lower;
      const below = i === 0 ? 0 : counts[i - 1]!;
      const inBucket = counts[i]! - below;
      return inBucket === 0 ? upper : lower + (upper - lower) * ((rank - below) / inBucket);
    }
  }
  return null;
}

/**
 * Per-second rate of a counter total between two scrapes; null across a reset (the total went
 * down: the node restarted). A series not exported yet counts as 0: labelled counters appear
 * with their first event.
 */
export function rate(before: Scrape, after: Scrape, name: string, filter?: Filter): number | null {
  const a = total(before.samples, name, filter) ?? 0;
  const b = total(after.samples, name, filter) ?? 0;
  const dt = (after.at - before.at) / 1000;
  if (dt <= 0 || b < a) return null;
  return (b - a) / dt;
}

function sumOrNull(...xs: Array<number | null>): number | null {
  const known = xs.filter((x): x is number => x !== null);
  return known.length === 0 ? null : known.reduce((s, x) => s + x, 0);
}

// Method names of writes and reads, ours and the etcd API's, as placement_grpc_requests_total labels them.
const GRPC_WRITES = new Set(['Set', 'Delete', 'CompareAndSwap', 'Put', 'DeleteRange', 'Txn']);
const GRPC_READS = new Set(['Get', 'List', 'Exists', 'Range']);
const isKvRoute = (l: Record<string, string>): boolean => (l.route ?? '').startsWith('/v1/kv');

/** One point of every chart on the cluster page. Rates are per second, times in milliseconds. */
export interface Point {
  at: number;
  /** Committed entries this replica applied: every write of the cluster, whoever received it. */
  writesApplied: number | null;
  /** Writes clients sent to this node (gRPC and admin HTTP). */
  writesReceived: number | null;
  /** Reads this node served (gRPC and admin HTTP). */
  reads: number | null;
  /** p99 of this node's gRPC request latency. */
  p99Ms: number | null;
  raftSent: number | null;
  raftReceived: number | null;
  walSyncP99Ms: number | null;
  walSyncMeanMs: number | null;
}

const ms = (s: number | null): number | null => (s === null ? null : s * 1000);

export function pointBetween(before: Scrape, after: Scrape): Point {
  const walCount = rate(before, after, 'placement_storage_wal_sync_duration_seconds_count');
  const walSum = rate(before, after, 'placement_storage_wal_sync_duration_seconds_sum');
  return {
    at: after.at,
    writesApplied: rate(before, after, 'placement_state_machine_applied_entries_total'),
    writesReceived: sumOrNull(
      rate(before, after, 'placement_grpc_requests_total', (l) => GRPC_WRITES.has(l.method ?? '')),
      rate(before, after, 'placement_http_requests_total', (l) => isKvRoute(l) && (l.method === 'PUT' || l.method === 'DELETE')),
    ),
    reads: sumOrNull(
      rate(before, after, 'placement_grpc_requests_total', (l) => GRPC_READS.has(l.method ?? '')),
      rate(before, after, 'placement_http_requests_total', (l) => isKvRoute(l) && l.method === 'GET'),
    ),
    p99Ms: ms(
      quantileBetween(0.99, buckets(before.samples, 'placement_grpc_request_duration_seconds'), buckets(after.samples, 'placement_grpc_request_duration_seconds')),
    ),
    raftSent: rate(before, after, 'placement_raft_messages_sent_total'),
    raftReceived: rate(before, after, 'placement_raft_messages_received_total'),
    walSyncP99Ms: ms(
      quantileBetween(0.99, buckets(before.samples, 'placement_storage_wal_sync_duration_seconds'), buckets(after.samples, 'placement_storage_wal_sync_duration_seconds')),
    ),
    walSyncMeanMs: walCount !== null && walSum !== null && walCount > 0 ? (walSum / walCount) * 1000 : null,
  };
}
