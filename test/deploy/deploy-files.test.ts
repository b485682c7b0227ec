// Structural checks of the deployment files, since no container engine runs here: the compose
// file describes a consistent 3-node cluster that the real config loader accepts, Prometheus
// scrapes exactly those nodes, the Dockerfile has the shape the issue asks for and copies only
// files that exist and are in the build context, and the HEALTHCHECK script works.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse } from 'yaml';
import { OPTIONS, parsePeerList, resolveConfig } from '../../src/config/index.js';
import { COMPOSE_FILE, COMPOSE_TLS_FILE, REPO_ROOT, loadCompose, mapContainerPaths, portOf, type ComposeService } from './compose.js';

const KNOWN_ENV = new Set([...OPTIONS.map((o) => o.env), 'PLACEMENT_CONFIG']);

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

test('compose: three node services built from deploy/Dockerfile, each configured only by known PLACEMENT_* variables', () => {
  const c = loadCompose();
  assert.deepEqual(c.nodes.map((n) => n.name), ['pc1', 'pc2', 'pc3']);
  assert.ok(existsSync(join(REPO_ROOT, 'deploy/Dockerfile')));
  for (const n of c.nodes) {
    const build = n.raw.build as Record<string, unknown>;
    assert.equal(build.context, '.', `${n.name}: build context is the repository root`);
    assert.equal(n.raw.hostname, n.name, `${n.name}: hostname is the service name`);
    for (const k of Object.keys(n.environment)) {
      assert.ok(KNOWN_ENV.has(k), `${n.name}: ${k} is not an option of src/config (known: ${[...KNOWN_ENV].join(', ')})`);
    }
    assert.equal(n.command.length, 0, `${n.name}: configuration is through the environment, not a command`);
    assert.equal(n.raw.stop_signal ?? 'SIGTERM', 'SIGTERM');
  }
});

test('compose: the real config loader accepts every node, and the nodes agree on one cluster', () => {
  const c = loadCompose();
  const configs = c.nodes.map((n) => ({ n, cfg: resolveConfig({}, n.environment) }));
  assert.deepEqual(configs.map((x) => x.cfg.id).sort(), [1, 2, 3]);
  const clusterIds = new Set(configs.map((x) => x.cfg.clusterId));
  assert.equal(clusterIds.size, 1, 'one cluster id for all nodes');
  const first = configs[0]!.cfg;
  for (const { n, cfg } of configs) {
    assert.deepEqual([...cfg.peers.entries()].sort(), [...first.peers.entries()].sort(), `${n.name}: same peer list as pc1`);
    assert.deepEqual([...cfg.peerHttp.entries()].sort(), [...first.peerHttp.entries()].sort(), `${n.name}: same peer-http list as pc1`);
    // Each node is reachable by its service name on the port it listens on.
    assert.equal(cfg.peers.get(cfg.id), `${n.name}:${portOf(cfg.listen)}`, `${n.name}: its own peers entry`);
    assert.equal(cfg.peerHttp.get(cfg.id), `${n.name}:${portOf(cfg.http)}`, `${n.name}: its own peer-http entry`);
    assert.match(cfg.listen, /^0\.0\.0\.0:/, `${n.name}: listens on all interfaces of its container`);
    assert.match(cfg.http, /^0\.0\.0\.0:/, `${n.name}: admin HTTP on all interfaces of its container`);
  }
  // Every peer named is a service of the file.
  for (const addr of [...first.peers.values(), ...first.peerHttp.values()]) {
    const host = addr.slice(0, addr.lastIndexOf(':'));
    assert.ok(c.nodes.some((n) => n.name === host), `${addr} names a node service`);
  }
  assert.equal(parsePeerList(c.nodes[0]!.environment.PLACEMENT_PEERS, 'peers').size, 3);
});

