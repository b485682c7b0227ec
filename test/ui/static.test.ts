// The dashboard's two routes on the admin app: GET /ui (the page; /ui → /ui/ by a relative
// redirect) and GET /ui/{path} (its files), confined to the built folder, with a CSP that lets
// the page load only its own files and talk only to its own origin; 503 naming the fix when the
// dashboard was not built.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createAdminApp } from '../../src/http/app.js';
import { findUiDir } from '../../src/http/ui.js';
import { Metrics } from '../../src/metrics/metrics.js';
import { MemoryBackend } from '../http/memory-backend.js';

describe('dashboard static routes', () => {
  const root = mkdtempSync(join(tmpdir(), 'placement-ui-'));
  const dir = join(root, 'ui');
  before(() => {
    mkdirSync(dir);
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>t</title>');
    writeFileSync(join(dir, 'app.js'), 'console.log(1)');
    writeFileSync(join(dir, '.secret'), 'x');
    writeFileSync(join(root, 'outside.txt'), 'not served');
  });
  after(() => rmSync(root, { recursive: true, force: true }));
  const app = (uiDir: string | null) => createAdminApp({ backend: new MemoryBackend(), metrics: new Metrics({ defaultMetrics: false }), uiDir });

  it('serves the page at /ui/ and redirects /ui there with a relative Location', async () => {
    const a = app(dir);
    const redirect = await request(a).get('/ui').expect(301);
    assert.equal(redirect.headers.location, 'ui/');
    const page = await request(a).get('/ui/').expect(200);
    assert.match(page.headers['content-type']!, /text\/html/);
    assert.equal(page.text, '<!doctype html><title>t</title>');
    const csp = page.headers['content-security-policy']!;
    for (const d of ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) assert.ok(csp.includes(d), d);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    assert.equal(page.headers['cache-control'], 'no-cache');
    const js = await request(a).get('/ui/app.js').expect(200);
    assert.match(js.headers['content-type']!, /javascript/);
  });

  it('serves nothing outside the built folder, no dotfiles, and answers a JSON 404', async () => {
    const a = app(dir);
    for (const path of ['/ui/missing.js', '/ui/..%2Foutside.txt', '/ui/%2E%2E/outside.txt', '/ui/.secret']) {
      const res = await request(a).get(path);
      assert.equal(res.status, 404, path);
      assert.deepEqual([res.body.code, res.body.data], [5, null], path);
      assert.doesNotMatch(res.text, /not served/);
    }
  });

  it('answers 503 naming the fix when the dashboard was not built', async () => {
    const res = await request(app(null)).get('/ui/').expect(503);
    assert.match(res.body.error, /not built: run `npm run build`/);
    assert.equal(findUiDir([join(root, 'nowhere')]), null);
    assert.equal(findUiDir([join(root, 'nowhere'), dir]), dir);
  });

  it('counts dashboard requests under their route template, not the file name', async () => {
    const metrics = new Metrics({ defaultMetrics: false });
    const a = createAdminApp({ backend: new MemoryBackend(), metrics, uiDir: dir });
    await request(a).get('/ui/app.js').expect(200);
    const text = await metrics.render();
    assert.match(text, /placement_http_requests_total\{method="GET",route="\/ui\/\*path",code="200"\} 1/);
    assert.doesNotMatch(text, /app\.js/);
  });
});
