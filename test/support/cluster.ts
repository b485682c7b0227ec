// Test helper: a real Placement Center cluster as separate OS processes on loopback.
//
//   import { startCluster } from '../support/cluster.js';
//   const c = await startCluster({ nodes: 3 });          // free ports, temp data dir, waits for a leader
//   try {
//     const leader = await c.waitForLeader();             // id agreed on by every running node
//     const st = await c.status(2);                       // GET /v1/cluster/status of node 2 (data part)
//     await c.kill(leader);                               // SIGKILL by pid, resolves when the process exited
//     await c.restart(leader);                            // same id, ports and data dir
//   } finally {
//     await c.stop();                                     // every child killed by pid (also on failure)
//   }
//
// Options (all optional):
//   nodes       number of members (default 3)
//   env         extra environment for every node (e.g. { PLACEMENT_PLANTED_BUG: 'local-reads' });
//               nodes also get the allocator every launcher sets (src/cli/allocator.ts: jemalloc
//               when installed; PLACEMENT_ALLOCATOR=system here or in the environment for glibc's)
//   nodeEnv     (id) => extra environment for one node
//   extraArgs   extra CLI args for every node, or (id, nodes) => args (e.g. ['--snapshot-every', '50'])
//   dial        (id) => { peerId: 'host:port' } — overrides how node `id` reaches each peer
//               (pass a fault proxy's address; `--peers` stays the advertised address)
//   dataDir     parent directory for node data (default: a fresh temp dir, removed by stop()
//               unless keepData is set)
//   clusterId   --cluster-id (default 'test')
//   waitForLeader  wait for an elected leader before returning (default true)
//   startTimeoutMs deadline for start and leader election (default 30 s)
//   nodeFlags   the Node.js/V8 flags every node starts with (default: SERVER_NODE_FLAGS, what
//               every launcher passes, src/cli/v8-heap.ts; [] for none)
//   nodeArgs    extra Node.js runtime flags for every node, after nodeFlags (e.g. ['--cpu-prof'])
//   useDist     run the compiled server (dist/, needs `npm run build`) instead of src/ through tsx
//   checkout    with useDist: run the compiled server of another checkout of this repository
//               (its bin/placement-center.js and dist/; bench:ab's BENCH_B_CHECKOUT), not this one's
//   https       { ca, cert?, key? }: the nodes' admin HTTP is HTTPS (TLS tests); status polling
//               trusts `ca` and presents cert/key
//
// Every node gets the same freshly generated peer secret (<rootDir>/peer-secret, passed as
// PLACEMENT_PEER_SECRET_FILE; `c.peerSecretFile`), as `npm start` does; a test can override it
// per node through `nodeEnv`.
//
// Handles: `c.nodes[i]` = { id, grpcPort, httpPort, grpcAddress, httpAddress, dataDir, logFile,
// pid (null while stopped) }. Methods: node(id), start(id), kill(id, signal='SIGKILL'),
// restart(id), stopNode(id) (SIGTERM, graceful), waitForLeader({ timeoutMs, among }), status(id),
// tryStatus(id) (null instead of throwing), waitFor(pred, { timeoutMs, what }), logs(id), stop().
// Node logs (JSON lines) go to <rootDir>/node-<id>.log; set PLACEMENT_KEEP_TEST_DATA=1 to keep
// the temp dir (data + logs) after stop(). Every child is also SIGKILLed if this process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, openSync, closeSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_NODE_FLAGS } from '../../src/cli/v8-heap.js';
import { allocatorEnv } from '../../src/cli/allocator.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SERVER_ENTRY = join(REPO_ROOT, 'src', 'cli', 'server.ts');

export interface MemberStatus {
  id: number;
  address: string;
  httpAddress: string;
  role: string;
  isLeader: boolean;
  matchIndex: number | null;
  lag: number | null;
  /** Leader's view only: heard from within the last election timeout. */
  active?: boolean | null;
}

export interface NodeStatus {
  clusterId: string;
  id: number;
  leaderId: number;
  term: number;
  role: string;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  revision: number;
  members: MemberStatus[];
}

export interface NodeHandle {
  id: number;
  grpcPort: number;
  httpPort: number;
  grpcAddress: string;
  httpAddress: string;
  dataDir: string;
  logFile: string;
  pid: number | null;
  proc: ChildProcess | null;
  /** Added with addNode(): started with --join and its own --peers (every member, itself included). */
  joinPeers?: string;
}

