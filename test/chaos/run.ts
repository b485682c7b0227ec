// One chaos run, start to verdict:
//   start a real cluster (peer links through the fault proxy) → clients + nemesis for the
//   requested time → stop the nemesis and heal everything → stop the clients → wait until
//   every node reports the same state hash → final linearizable read of every key → check the
//   history (linearizability), the hashes (convergence) and every acknowledged write
//   (per-key version bounds) → JSON + HTML report. The verdict is 'pass' only if all hold;
//   a checker that gave up ('unknown') is a failure.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { KvServiceClient, type GetReply } from '../../proto/gen/placement/v1/kv.js';
import { checkHistory, type CheckResult } from './checker/index.js';
import type { HistoryOp } from './checker/history.js';
import { mulberry32 } from './checker/gen.js';
import { ChaosCluster, REPO_ROOT, waitFor, type StateHash } from './cluster.js';
import { ConvergenceTracker } from './convergence.js';
import { Nemesis, type NemesisKind } from './nemesis.js';
import { historyStats, writeReport, type AckedWritesResult, type ChaosReport, type ConvergenceResult } from './report.js';
import { Workload } from './workload.js';
import { ChaosWatchers, type WatchCheckResult } from './watch.js';
import { ChaosLockers, type LockCheckResult } from './locks.js';
import { BROKER_PREFIXES, ChaosBrokers, type BrokerCheckResult } from './brokers.js';
import { ChaosSecurity, type SecurityCheckResult } from './secure.js';
import { PlacementClient, op, type PlacementClientOptions } from '../../src/client/index.js';

export interface ChaosOptions {
  timeSec: number;
  nodes: number;
  nemeses: NemesisKind[];
  seed: number;
  clients: number;
  keys: number;
  opTimeoutMs?: number;
  /** Target ops/s across all clients. */
  rate?: number;
  /** unary / session / mixed (default: every other client on a KvService.Session stream). */
  transport?: 'unary' | 'session' | 'etcd' | 'mixed';
  /** SDK clients contending for one mutex and making fenced writes while they hold it (default 0). */
  lockers?: number;
  /** Simulated brokers (BrokerAgents) holding shards, crashed now and then by the broker nemesis (default 0). */
  brokers?: number;
  /** Sets PLACEMENT_PLANTED_BUG on every node (test-only server bug). */
  plantedBug?: '' | 'local-reads';
  /** Where reports go (default <repo>/reports). */
  reportDir?: string;
  reportName?: string;
  /** Checker time budget. */
  checkBudgetMs?: number;
  /** Keep node data even on a pass. */
  keepData?: boolean;
  /** TLS on every port (mutual between peers) and auth on; every client is the `chaos` user (test/chaos/secure.ts). */
  secure?: boolean;
  /** Nemesis timing overrides. */
  quietMs?: [number, number];
  holdMs?: [number, number];
  log?: (line: string) => void;
  command?: string;
}

export interface ChaosOutcome {
  verdict: 'pass' | 'fail';
  reasons: string[];
  report: ChaosReport;
  files: { json: string; html: string };
}

const TICK_MS = 50;
const ELECTION_TICKS = 10;
/** Upper bound of the randomized election timeout: [n, 2n) ticks. */
const ELECTION_TIMEOUT_MS = 2 * ELECTION_TICKS * TICK_MS;

function unary<T>(f: (cb: (e: grpc.ServiceError | null, r: T) => void) => void): Promise<T> {
  return new Promise((res, rej) => f((e, r) => (e ? rej(e) : res(r))));
}