test('compose: each node keeps its data in its own named volume, and publishes distinct host ports', () => {
  const c = loadCompose();
  const volumes = new Set<string>();
  const published = new Set<number>();
  for (const n of c.nodes) {
    const cfg = resolveConfig({}, n.environment);
    const data = n.mounts.find((m) => m.target === cfg.dataDir);
    assert.ok(data, `${n.name}: a volume is mounted at its data dir ${cfg.dataDir}`);
    assert.equal(data.type, 'volume', `${n.name}: data is in a named volume`);
    assert.ok(c.volumes.includes(data.source), `${n.name}: volume ${data.source} is declared at the top level`);
    assert.ok(!volumes.has(data.source), `${n.name}: volume ${data.source} is not shared`);
    volumes.add(data.source);
    const targets = n.ports.map((p) => p.target).sort();
    assert.deepEqual(targets, [portOf(cfg.http), portOf(cfg.listen)].sort(), `${n.name}: gRPC and HTTP ports published`);
    for (const p of n.ports) {
      assert.ok(!published.has(p.published), `${n.name}: host port ${p.published} used once`);
      published.add(p.published);
    }
    for (const net of n.networks) assert.ok(c.networks.includes(net), `${n.name}: network ${net} declared`);
  }
  assert.ok(!published.has(9090));
  assert.ok(c.prometheus.ports.some((p) => p.published === 9090 && p.target === 9090), 'Prometheus UI published on 9090');
});

test('compose: Prometheus runs deploy/prometheus.yml with the alert rules, keeps its data in a volume and shares the nodes\' network', () => {
  const c = loadCompose();
  const p = c.prometheus;
  const configArg = p.command.find((a) => a.startsWith('--config.file='));
  assert.ok(configArg, 'Prometheus is given --config.file');
  const configPath = configArg.slice('--config.file='.length);
  const configMount = p.mounts.find((m) => m.target === configPath);
  assert.ok(configMount && configMount.type === 'bind', `${configPath} is bind-mounted`);
  assert.equal(relative(REPO_ROOT, configMount.source), 'deploy/prometheus.yml');
  assert.ok(configMount.readOnly);

  // Rule files are resolved relative to the config file; each must be mounted from deploy/.
  const config = parse(readFileSync(configMount.source, 'utf8')) as { rule_files?: string[] };
  assert.ok((config.rule_files ?? []).length > 0, 'rule_files configured');
  const containerDir = configPath.slice(0, configPath.lastIndexOf('/'));
  for (const rf of config.rule_files ?? []) {
    const target = rf.startsWith('/') ? rf : `${containerDir}/${rf}`;
    const m = p.mounts.find((x) => x.target === target);
    assert.ok(m, `rule file ${target} is mounted`);
    assert.ok(existsSync(m.source), `${m.source} exists`);
  }
  assert.ok(p.mounts.some((m) => m.type === 'volume' && c.volumes.includes(m.source)), 'Prometheus data in a named volume');
  for (const n of c.nodes) {
    assert.ok(n.networks.every((net) => p.networks.includes(net)), `Prometheus shares ${n.name}'s networks`);
  }
});

test('prometheus.yml scrapes exactly the three nodes on their admin HTTP port', () => {
  const c = loadCompose();
  const config = parse(readFileSync(join(REPO_ROOT, 'deploy/prometheus.yml'), 'utf8')) as {
    global?: { scrape_interval?: string; scrape_timeout?: string };
    scrape_configs: { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
  };
  const job = config.scrape_configs.find((s) => s.job_name === 'placement-center');
  assert.ok(job, 'a placement-center scrape job');
  assert.equal(job.metrics_path ?? '/metrics', '/metrics');
  const targets = job.static_configs.flatMap((s) => s.targets).sort();
  const expected = c.nodes.map((n) => `${n.name}:${portOf(resolveConfig({}, n.environment).http)}`).sort();
  assert.deepEqual(targets, expected);
});

// ---------------------------------------------------------------------------------------------
// Dockerfile and .dockerignore

interface Instruction {
  op: string;
  args: string;
  line: number;
}

function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  let buf = '';
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (buf === '' && (/^\s*#/.test(l) || l.trim() === '')) continue;
    if (buf === '') start = i + 1;
    if (l.endsWith('\\')) {
      buf += l.slice(0, -1) + ' ';
      continue;
    }
    buf += l;
    const m = /^\s*(\w+)\s+(.*)$/s.exec(buf);
    if (!m) throw new Error(`Dockerfile line ${start}: cannot parse "${buf}"`);
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim().replace(/\s+/g, ' '), line: start });
    buf = '';
  }
  return out;
}

/** .dockerignore semantics for the patterns used here: globs with *, later `!` lines re-include. */
function dockerIgnored(patterns: string[], path: string): boolean {
  let ignored = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const pat = (neg ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = new RegExp('^' + pat.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '(/.*)?$');
    if (re.test(path)) ignored = !neg;
  }
  return ignored;
}

