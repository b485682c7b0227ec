// The cluster under test for the chaos harness: real `placement-center` processes on
// loopback, each dialing its peers through the fault proxy (Network), with the process-level
// faults the nemeses need (SIGKILL + restart, SIGSTOP / SIGCONT). Every child is tracked by
// pid and killed at stop() — and, as a last resort, when this process exits.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Network } from './proxy.js';
import { freePorts } from '../support/cluster.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/**
 * Copies the server's code (as it is now) into `dir` and returns the entry point there. Nodes run
 * from source (tsx): spawned from the checkout, a node restarted after somebody edited the tree
 * would run other code than its peers, on the same data. That is how the 06:30 seed-7 run
 * "diverged": the de-dup layout changed mid-run, and the two nodes restarted after the edit read
 * the old layout wrongly. Every (re)start of one run uses this frozen copy.
 */
function freezeServerCode(dir: string): string {
  mkdirSync(dir, { recursive: true });
  for (const d of ['src', 'raft', 'storage', 'proto']) cpSync(join(REPO_ROOT, d), join(dir, d), { recursive: true });
  for (const f of ['package.json', 'tsconfig.json']) cpSync(join(REPO_ROOT, f), join(dir, f));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return join(dir, 'src', 'cli', 'server.ts');
}

export interface NodeStatus {
  id: number;
  leaderId: number;
  term: number;
  role: string;
  commitIndex: number;
  appliedIndex: number;
}

export interface StateHash {
  appliedIndex: number;
  revision: number;
  hash: string;
}

export interface ChaosNode {
  id: number;
  grpcAddress: string;
  /** The member's own peer port (`--peer-listen`), in a secure run; else peers use grpcAddress. */
  peerAddress?: string;
  httpAddress: string;
  dataDir: string;
  logFile: string;
  proc: ChildProcess | null;
  paused: boolean;
  /** Times this node was (re)started. */
  starts: number;
  /** Exit code of its last process (null while running or killed by a signal). */
  lastExitCode: number | null;
  /** Added at run time and not started yet: its first start carries --join. */
  joining?: boolean;
}

export interface ClusterOptions {
  nodes: number;
  rootDir: string;
  rnd: () => number;
  env?: Record<string, string>;
  clusterId?: string;
  /** Extra server flags (e.g. ['--tick-ms', '50']). */
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** TLS and auth (test/chaos/secure.ts): peers get a port of their own, the harness speaks HTTPS. */
  secure?: ClusterSecurity;
}

/** What a secure run changes in the cluster: each node's TLS flags, and how the harness reads the admin API. */
export interface ClusterSecurity {
  /** Flags of member `id` (the same at every start: a restarted member keeps its certificates). */
  nodeArgs(id: number): string[];
  /** GET of an admin HTTP URL (given as http://…), answering the parsed JSON body. */
  getJson(url: string, timeoutMs: number): Promise<unknown>;
}

const live = new Set<ChildProcess>();
let exitHook = false;
function installExitHook(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const p of live) {
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  });
}

async function getJson<T>(url: string, timeoutMs: number, secure?: ClusterSecurity): Promise<T> {
  const body = (secure ? await secure.getJson(url, timeoutMs) : await (await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })).json()) as {
    code: number;
    data?: T;
    error?: string;
    message?: string;
  };
  if (body.code !== 0 || body.data === undefined) throw new Error(`${url}: ${body.error ?? body.message ?? body.code}`);
  return body.data;
}

export function exited(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => p.once('exit', () => r()));
}

