// A small network lab made of Linux network namespaces, for testing the deployment topology
// without a container engine. One "switch" namespace holds a bridge; every host is a namespace
// with one veth (eth0) plugged into that bridge and its own address in a private, test-only
// 10.231.X.0/24 range. Nothing is created in the root namespace: the bridge, the addresses and
// all the traffic stay inside this run's own namespaces, whose names carry a per-run id so
// parallel runs never collide.
//
// Hosts resolve each other by name the way containers do on a compose network: `ip netns exec`
// bind-mounts /etc/netns/<ns>/hosts over /etc/hosts, so every process started in a host sees
// the lab's name table.
//
// Everything the lab creates is removed by destroy(): child processes are killed by pid, the
// namespaces (and with them the veths and the bridge) deleted, the /etc/netns files removed.
// Synchronous exit and SIGINT/SIGTERM hooks do the same if the test process ends without
// reaching teardown (only SIGKILL of the test process itself can leave something behind).
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface Host {
  /** Name the lab's hosts know it by (like a compose service name). */
  name: string;
  /** Network namespace name. */
  ns: string;
  ip: string;
  /** Interface name of the host's veth inside its namespace. */
  dev: string;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** stdout and stderr are appended here (default: ignored). */
  logFile?: string;
  /** Keep stdin/stdout as pipes for the caller (stderr still goes to logFile). */
  pipeStdio?: boolean;
}

async function ip(...args: string[]): Promise<string> {
  const { stdout } = await execFileP('ip', args, { timeout: 15_000 });
  return stdout;
}

