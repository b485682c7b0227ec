// `npm start` (scripts/start-cluster.js) and every way a user stops it (issue 25, item 2): Ctrl-C
// in a terminal (a real pseudo-terminal through util-linux `script`, so the kernel's line
// discipline sends SIGINT to the foreground process group), SIGINT or SIGTERM to the npm process
// alone, SIGTERM to the start script, and npm killed outright (the script is orphaned). Each time
// the three nodes stop gracefully (exit code 0 after their own "stopping gracefully"), the script
// and npm exit, and nothing listens on the six ports any more.
//
// Each run uses its own data root and free ports (--data-root, --base-port), so it never touches
// a developer's ./data or a cluster on the README's ports. Runs the compiled server (dist/, built
// by `npm ci`), as `npm start` does.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { REPO_ROOT, portFree } from '../support/cluster.js';
import { runCtl } from '../cli/support/run-ctl.js';
import { allocatorEnv } from '../../src/cli/allocator.js';

type Mode = 'ctrl-c in a terminal' | 'SIGINT to npm' | 'SIGTERM to npm' | 'SIGTERM to the start script' | 'npm killed (SIGKILL)';

// Blocks of six ports come from below freePorts' range (test/support/cluster.ts walks 10000 up
// to the ephemeral range in every test process): the nodes bind them a second or more after they
// were found free, and a block that other test files may be handing out meanwhile was once taken
// from under a node in CI (it exited at start-up before a leader was elected).
const BLOCK_LOW = 6000;
const BLOCK_HIGH = 9978;
let blockCursor = BLOCK_LOW + ((process.pid * 31) % Math.floor((BLOCK_HIGH - BLOCK_LOW) / 30)) * 30;

/**
 * A base port N whose six ports (N, N+1, N+10, N+11, N+20, N+21) are free now. The first run asks
 * for 6000 when it is free: node 1's admin port is then one fetch() refuses (CI once drew it and
 * the script never saw the leader), so the script must not ask its nodes with fetch.
 */
let blockedBaseTried = false;
async function freeBase(): Promise<number> {
  if (!blockedBaseTried) {
    blockedBaseTried = true;
    const ports = [6000, 6001, 6010, 6011, 6020, 6021];
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return 6000;
  }
  for (let i = 0; i < 200; i++) {
    const p = blockCursor;
    blockCursor = blockCursor + 30 > BLOCK_HIGH ? BLOCK_LOW : blockCursor + 30;
    const ports = [p, p + 1, p + 10, p + 11, p + 20, p + 21];
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return p;
  }
  throw new Error(`no free block of ports in ${BLOCK_LOW}-${BLOCK_HIGH + 21}`);
}

/** The last lines of each node's log, for a failure's message (the data root is removed after). */
function nodeLogTails(dataRoot: string): string {
  return [1, 2, 3]
    .map((id) => {
      let text = '';
      try {
        text = readFileSync(join(dataRoot, `node-${id}.log`), 'utf8');
      } catch (e) {
        text = `(no log: ${(e as Error).message})`;
      }
      return `--- node-${id}.log (last lines)\n${text.trimEnd().split('\n').slice(-15).join('\n')}`;
    })
    .join('\n');
}

/** GET over node:http (fetch() refuses some of the ports freeBase may give). */
function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in 5 s`)));
    req.on('error', reject);
  });
}

/** Resolves with the connect error code ('ECONNREFUSED' when nothing listens), or 'connected'. */
function probe(port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function waitFor(child: ChildProcess, output: () => string, re: RegExp, what: string, timeoutMs: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = re.exec(output());
      if (m) {
        cleanup();
        resolve(m);
      }
      return !!m;
    };
    const onExit = (): void => {
      cleanup();
      reject(new Error(`exited before ${what}; output:\n${output()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}; output:\n${output()}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout!.off('data', check);
      child.off('exit', onExit);
    };
    if (check()) return;
    child.stdout!.on('data', check);
    child.once('exit', onExit);
  });
}

const leftovers = new Set<number>();

