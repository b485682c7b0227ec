// Keeps GET /v1/openapi.json true: every route registered on the Express app is documented, and
// every documented operation is a registered route. Also checks that documented request bodies
// are what the server validates (the schemas are shared) and the document is well-formed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import request from 'supertest';
import { createAdminApp, listRoutes, toOpenApiPath } from '../../src/http/app.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { MemoryBackend } from './memory-backend.js';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];

describe('OpenAPI document', () => {
  const app = createAdminApp({ backend: new MemoryBackend(), metrics: new Metrics({ defaultMetrics: false }) });

  async function doc(): Promise<{ openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, unknown> } }> {
    const res = await request(app).get('/v1/openapi.json').expect(200);
    return res.body;
  }

  it('converts Express paths to OpenAPI paths', () => {
    assert.equal(toOpenApiPath('/v1/users/:name/permissions'), '/v1/users/{name}/permissions');
    assert.equal(toOpenApiPath('/v1/kv/*key'), '/v1/kv/{key}');
  });

  it('documents every route, and every documented operation is a route', async () => {
    const d = await doc();
    const routes = listRoutes(app).map((r) => `${r.method.toUpperCase()} ${r.path}`).sort();
    const documented = Object.entries(d.paths)
      .flatMap(([path, ops]) => Object.keys(ops).filter((m) => HTTP_METHODS.includes(m)).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    assert.ok(routes.length >= 20, `found ${routes.length} routes`);
    assert.deepEqual(
      routes.filter((r) => !documented.includes(r)),
      [],
      'routes missing from the OpenAPI document',
    );
    assert.deepEqual(
      documented.filter((r) => !routes.includes(r)),
      [],
      'documented operations with no route',
    );
  });

  it('the route check bites: an undocumented route is reported', async () => {
    const other = createAdminApp({ backend: new MemoryBackend(), metrics: new Metrics({ defaultMetrics: false }) });
    other.post('/v1/undocumented/:id', (_req, res) => {
      res.json({ code: 0, data: null });
    });
    const d = await doc();
    const missing = listRoutes(other).filter((r) => !(d.paths[r.path] && r.method in d.paths[r.path]!));
    assert.deepEqual(missing, [{ method: 'post', path: '/v1/undocumented/{id}' }]);
  });

  it('is OpenAPI 3 with path parameters declared and every $ref resolvable', async () => {
    const d = await doc();
    assert.match(d.openapi, /^3\./);
    for (const [path, ops] of Object.entries(d.paths)) {
      const names = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      for (const [method, op] of Object.entries(ops)) {
        const o = op as { parameters?: Array<{ name: string; in: string }>; responses?: Record<string, unknown> };
        const declared = (o.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        assert.deepEqual(declared.sort(), [...names].sort(), `${method} ${path} path parameters`);
        assert.ok(o.responses && Object.keys(o.responses).length > 0, `${method} ${path} responses`);
      }
    }
    const refs = [...JSON.stringify(d).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map((m) => m[1]!);
    for (const r of refs) assert.ok(r in d.components.schemas, `unresolved $ref ${r}`);
  });

  it('documents the ?key= form: GET (optional, with the list parameters), PUT and DELETE (required) on /v1/kv', async () => {
    const d = await doc();
    type Param = { name: string; in: string; required: boolean; schema: { type: string } };
    const kv = d.paths['/v1/kv'] as Record<string, { parameters: Param[]; requestBody?: unknown }>;
    assert.deepEqual(Object.keys(kv).filter((m) => HTTP_METHODS.includes(m)).sort(), ['delete', 'get', 'put']);
    const keyOf = (m: string): Param | undefined => kv[m]!.parameters.find((p) => p.name === 'key' && p.in === 'query');
    assert.equal(keyOf('get')?.required, false);
    assert.deepEqual(kv.get!.parameters.map((p) => p.name).sort(), ['delimiter', 'encoding', 'key', 'keysOnly', 'limit', 'prefix', 'serializable', 'startAfter']);
    for (const m of ['put', 'delete']) {
      assert.equal(keyOf(m)?.required, true, `${m} /v1/kv: key is required`);
      assert.equal(keyOf(m)?.schema.type, 'string');
    }
    assert.deepEqual(kv.put!.requestBody, (d.paths['/v1/kv/{key}'] as Record<string, { requestBody: unknown }>).put!.requestBody, 'same body as the path form');
  });

  it('documents the request bodies the server validates', async () => {
    const d = await doc();
    const put = d.paths['/v1/kv/{key}']!.put as {
      requestBody: { content: { 'application/json': { schema: { properties: Record<string, unknown>; required: string[] } } } };
    };
    const schema = put.requestBody.content['application/json'].schema;
    assert.deepEqual(Object.keys(schema.properties).sort(), ['encoding', 'expectedModRevision', 'lease', 'value']);
    assert.deepEqual(schema.required, ['value']);
    const users = d.paths['/v1/users']!.post as {
      requestBody: { content: { 'application/json': { schema: { required: string[] } } } };
    };
    assert.deepEqual(users.requestBody.content['application/json'].schema.required.sort(), ['name', 'password']);
  });
});