function readDockerignore(): string[] {
  return readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

test('Dockerfile: multi-stage build, slim production runtime, non-root, data volume, health check, signal-safe PID 1', () => {
  const ins = parseDockerfile(readFileSync(join(REPO_ROOT, 'deploy/Dockerfile'), 'utf8'));
  const froms = ins.filter((i) => i.op === 'FROM');
  assert.ok(froms.length >= 2, 'at least a build and a runtime stage');
  const buildStage = /\bAS (\w+)$/i.exec(froms[0]!.args)?.[1];
  assert.ok(buildStage, 'the build stage is named');
  const lastFrom = ins.lastIndexOf(froms.at(-1)!);
  const build = ins.slice(ins.indexOf(froms[0]!), lastFrom);
  const runtime = ins.slice(lastFrom);

  assert.ok(build.some((i) => i.op === 'RUN' && /\bnpm ci\b/.test(i.args)), 'build stage installs with npm ci');
  assert.ok(build.some((i) => i.op === 'RUN' && /npm run build/.test(i.args)), 'build stage compiles');
  assert.ok(runtime.some((i) => i.op === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(i.args)), 'runtime installs production dependencies only');
  assert.ok(!runtime.some((i) => i.op === 'RUN' && /npm run build|\btsc\b/.test(i.args)), 'runtime stage does not compile');
  assert.ok(
    runtime.some((i) => i.op === 'COPY' && i.args.startsWith(`--from=${buildStage} `) && /\/dist\b/.test(i.args)),
    'runtime copies dist/ from the build stage',
  );

  const users = runtime.filter((i) => i.op === 'USER');
  assert.ok(users.length > 0, 'runtime sets USER');
  assert.ok(!/^(root|0)(:|$)/.test(users.at(-1)!.args), 'runtime user is not root');

  const envText = runtime.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  const dataDir = /PLACEMENT_DATA_DIR=(\S+)/.exec(envText)?.[1];
  assert.ok(dataDir, 'image sets a default PLACEMENT_DATA_DIR');
  for (const m of envText.matchAll(/\b(PLACEMENT_\w+)=/g)) assert.ok(KNOWN_ENV.has(m[1]!), `${m[1]} is a known option`);
  const volume = runtime.find((i) => i.op === 'VOLUME');
  assert.ok(volume && volume.args.includes(dataDir), 'the data dir is a VOLUME');
  // compose mounts its volumes at the same place.
  for (const n of loadCompose().nodes) assert.equal(n.environment.PLACEMENT_DATA_DIR ?? dataDir, dataDir);

  const hc = runtime.find((i) => i.op === 'HEALTHCHECK');
  assert.ok(hc, 'HEALTHCHECK present');
  assert.match(hc.args, /CMD \["node", "[^"]*healthcheck\.mjs"\]/, 'health check runs node itself (no curl)');
  assert.match(readFileSync(join(REPO_ROOT, 'deploy/healthcheck.mjs'), 'utf8'), /\/readyz/);
  assert.ok(runtime.some((i) => i.op === 'COPY' && i.args.includes('deploy/healthcheck.mjs')), 'health check script copied');

  const entry = runtime.find((i) => i.op === 'ENTRYPOINT');
  assert.ok(entry, 'ENTRYPOINT present');
  const argv = JSON.parse(entry.args) as string[];
  assert.ok(Array.isArray(argv), 'ENTRYPOINT in exec form (no shell between the init and node)');
  assert.match(argv[0]!, /tini$/, 'a minimal init is PID 1 and forwards SIGTERM');
  assert.ok(argv.includes('node') && argv.some((a) => a.endsWith('bin/placement-center.js')));
  assert.ok(runtime.some((i) => i.op === 'RUN' && /install .*\btini\b/.test(i.args)), 'tini installed');
  assert.equal(runtime.find((i) => i.op === 'STOPSIGNAL')?.args ?? 'SIGTERM', 'SIGTERM');

  const exposed = runtime.filter((i) => i.op === 'EXPOSE').flatMap((i) => i.args.split(' ').map(Number));
  for (const n of loadCompose().nodes) for (const p of n.ports) assert.ok(exposed.includes(p.target), `port ${p.target} exposed`);
});

test('Dockerfile: every file copied from the context exists and is not excluded by .dockerignore', () => {
  const ins = parseDockerfile(readFileSync(join(REPO_ROOT, 'deploy/Dockerfile'), 'utf8'));
  const ignore = readDockerignore();
  for (const must of ['node_modules', 'dist', '.git', 'data']) assert.ok(dockerIgnored(ignore, must), `.dockerignore excludes ${must}`);
  const copies = ins.filter((i) => (i.op === 'COPY' || i.op === 'ADD') && !i.args.startsWith('--from='));
  assert.ok(copies.length > 0);
  for (const c of copies) {
    const parts = c.args.split(' ').filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `line ${c.line}: ${src} exists in the repository`);
      assert.ok(!dockerIgnored(ignore, src), `line ${c.line}: ${src} is not excluded by .dockerignore`);
    }
  }
  // bin/placement-center.js loads dist/src/cli/server.js, which the build stage produces from src/.
  assert.match(readFileSync(join(REPO_ROOT, 'bin/placement-center.js'), 'utf8'), /dist\/src\/cli\/server\.js/);
  // The bundled dockerignore matcher itself.
  assert.equal(dockerIgnored(['deploy/*', '!deploy/healthcheck.mjs'], 'deploy/healthcheck.mjs'), false);
  assert.equal(dockerIgnored(['deploy/*', '!deploy/healthcheck.mjs'], 'deploy/alerts.yml'), true);
  assert.equal(dockerIgnored(['*.log'], 'x.log'), true);
  assert.equal(dockerIgnored(['test'], 'test/deploy/a.ts'), true);
});

