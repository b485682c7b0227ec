// bench:ab refuses what it cannot compare before it starts any cluster: an argument that is
// neither NAME=VALUE nor a flag, an unknown row, nothing to compare, and a BENCH_B_CHECKOUT that is not a built
// checkout of this repository.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/cluster.js';

function ab(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench', 'ab.ts'), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, BENCH_B_CHECKOUT: '', ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe('bench:ab arguments', () => {
  it('refuses an argument that is neither NAME=VALUE nor a --flag', () => {
    const r = ab(['lowercase=1']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /"lowercase=1" is neither NAME=VALUE nor a --node-flag/);
  });

  it('refuses a row it does not know, naming the ones it does', () => {
    const r = ab(['X=1'], { BENCH_ROWS: 'put@64,sdk@0' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /"sdk@0" is not put@N, range@N, rs@N, watch@N or sdk@N/);
  });

  it('refuses to run with nothing on side B', () => {
    const r = ab([]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /give the environment or Node\.js flags of side B/);
  });

  it('refuses a BENCH_B_CHECKOUT that is not a built checkout', () => {
    const empty = mkdtempSync(join(tmpdir(), 'ab-checkout-'));
    try {
      const r = ab([], { BENCH_B_CHECKOUT: empty, BENCH_SRC: '' });
      assert.equal(r.status, 2);
      // Without a build here the first refusal is that one; with it, the checkout's missing files.
      assert.match(r.stderr, /BENCH_B_CHECKOUT/);
      assert.match(r.stderr, /has no bin\/placement-center\.js|run `npm run build` here first/);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