async function runAndStop(mode: Mode): Promise<void> {
  const dataRoot = mkdtempSync(join(tmpdir(), 'placement-npm-start-'));
  const base = await freeBase();
  const ports = [base, base + 1, base + 10, base + 11, base + 20, base + 21];
  const npmArgs = ['start', '--', '--base-port', String(base), '--data-root', dataRoot];
  const terminal = mode === 'ctrl-c in a terminal';
  // `script -qfec CMD /dev/null`: CMD runs on a new pseudo-terminal whose input is our stdin.
  const child = terminal
    ? spawn('script', ['-qfec', `npm ${npmArgs.map((a) => `'${a}'`).join(' ')}`, '/dev/null'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn('npm', npmArgs, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) leftovers.add(child.pid);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const pids: number[] = [];
  try {
    const script = Number((await waitFor(child, () => out, /local 3-node cluster \(start script pid (\d+)\)/, 'the start banner', 30_000))[1]);
    pids.push(script);
    leftovers.add(script);
    await waitFor(child, () => out, /\(pid \d+\)[^\n]*\n[^\n]*\(pid \d+\)[^\n]*\n[^\n]*\(pid \d+\)/, 'the three node pids', 30_000);
    const nodePids = [...out.matchAll(/ {2}node \d: .*\(pid (\d+)\)/g)].map((m) => Number(m[1]));
    assert.equal(nodePids.length, 3, out);
    for (const p of nodePids) {
      pids.push(p);
      leftovers.add(p);
    }
    await waitFor(child, () => out, /leader: node \d/, 'a leader', 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${nodeLogTails(dataRoot)}`);
    });
    for (const p of ports) assert.equal(await probe(p), 'connected', `port ${p} listens while the cluster runs`);
    // The dashboard (built into dist/ui/ by npm ci's prepare) is served by every node.
    for (const p of [base, base + 10, base + 20]) {
      const ui = await httpGet(`http://127.0.0.1:${p}/ui/`);
      assert.equal(ui.status, 200, `GET /ui/ on port ${p}`);
      assert.match(ui.body, /<script type="module" src="app\.js">/);
    }

    switch (mode) {
      case 'ctrl-c in a terminal':
        child.stdin!.write('\x03');
        break;
      case 'SIGINT to npm':
        process.kill(child.pid!, 'SIGINT');
        break;
      case 'SIGTERM to npm':
        process.kill(child.pid!, 'SIGTERM');
        break;
      case 'SIGTERM to the start script':
        process.kill(script, 'SIGTERM');
        break;
      case 'npm killed (SIGKILL)':
        process.kill(child.pid!, 'SIGKILL');
        break;
    }
    // npm (or script(1)) exits; the start script exits once its nodes have.
    const gone = await Promise.race([exited, new Promise<null>((r) => setTimeout(() => r(null), 40_000).unref())]);
    assert.ok(gone, `${mode}: npm still running 40 s later; output:\n${out}`);
    const deadline = Date.now() + 40_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const p of pids) assert.equal(alive(p), false, `${mode}: pid ${p} still running; output:\n${out}`);
    for (const p of ports) assert.equal(await probe(p), 'ECONNREFUSED', `${mode}: something still listens on ${p}`);
    if (mode !== 'npm killed (SIGKILL)') {
      // With npm gone at once, the script's later output has nowhere to go: its logs say it instead.
      assert.match(out, /stopping the cluster gracefully/, out);
      for (const id of [1, 2, 3]) assert.match(out, new RegExp(`node ${id} stopped \\(code 0\\)`), `${mode}: node ${id} stopped gracefully\n${out}`);
      assert.match(out, /all nodes stopped/);
    }
    assert.doesNotMatch(out, /killing the nodes|exited unexpectedly/, out);
    for (const id of [1, 2, 3]) {
      const log = readFileSync(join(dataRoot, `node-${id}.log`), 'utf8');
      assert.match(log, /"msg":"signal received: stopping gracefully"/, `${mode}: node ${id} log`);
      assert.doesNotMatch(log, /second signal/, `${mode}: node ${id} got one signal`);
    }
  } finally {
    for (const p of pids) {
      if (alive(p)) process.kill(p, 'SIGKILL');
      leftovers.delete(p);
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    if (child.pid !== undefined) leftovers.delete(child.pid);
    rmSync(dataRoot, { recursive: true, force: true });
  }
}

describe('npm start stops all three nodes gracefully, whichever way it is stopped', { timeout: 300_000 }, () => {
  after(() => {
    for (const p of leftovers) if (alive(p)) process.kill(p, 'SIGKILL');
  });
  for (const mode of ['ctrl-c in a terminal', 'SIGINT to npm', 'SIGTERM to npm', 'SIGTERM to the start script', 'npm killed (SIGKILL)'] as const) {
    test(mode, () => runAndStop(mode));
  }

  test('a --base-port whose ports do not fit is refused (exit 2) before anything starts', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'start-cluster.js'), '--base-port', '65530'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      c.once('exit', (code) => resolve({ code, out }));
    });
    assert.equal(r.code, 2);
    assert.match(r.out, /^start-cluster: base port must be an integer from 1 to 65514/);
  });

  test('an unknown PLACEMENT_ALLOCATOR is refused (exit 2) before anything is written', async () => {
    const dataRoot = join(mkdtempSync(join(tmpdir(), 'placement-npm-start-alloc-')), 'data');
    after(() => rmSync(dirname(dataRoot), { recursive: true, force: true }));
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'start-cluster.js'), '--data-root', dataRoot], {
        env: { ...process.env, PLACEMENT_ALLOCATOR: 'tcmalloc' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      c.stdout.on('data', (d: Buffer) => (out += d.toString()));
      c.stderr.on('data', (d: Buffer) => (out += d.toString()));
      c.once('exit', (code) => resolve({ code, out }));
    });
    assert.equal(r.code, 2);
    assert.match(r.out, /^start-cluster: PLACEMENT_ALLOCATOR must be auto, jemalloc or system, not "tcmalloc"/);
    assert.equal(existsSync(dataRoot), false, 'the data root was created');
  });
});

