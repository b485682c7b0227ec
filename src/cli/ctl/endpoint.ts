// placement-ctl endpoint health | status | hashkv: one answer per endpoint, for scripts and probes
// (in the manner of `etcdctl endpoint health` / `endpoint status` / `endpoint hashkv`). The endpoints are --endpoints,
// or with --cluster every member's advertised address. Exit code 7 when any endpoint is unhealthy.
//
// Health is what a client needs from a member: a linearizable read answered through it, which
// takes a leader and a quorum (the ReadIndex round), within --timeout.
import type * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { MaintenanceService, type HashKVResponse } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { ClusterStatus, PlacementClient } from '../../client/index.js';
import { EXIT } from './exit-codes.js';
import { out, printJson, println, table } from './output.js';
import { UsageError, parseEndpoints, withClient, type GlobalOptions } from './program.js';

/** The key a health probe reads (it need not exist). */
const HEALTH_KEY = 'health';

interface ClusterFlag {
  cluster?: boolean;
}

async function targets(client: PlacementClient, g: GlobalOptions, opts: ClusterFlag): Promise<string[]> {
  if (!opts.cluster) return parseEndpoints(g.endpoints);
  const r = await client.cluster.members();
  return [...r.members].sort((a, b) => a.id - b.id).map((m) => m.address);
}

/** --rev: a revision, 0 meaning each member's current one. */
function parseRevision(raw: string): number {
  if (!/^[0-9]{1,16}$/.test(raw) || !Number.isSafeInteger(Number(raw))) throw new UsageError(`--rev: expected a revision (a non-negative integer), got "${raw}"`);
  return Number(raw);
}

/** etcd's HashKV on one endpoint, through the client (its auth, TLS and deadline). */
function hashKv(client: PlacementClient, endpoint: string, revision: number, deadlineMs: number): Promise<HashKVResponse> {
  const d = MaintenanceService.hashKv;
  return client.invoke<HashKVResponse>(
    'etcdserverpb.Maintenance/HashKV',
    'read',
    (s, md, o, cb) =>
      s.generic.makeUnaryRequest(d.path, d.requestSerialize, d.responseDeserialize, { revision }, md, o, cb as (e: grpc.ServiceError | null, r?: HashKVResponse) => void),
    { endpoint, deadlineMs },
  );
}

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
const ms = (n: number): string => `${Math.round(n * 100) / 100}ms`;