/** Why namespaces cannot be used here, or null when they can (creates and deletes a probe namespace). */
export async function netnsUnavailableReason(): Promise<string | null> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root (uid 0)';
  try {
    await execFileP('ip', ['-V']);
  } catch {
    return 'the `ip` command (Debian package iproute2) is not installed';
  }
  const probe = `pcd-probe-${randomBytes(4).toString('hex')}`;
  try {
    await ip('netns', 'add', probe);
  } catch (err) {
    return `cannot create a network namespace: ${(err as Error).message.split('\n')[0]}`;
  }
  try {
    await ip('-n', probe, 'link', 'add', 'a0', 'type', 'veth', 'peer', 'name', 'b0');
    await ip('-n', probe, 'link', 'add', 'br0', 'type', 'bridge');
  } catch (err) {
    return `cannot create veth pairs or bridges in a namespace: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    await ip('netns', 'del', probe).catch(() => undefined);
  }
  return null;
}

export class NetLab {
  readonly runId: string;
  /** First three octets of the lab's /24, e.g. "10.231.17". */
  readonly subnet: string;
  readonly hosts = new Map<string, Host>();
  private readonly switchNs: string;
  private readonly namespaces: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private readonly logs = new Set<WriteStream>();
  private readonly exitHook = (): void => this.destroySync();
  // Killed by a signal (Ctrl-C, a runner's timeout): clean up, then die of the same signal.
  private readonly signalHook = (sig: NodeJS.Signals): void => {
    this.destroySync();
    process.kill(process.pid, sig);
  };
  private destroyed = false;

  private constructor() {
    this.runId = randomBytes(3).toString('hex');
    this.subnet = `10.231.${1 + (randomBytes(1)[0]! % 254)}`;
    this.switchNs = `pcd-${this.runId}-sw`;
    process.once('exit', this.exitHook);
    process.once('SIGINT', this.signalHook);
    process.once('SIGTERM', this.signalHook);
  }

  /** Creates the switch namespace with its bridge. */
  static async create(): Promise<NetLab> {
    const lab = new NetLab();
    try {
      await lab.addNamespace(lab.switchNs);
      await ip('-n', lab.switchNs, 'link', 'add', 'br0', 'type', 'bridge');
      await ip('-n', lab.switchNs, 'link', 'set', 'br0', 'up');
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async addNamespace(ns: string): Promise<void> {
    await ip('netns', 'add', ns);
    this.namespaces.push(ns);
    await ip('-n', ns, 'link', 'set', 'lo', 'up');
  }

  /** Adds a host at <subnet>.<octet>, plugged into the bridge, and refreshes every host's name table. */
  async addHost(name: string, octet: number): Promise<Host> {
    if (!/^[a-z0-9-]{1,12}$/.test(name)) throw new Error(`host name "${name}" must be 1-12 of [a-z0-9-]`);
    if (this.hosts.has(name)) throw new Error(`host ${name} exists`);
    const ns = `pcd-${this.runId}-${name}`;
    const host: Host = { name, ns, ip: `${this.subnet}.${octet}`, dev: 'eth0' };
    await this.addNamespace(ns);
    // The veth is created directly inside the two namespaces; no interface ever exists in the root one.
    await ip('-n', ns, 'link', 'add', host.dev, 'type', 'veth', 'peer', 'name', `p-${name}`, 'netns', this.switchNs);
    await ip('-n', this.switchNs, 'link', 'set', `p-${name}`, 'master', 'br0');
    await ip('-n', this.switchNs, 'link', 'set', `p-${name}`, 'up');
    await ip('-n', ns, 'addr', 'add', `${host.ip}/24`, 'dev', host.dev);
    await ip('-n', ns, 'link', 'set', host.dev, 'up');
    this.hosts.set(name, host);
    this.writeNameTables();
    return host;
  }

  host(name: string): Host {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in the lab`);
    return h;
  }

  private writeNameTables(): void {
    const lines = ['127.0.0.1 localhost', '::1 localhost ip6-localhost ip6-loopback'];
    for (const h of this.hosts.values()) lines.push(`${h.ip} ${h.name}`);
    for (const h of this.hosts.values()) {
      const dir = join('/etc/netns', h.ns);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'hosts'), [...lines, `127.0.1.1 ${h.name}-self`, ''].join('\n'));
    }
  }

  /** Starts a process inside a host's namespace; the returned child's pid is the process's own
   *  (`ip netns exec` execs it). The lab kills it at teardown if the test has not. */
  spawn(hostName: string, command: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    const host = this.host(hostName);
    let log: WriteStream | undefined;
    if (opts.logFile) {
      log = createWriteStream(opts.logFile, { flags: 'a' });
      this.logs.add(log);
    }
    const child = spawn('ip', ['netns', 'exec', host.ns, command, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: opts.pipeStdio ? ['pipe', 'pipe', log ? 'pipe' : 'ignore'] : ['ignore', log ? 'pipe' : 'ignore', log ? 'pipe' : 'ignore'],
    });
    if (log) {
      if (!opts.pipeStdio) child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
    }
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Sends SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
  async stop(child: ChildProcess, graceMs = 5_000): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, graceMs);
    await exited;
    clearTimeout(timer);
  }

  /** Pulls the host's cable: its veth goes down, so it can reach no one and no one reaches it. */
  async linkDown(hostName: string): Promise<void> {
    const h = this.host(hostName);
    await ip('-n', h.ns, 'link', 'set', h.dev, 'down');
  }

  async linkUp(hostName: string): Promise<void> {
    const h = this.host(hostName);
    await ip('-n', h.ns, 'link', 'set', h.dev, 'up');
  }

  /** Namespaces of this lab that still exist. */
  async liveNamespaces(): Promise<string[]> {
    const out = await ip('netns', 'list');
    const names = new Set(out.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean));
    return this.namespaces.filter((n) => names.has(n));
  }

  get namespaceNames(): readonly string[] {
    return this.namespaces;
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const running = [...this.children];
    await Promise.all(running.map((c) => this.stop(c, 3_000)));
    this.destroySync();
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.exitHook);
    process.removeListener('SIGINT', this.signalHook);
    process.removeListener('SIGTERM', this.signalHook);
    for (const c of this.children) {
      try {
        if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    this.children.clear();
    for (const l of this.logs) l.end();
    // Host namespaces first, then the switch: deleting a namespace destroys its veths and bridge.
    for (const ns of [...this.namespaces].reverse()) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 15_000 });
      } catch {
        /* already gone */
      }
      const dir = join('/etc/netns', ns);
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    }
  }
}

/** Thrown by a waitFor probe to stop waiting at once (e.g. the process waited on has died). */
export class FatalWaitError extends Error {}

