// GET /v1/cluster/overview: every member as it sees itself (term, indexes, version, DB size,
// readiness), gathered by the node that is asked, plus the replication lag the leader reports.
// A browser shown one node's page cannot ask the others itself: they are other origins, maybe
// behind other certificates, maybe at addresses only the nodes can reach. So the node asks each
// member's admin HTTP API (GET /v1/cluster/status and /readyz) and answers with what came back or
// why nothing did.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { getJson } from './get-json.js';
import type { AdminBackend, ClusterStatus, HealthCheck, MemberInfo } from './backend.js';

/** What one node says about itself: GET /v1/cluster/status plus the fields the admin plane adds. */
export interface NodeStatus extends ClusterStatus {
  version: string;
  /** Size of the state-machine database on disk; null when the node does not report it. */
  dbSizeBytes: number | null;
}

export interface NodeHealth {
  status: 'ok' | 'failing';
  checks: HealthCheck[];
}

export interface MemberOverview extends MemberInfo {
  /** The member answered its status. */
  reachable: boolean;
  /** Why it did not, when it did not. */
  error: string | null;
  status: Omit<NodeStatus, 'members' | 'clusterId' | 'id'> | null;
  health: NodeHealth | null;
}

export interface ClusterOverview {
  clusterId: string;
  /** The member that gathered this answer. */
  servedBy: number;
  /** The leader as the serving member knows it (0: none). */
  leaderId: number;
  members: MemberOverview[];
}

/** A GET to another member's admin API; the default is plain HTTP. */
export type PeerGet = (httpAddress: string, path: string, opts: { timeoutMs: number; headers: Record<string, string> }) => Promise<{ status: number; body: unknown }>;

// node:http, not fetch() (get-json.ts): a member's admin port may be any port its operator chose.
export const httpPeerGet: PeerGet = (httpAddress, path, { timeoutMs, headers }) =>
  getJson(httpRequest, `http://${httpAddress}${path}`, { headers }, timeoutMs);

/** The certificate a member shows and trusts (read at each request, so a rotation is picked up). */
export interface PeerTls {
  cert: Buffer;
  key: Buffer;
  /** Trust anchor; undefined: the system's roots. */
  ca: Buffer | undefined;
}

/**
 * GET over HTTPS, for members whose admin port serves TLS: the node's own certificate as client
 * certificate (a member's admin port may require one from the cluster CA) and the cluster's CA
 * as trust anchor.
 */
export function httpsPeerGet(tls: () => PeerTls): PeerGet {
  return (httpAddress, path, { timeoutMs, headers }) => {
    const { ca, cert, key } = tls();
    return getJson(httpsRequest, `https://${httpAddress}${path}`, { headers, ca, cert, key }, timeoutMs);
  };
}

export interface OverviewOptions {
  backend: AdminBackend;
  /** This node's own status (asked in-process, not over HTTP). */
  self: () => Promise<NodeStatus>;
  peerGet: PeerGet;
  /** Per request to a member. */
  timeoutMs: number;
  /** Passed on to the members (the caller's Authorization, when there is one). */
  headers: Record<string, string>;
}

function summary(s: NodeStatus): MemberOverview['status'] {
  const { members: _m, clusterId: _c, id: _i, ...rest } = s;
  return rest;
}

function reason(err: unknown): string {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'no answer in time';
  return e?.cause?.code ?? e?.cause?.message ?? e?.code ?? e?.message ?? String(err);
}

async function ask(m: MemberInfo, o: OverviewOptions): Promise<Pick<MemberOverview, 'reachable' | 'error' | 'status' | 'health'>> {
  const get = (path: string) => o.peerGet(m.httpAddress, path, { timeoutMs: o.timeoutMs, headers: o.headers });
  const [status, ready] = await Promise.allSettled([get('/v1/cluster/status'), get('/readyz')]);
  const health = ready.status === 'fulfilled' ? (ready.value.body as NodeHealth) : null;
  if (status.status === 'rejected') return { reachable: false, error: reason(status.reason), status: null, health };
  const body = status.value.body as { code?: number; data?: NodeStatus; error?: string };
  if (status.value.status !== 200 || body.code !== 0 || !body.data) {
    return { reachable: false, error: `HTTP ${status.value.status}: ${body.error ?? 'unexpected answer'}`, status: null, health };
  }
  return { reachable: true, error: null, status: summary(body.data), health };
}

export async function clusterOverview(o: OverviewOptions): Promise<ClusterOverview> {
  const self = await o.self();
  // The leader's view of match index and lag; this node's own list when the leader cannot be asked.
  const members = await o.backend.members().catch(() => self.members);
  const readyz = o.backend.readyz().then(
    (checks): NodeHealth => ({ status: checks.every((c) => c.ok) ? 'ok' : 'failing', checks }),
    (err: unknown): NodeHealth => ({ status: 'failing', checks: [{ name: 'backend', ok: false, detail: reason(err) }] }),
  );
  const rows = await Promise.all(
    members.map(async (m): Promise<MemberOverview> => {
      if (m.id === self.id) return { ...m, reachable: true, error: null, status: summary(self), health: await readyz };
      if (!m.httpAddress) return { ...m, reachable: false, error: 'admin HTTP address unknown (--peer-http)', status: null, health: null };
      return { ...m, ...(await ask(m, o)) };
    }),
  );
  return { clusterId: self.clusterId, servedBy: self.id, leaderId: self.leaderId, members: rows };
}