test('runtime image: everything the compiled server imports is a production dependency', () => {
  // The runtime stage installs `npm ci --omit=dev`; a devDependency imported by the server would
  // be missing there. Scan what tsconfig.build.json compiles for non-type imports of packages.
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const build = JSON.parse(readFileSync(join(REPO_ROOT, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.ts$/.test(name) && !/\.d\.ts$/.test(name)) files.push(p);
    }
  };
  for (const dir of build.include) if (existsSync(join(REPO_ROOT, dir))) walk(join(REPO_ROOT, dir));
  assert.ok(files.length > 0);
  const builtins = new Set(builtinModules);
  const missing: string[] = [];
  const importRe = /(?:^|[\n;])\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?'([^']+)'|\bimport\(\s*'([^']+)'\s*\)/g;
  for (const f of files) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(importRe)) {
      if (m[1]) continue; // `import type` is erased
      const spec = m[2] ?? m[3]!;
      if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      if (!(name in pkg.dependencies)) missing.push(`${relative(REPO_ROOT, f)} imports ${spec}`);
    }
  }
  assert.deepEqual(missing, [], 'imported by the server but not in package.json "dependencies"');
});

// ---------------------------------------------------------------------------------------------
// deploy/healthcheck.mjs against a stand-in /readyz

function runHealthcheck(env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'deploy/healthcheck.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, out }));
  });
}

test('healthcheck.mjs: exit 0 on /readyz 200, 1 on 503 or when nothing listens', async (t) => {
  let ready = true;
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: ready ? 0 : 1, data: { ready } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const base = { PATH: process.env.PATH };

  // The compose/image form: a wildcard listen address is probed on loopback.
  let r = await runHealthcheck({ ...base, PLACEMENT_HTTP: `0.0.0.0:${port}` });
  assert.equal(r.code, 0, r.out);
  assert.deepEqual(paths, ['/readyz']);
  r = await runHealthcheck({ ...base, PLACEMENT_HTTP: `127.0.0.1:${port}` });
  assert.equal(r.code, 0, r.out);
  ready = false;
  r = await runHealthcheck({ ...base, PLACEMENT_HTTP: `0.0.0.0:${port}` });
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /503/);
  await new Promise<void>((res) => server.close(() => res()));
  r = await runHealthcheck({ ...base, PLACEMENT_HEALTHCHECK_URL: `http://127.0.0.1:${port}/readyz` });
  assert.equal(r.code, 1, r.out);
  r = await runHealthcheck({ ...base, PLACEMENT_HTTP: 'off' });
  assert.equal(r.code, 0, r.out);
});

// ---------------------------------------------------------------------------------------------
// Peer secret and the TLS profile