export interface StartOptions {
  nodes?: number;
  env?: Record<string, string>;
  nodeEnv?: (id: number) => Record<string, string>;
  extraArgs?: string[] | ((id: number, nodes: readonly NodeHandle[]) => string[]);
  dial?: (id: number) => Record<number, string>;
  dataDir?: string;
  keepData?: boolean;
  clusterId?: string;
  waitForLeader?: boolean;
  startTimeoutMs?: number;
  useDist?: boolean;
  checkout?: string;
  nodeFlags?: readonly string[];
  nodeArgs?: string[];
  https?: HttpsClientOptions;
}

/** How the test reaches nodes whose admin HTTP is HTTPS. */
export interface HttpsClientOptions {
  ca: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface Cluster {
  nodes: NodeHandle[];
  rootDir: string;
  clusterId: string;
  /** `1=127.0.0.1:p1,2=...` as passed to --peers. */
  peersArg: string;
  /** The peer secret file every node is given. */
  peerSecretFile: string;
  node(id: number): NodeHandle;
  start(id: number): Promise<void>;
  kill(id: number, signal?: NodeJS.Signals): Promise<void>;
  stopNode(id: number, timeoutMs?: number): Promise<number | null>;
  restart(id: number): Promise<void>;
  waitForLeader(opts?: { timeoutMs?: number; among?: number[] }): Promise<number>;
  status(id: number): Promise<NodeStatus>;
  tryStatus(id: number): Promise<NodeStatus | null>;
  waitFor<T>(pred: () => Promise<T | null | undefined | false>, opts?: { timeoutMs?: number; what?: string; intervalMs?: number }): Promise<T>;
  logs(id: number): string;
  stop(): Promise<void>;
  /**
   * A handle for a new member `id` (fresh ports and data dir), not started: `start(id)` runs it
   * with --join and --peers naming `members` (default: every handle) and itself. The cluster
   * must have listed it first (`member add`).
   */
  addNode(id: number, members?: number[]): NodeHandle;
  /** The gRPC address the next addNode() will give its member (to `member add` it first). */
  spareGrpcAddress(): string;
}

/**
 * Ports free right now (each bound once, then released), taken BELOW the kernel's ephemeral range.
 * A port bound to 0 comes from that range, where the kernel also picks the source port of every
 * outgoing connection: once released, any test's client could be given it before our member
 * listens on it (seen in CI: a member failing with EADDRINUSE). Each process walks its own stretch
 * of the range (offset by its pid), so concurrent test files rarely probe the same port.
 */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  const held: import('node:net').Server[] = [];
  try {
    for (let tried = 0; ports.length < n; tried++) {
      if (tried >= PORT_SPAN) throw new Error(`freePorts: no ${n} free ports in ${PORT_LOW}-${PORT_LOW + PORT_SPAN - 1}`);
      const port = PORT_LOW + (portCursor++ % PORT_SPAN);
      if (FETCH_BLOCKED_PORTS.has(port)) continue;
      const s = await bindOrNull(port);
      if (s) {
        held.push(s);
        ports.push(port);
      }
    }
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  return ports;
}

/** The first port of the kernel's ephemeral range (32768 unless configured otherwise). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 1024 ? low : 32768;
  } catch {
    return 32768;
  }
}

/**
 * Ports fetch() refuses ("bad port", the Fetch standard's list browsers block) at or above 6000.
 * Tests ask members' admin APIs with fetch, so no test hands these out by chance; the product
 * itself never uses fetch between processes (test/http/blocked-ports.test.ts).
 */
export const FETCH_BLOCKED_PORTS: ReadonlySet<number> = new Set([6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080]);

const PORT_LOW = 10_000;
const PORT_SPAN = Math.max(1000, ephemeralLow() - PORT_LOW);
let portCursor = (process.pid * 7919) % PORT_SPAN;

/** Whether `port` can be bound on 127.0.0.1 right now (bound once, then released). */
export async function portFree(port: number): Promise<boolean> {
  const s = await bindOrNull(port);
  if (!s) return false;
  await new Promise<void>((r) => s.close(() => r()));
  return true;
}

function bindOrNull(port: number): Promise<import('node:net').Server | null> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(null));
    s.listen(port, '127.0.0.1', () => res(s));
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) {
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
}

function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => p.once('exit', () => r()));
}

