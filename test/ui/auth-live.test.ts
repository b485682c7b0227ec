// The dashboard's sign-in and its Live page, against an in-process admin app (in-memory backend)
// wrapped the way the coming auth and watch APIs will present themselves: every API request
// without credentials answers 401, and the OpenAPI document lists a GET /v1/watch answering
// text/event-stream. The page must show the sign-in form on 401, then send Basic or Bearer
// credentials on every request; the Live page must appear (detected from the document), tail
// events as they come, and hold them while paused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type Response } from 'express';
import { createAdminApp } from '../../src/http/app.js';
import { buildOpenApiDocument } from '../../src/http/openapi.js';
import { findUiDir } from '../../src/http/ui.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { MemoryBackend } from '../http/memory-backend.js';
import { buildUi, openBrowser, undocumented, type BrowserSession } from './browser.js';

const BASIC = `Basic ${Buffer.from('admin:a long password').toString('base64')}`;
const BEARER = 'Bearer t0k3n';

describe('dashboard sign-in and Live page (auth and watch as the coming APIs will offer them)', { timeout: 60_000 }, () => {
  let server: Server;
  let origin: string;
  let b: BrowserSession;
  const seen: Array<{ path: string; auth: string | undefined }> = [];
  const watchers = new Set<{ res: Response; prefix: string }>();
  const doc = buildOpenApiDocument({ maxKeyBytes: 4096, maxValueBytes: 1 << 20 }) as { paths: Record<string, Record<string, unknown>> };
  doc.paths['/v1/watch'] = {
    get: {
      summary: 'Watch keys under a prefix (test fixture)',
      parameters: [{ name: 'prefix', in: 'query', required: false, schema: { type: 'string' } }],
      responses: { '200': { description: 'Events', content: { 'text/event-stream': { schema: { type: 'string' } } } } },
    },
  };
  const emit = (key: string, value: string): void => {
    for (const w of watchers) if (key.startsWith(w.prefix)) w.res.write(`event: put\ndata: ${JSON.stringify({ type: 'PUT', kv: { key, value } })}\n\n`);
  };

  before(async () => {
    await buildUi();
    const outer = express();
    outer.use((req, res, next) => {
      if (req.path === '/ui' || req.path.startsWith('/ui/')) return next();
      seen.push({ path: req.path, auth: req.headers.authorization });
      if (req.headers.authorization !== BASIC && req.headers.authorization !== BEARER) {
        res.status(401).json({ code: 16, data: null, error: 'this node requires a user: sign in' });
        return;
      }
      next();
    });
    outer.get('/v1/openapi.json', (_req, res) => void res.json(doc));
    // A signed-in user without read access to the registry, as the server answers it (403, code 7).
    outer.get(['/v1/cluster/nodes', '/v1/shards'], (req, res) => {
      res.status(403).json({ code: 7, data: null, error: `permission denied: ${req.path} of cluster ${String(req.query.cluster)} needs read on /placement/` });
    });
    outer.get('/v1/watch', (req, res) => {
      res.set({ 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      res.write(': watching\n\n');
      const w = { res, prefix: String(req.query.prefix ?? '') };
      watchers.add(w);
      req.on('close', () => watchers.delete(w));
    });
    outer.use(createAdminApp({ backend: new MemoryBackend(), metrics: new Metrics({ defaultMetrics: false }), uiDir: findUiDir() }));
    server = await new Promise<Server>((r) => {
      const s = outer.listen(0, '127.0.0.1', () => r(s));
    });
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    b = await openBrowser();
  });

  after(async () => {
    await b?.close();
    for (const w of watchers) w.res.end();
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  const waitForWatchers = async (n: number): Promise<void> => {
    for (const deadline = Date.now() + 10_000; watchers.size !== n; ) {
      if (Date.now() > deadline) throw new Error(`expected ${n} watchers, have ${watchers.size}`);
      await new Promise((r) => setImmediate(r));
    }
  };

  it('shows the sign-in form on 401, then sends the credentials on every request', async () => {
    await b.page.goto(`${origin}/ui/#/live`);
    await b.page.waitForSelector('#login-title');
    await b.screenshot('login');
    const before = seen.length;
    assert.ok(before > 0 && seen.every((s) => s.auth === undefined));
    await b.page.type('#login-user', 'admin');
    await b.page.type('#login-password', 'a long password');
    await b.page.click('.login button[type="submit"]');
    await b.page.waitForSelector('a[data-page="live"][aria-current="page"]');
    const nav = await b.page.$$eval('nav[aria-label="Pages"] a', (as) => as.map((a) => a.getAttribute('data-page')));
    assert.deepEqual(nav, ['cluster', 'keys', 'live', 'leases', 'brokers', 'users']);
    assert.deepEqual(seen.slice(before).filter((s) => s.auth !== BASIC), [], 'every request after sign-in is authorized');
  });

  it('tails watch events live, and holds them while paused', async () => {
    await b.page.$eval('#watch-prefix', (el) => ((el as HTMLInputElement).value = ''));
    await b.page.type('#watch-prefix', '/brokers/');
    await b.page.click('form button.primary');
    await waitForWatchers(1);
    assert.equal([...watchers][0]!.prefix, '/brokers/');
    assert.equal(seen.at(-1)!.auth, BASIC, 'the stream request carries the credentials too');
    emit('/brokers/7', '{"host":"10.0.0.7"}');
    await b.page.waitForFunction(() => document.querySelectorAll('#events tbody tr').length === 1);
    assert.match(await b.page.$eval('#events tbody tr', (el) => (el as HTMLElement).innerText), /put\s+PUT\s+\/brokers\/7\s+\{"host":"10.0.0.7"\}/);

    await b.page.click('#watch-pause');
    emit('/brokers/8', 'x');
    await b.page.waitForFunction(() => /Resume \(1 new\)/.test(document.querySelector('#watch-pause[aria-pressed="true"]')?.textContent ?? ''));
    assert.equal(await b.page.$$eval('#events tbody tr', (rows) => rows.length), 1, 'held while paused');
    await b.screenshot('live');
    await b.page.click('#watch-pause');
    await b.page.waitForFunction(() => document.querySelectorAll('#events tbody tr').length === 2);
  });

  it('signs out (the form comes back on the next 401) and in again with a token (Bearer)', async () => {
    const signOut = await b.page.$$('header button');
    await signOut.at(-1)!.click();
    await b.page.waitForSelector('#login-title');
    await waitForWatchers(0);
    await b.page.click('input[name="mode"]:not(:checked)');
    await b.page.type('#login-token', 't0k3n');
    const before = seen.length;
    await b.page.click('.login button[type="submit"]');
    await b.page.waitForSelector('nav a[data-page="live"]');
    assert.ok(seen.length > before);
    assert.deepEqual(seen.slice(before).filter((s) => s.auth !== BEARER), []);
  });

  it('shows the Brokers and shards page only as a refusal when the user may not read the registry', async () => {
    await b.page.goto(`${origin}/ui/#/brokers?cluster=mq`);
    await b.page.waitForFunction(() => /^Not permitted: permission denied: \/v1\/(cluster\/nodes|shards) of cluster mq/.test(document.querySelector('main [role="alert"]')?.textContent ?? ''));
    assert.equal(await b.page.$('#brokers'), null, 'no broker table');
    assert.equal(await b.page.$('#shards'), null, 'no shard table');
    await b.screenshot('brokers-forbidden');
  });

  it('made only requests its OpenAPI document lists', () => {
    assert.deepEqual(undocumented(b.requests, origin, doc.paths), []);
    assert.deepEqual(b.pageErrors, []);
  });
});
