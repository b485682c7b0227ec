// Every launcher of the server passes the same Node.js/V8 flags (src/cli/v8-heap.ts): they must
// be on node's command line, so each launcher carries its own copy and this test keeps them in
// step; and a server started the way npm's `placement-center` command starts it (the bin file
// run through its shebang) reports them in effect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { SERVER_NODE_FLAGS } from '../../src/cli/v8-heap.js';
import { REPO_ROOT, freePorts } from '../support/cluster.js';

const BIN = join(REPO_ROOT, 'bin', 'placement-center.js');

test('the flags are real V8 options that bound the young generation and heap growth', () => {
  assert.ok(SERVER_NODE_FLAGS.some((f) => /^--max-semi-space-size=\d+$/.test(f)));
  assert.ok(SERVER_NODE_FLAGS.some((f) => /^--heap-growing-percent=\d+$/.test(f)));
  assert.ok(SERVER_NODE_FLAGS.includes('--single-threaded-gc'));
  // node refuses an option it does not know ("bad option"), V8's included.
  const run = spawnSync(process.execPath, [...SERVER_NODE_FLAGS, '-e', '0'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(spawnSync(process.execPath, ['--single-threaded-gcx', '-e', '0']).status !== 0, true, 'a misspelt flag is refused');
});

test('the bin shebang and the image entrypoint carry exactly SERVER_NODE_FLAGS', () => {
  const shebang = readFileSync(BIN, 'utf8').split('\n')[0]!;
  assert.deepEqual(shebang.split(' '), ['#!/usr/bin/env', '-S', 'node', ...SERVER_NODE_FLAGS]);
  const entry = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8'));
  assert.ok(entry, 'ENTRYPOINT in exec form');
  const argv = JSON.parse(entry[1]!) as string[];
  const node = argv.indexOf('node');
  assert.deepEqual(argv.slice(node + 1, node + 1 + SERVER_NODE_FLAGS.length), [...SERVER_NODE_FLAGS]);
  assert.ok(argv[node + 1 + SERVER_NODE_FLAGS.length]!.endsWith('bin/placement-center.js'));
});

test('a server run through the bin file (as npm links it) starts with the flags', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'v8-heap-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [grpcPort, httpPort] = await freePorts(2);
  const grpcAddr = `127.0.0.1:${grpcPort}`;
  // Executed directly, not as `node bin/...`: the kernel runs the shebang line.
  const child = spawn(BIN, ['--id', '1', '--data-dir', join(dir, 'data'), '--listen', grpcAddr, '--http', `127.0.0.1:${httpPort}`, '--peers', `1=${grpcAddr}`], {
    cwd: REPO_ROOT,
    env: { ...process.env, PLACEMENT_LOG_LEVEL: 'info', PLACEMENT_PEER_SECRET: 'v8-heap-test-secret-0123456789abcdef', PLACEMENT_PEER_SECRET_FILE: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const started = await new Promise<{ nodeFlags: string[] }>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before it started: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (!l.includes('placement-center node started')) return;
      resolve(JSON.parse(l) as { nodeFlags: string[] });
    });
  });
  for (const f of SERVER_NODE_FLAGS) assert.ok(started.nodeFlags.includes(f), `${f} missing from ${JSON.stringify(started.nodeFlags)}`);
});