export async function poll<T>(
  pred: () => Promise<T | null | undefined | false>,
  opts: { timeoutMs?: number; what?: string; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await pred();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${opts.what ?? 'condition'}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}

/** GET over HTTPS with a custom CA (and client certificate), which fetch() cannot take. */
export function httpsGetJson(url: string, tls: HttpsClientOptions, timeoutMs = 2000): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: tls.ca, cert: tls.cert, key: tls.key, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString('utf8')) });
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export async function fetchStatus(httpAddress: string, timeoutMs = 2000, https?: HttpsClientOptions): Promise<NodeStatus> {
  let body: { code: number; data: NodeStatus | null; error?: string };
  let status: number;
  if (https) {
    const r = await httpsGetJson(`https://${httpAddress}/v1/cluster/status`, https, timeoutMs);
    body = r.body as typeof body;
    status = r.status;
  } else {
    const res = await fetch(`http://${httpAddress}/v1/cluster/status`, { signal: AbortSignal.timeout(timeoutMs) });
    body = (await res.json()) as typeof body;
    status = res.status;
  }
  if (body.code !== 0 || !body.data) throw new Error(`status of ${httpAddress}: ${body.error ?? status}`);
  return body.data;
}

export async function startCluster(opts: StartOptions = {}): Promise<Cluster> {
  installExitHook();
  const n = opts.nodes ?? 3;
  const ownsRoot = !opts.dataDir;
  const rootDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'placement-test-'));
  mkdirSync(rootDir, { recursive: true });
  const clusterId = opts.clusterId ?? 'test';
  // Two ports per member, and spares for members added later (addNode).
  const ports = await freePorts(2 * n + 12);
  const reserved = ports.slice(2 * n);
  const nodes: NodeHandle[] = [];
  for (let i = 0; i < n; i++) {
    const id = i + 1;
    const dataDir = join(rootDir, `node-${id}`);
    nodes.push({
      id,
      grpcPort: ports[2 * i]!,
      httpPort: ports[2 * i + 1]!,
      grpcAddress: `127.0.0.1:${ports[2 * i]}`,
      httpAddress: `127.0.0.1:${ports[2 * i + 1]}`,
      dataDir,
      logFile: join(rootDir, `node-${id}.log`),
      pid: null,
      proc: null,
    });
  }
  const peersArg = nodes.map((h) => `${h.id}=${h.grpcAddress}`).join(',');
  const peerHttpArg = nodes.map((h) => `${h.id}=${h.httpAddress}`).join(',');
  const peerSecretFile = join(rootDir, 'peer-secret');
  if (!existsSync(peerSecretFile)) writeFileSync(peerSecretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
  const node = (id: number): NodeHandle => {
    const h = nodes.find((x) => x.id === id);
    if (!h) throw new Error(`no node ${id}`);
    return h;
  };

  const start = async (id: number): Promise<void> => {
    const h = node(id);
    if (h.proc) throw new Error(`node ${id} is already running (pid ${h.pid})`);
    mkdirSync(h.dataDir, { recursive: true });
    const args = [
      ...(opts.nodeFlags ?? SERVER_NODE_FLAGS),
      ...(opts.nodeArgs ?? []),
      ...(opts.useDist ? [join(opts.checkout ?? REPO_ROOT, 'bin', 'placement-center.js')] : ['--import', 'tsx', SERVER_ENTRY]),
      '--id',
      String(id),
      '--cluster-id',
      clusterId,
      '--data-dir',
      h.dataDir,
      '--listen',
      h.grpcAddress,
      '--http',
      h.httpAddress,
      '--peers',
      h.joinPeers ?? peersArg,
      ...(h.joinPeers ? ['--join'] : []),
      '--peer-http',
      peerHttpArg,
    ];
    const dial = opts.dial?.(id);
    if (dial && Object.keys(dial).length > 0) args.push('--dial', Object.entries(dial).map(([k, v]) => `${k}=${v}`).join(','));
    const extra = typeof opts.extraArgs === 'function' ? opts.extraArgs(id, nodes) : (opts.extraArgs ?? []);
    args.push(...extra);
    const fd = openSync(h.logFile, 'a');
    const proc = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...allocatorEnv({ ...process.env, ...opts.env }), PLACEMENT_LOG_LEVEL: process.env.PLACEMENT_LOG_LEVEL ?? 'info', PLACEMENT_PEER_SECRET_FILE: peerSecretFile, ...opts.env, ...opts.nodeEnv?.(id) },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    live.add(proc);
    h.proc = proc;
    h.pid = proc.pid ?? null;
    proc.once('exit', () => {
      live.delete(proc);
      if (h.proc === proc) {
        h.proc = null;
        h.pid = null;
      }
    });
    // Ready when its admin endpoint answers.
    await poll(
      async () => {
        if (h.proc !== proc) throw new Error(`node ${id} exited during start; log:\n${tail(h.logFile)}`);
        return await fetchStatus(h.httpAddress, 1000, opts.https);
      },
      { timeoutMs: opts.startTimeoutMs ?? 30_000, what: `node ${id} to serve /v1/cluster/status`, intervalMs: 100 },
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n--- node ${id} log ---\n${tail(h.logFile)}`);
    });
  };

  const kill = async (id: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    const h = node(id);
    const p = h.proc;
    if (!p || p.pid === undefined) return;
    try {
      process.kill(p.pid, signal);
    } catch {
      // already gone
    }
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await exited(p);
  };

  const stopNode = async (id: number, timeoutMs = 15_000): Promise<number | null> => {
    const h = node(id);
    const p = h.proc;
    if (!p || p.pid === undefined) return null;
    process.kill(p.pid, 'SIGTERM');
    const t = setTimeout(() => {
      try {
        process.kill(p.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    await exited(p);
    clearTimeout(t);
    return p.exitCode;
  };

  const tryStatus = async (id: number): Promise<NodeStatus | null> => {
    const h = node(id);
    if (!h.proc) return null;
    try {
      return await fetchStatus(h.httpAddress, 1000, opts.https);
    } catch {
      return null;
    }
  };

  const waitForLeader = async (o: { timeoutMs?: number; among?: number[] } = {}): Promise<number> => {
    return poll(
      async () => {
        const ids = (o.among ?? nodes.map((h) => h.id)).filter((id) => node(id).proc);
        const sts = await Promise.all(ids.map((id) => tryStatus(id)));
        if (sts.some((s) => s === null)) return null;
        const leaders = new Set(sts.map((s) => s!.leaderId));
        if (leaders.size !== 1) return null;
        const leader = sts[0]!.leaderId;
        if (leader === 0 || !ids.includes(leader)) return null;
        const ls = sts.find((s) => s!.id === leader)!;
        return ls.role === 'leader' ? leader : null;
      },
      { timeoutMs: o.timeoutMs ?? opts.startTimeoutMs ?? 30_000, what: 'a leader all running nodes agree on', intervalMs: 50 },
    );
  };

  const tail = (file: string, lines = 40): string => {
    if (!existsSync(file)) return '(no log)';
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  };

  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((h) => kill(h.id, 'SIGKILL')));
    if (ownsRoot && !opts.keepData && !process.env.PLACEMENT_KEEP_TEST_DATA) rmSync(rootDir, { recursive: true, force: true });
  };

  const cluster: Cluster = {
    nodes,
    rootDir,
    clusterId,
    peersArg,
    peerSecretFile,
    node,
    start,
    kill,
    stopNode,
    restart: async (id) => {
      await kill(id, 'SIGKILL');
      await start(id);
    },
    waitForLeader,
    status: async (id) => fetchStatus(node(id).httpAddress, 2000, opts.https),
    tryStatus,
    waitFor: poll,
    logs: (id) => (existsSync(node(id).logFile) ? readFileSync(node(id).logFile, 'utf8') : ''),
    stop,
    spareGrpcAddress: () => {
      if (reserved.length < 2) throw new Error('no spare ports left for another member');
      return `127.0.0.1:${reserved[0]}`;
    },
    addNode: (id, members) => {
      if (nodes.some((h) => h.id === id)) throw new Error(`node ${id} already has a handle`);
      if (reserved.length < 2) throw new Error("no spare ports left for another member");
      const [grpcPort, httpPort] = reserved.splice(0, 2) as [number, number];
      const h: NodeHandle = {
        id,
        grpcPort,
        httpPort,
        grpcAddress: `127.0.0.1:${grpcPort}`,
        httpAddress: `127.0.0.1:${httpPort}`,
        dataDir: join(rootDir, `node-${id}`),
        logFile: join(rootDir, `node-${id}.log`),
        pid: null,
        proc: null,
      };
      const others = nodes.filter((x) => (members ? members.includes(x.id) : true));
      h.joinPeers = [...others, h].map((x) => `${x.id}=${x.grpcAddress}`).join(',');
      nodes.push(h);
      return h;
    },
  };
  try {
    await Promise.all(nodes.map((h) => start(h.id)));
    if (opts.waitForLeader ?? true) await waitForLeader();
  } catch (err) {
    await stop();
    throw err;
  }
  return cluster;
}