describe('npm start authenticates peers, and --tls turns TLS on everywhere', { timeout: 300_000 }, () => {
  test('a peer secret is generated once (0600) and given to every node; with --tls the cluster serves clients with a certificate only', async () => {
    const dataRoot = mkdtempSync(join(tmpdir(), 'placement-npm-start-tls-'));
    const base = await freeBase();
    const child = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'start-cluster.js'), '--base-port', String(base), '--data-root', dataRoot, '--tls'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const pids: number[] = [];
    try {
      await waitFor(child, () => out, /\(pid \d+\)[^\n]*\n[^\n]*\(pid \d+\)[^\n]*\n[^\n]*\(pid \d+\)/, 'the three node pids', 60_000);
      for (const m of out.matchAll(/ {2}node \d: .*\(pid (\d+)\)/g)) pids.push(Number(m[1]));
      const hint = (await waitFor(child, () => out, /try: {2}npx placement-ctl (.*) cluster status/, 'a leader', 60_000))[1]!;
      assert.match(out, /generated the cluster's peer secret/);
      assert.match(out, /admin https:\/\//);
      const secret = join(dataRoot, 'peer-secret');
      assert.equal(statSync(secret).mode & 0o777, 0o600);
      for (const id of [1, 2, 3]) assert.match(readFileSync(join(dataRoot, `node-${id}.log`), 'utf8'), /"peerAuth":"secret"/);
      // The nodes run with the allocator every launcher picks (src/cli/allocator.ts).
      const jemalloc = Object.keys(allocatorEnv(process.env)).length > 0 && !process.env.LD_PRELOAD;
      for (const p of pids) assert.equal(/libjemalloc\.so/.test(readFileSync(`/proc/${p}/maps`, 'utf8')), jemalloc, `node pid ${p}: jemalloc mapped`);
      // The command line the script suggests works, and without the client certificate nothing does.
      const args = hint.split(' ');
      const ok = await runCtl([...args, 'kv', 'put', '/npm-start/tls', 'yes']);
      assert.equal(ok.code, 0, ok.stderr);
      const denied = await runCtl([args[0]!, args[1]!, args[2]!, args[3]!, '--timeout', '2s', 'kv', 'get', '/npm-start/tls']);
      assert.notEqual(denied.code, 0, 'no client certificate: refused');
      process.kill(Number(/start script pid (\d+)/.exec(out)![1]), 'SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      for (const p of pids) if (alive(p)) process.kill(p, 'SIGKILL');
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dataRoot, { recursive: true, force: true });
    }
  });
});
