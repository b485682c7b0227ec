#!/usr/bin/env node
// `npm start`: a local 3-node Placement Center cluster on loopback.
//
//   node 1: gRPC 127.0.0.1:1228  admin HTTP 127.0.0.1:1227  data ./data/node-1  log ./data/node-1.log
//   node 2: gRPC 127.0.0.1:1238  admin HTTP 127.0.0.1:1237  data ./data/node-2  log ./data/node-2.log
//   node 3: gRPC 127.0.0.1:1248  admin HTTP 127.0.0.1:1247  data ./data/node-3  log ./data/node-3.log
//
// Options (before any node arguments; e.g. `npm start -- --base-port 2227 --data-root /tmp/pc`):
//   --data-root DIR   where the nodes keep data and logs (env PLACEMENT_DATA_ROOT; default ./data)
//   --base-port N     node i gets admin HTTP N+10(i-1) and gRPC N+10(i-1)+1 (env
//                     PLACEMENT_BASE_PORT; default 1227), so a second cluster does not collide
//   --tls             TLS on every port (env PLACEMENT_START_TLS=1): deploy/make-certs.sh makes a
//                     CA, member certificates and a client certificate in <data-root>/certs on
//                     first use; clients need a certificate from that CA (--client-cert-auth),
//                     the admin API is HTTPS without client certificates, peers share the TLS port
// Every other argument is passed to every node (e.g. `npm start -- --snapshot-every 1000`).
//
// Uses the compiled server in dist/ (built by `npm ci` through `prepare`); builds it first when
// it is missing.
//
// Stopping: every way stops all three nodes gracefully (SIGTERM each, SIGKILL after 20 s) and
// exits once they have exited, so nothing is left listening:
//   - Ctrl-C in the terminal: the nodes run in their own process group, so only this script
//     (and npm) get the SIGINT, and the nodes get one SIGTERM each from here;
//   - SIGINT, SIGTERM or SIGHUP to this script;
//   - SIGINT or SIGTERM to the npm process: the start script in package.json is
//     `exec node scripts/start-cluster.js`, so the shell npm starts becomes this process and
//     npm's forwarded signal reaches it;
//   - npm (or whatever started this script) dying: the script notices it was orphaned.
// A second signal kills the nodes at once.
//
// The nodes run with jemalloc when the machine has it (src/cli/allocator.ts; PLACEMENT_ALLOCATOR=system
// for glibc's malloc).
//
// Peer traffic is authenticated: the first start generates the cluster's peer secret in
// <data-root>/peer-secret (0600) and every node is given it (--peer-secret-file).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, closeSync, writeFileSync, chmodSync, statSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** Takes this script's own options out of argv; the rest goes to the nodes. */
function parseOptions(argv, env) {
  const opts = { dataRoot: env.PLACEMENT_DATA_ROOT ?? join(root, 'data'), basePort: env.PLACEMENT_BASE_PORT ?? '1227', tls: env.PLACEMENT_START_TLS === '1' };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--tls') {
      opts.tls = true;
      continue;
    }
    const m = /^--(data-root|base-port)(?:=(.*))?$/.exec(a);
    if (!m) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) fail(`--${m[1]} needs a value`);
    if (m[1] === 'data-root') opts.dataRoot = value;
    else opts.basePort = value;
  }
  const base = Number(opts.basePort);
  if (!/^\d+$/.test(String(opts.basePort)) || base < 1 || base + 21 > 65535) {
    fail(`base port must be an integer from 1 to 65514 (it uses N..N+21), got "${opts.basePort}"`);
  }
  return { dataRoot: resolve(opts.dataRoot), basePort: base, tls: opts.tls, extra: rest };
}

function fail(message) {
  console.error(`start-cluster: ${message}`);
  process.exit(2);
}

const { dataRoot, basePort, tls, extra } = parseOptions(process.argv.slice(2), process.env);
// The terminal or npm may be gone while the nodes stop: a closed stdout must not crash this
// script (that would orphan the nodes).
for (const s of [process.stdout, process.stderr]) s.on('error', () => undefined);
const entry = join(root, 'bin', 'placement-center.js');

const nodes = [1, 2, 3].map((id) => ({
  id,
  grpc: `127.0.0.1:${basePort + 10 * (id - 1) + 1}`,
  http: `127.0.0.1:${basePort + 10 * (id - 1)}`,
  dataDir: join(dataRoot, `node-${id}`),
  log: join(dataRoot, `node-${id}.log`),
  proc: null,
}));
const peers = nodes.map((n) => `${n.id}=${n.grpc}`).join(',');
const peerHttp = nodes.map((n) => `${n.id}=${n.http}`).join(',');

const built = ['src/cli/server.js', 'src/cli/v8-heap.js', 'src/cli/allocator.js', 'src/http/get-json.js', 'ui/index.html'];
if (built.some((f) => !existsSync(join(root, 'dist', f)))) {
  console.log('dist/ is missing: building (npm run build) ...');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('build failed');
    process.exit(r.status ?? 1);
  }
}

// The Node.js/V8 flags and the allocator every launcher passes (src/cli/v8-heap.ts,
// src/cli/allocator.ts), from the build just checked; a bad PLACEMENT_ALLOCATOR stops here,
// before anything is written.
const { SERVER_NODE_FLAGS } = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'v8-heap.js')).href);
const { allocatorEnv } = await import(pathToFileURL(join(root, 'dist', 'src', 'cli', 'allocator.js')).href);
const { getJson } = await import(pathToFileURL(join(root, 'dist', 'src', 'http', 'get-json.js')).href);
let nodeEnv;
try {
  nodeEnv = { ...process.env, ...allocatorEnv(process.env) };
} catch (err) {
  fail(err.message);
}