export async function runChaos(o: ChaosOptions): Promise<ChaosOutcome> {
  const log = o.log ?? (() => {});
  const startedAt = new Date();
  const t0 = performance.now();
  const clock = () => performance.now() - t0;
  const rnd = mulberry32(o.seed);
  const runId = `r${o.seed.toString(36)}${Date.now().toString(36)}`;
  const keys = Array.from({ length: o.keys }, (_, i) => `chaos/k${i}`);
  const rootDir = mkdtempSync(join(tmpdir(), 'placement-chaos-'));
  const secure = o.secure ? new ChaosSecurity(rootDir, o.nodes) : undefined;
  // What every client of the run adds: nothing, or TLS and the chaos user's credentials.
  const sdk = secure?.sdk() ?? {};
  const cluster = new ChaosCluster({
    secure,
    nodes: o.nodes,
    rootDir,
    rnd,
    env: o.plantedBug ? { PLACEMENT_PLANTED_BUG: o.plantedBug } : {},
    extraArgs: ['--tick-ms', String(TICK_MS), '--election-ticks', String(ELECTION_TICKS), '--heartbeat-ticks', '2', '--sm-check-interval-ms', '3000', '--snapshot-every', '1000'],
  });
  const reasons: string[] = [];
  let history: HistoryOp[] = [];
  let nemesis: Nemesis | null = null;
  let workload: Workload | null = null;
  let lin: CheckResult = { verdict: 'unknown', keys: [], elapsedMs: 0 };
  let convergence: ConvergenceResult = { ok: false, nodes: [], message: 'not checked' };
  let acked: AckedWritesResult = { ok: false, keys: [], message: 'not checked' };
  let watches: WatchCheckResult = { ok: false, message: 'not checked', watchers: [] };
  let watchers: ChaosWatchers | null = null;
  let lockers: ChaosLockers | null = null;
  let locks: LockCheckResult | undefined;
  let brokers: ChaosBrokers | null = null;
  let shards: BrokerCheckResult | undefined;
  let security: SecurityCheckResult | undefined;
  try {
    log(`seed ${o.seed}: starting ${o.nodes} nodes in ${rootDir}${secure ? ' (TLS on every port, auth on)' : ''}`);
    await cluster.start();
    log(`[${(clock() / 1000).toFixed(1)}s] cluster up, leader ${await cluster.currentLeader()}`);
    if (secure) {
      // Exactly the prefixes the workloads use: keys and watches, the mutex, the brokers' cluster.
      await secure.enable(cluster, ['chaos/', 'chaos-lock/', ...BROKER_PREFIXES]);
      const c = await waitConvergence(cluster, 60_000);
      if (!c.ok) throw new Error(`members did not converge after auth was enabled: ${c.message}`);
      log(`[${(clock() / 1000).toFixed(1)}s] auth enabled: clients are user chaos (readwrite on chaos/, chaos-lock/, ${BROKER_PREFIXES.join(', ')})`);
    }
    // Watchers on every member over the workload's keys, from the revision the run starts at.
    const hashes = await Promise.all(cluster.ids.map((id) => cluster.stateHash(id)));
    const startRevision = Math.max(0, ...hashes.map((h) => h?.revision ?? 0)) + 1;
    const addresses = cluster.nodes.map((n) => ({ id: n.id, grpcAddress: n.grpcAddress }));
    // When members come and go, the SDK clients follow the membership (discovery), and the checks
    // after the run read from the members of then.
    const membershipChanges = o.nemeses.includes('member-replace') || o.nemeses.includes('member-grow-shrink');
    const current = (): string[] => cluster.nodes.map((n) => n.grpcAddress);
    watchers = new ChaosWatchers(addresses, 'chaos/', startRevision, sdk, membershipChanges);
    if (o.lockers) lockers = new ChaosLockers(addresses, 'chaos-lock/', startRevision, o.lockers, sdk, membershipChanges);
    if (o.brokers) {
      brokers = new ChaosBrokers(addresses, rnd, log, o.brokers, 2 * o.brokers, sdk, membershipChanges ? current : undefined);
      await brokers.start();
      log(`[${(clock() / 1000).toFixed(1)}s] ${o.brokers} brokers joined, ${2 * o.brokers} shards placed`);
    }

    workload = new Workload({
      clients: o.clients,
      keys,
      nodes: cluster.nodes.map((n) => ({ id: n.id, grpcAddress: n.grpcAddress })),
      opTimeoutMs: o.opTimeoutMs ?? 1000,
      rnd,
      clock,
      rate: o.rate ?? 60,
      runId,
      transport: o.transport ?? 'mixed',
      credentials: secure?.credentials(),
    });
    nemesis = new Nemesis(cluster, {
      kinds: o.nemeses,
      rnd,
      clock,
      electionTimeoutMs: ELECTION_TIMEOUT_MS,
      quietMs: o.quietMs,
      holdMs: o.holdMs,
      log,
    });
    workload.start();
    nemesis.start();
    const progress = setInterval(() => {
      const c = workload!.counts;
      log(`[${(clock() / 1000).toFixed(1)}s] ops ok ${c.ok} info ${c.info} fail ${c.fail}`);
    }, 10_000);
    // The run length is wall-clock time by definition.
    await new Promise((r) => setTimeout(r, o.timeSec * 1000));
    clearInterval(progress);
    log(`[${(clock() / 1000).toFixed(1)}s] stopping nemesis and healing`);
    await nemesis.stop();
    await brokers?.heal();
    await workload.stop();
    await lockers?.halt();
    history = workload.history.slice();
    log(`[${(clock() / 1000).toFixed(1)}s] workload stopped: ${history.length} ops`);
    for (const p of nemesis.problems) reasons.push(`nemesis: ${p}`);
    if (nemesis.membership.changes.length > 0) {
      log(`membership: ${nemesis.membership.changes.length} changes, members now ${cluster.ids.join(',')}; ${workload.directory.moves} times a client moved off a removed member`);
    }

    // ---- convergence ----
    const leader = await cluster.waitForLeader(60_000);
    convergence = await waitConvergence(cluster, 60_000);
    if (!convergence.ok) reasons.push(`convergence: ${convergence.message}`);
    log(`convergence: ${convergence.message}`);

    // ---- watches: every watcher delivered the committed history, no gap, duplicate or reorder ----
    // A watch only learns that a revision passed from an event of its range: the run ends with one
    // write to every watched prefix, so each check knows where the history it waits for ends.
    const finalRevision = convergence.ok ? await endMarker(cluster, ['chaos/', 'chaos-lock/'], sdk) : null;
    if (finalRevision !== null && watchers) {
      watches = await watchers.check(finalRevision, 60_000, current());
      if (!watches.ok) reasons.push(`watches: ${watches.message}`);
      log(`watches: ${watches.message}`);
    }
    // ---- brokers: one leader per shard and epoch, every shard placed on live brokers ----
    if (finalRevision !== null && brokers) {
      shards = await brokers.check(startRevision, 60_000, current());
      if (!shards.ok) reasons.push(`brokers: ${shards.message}`);
      log(`brokers: ${shards.message}`);
    }
    // ---- locks: every fenced write came from the lock's owner at its revision ----
    if (finalRevision !== null && lockers) {
      locks = await lockers.check(finalRevision, 60_000, current());
      if (!locks.ok) reasons.push(`locks: ${locks.message}`);
      else if (locks.acquired === 0) reasons.push('locks: no locker ever got the lock');
      log(`locks: ${locks.message}`);
    }

    // ---- final reads (linearizable, via the leader) and acknowledged writes ----
    const finals = await finalReads(cluster, leader, keys, clock, secure?.credentials() ?? grpc.credentials.createInsecure());
    history.push(...finals.ops);
    acked = ackedWritesCheck(history, finals.versions);
    if (!acked.ok) reasons.push(`acknowledged writes: ${acked.message}`);
    log(`acknowledged writes: ${acked.message}`);

    // ---- linearizability ----
    log(`checking linearizability of ${history.length} ops`);
    lin = checkHistory(history, { timeBudgetMs: o.checkBudgetMs ?? 120_000 });
    for (const k of lin.keys) if (k.verdict !== 'ok') reasons.push(`linearizability (${k.key}): ${k.verdict}: ${k.message ?? ''}`);
    log(`linearizability: ${lin.verdict} (${lin.elapsedMs.toFixed(0)} ms)`);

    // ---- a secure run: auth and TLS were really on ----
    if (secure) {
      security = await secure.enforcement(cluster, history);
      if (!security.ok) reasons.push(`security: ${security.message}`);
      log(`security: ${security.message}`);
    }
  } catch (err) {
    reasons.push(`harness error: ${(err as Error).stack ?? String(err)}`);
    log(`harness error: ${(err as Error).message}`);
    if (workload) {
      await workload.stop().catch(() => {});
      if (history.length === 0) history = workload.history.slice();
    }
  } finally {
    watchers?.close();
    await lockers?.halt().catch(() => {});
    await brokers?.close().catch(() => {});
    if (nemesis) await nemesis.stop().catch(() => {});
    await cluster.stop();
  }
  const faults = nemesis?.faults ?? [];
  const verdict: 'pass' | 'fail' = reasons.length === 0 && lin.verdict === 'ok' ? 'pass' : 'fail';
  if (verdict === 'fail' && reasons.length === 0) reasons.push(`linearizability: ${lin.verdict}`);
  const report: ChaosReport = {
    meta: {
      seed: o.seed,
      nodes: o.nodes,
      clients: o.clients,
      keys,
      nemeses: o.nemeses,
      timeSec: o.timeSec,
      plantedBug: o.plantedBug ?? '',
      secure: o.secure === true,
      command: o.command ?? `npm run chaos -- --time ${o.timeSec} --nodes ${o.nodes} --nemesis ${o.nemeses.join(',')} --seed ${o.seed} --clients ${o.clients}`,
      startedAt: startedAt.toISOString(),
      durationMs: clock(),
      dataDir: rootDir,
    },
    verdict,
    reasons,
    stats: historyStats(history, faults),
    linearizability: lin,
    convergence,
    ackedWrites: acked,
    watches,
    locks,
    shards,
    security,
    faults,
    membership: nemesis?.membership.changes ?? [],
    history,
  };
  const name = o.reportName ?? `chaos-${startedAt.toISOString().replace(/[:.]/g, '-')}-seed${o.seed}`;
  const files = writeReport(o.reportDir ?? join(REPO_ROOT, 'reports'), name, report);
  if (verdict === 'pass' && !o.keepData) rmSync(rootDir, { recursive: true, force: true });
  return { verdict, reasons, report, files };
}