/** Polls `probe` until it returns a value other than undefined, or throws after timeoutMs with
 *  the last error or value in the message. A FatalWaitError from the probe ends the wait at once. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
      last = 'not yet';
    } catch (err) {
      if (err instanceof FatalWaitError) throw err;
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : String(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** A failed agent request; `code` is the gRPC status name for gRPC calls. */
export class AgentError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
  }
}

interface RawAnswer {
  id: number;
  ok: boolean;
  status?: number;
  body?: string;
  error?: string;
  code?: string;
}

/** A request runner living in one of the lab's hosts (see netns-agent.ts). */
export class Agent {
  private nextId = 1;
  private readonly pending = new Map<number, (a: RawAnswer) => void>();
  private buf = '';
  private constructor(readonly child: ChildProcess, readonly hostName: string) {}

  static async start(lab: NetLab, hostName: string, logFile?: string): Promise<Agent> {
    const script = new URL('./netns-agent.ts', import.meta.url).pathname;
    const repoRoot = new URL('../..', import.meta.url).pathname;
    const child = lab.spawn(hostName, process.execPath, ['--import', 'tsx', script], { pipeStdio: true, logFile, cwd: repoRoot });
    const agent = new Agent(child, hostName);
    const ready = new Promise<void>((resolve, reject) => {
      agent.pending.set(0, () => resolve());
      child.once('exit', (code, sig) => reject(new Error(`agent in ${hostName} exited early (code ${code}, signal ${sig})`)));
    });
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => agent.onData(chunk));
    child.once('exit', () => {
      for (const [, cb] of agent.pending) cb({ id: -1, ok: false, error: 'agent exited' });
      agent.pending.clear();
    });
    await ready;
    return agent;
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      const a = JSON.parse(line) as RawAnswer;
      const cb = this.pending.get(a.id);
      this.pending.delete(a.id);
      cb?.(a);
    }
  }

  private call(req: Record<string, unknown>, what: string): Promise<HttpAnswer> {
    const id = this.nextId++;
    return new Promise<HttpAnswer>((resolve, reject) => {
      this.pending.set(id, (a) => {
        if (a.ok) resolve({ status: a.status!, body: a.body! });
        else reject(new AgentError(`${what} (from ${this.hostName}): ${a.error}`, a.code));
      });
      this.child.stdin!.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }

  /** Performs an HTTP request from inside the lab; rejects on a network error or timeout. */
  http(url: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<HttpAnswer> {
    const body = init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body);
    return this.call({ op: 'http', url, method: init.method, body, timeoutMs: init.timeoutMs }, `${init.method ?? 'GET'} ${url}`);
  }

  /** HTTP request whose answer body is parsed as JSON. */
  async json<T = unknown>(url: string, init: { method?: string; body?: unknown; timeoutMs?: number } = {}): Promise<{ status: number; body: T }> {
    const a = await this.http(url, init);
    try {
      return { status: a.status, body: JSON.parse(a.body) as T };
    } catch {
      throw new Error(`${url}: answer ${a.status} is not JSON: ${a.body.slice(0, 200)}`);
    }
  }

  /** KvService.Set on exactly this member; rejects with an AgentError carrying the gRPC code. */
  async grpcSet(target: string, key: string, value: string, timeoutMs = 5_000): Promise<void> {
    await this.call({ op: 'grpc-set', target, key, value, timeoutMs }, `Set ${key} via ${target}`);
  }

  /** KvService.Get on exactly this member: the value, or null when the key is absent. */
  async grpcGet(target: string, key: string, opts: { serializable?: boolean; timeoutMs?: number } = {}): Promise<string | null> {
    const a = await this.call({ op: 'grpc-get', target, key, serializable: opts.serializable ?? false, timeoutMs: opts.timeoutMs ?? 5_000 }, `Get ${key} via ${target}`);
    return (JSON.parse(a.body) as { value: string | null }).value;
  }

  /** grpc.health.v1.Health/Check: the serving status name (e.g. SERVING). */
  async grpcHealth(target: string, service = '', timeoutMs = 3_000): Promise<string> {
    const a = await this.call({ op: 'grpc-health', target, service, timeoutMs }, `Health.Check via ${target}`);
    return String((JSON.parse(a.body) as { status: string | number }).status);
  }
}