/** Polls `pred` until it returns a value; the harness's only way of waiting on the cluster. */
export async function waitFor<T>(
  pred: () => Promise<T | null | undefined | false>,
  what: string,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await pred();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${(lastErr as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export class ChaosCluster {
  readonly nodes: ChaosNode[] = [];
  network!: Network;
  readonly clusterId: string;
  private peerSecretFile = '';
  private serverEntry = '';
  private codeDir = '';

  constructor(private readonly o: ClusterOptions) {
    this.clusterId = o.clusterId ?? 'chaos';
  }

  get ids(): number[] {
    return this.nodes.map((n) => n.id);
  }

  node(id: number): ChaosNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Allocates ports, starts the proxies, then every node; waits for a leader. */
  async start(): Promise<void> {
    installExitHook();
    this.codeDir = join(this.o.rootDir, 'code');
    this.serverEntry = freezeServerCode(this.codeDir);
    const n = this.o.nodes;
    const perNode = this.o.secure ? 3 : 2;
    const ports = await freePorts(perNode * n);
    const targets = new Map<number, { host: string; port: number }>();
    for (let i = 0; i < n; i++) {
      const id = i + 1;
      this.nodes.push(
        this.handle(id, {
          grpcAddress: `127.0.0.1:${ports[perNode * i]}`,
          httpAddress: `127.0.0.1:${ports[perNode * i + 1]}`,
          ...(this.o.secure ? { peerAddress: `127.0.0.1:${ports[perNode * i + 2]}` } : {}),
        }),
      );
      // The proxies carry peer traffic: to the peer port when there is one.
      targets.set(id, { host: '127.0.0.1', port: ports[perNode * i + (this.o.secure ? 2 : 0)]! });
    }
    // Peer traffic is authenticated (as in production): one secret for every member.
    this.peerSecretFile = join(this.o.rootDir, 'peer-secret');
    if (!existsSync(this.peerSecretFile)) writeFileSync(this.peerSecretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    this.network = new Network(this.ids, targets, this.o.rnd);
    await this.network.start();
    await Promise.all(this.ids.map((id) => this.startNode(id)));
    await this.waitForLeader(this.o.startTimeoutMs ?? 60_000);
  }

  /**
   * Spawns node `id` (same ports and data dir every time, plus `extra` flags for this start) and
   * waits until it serves status. Throws if it exits first (see lastExitCode).
   */
  async startNode(id: number, extra: string[] = []): Promise<void> {
    const h = this.node(id);
    if (h.proc) throw new Error(`node ${id} already running (pid ${h.proc.pid})`);
    mkdirSync(h.dataDir, { recursive: true });
    const args = [
      '--import',
      'tsx',
      this.serverEntry,
      '--id',
      String(id),
      '--cluster-id',
      this.clusterId,
      '--data-dir',
      h.dataDir,
      '--listen',
      h.grpcAddress,
      '--http',
      h.httpAddress,
      '--peers',
      this.nodes.map((x) => `${x.id}=${x.grpcAddress}`).join(','),
      '--peer-http',
      this.nodes.map((x) => `${x.id}=${x.httpAddress}`).join(','),
      '--dial',
      this.network.dialArg(id),
      ...(h.peerAddress ? ['--peer-listen', h.peerAddress, '--peer-addresses', this.nodes.map((x) => `${x.id}=${x.peerAddress}`).join(',')] : []),
      ...(this.o.secure?.nodeArgs(id) ?? []),
      ...(this.o.extraArgs ?? []),
      ...(h.joining ? ['--join'] : []),
      ...extra,
    ];
    const fd = openSync(h.logFile, 'a');
    const proc = spawn(process.execPath, args, {
      cwd: this.codeDir,
      env: { ...process.env, PLACEMENT_LOG_LEVEL: process.env.PLACEMENT_LOG_LEVEL ?? 'warn', PLACEMENT_PEER_SECRET_FILE: this.peerSecretFile, ...this.o.env },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    live.add(proc);
    h.proc = proc;
    h.paused = false;
    h.starts++;
    h.lastExitCode = null;
    proc.once('exit', (code) => {
      h.lastExitCode = code;
      live.delete(proc);
      if (h.proc === proc) {
        h.proc = null;
        h.paused = false;
      }
    });
    // A node that refuses to start exits at once: say so then, not after the start timeout.
    const early = exited(proc).then(() => {
      throw new Error(`node ${id} exited during start (code ${proc.exitCode}):\n${this.logTail(id)}`);
    });
    early.catch(() => undefined);
    await Promise.race([
      early,
      waitFor(
        async () => {
          if (h.proc !== proc) throw new Error(`node ${id} exited during start:\n${this.logTail(id)}`);
          return await getJson<NodeStatus>(`http://${h.httpAddress}/v1/cluster/status`, 1000, this.o.secure);
        },
        `node ${id} to serve /v1/cluster/status`,
        this.o.startTimeoutMs ?? 60_000,
      ),
    ]);
    h.joining = false;
  }

  /** SIGKILL by pid; resolves once the process is gone. */
  async kill(id: number): Promise<void> {
    const h = this.node(id);
    const p = h.proc;
    if (!p || p.pid === undefined) return;
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited(p);
  }

  pause(id: number): void {
    const h = this.node(id);
    if (!h.proc?.pid || h.paused) return;
    process.kill(h.proc.pid, 'SIGSTOP');
    h.paused = true;
  }

  resume(id: number): void {
    const h = this.node(id);
    if (!h.proc?.pid || !h.paused) return;
    process.kill(h.proc.pid, 'SIGCONT');
    h.paused = false;
  }

  isRunning(id: number): boolean {
    return this.node(id).proc !== null;
  }

  /** Running and not paused. */
  isServing(id: number): boolean {
    const h = this.node(id);
    return h.proc !== null && !h.paused;
  }

  async status(id: number, timeoutMs = 1000): Promise<NodeStatus | null> {
    if (!this.isServing(id)) return null;
    try {
      return await getJson<NodeStatus>(`http://${this.node(id).httpAddress}/v1/cluster/status`, timeoutMs, this.o.secure);
    } catch {
      return null;
    }
  }

  // A member hashes its whole state (a LevelDB scan): seconds on a loaded machine with a long history.
  async stateHash(id: number, timeoutMs = 10_000): Promise<StateHash | null> {
    if (!this.isServing(id)) return null;
    try {
      return await getJson<StateHash>(`http://${this.node(id).httpAddress}/v1/debug/hash`, timeoutMs, this.o.secure);
    } catch {
      return null;
    }
  }

  /** The node that calls itself leader with the highest term, among serving nodes (null if none). */
  async currentLeader(): Promise<number | null> {
    const sts = await Promise.all(this.ids.map((id) => this.status(id)));
    let best: NodeStatus | null = null;
    for (const s of sts) if (s && s.role === 'leader' && (!best || s.term > best.term)) best = s;
    return best?.id ?? null;
  }

  /** A leader that every serving node agrees on. */
  async waitForLeader(timeoutMs: number): Promise<number> {
    return waitFor(
      async () => {
        const ids = this.ids.filter((id) => this.isServing(id));
        const sts = await Promise.all(ids.map((id) => this.status(id)));
        if (sts.some((s) => s === null)) return null;
        const leaders = new Set(sts.map((s) => s!.leaderId));
        if (leaders.size !== 1) return null;
        const leader = sts[0]!.leaderId;
        const ls = sts.find((s) => s!.id === leader);
        return ls && ls.role === 'leader' ? leader : null;
      },
      'a leader every serving node agrees on',
      timeoutMs,
    );
  }

  logTail(id: number, lines = 30): string {
    const f = this.node(id).logFile;
    if (!existsSync(f)) return '(no log)';
    return readFileSync(f, 'utf8').split('\n').slice(-lines).join('\n');
  }

  // ---- membership changes at run time (test/chaos/membership.ts) ----
  // Every (re)start names the members of now in --peers/--peer-http/--dial: the ones added
  // since, not the ones removed.

  /** Fresh ports for a member about to be added (its gRPC address goes into MemberAdd). */
  async spareAddresses(): Promise<{ grpcAddress: string; httpAddress: string }> {
    const [g, h] = await freePorts(2);
    return { grpcAddress: `127.0.0.1:${g}`, httpAddress: `127.0.0.1:${h}` };
  }

  /** Takes on member `id` (already added through the API) and links it; its first startNode() joins (--join). */
  async addMember(id: number, addr: { grpcAddress: string; httpAddress: string }): Promise<void> {
    if (this.nodes.some((x) => x.id === id)) throw new Error(`node ${id} already exists`);
    if (this.o.secure) throw new Error('a member added at run time cannot have a separate peer port (secure runs): see test/chaos/cli.ts');
    const [host, port] = addr.grpcAddress.split(':');
    await this.network.addNode(id, { host: host!, port: Number(port) });
    this.nodes.push({ ...this.handle(id, addr), joining: true });
  }

  /** A stopped node's handle: its addresses, and its data dir and log under the run's root. */
  private handle(id: number, addr: { grpcAddress: string; httpAddress: string; peerAddress?: string }): ChaosNode {
    return { id, ...addr, dataDir: join(this.o.rootDir, `node-${id}`), logFile: join(this.o.rootDir, `node-${id}.log`), proc: null, paused: false, starts: 0, lastExitCode: null };
  }

  /**
   * Drops node `id` from the cluster under test: killed by pid if it still runs, unlinked, never
   * restarted (its log file stays). With `wipe`, its data directory is deleted: the disk is lost.
   */
  async forget(id: number, opts: { wipe?: boolean } = {}): Promise<void> {
    const h = this.node(id);
    await this.kill(id);
    this.nodes.splice(this.nodes.indexOf(h), 1);
    await this.network.removeNode(id);
    if (opts.wipe) rmSync(h.dataDir, { recursive: true, force: true });
  }

  /** Kills every node by pid (paused ones too) and closes the proxies. */
  async stop(): Promise<void> {
    await Promise.all(this.ids.map((id) => this.kill(id)));
    await this.network?.close();
  }
}