/** Writes `<prefix>end-of-run` under every prefix in one Txn; resolves with its revision. */
async function endMarker(cluster: ChaosCluster, prefixes: string[], sdk: Partial<PlacementClientOptions>): Promise<number> {
  const client = new PlacementClient({ ...sdk, endpoints: cluster.nodes.map((n) => n.grpcAddress), discoverMembers: false, deadlineMs: 30_000 });
  try {
    const r = await client
      .txn()
      .then(...prefixes.map((p) => op.put(`${p}end-of-run`, '')))
      .commit();
    return r.header.revision;
  } finally {
    client.close();
  }
}

/** Waits until every node reports the same applied index and state hash. */
async function waitConvergence(cluster: ChaosCluster, timeoutMs: number): Promise<ConvergenceResult> {
  let last: (StateHash | null)[] = [];
  const tracker = new ConvergenceTracker();
  const snapshot = (): ConvergenceResult['nodes'] =>
    cluster.ids.map((id, i) => ({
      id,
      appliedIndex: last[i]?.appliedIndex ?? null,
      revision: last[i]?.revision ?? null,
      hash: last[i]?.hash ?? null,
    }));
  try {
    // A divergence ends the wait at once: no later report can undo it.
    const outcome = await waitFor(
      async () => {
        last = await Promise.all(cluster.ids.map((id) => cluster.stateHash(id)));
        last.forEach((h, i) => h && tracker.add(cluster.ids[i]!, h));
        if (tracker.divergence !== null) return { diverged: tracker.divergence };
        const agreed = tracker.agreed(cluster.ids);
        return agreed && { agreed };
      },
      'every node to report the same state hash at one applied index',
      timeoutMs,
      200,
    );
    if ('diverged' in outcome) return { ok: false, nodes: snapshot(), message: `diverged: ${outcome.diverged}` };
    const { agreed } = outcome;
    return { ok: true, nodes: snapshot(), message: `all ${cluster.ids.length} nodes reported hash ${agreed.hash.slice(0, 16)}… at applied index ${agreed.appliedIndex}` };
  } catch (err) {
    return { ok: false, nodes: snapshot(), message: (err as Error).message };
  }
}