mkdirSync(dataRoot, { recursive: true, mode: 0o700 });
const peerSecretFile = join(dataRoot, 'peer-secret');
if (!existsSync(peerSecretFile)) {
  writeFileSync(peerSecretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  console.log(`generated the cluster's peer secret: ${peerSecretFile}`);
} else if ((statSync(peerSecretFile).mode & 0o077) !== 0) {
  chmodSync(peerSecretFile, 0o600);
}
// --tls: certificates made once with openssl; a member's certificate is also its client
// certificate towards the others (the peers share the client port).
const certDir = join(dataRoot, 'certs');
const cert = (name) => join(certDir, name);
if (tls && !existsSync(cert('client-root.crt'))) {
  const r = spawnSync('bash', [join(root, 'deploy', 'make-certs.sh'), certDir, ...nodes.map((n) => `member:${n.id}:127.0.0.1,localhost`), 'client:root'], { stdio: 'inherit' });
  if (r.status !== 0) fail('deploy/make-certs.sh failed (is openssl installed?)');
}
const tlsArgs = (n) =>
  tls
    ? ['--cert-file', cert(`member-${n.id}.crt`), '--key-file', cert(`member-${n.id}.key`), '--trusted-ca-file', cert('ca.crt'), '--client-cert-auth', '--http-tls', 'no-client-cert']
    : [];
const scheme = tls ? 'https' : 'http';
let stopping = false;
let exited = 0;

for (const n of nodes) {
  mkdirSync(n.dataDir, { recursive: true });
  const fd = openSync(n.log, 'a');
  const args = [...SERVER_NODE_FLAGS, entry, '--id', String(n.id), '--cluster-id', 'local', '--data-dir', n.dataDir, '--listen', n.grpc, '--http', n.http, '--peers', peers, '--peer-http', peerHttp, '--peer-secret-file', peerSecretFile, ...tlsArgs(n), ...extra];
  // Own process group: a terminal's Ctrl-C reaches only this script, which stops the nodes with one SIGTERM each.
  n.proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', fd, fd], env: nodeEnv, detached: true });
  closeSync(fd);
  n.proc.on('exit', (code, signal) => {
    exited++;
    if (!stopping) console.log(`node ${n.id} exited unexpectedly (${signal ?? `code ${code}`}); see ${n.log}`);
    else console.log(`node ${n.id} stopped (${signal ?? `code ${code}`})`);
    if (exited === nodes.length) {
      console.log('all nodes stopped');
      process.exit(0);
    }
  });
}

console.log(`Placement Center: local 3-node cluster (start script pid ${process.pid})`);
for (const n of nodes) {
  console.log(`  node ${n.id}: gRPC ${n.grpc}  admin ${scheme}://${n.http}/v1/cluster/status  metrics ${scheme}://${n.http}/metrics  data ${n.dataDir}  log ${n.log}  (pid ${n.proc.pid})`);
}
if (tls) console.log(`  TLS everywhere; CA ${cert('ca.crt')}, client certificate ${cert('client-root.crt')} (key ${cert('client-root.key')})`);

// node:http(s), not fetch() (src/http/get-json.ts): --base-port may give a port fetch refuses.
async function status(n) {
  try {
    const url = `${scheme}://${n.http}/v1/cluster/status`;
    const { body } = await getJson(tls ? httpsRequest : httpRequest, url, tls ? { ca: readFileSync(cert('ca.crt')) } : {}, 1000);
    return body.data;
  } catch {
    return null;
  }
}

// Report once a leader is elected.
(async () => {
  const deadline = Date.now() + 60_000;
  while (!stopping && Date.now() < deadline) {
    const sts = await Promise.all(nodes.map(status));
    const leader = sts.find((s) => s && s.leaderId && s.role === 'leader');
    if (leader && sts.every((s) => s && s.leaderId === leader.id)) {
      const ln = nodes.find((n) => n.id === leader.id);
      console.log(`leader: node ${leader.id} (${ln.grpc}), term ${leader.term}. Ctrl-C stops all three gracefully.`);
      const tlsFlags = tls ? ` --cacert ${cert('ca.crt')} --cert ${cert('client-root.crt')} --key ${cert('client-root.key')}` : '';
      console.log(`try:  npx placement-ctl --endpoints ${ln.grpc}${tlsFlags} cluster status`);
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!stopping) console.log('no leader elected yet; check the logs');
})();

/** When the first stop signal came: a repeat within REPEAT_GRACE_MS is the same stop request. */
let stopAt = 0;
/**
 * Ctrl-C reaches this script twice at once: from the terminal (the whole foreground process
 * group) and forwarded by npm. Only a repeat that comes later, from a human, kills the nodes.
 */
const REPEAT_GRACE_MS = 1000;

function stopAll(why) {
  if (stopping) {
    if (Date.now() - stopAt < REPEAT_GRACE_MS) return;
    console.log(`${why} again: killing the nodes`);
    for (const n of nodes) if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
    return;
  }
  stopping = true;
  stopAt = Date.now();
  console.log(`${why}: stopping the cluster gracefully ...`);
  for (const n of nodes) if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
  setTimeout(() => {
    for (const n of nodes) if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
  }, 20_000).unref();
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => stopAll(sig));

// Orphaned (npm or the shell that started this script died, e.g. SIGKILL): stop too, rather
// than leave a cluster running that nobody can Ctrl-C. The parent's pid is read once at start.
const parent = process.ppid;
const orphanCheck = setInterval(() => {
  if (process.ppid !== parent) {
    clearInterval(orphanCheck);
    stopAll(`parent process ${parent} is gone`);
  }
}, 500);
orphanCheck.unref();
