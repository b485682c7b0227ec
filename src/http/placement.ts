// Admin HTTP routes of the broker registry and the shard map:
//   GET  /v1/cluster/nodes?cluster=NAME[&type=T]   registered brokers
//   GET  /v1/shards?cluster=NAME[&node=ID]         shards (those on one broker)
//   POST /v1/shards  {cluster, shard, replicas, constraints?: {zones?, excludeNodes?, nodeType?}}
// The same operations as placement.v1 (src/registry, src/placement); without them (a test
// backend) the routes answer UNAVAILABLE.
import type express from 'express';
import type { Request, Response } from 'express';
import { PlacementError, invalidArgument } from '../errors.js';
import type { Registry } from '../registry/registry.js';
import type { Shards } from '../placement/shards.js';
import { callerOf } from '../auth/context.js';

export interface PlacementHttp {
  registry: Registry;
  shards: Shards;
  requestTimeoutMs: number;
}

const ok = (res: Response, data: unknown, status = 200): void => {
  res.status(status).json({ code: 0, data });
};

function clusterOf(q: Record<string, unknown>): string {
  if (typeof q.cluster !== 'string' || q.cluster === '') throw invalidArgument('query: cluster is required (the broker cluster name)');
  return q.cluster;
}

function positiveInt(v: unknown, field: string): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : typeof v === 'number' ? v : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw invalidArgument(`${field}: must be a positive integer`);
  return n;
}

function stringList(v: unknown, field: string): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidArgument(`${field}: must be an array of strings`);
  return v as string[];
}

export function registerPlacementRoutes(app: express.Express, p: PlacementHttp | undefined): void {
  const need = (): PlacementHttp => {
    if (!p) throw new PlacementError('UNAVAILABLE', 'the registry is not served by this server');
    return p;
  };
  const deadline = (): number => Date.now() + (p?.requestTimeoutMs ?? 5000);

  app.get('/v1/cluster/nodes', async (req: Request, res: Response) => {
    const q = req.query as Record<string, unknown>;
    const type = typeof q.type === 'string' ? q.type : '';
    const r = await need().registry.list(clusterOf(q), type, deadline());
    ok(res, { nodes: r.nodes, revision: r.revision });
  });

  app.get('/v1/shards', async (req: Request, res: Response) => {
    const q = req.query as Record<string, unknown>;
    const node = q.node === undefined ? 0 : positiveInt(q.node, 'query: node');
    const r = await need().shards.list(clusterOf(q), node, deadline());
    ok(res, { shards: r.shards, revision: r.revision });
  });

  app.post('/v1/shards', async (req: Request, res: Response) => {
    const b = req.body as Record<string, unknown> | undefined;
    if (!b || typeof b !== 'object' || Array.isArray(b)) throw invalidArgument('body: must be a JSON object (send Content-Type: application/json)');
    if (typeof b.cluster !== 'string') throw invalidArgument('body: cluster must be a string');
    if (typeof b.shard !== 'string') throw invalidArgument('body: shard must be a string');
    const replicas = positiveInt(b.replicas, 'body: replicas');
    const c = (b.constraints ?? {}) as Record<string, unknown>;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw invalidArgument('body: constraints must be an object');
    const excludeNodes = c.excludeNodes === undefined ? [] : Array.isArray(c.excludeNodes) ? c.excludeNodes.map((x, i) => positiveInt(x, `body: constraints.excludeNodes[${i}]`)) : [];
    if (c.excludeNodes !== undefined && !Array.isArray(c.excludeNodes)) throw invalidArgument('body: constraints.excludeNodes must be an array of node ids');
    if (c.nodeType !== undefined && typeof c.nodeType !== 'string') throw invalidArgument('body: constraints.nodeType must be a string');
    const shard = await need().shards.create(
      {
        clusterName: b.cluster,
        shardName: b.shard,
        replicas,
        constraints: { zones: stringList(c.zones, 'body: constraints.zones'), excludeNodes, nodeType: (c.nodeType as string | undefined) ?? '' },
        status: typeof b.status === 'string' ? b.status : '',
      },
      deadline(),
      callerOf(req),
    );
    ok(res, { shard }, 201);
  });
}
