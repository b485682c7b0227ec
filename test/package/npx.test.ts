// Cold start of `npx placement-ctl` in a checkout after `npm ci` (issue 25, item 5).
//
// npx runs a project's own bin by linking the checkout into its cache, which runs the project's
// `prepare` script there. `prepare` builds with `tsc -b` (build mode: an up-to-date dist/ is
// recognised from dist/tsconfig.build.tsbuildinfo and nothing is compiled), so the first npx
// no longer recompiles the whole project (20-55 s measured on this machine). Here npx runs with
// an empty npm cache, as on a fresh machine: it must answer, and dist/ must not be rewritten.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/cluster.js';

const run = promisify(execFile);

test('npx placement-ctl in the checkout starts without rebuilding dist/, even with an empty npm cache', { timeout: 300_000 }, async () => {
  // What `npm ci` leaves: dist/ built by prepare (a no-op here when it is already current).
  await run('npm', ['run', 'build'], { cwd: REPO_ROOT });
  const compiled = join(REPO_ROOT, 'dist', 'src', 'cli', 'ctl.js');
  const before = statSync(compiled).mtimeMs;
  const cache = mkdtempSync(join(tmpdir(), 'placement-npx-cache-'));
  try {
    const t0 = performance.now();
    const r = await run('npx', ['placement-ctl', '--help'], { cwd: REPO_ROOT, env: { ...process.env, npm_config_cache: cache, npm_config_update_notifier: 'false' } });
    const ms = Math.round(performance.now() - t0);
    assert.match(r.stdout, /^Usage: placement-ctl/);
    assert.equal(statSync(compiled).mtimeMs, before, 'dist/ was not rebuilt by npx');
    console.log(`# cold npx placement-ctl --help (empty npm cache): ${ms} ms`);
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
});
