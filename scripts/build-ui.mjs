#!/usr/bin/env node
// Builds the dashboard: ui/src/main.tsx (Preact + uPlot) bundled by esbuild into dist/ui/app.js
// and app.css, with ui/index.html and a notice of the bundled packages' licences
// (third-party-licenses.txt). No CDN: the page needs nothing but these files.
//
// `npm run build` runs it after tsc, so `npm ci` (prepare) and `npm pack` build it. A file is
// rewritten only when its content changed, and atomically (temp file + rename), so a build while
// a node serves dist/ui/ never hands out half a file and a second build changes nothing on disk.
//   node scripts/build-ui.mjs [--out DIR]
import { build } from 'esbuild';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const outArg = process.argv.indexOf('--out');
const outDir = outArg > 0 ? resolve(process.argv[outArg + 1]) : join(root, 'dist', 'ui');

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'ui/src/main.tsx' },
  bundle: true,
  format: 'esm',
  // Browsers of the last few years; nothing needs polyfills.
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: true,
  legalComments: 'none',
  outdir: outDir,
  write: false,
  metafile: true,
  logLevel: 'warning',
});

/** The license text of every package whose code went into the bundle. */
function licenses(metafile) {
  const pkgs = new Set();
  for (const input of Object.keys(metafile.inputs)) {
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) pkgs.add(m[1]);
  }
  const parts = [];
  for (const name of [...pkgs].sort()) {
    const dir = join(root, 'node_modules', name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    const file = readdirSync(dir).find((f) => /^licen[cs]e(\.(md|txt))?$/i.test(f));
    if (!file) throw new Error(`${name}: no LICENSE file to ship with the dashboard`);
    parts.push(`${name} ${pkg.version} (${pkg.license})\n\n${readFileSync(join(dir, file), 'utf8').trim()}\n`);
  }
  return `The dashboard (app.js, app.css) bundles these packages:\n\n${parts.join('\n' + '-'.repeat(72) + '\n\n')}`;
}

const files = new Map(result.outputFiles.map((f) => [f.path, f.contents]));
files.set(join(outDir, 'index.html'), readFileSync(join(root, 'ui', 'index.html')));
files.set(join(outDir, 'third-party-licenses.txt'), Buffer.from(licenses(result.metafile)));

let written = 0;
for (const [path, contents] of files) {
  const buf = Buffer.from(contents);
  if (existsSync(path) && readFileSync(path).equals(buf)) continue;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, buf);
  renameSync(tmp, path);
  written++;
}
const size = [...files.values()].reduce((n, c) => n + c.length, 0);
console.log(`dashboard: ${files.size} files, ${Math.round(size / 1024)} KiB in ${relative(process.cwd(), outDir) || '.'}/ (${written} rewritten)`);