export function registerEndpoint(program: Command): void {
  const endpoint = program.command('endpoint').description('per-endpoint health and status');

  endpoint
    .command('health')
    .description('whether each endpoint serves a linearizable read in time (ENDPOINT, HEALTH, TOOK, ERROR); exit code 7 when one does not')
    .option('--cluster', "check every member's advertised address instead of --endpoints")
    .action(async (opts: ClusterFlag, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const eps = await targets(client, g, opts);
        const results = await Promise.all(
          eps.map(async (ep) => {
            const t0 = performance.now();
            try {
              await client.kv.get(HEALTH_KEY, { endpoint: ep, deadlineMs: g.timeout });
              return { endpoint: ep, health: true, tookMs: performance.now() - t0 };
            } catch (e) {
              return { endpoint: ep, health: false, tookMs: performance.now() - t0, error: message(e) };
            }
          }),
        );
        if (results.some((r) => !r.health)) process.exitCode = EXIT.UNHEALTHY;
        if (g.json) {
          printJson(results.map((r) => ({ endpoint: r.endpoint, health: r.health, took: ms(r.tookMs), tookMs: Math.round(r.tookMs * 100) / 100, ...(r.error !== undefined ? { error: r.error } : {}) })));
          return;
        }
        const c = out.stdout;
        println(
          table(
            ['ENDPOINT', 'HEALTH', 'TOOK', 'ERROR'],
            results.map((r) => [r.endpoint, r.health ? c.green('true') : c.red('false'), ms(r.tookMs), r.error ?? '']),
          ),
        );
      });
    });

  endpoint
    .command('status')
    .description("each endpoint's own view: id, version, leader, learner, term, raft index, applied index, revision; exit code 7 when one does not answer")
    .option('--cluster', "ask every member's advertised address instead of --endpoints")
    .action(async (opts: ClusterFlag, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const eps = await targets(client, g, opts);
        const perEndpoint = Math.min(g.timeout, 2000);
        const results = await Promise.all(
          eps.map(async (ep): Promise<{ endpoint: string; st?: ClusterStatus; errors: string[] }> => {
            try {
              const st = await client.cluster.status({ endpoint: ep, deadlineMs: perEndpoint });
              return { endpoint: ep, st, errors: st.leaderId === 0 ? ['no leader'] : [] };
            } catch (e) {
              return { endpoint: ep, errors: [message(e)] };
            }
          }),
        );
        if (results.some((r) => r.errors.length > 0)) process.exitCode = EXIT.UNHEALTHY;
        const rows = results.map(({ endpoint, st, errors }) => {
          const self = st?.members.find((m) => m.id === st.id);
          return {
            endpoint,
            id: st?.id ?? null,
            version: st?.version ?? null,
            isLeader: st ? st.role === 'leader' : null,
            isLearner: st ? st.role === 'learner' || self?.role === 'learner' : null,
            raftTerm: st?.term ?? null,
            raftIndex: st?.commitIndex ?? null,
            raftAppliedIndex: st?.appliedIndex ?? null,
            revision: st?.revision ?? null,
            leaderId: st?.leaderId ?? null,
            errors,
          };
        });
        if (g.json) {
          printJson(rows);
          return;
        }
        const v = (x: number | string | boolean | null): string => (x === null ? '-' : String(x));
        println(
          table(
            ['ENDPOINT', 'ID', 'VERSION', 'IS LEADER', 'IS LEARNER', 'RAFT TERM', 'RAFT INDEX', 'RAFT APPLIED INDEX', 'REVISION', 'ERRORS'],
            rows.map((r) => [r.endpoint, v(r.id), v(r.version), v(r.isLeader), v(r.isLearner), v(r.raftTerm), v(r.raftIndex), v(r.raftAppliedIndex), v(r.revision), r.errors.join(', ')]),
          ),
        );
      });
    });

  endpoint
    .command('hashkv')
    .description(
      "each endpoint's hash of the keyspace history up to a revision (etcdctl endpoint hashkv): members that agree answer the same hash " +
        'for the same revision; ENDPOINT, HASH, REVISION, COMPACT REVISION, ERROR; exit code 7 when one does not answer',
    )
    .option('--rev <n>', "the revision to hash up to (default 0: each member's current revision)", parseRevision, 0)
    .option('--cluster', "ask every member's advertised address instead of --endpoints")
    .action(async (opts: ClusterFlag & { rev: number }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const eps = await targets(client, g, opts);
        const results = await Promise.all(
          eps.map(async (ep): Promise<{ endpoint: string; r?: HashKVResponse; error?: string }> => {
            try {
              return { endpoint: ep, r: await hashKv(client, ep, opts.rev, g.timeout) };
            } catch (e) {
              return { endpoint: ep, error: message(e) };
            }
          }),
        );
        if (results.some((x) => x.error !== undefined)) process.exitCode = EXIT.UNHEALTHY;
        if (g.json) {
          // etcdctl's shape: {"Endpoint", "HashKV": the HashKV response with etcd's field names}.
          printJson(
            results.map(({ endpoint, r, error }) =>
              r
                ? {
                    Endpoint: endpoint,
                    HashKV: {
                      header: { cluster_id: r.header?.clusterId ?? 0, member_id: r.header?.memberId ?? 0, revision: r.header?.revision ?? 0, raft_term: r.header?.raftTerm ?? 0 },
                      hash: r.hash,
                      compact_revision: r.compactRevision,
                    },
                  }
                : { Endpoint: endpoint, error },
            ),
          );
          return;
        }
        const v = (x: number | undefined): string => (x === undefined ? '-' : String(x));
        println(
          table(
            ['ENDPOINT', 'HASH', 'REVISION', 'COMPACT REVISION', 'ERROR'],
            results.map(({ endpoint, r, error }) => [endpoint, v(r?.hash), v(r?.header?.revision), v(r?.compactRevision), error ?? '']),
          ),
        );
      });
    });
}
