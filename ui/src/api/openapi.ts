// What this node's API offers, from its own GET /v1/openapi.json: pages and features appear when
// the operations they use are documented, so a page for an API another build adds shows up with
// that build and never calls something this server does not have.
import { getJson } from './client.js';

interface Parameter {
  name: string;
  in: string;
}

interface Operation {
  tags?: string[];
  parameters?: Parameter[];
  responses?: Record<string, { content?: Record<string, unknown> }>;
}

type Paths = Record<string, Record<string, Operation>>;

export class ApiDescription {
  constructor(readonly paths: Paths) {}

  operation(method: string, path: string): Operation | undefined {
    return this.paths[path]?.[method.toLowerCase()];
  }

  has(method: string, path: string): boolean {
    return this.operation(method, path) !== undefined;
  }

  /** The operation documents a query parameter of that name. */
  hasQueryParam(method: string, path: string, name: string): boolean {
    return (this.operation(method, path)?.parameters ?? []).some((p) => p.in === 'query' && p.name === name);
  }

  /** Every operation, with its method and path. */
  operations(): Array<{ method: string; path: string; op: Operation }> {
    return Object.entries(this.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([m]) => ['get', 'put', 'post', 'delete', 'patch'].includes(m))
        .map(([method, op]) => ({ method, path, op })),
    );
  }

  /** GET operations that answer server-sent events, e.g. a watch. */
  eventStreams(): Array<{ path: string; op: Operation }> {
    return this.operations()
      .filter((o) => o.method === 'get' && Object.values(o.op.responses ?? {}).some((r) => 'text/event-stream' in (r.content ?? {})))
      .map(({ path, op }) => ({ path, op }));
  }

  /** GET collections (no path parameters) under any of `prefixes`, or tagged with any of `tags`. */
  collections(prefixes: string[], tags: string[]): string[] {
    return this.operations()
      .filter(
        (o) =>
          o.method === 'get' &&
          !o.path.includes('{') &&
          (prefixes.some((p) => o.path === p || o.path.startsWith(`${p}/`)) || (o.op.tags ?? []).some((t) => tags.includes(t))),
      )
      .map((o) => o.path)
      .sort();
  }
}

export async function loadApiDescription(): Promise<ApiDescription> {
  const { status, body } = await getJson<{ paths?: Paths }>('v1/openapi.json');
  if (status !== 200 || !body.paths) throw new Error(`GET /v1/openapi.json: HTTP ${status}`);
  return new ApiDescription(body.paths);
}