/** A linearizable read of every key through the leader, retried until it succeeds; recorded as ops of client -1. */
async function finalReads(
  cluster: ChaosCluster,
  leader: number,
  keys: string[],
  clock: () => number,
  credentials: grpc.ChannelCredentials,
): Promise<{ ops: HistoryOp[]; versions: Map<string, { version: number; value: string | null }> }> {
  const ops: HistoryOp[] = [];
  const versions = new Map<string, { version: number; value: string | null }>();
  let id = 1_000_000_000;
  for (const key of keys) {
    const rep = await waitFor(
      async () => {
        const target = (await cluster.currentLeader()) ?? leader;
        const stub = new KvServiceClient(cluster.node(target).grpcAddress, credentials, { 'grpc.enable_retries': 0 });
        try {
          const invoke = clock();
          const r = await unary<GetReply>((cb) => stub.get({ key, serializable: false, kvMetadataOnly: false }, new grpc.Metadata(), { deadline: Date.now() + 3000 }, cb));
          return { r, invoke, complete: clock(), target };
        } finally {
          stub.close();
        }
      },
      `a final read of ${key}`,
      30_000,
      200,
    );
    const value = rep.r.found ? rep.r.value.toString('utf8') : null;
    ops.push({
      id: id++,
      client: -1,
      key,
      call: { kind: 'read' },
      status: 'ok',
      result: { kind: 'read', value },
      invoke: rep.invoke,
      complete: rep.complete,
      node: rep.target,
    });
    versions.set(key, { version: rep.r.found ? (rep.r.kv?.version ?? 0) : 0, value });
  }
  return { ops, versions };
}

