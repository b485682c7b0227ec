// The npm package as a user gets it (issue 25, item 1): `npm pack`, then in a fresh project
// `npm install ./placement-center-*.tgz`, a TypeScript file importing the SDK type-checks (types
// resolve, and are real: a wrong call is an error), the SDK loads at run time, and
// `npx placement-ctl --help` / `npx placement-center --help` run from the installed package.
// The tarball holds what the SDK and the two CLIs need and nothing else: no tests, benches,
// scripts or TypeScript sources, no source maps.
//
// The compiled dist/ comes from `npm ci` (prepare → build); the test runs `npm run build` first
// (tsc -b: a no-op when dist/ is current) and packs with --ignore-scripts so prepare does not
// run it again. Dependencies install from the npm cache when they are there (--prefer-offline),
// else from the registry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../support/cluster.js';

const run = promisify(execFile);
const lock = (await import('../../package-lock.json', { with: { type: 'json' } })).default as {
  packages: Record<string, { version: string }>;
};

interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: Array<{ path: string }>;
}

describe('npm pack → npm install → SDK types and both CLIs', { timeout: 600_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'placement-pack-'));
  const project = join(work, 'app');
  let packed: Packed;
  const timings: string[] = [];
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      timings.push(`${what} ${Math.round(performance.now() - t0)} ms`);
    }
  };

  before(async () => {
    // tsc -b: nothing is compiled when dist/ is current (as after npm ci).
    await timed('npm run build', () => run('npm', ['run', 'build'], { cwd: REPO_ROOT }));
    const { stdout } = await timed('npm pack', () =>
      run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: REPO_ROOT, maxBuffer: 16 << 20 }),
    );
    packed = (JSON.parse(stdout) as Packed[])[0]!;
  });
  after(() => {
    console.log(`# pack test timings: ${timings.join(', ')}`);
    rmSync(work, { recursive: true, force: true });
  });

  test('the tarball holds dist/ (with the dashboard), bin/, README, LICENSE and package.json, and nothing else', () => {
    const files = packed.files.map((f) => f.path).sort();
    for (const f of [
      'package.json',
      'README.md',
      'LICENSE',
      'bin/placement-ctl.js',
      'bin/placement-center.js',
      'dist/src/client/index.js',
      'dist/src/client/index.d.ts',
      'dist/src/cli/ctl.js',
      'dist/src/cli/server.js',
      'dist/src/node/index.js',
      'dist/raft/index.js',
      'dist/storage/index.js',
      'dist/proto/gen/placement/v1/kv.js',
      'dist/proto/gen/placement/v1/kv.d.ts',
      'dist/ui/index.html',
      'dist/ui/app.js',
      'dist/ui/app.css',
      'dist/ui/third-party-licenses.txt',
    ]) {
      assert.ok(files.includes(f), `${f} is in the tarball`);
    }
    const stray = files.filter(
      (f) =>
        !['package.json', 'README.md', 'LICENSE'].includes(f) &&
        !/^bin\/placement-(ctl|center)\.js$/.test(f) &&
        !/^dist\/(src|raft|storage|proto)\/.+\.(js|d\.ts)$/.test(f) &&
        // The dashboard the server serves at /ui/ (built from ui/ by npm run build).
        !/^dist\/ui\/(index\.html|app\.js|app\.css|third-party-licenses\.txt)$/.test(f),
    );
    assert.deepEqual(stray, [], 'files the SDK and the CLIs do not need');
    assert.deepEqual(files.filter((f) => /(^|\/)(test|bench|scripts|examples)\//.test(f) || f.endsWith('.map')), []);
    console.log(`# tarball: ${files.length} files, ${packed.size} bytes packed, ${packed.unpackedSize} unpacked`);
  });

  test('installs into a fresh project; the SDK type-checks and loads; both CLIs answer --help', async () => {
    const tsVersion = lock.packages['node_modules/typescript']!.version;
    const nodeTypes = lock.packages['node_modules/@types/node']!.version;
    await run('mkdir', ['-p', project]);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'pack-test-app', private: true, type: 'module' }, null, 2));
    await timed('npm install', () =>
      run(
        'npm',
        ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', `./${relative(project, join(work, packed.filename))}`, `typescript@${tsVersion}`, `@types/node@${nodeTypes}`],
        { cwd: project, maxBuffer: 16 << 20 },
      ),
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      // skipLibCheck as most projects set it (this repo too): checking every dependency's own
      // declarations costs ~4x and is not what a consumer's build verifies about us.
      JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] }, files: ['app.ts'] }),
    );
    writeFileSync(
      join(project, 'app.ts'),
      [
        "import { PlacementClient, NotFoundError, type KeyValue, type SetResult } from 'placement-center';",
        "const client = new PlacementClient({ endpoints: ['127.0.0.1:1228'], deadlineMs: 1000 });",
        "const kv: Promise<KeyValue | undefined> = client.kv.get('/brokers/1');",
        "const set: Promise<SetResult> = client.kv.set('/brokers/1', '{}', { lease: 0 });",
        'void kv; void set;',
        'export const isNotFound = (e: unknown): boolean => e instanceof NotFoundError;',
        '// The types are real, not any: a wrong call does not compile.',
        '// @ts-expect-error set() needs a value',
        "void client.kv.set('/brokers/1');",
        'client.close();',
      ].join('\n'),
    );
    await timed('tsc', () => run(process.execPath, [join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project }));
    const loaded = await run(process.execPath, ['--input-type=module', '-e', "const m = await import('placement-center'); console.log(typeof m.PlacementClient, typeof m.NotFoundError);"], { cwd: project });
    assert.equal(loaded.stdout, 'function function\n');

    const [ctl, server, version] = await timed('npx --help (both)', () =>
      Promise.all([
        run('npx', ['--no-install', 'placement-ctl', '--help'], { cwd: project }),
        run('npx', ['--no-install', 'placement-center', '--help'], { cwd: project }),
        run('npx', ['--no-install', 'placement-center', '--version'], { cwd: project }),
      ]),
    );
    assert.match(ctl.stdout, /^Usage: placement-ctl/);
    assert.match(ctl.stdout, /Exit codes:/);
    assert.match(server.stdout, /^Usage: placement-center/);
    assert.match(server.stdout, /--data-dir/);
    assert.equal(version.stdout.trim(), (await import('../../package.json', { with: { type: 'json' } })).default.version);
  });
});

// Cold start of `npx placement-ctl` in a checkout after `npm ci` (issue 25, item 5).
//
// npx runs a project's own bin by linking the checkout into its cache, which runs the project's
// `prepare` script there. `prepare` builds with `tsc -b` (build mode: an up-to-date dist/ is
// recognised from dist/tsconfig.build.tsbuildinfo and nothing is compiled), so the first npx
// no longer recompiles the whole project (20-55 s measured on this machine). Here npx runs with
// an empty npm cache, as on a fresh machine: it must answer, and dist/ must not be rewritten.
// It shares this file with the pack test because both build dist/: the runner runs one file's
// tests one after the other, while two files ran side by side and the pack test's build rewrote
// dist/ under this check.
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
