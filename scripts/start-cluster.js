#!/usr/bin/env node
// `npm start`: a local 3-node Placement Center cluster on loopback.
//
//   node 1: gRPC 127.0.0.1:1228  admin HTTP 127.0.0.1:1227  data ./data/node-1  log ./data/node-1.log
//   node 2: gRPC 127.0.0.1:1238  admin HTTP 127.0.0.1:1237  data ./data/node-2  log ./data/node-2.log
//   node 3: gRPC 127.0.0.1:1248  admin HTTP 127.0.0.1:1247  data ./data/node-3  log ./data/node-3.log
//
// Uses the compiled server in dist/ (built by `npm ci` through `prepare`); builds it first when
// it is missing. Ctrl-C (or SIGTERM) stops all three gracefully. Extra arguments are passed to
// every node (e.g. `npm start -- --snapshot-every 1000`). PLACEMENT_DATA_ROOT overrides ./data.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const dataRoot = resolve(process.env.PLACEMENT_DATA_ROOT ?? join(root, 'data'));
const entry = join(root, 'bin', 'placement-center.js');
const extra = process.argv.slice(2);

const nodes = [1, 2, 3].map((id) => ({
  id,
  grpc: `127.0.0.1:${1218 + 10 * id}`,
  http: `127.0.0.1:${1217 + 10 * id}`,
  dataDir: join(dataRoot, `node-${id}`),
  log: join(dataRoot, `node-${id}.log`),
  proc: null,
}));
const peers = nodes.map((n) => `${n.id}=${n.grpc}`).join(',');
const peerHttp = nodes.map((n) => `${n.id}=${n.http}`).join(',');

if (!existsSync(join(root, 'dist', 'src', 'cli', 'server.js'))) {
  console.log('dist/ is missing: building (npm run build) ...');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['run', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error('build failed');
    process.exit(r.status ?? 1);
  }
}

mkdirSync(dataRoot, { recursive: true });
let stopping = false;
let exited = 0;

for (const n of nodes) {
  mkdirSync(n.dataDir, { recursive: true });
  const fd = openSync(n.log, 'a');
  const args = [entry, '--id', String(n.id), '--cluster-id', 'local', '--data-dir', n.dataDir, '--listen', n.grpc, '--http', n.http, '--peers', peers, '--peer-http', peerHttp, ...extra];
  // Own process group: a terminal's Ctrl-C reaches only this script, which stops the nodes with one SIGTERM each.
  n.proc = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', fd, fd], env: process.env, detached: true });
  closeSync(fd);
  n.proc.on('exit', (code, signal) => {
    exited++;
    if (!stopping) console.log(`node ${n.id} exited unexpectedly (${signal ?? `code ${code}`}); see ${n.log}`);
    if (exited === nodes.length) {
      console.log('all nodes stopped');
      process.exit(0);
    }
  });
}

console.log('Placement Center: local 3-node cluster');
for (const n of nodes) {
  console.log(`  node ${n.id}: gRPC ${n.grpc}  admin http://${n.http}/v1/cluster/status  metrics http://${n.http}/metrics  data ${n.dataDir}  log ${n.log}  (pid ${n.proc.pid})`);
}

async function status(n) {
  try {
    const res = await fetch(`http://${n.http}/v1/cluster/status`, { signal: AbortSignal.timeout(1000) });
    return (await res.json()).data;
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
      console.log(`try:  curl -s http://${ln.http}/v1/cluster/status`);
      return;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (!stopping) console.log('no leader elected yet; check the logs');
})();

function stopAll(sig) {
  if (stopping) {
    console.log('second signal: killing nodes');
    for (const n of nodes) if (n.proc && n.proc.exitCode === null) n.proc.kill('SIGKILL');
    return;
  }
  stopping = true;
  console.log(`${sig}: stopping the cluster gracefully ...`);
  for (const n of nodes) if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
  setTimeout(() => {
    for (const n of nodes) if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL');
  }, 20_000).unref();
}
process.on('SIGINT', () => stopAll('SIGINT'));
process.on('SIGTERM', () => stopAll('SIGTERM'));