/**
 * Every acknowledged write must be in the final state: the final version of a key (writes
 * since creation; the workload never deletes) must be at least the number of acknowledged
 * writes to it, and at most that plus the indeterminate ones (nothing applied twice).
 */
export function ackedWritesCheck(history: HistoryOp[], finals: Map<string, { version: number; value: string | null }>): AckedWritesResult {
  const keys: AckedWritesResult['keys'] = [];
  const problems: string[] = [];
  const byKey = new Map<string, { acked: number; indeterminate: number }>();
  for (const o of history) {
    if (o.call.kind === 'read') continue;
    const e = byKey.get(o.key) ?? { acked: 0, indeterminate: 0 };
    if (o.status === 'ok' && (o.call.kind === 'write' || (o.result?.kind === 'cas' && o.result.succeeded))) e.acked++;
    else if (o.status === 'info') e.indeterminate++;
    byKey.set(o.key, e);
  }
  for (const [key, f] of finals) {
    const e = byKey.get(key) ?? { acked: 0, indeterminate: 0 };
    keys.push({ key, acked: e.acked, indeterminate: e.indeterminate, finalVersion: f.version, finalValue: f.value });
    if (f.version < e.acked) problems.push(`${key}: final version ${f.version} < ${e.acked} acknowledged writes (lost writes)`);
    if (f.version > e.acked + e.indeterminate) problems.push(`${key}: final version ${f.version} > ${e.acked} acknowledged + ${e.indeterminate} indeterminate writes (a write applied twice?)`);
  }
  const total = keys.reduce((s, k) => s + k.acked, 0);
  return {
    ok: problems.length === 0,
    keys,
    message: problems.length === 0 ? `all ${total} acknowledged writes accounted for in the final versions of ${keys.length} keys` : problems.join('; '),
  };
}