/** Runs a one-shot service of the image the way compose would: its entrypoint and command, with
 *  container paths of the image (/app/...) and of its named volumes mapped to host paths. */
function runOneShot(svc: ComposeService, volumeRoot: string): void {
  const volumes: Record<string, string> = { '/app/deploy': join(REPO_ROOT, 'deploy') };
  for (const m of svc.mounts.filter((x) => x.type === 'volume')) volumes[m.target] = join(volumeRoot, m.source);
  const argv = mapContainerPaths([...svc.entrypoint, ...svc.command], [], volumes);
  const [cmd, ...args] = argv as [string, ...string[]];
  execFileSync(cmd === 'node' ? process.execPath : cmd, args, { stdio: 'pipe' });
}

/** A node's environment with container paths in named volumes mapped under `volumeRoot`. */
function mappedEnv(n: ComposeService, volumeRoot: string): Record<string, string> {
  const dirs: Record<string, string> = {};
  for (const m of n.mounts.filter((x) => x.type === 'volume')) dirs[m.target] = join(volumeRoot, m.source);
  return Object.fromEntries(Object.entries(n.environment).map(([k, v]) => [k, mapContainerPaths([v], [], dirs)[0]!]));
}

test('compose: a one-shot service makes the peer secret every node reads from a shared read-only volume', () => {
  const c = loadCompose();
  const maker = c.services.get('peer-secret');
  assert.ok(maker, 'a peer-secret service');
  assert.deepEqual(maker.entrypoint.slice(0, 2), ['node', '/app/deploy/peer-secret.mjs']);
  const ins = parseDockerfile(readFileSync(join(REPO_ROOT, 'deploy/Dockerfile'), 'utf8'));
  assert.ok(ins.some((i) => i.op === 'COPY' && i.args.includes('deploy/peer-secret.mjs')), 'the image carries deploy/peer-secret.mjs');
  const secretMount = maker.mounts.find((m) => m.type === 'volume')!;
  for (const n of c.nodes) {
    const file = n.environment.PLACEMENT_PEER_SECRET_FILE;
    assert.ok(file, `${n.name}: PLACEMENT_PEER_SECRET_FILE set`);
    const m = n.mounts.find((x) => x.source === secretMount.source);
    assert.ok(m && m.readOnly && file.startsWith(`${m.target}/`), `${n.name}: reads the secret from the shared volume, read-only`);
    const deps = n.raw.depends_on as Record<string, { condition?: string }>;
    assert.equal(deps['peer-secret']?.condition, 'service_completed_successfully', `${n.name}: starts after the secret exists`);
  }
  const tmp = mkdtempSync(join(tmpdir(), 'pc-compose-secret-'));
  try {
    runOneShot(maker, tmp);
    const envs = c.nodes.map((n) => mappedEnv(n, tmp));
    const file = envs[0]!.PLACEMENT_PEER_SECRET_FILE!;
    const secret = readFileSync(file, 'utf8');
    assert.match(secret, /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    runOneShot(maker, tmp);
    assert.equal(readFileSync(file, 'utf8'), secret, 'kept on the next `up`');
    for (const e of envs) assert.equal(e.PLACEMENT_PEER_SECRET_FILE, file, 'every node reads the same file');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('compose TLS profile: the certs service makes every file the nodes name, and the loader accepts them', () => {
  const c = loadCompose([COMPOSE_FILE, COMPOSE_TLS_FILE]);
  assert.deepEqual(c.nodes.map((n) => n.name), ['pc1', 'pc2', 'pc3']);
  const certs = c.services.get('certs');
  assert.ok(certs, 'a certs service');
  assert.deepEqual(certs.entrypoint, ['bash', '/app/deploy/make-certs.sh']);
  const tmp = mkdtempSync(join(tmpdir(), 'pc-compose-tls-'));
  try {
    runOneShot(c.services.get('peer-secret')!, tmp);
    runOneShot(certs, tmp);
    for (const n of c.nodes) {
      const deps = n.raw.depends_on as Record<string, { condition?: string }>;
      assert.equal(deps.certs?.condition, 'service_completed_successfully', `${n.name}: starts after its certificates exist`);
      const env = mappedEnv(n, tmp);
      const cfg = resolveConfig({}, env);
      for (const f of [cfg.certFile, cfg.keyFile, cfg.trustedCaFile, cfg.peerCertFile, cfg.peerKeyFile, cfg.peerTrustedCaFile, cfg.peerSecretFile]) {
        assert.ok(f && existsSync(f), `${n.name}: ${f} exists`);
      }
      assert.equal(cfg.clientCertAuth, true);
      assert.equal(cfg.peerClientCertAuth, true);
      assert.equal(cfg.httpTls, 'no-client-cert', 'probes and Prometheus need only the CA');
      assert.ok(cfg.peerListen, 'peers on their own port');
      assert.equal(cfg.peerAddresses.get(cfg.id), `${n.name}:${portOf(cfg.peerListen)}`);
      const cert = new X509Certificate(readFileSync(cfg.peerCertFile));
      assert.ok(cert.checkIssued(new X509Certificate(readFileSync(cfg.peerTrustedCaFile))), `${n.name}: issued by the CA`);
      assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:member-${cfg.id}\\b`), `${n.name}: names member-${cfg.id}`);
      assert.match(cert.subjectAltName ?? '', new RegExp(`DNS:${n.name}\\b`), `${n.name}: valid for the host name peers dial`);
      assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/, `${n.name}: valid for the health check on loopback`);
      assert.equal(statSync(cfg.keyFile).mode & 0o777, 0o600);
    }
    // Prometheus scrapes HTTPS with the CA from the certs volume.
    const p = c.prometheus;
    const configArg = p.command.find((a) => a.startsWith('--config.file='))!;
    const configMount = p.mounts.find((m) => m.target === configArg.slice('--config.file='.length));
    assert.ok(configMount && existsSync(configMount.source));
    const pc = parse(readFileSync(configMount.source, 'utf8')) as { scrape_configs: { job_name: string; scheme?: string; tls_config?: { ca_file?: string } }[] };
    const job = pc.scrape_configs.find((j) => j.job_name === 'placement-center')!;
    assert.equal(job.scheme, 'https');
    const caMount = p.mounts.find((m) => job.tls_config?.ca_file?.startsWith(`${m.target}/`));
    assert.ok(caMount && caMount.type === 'volume' && c.volumes.includes(caMount.source), 'the CA file comes from the certs volume');
    assert.ok(existsSync(join(tmp, caMount.source, job.tls_config!.ca_file!.slice(caMount.target.length + 1))));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('healthcheck.mjs speaks HTTPS like the node: the CA from the environment, the node certificate when client certificates are required', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pc-hc-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('bash', [join(REPO_ROOT, 'deploy/make-certs.sh'), dir, 'member:1:127.0.0.1'], { stdio: 'ignore' });
  const f = (n: string): string => join(dir, n);
  const serve = async (requireCert: boolean): Promise<{ port: number; close: () => Promise<void> }> => {
    const s = createHttpsServer({ cert: readFileSync(f('member-1.crt')), key: readFileSync(f('member-1.key')), ca: readFileSync(f('ca.crt')), requestCert: requireCert, rejectUnauthorized: requireCert }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return { port: (s.address() as AddressInfo).port, close: () => new Promise<void>((r) => s.close(() => r())) };
  };
  const base = { PATH: process.env.PATH, PLACEMENT_CERT_FILE: f('member-1.crt'), PLACEMENT_KEY_FILE: f('member-1.key'), PLACEMENT_TRUSTED_CA_FILE: f('ca.crt') };
  const open = await serve(false);
  let r = await runHealthcheck({ ...base, PLACEMENT_HTTP: `0.0.0.0:${open.port}`, PLACEMENT_HTTP_TLS: 'no-client-cert' });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /https:\/\/127\.0\.0\.1/);
  r = await runHealthcheck({ ...base, PLACEMENT_TRUSTED_CA_FILE: '', PLACEMENT_HTTP: `0.0.0.0:${open.port}` });
  assert.equal(r.code, 1, 'a certificate from an unknown CA is not trusted');
  await open.close();
  const strict = await serve(true);
  r = await runHealthcheck({ ...base, PLACEMENT_HTTP: `0.0.0.0:${strict.port}`, PLACEMENT_CLIENT_CERT_AUTH: 'true' });
  assert.equal(r.code, 0, r.out);
  r = await runHealthcheck({ ...base, PLACEMENT_HTTP: `0.0.0.0:${strict.port}` });
  assert.equal(r.code, 1, 'no client certificate presented');
  await strict.close();
});
