// A real etcd cluster (Debian's etcd-server 3.4) as child processes on loopback, for differential
// tests and for the benches that run etcd beside us.
//
//   const etcd = await startEtcdCluster({ members: 3 });   // free ports, temp data dirs, waits for health
//   try { ... etcd.endpoints ... } finally { await etcd.stop(); }   // every member SIGKILLed by pid
//
// A missing `etcd` binary fails with the install command instead of a cryptic spawn error.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, poll } from './cluster.js';

export const ETCD_BIN = process.env.ETCD_BIN ?? 'etcd';
/** The etcdctl that adds members (as test/support/etcdctl.ts picks it). */
const ETCDCTL_FOR_MEMBERS = process.env.ETCDCTL_BIN ?? 'etcdctl';

export interface EtcdMember {
  name: string;
  clientUrl: string;
  /** host:port of its client (gRPC) listener. */
  grpcAddress: string;
  proc: ChildProcess;
  pid: number;
  logFile: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  /** host:port of every member's client listener, as etcdctl's --endpoints takes them. */
  endpoints: string[];
  rootDir: string;
  /** The member whose /metrics says etcd_server_is_leader 1. */
  leader(): Promise<EtcdMember>;
  /** Kills every member by pid (SIGKILL), waits for them to exit, removes the data. */
  stop(): Promise<void>;
  /**
   * Adds a learner (etcdctl member add --learner) and starts it; resolves once it runs (a learner
   * answers /health only once it caught up, so that is left to the caller). Not in `endpoints`.
   */
  addLearner(name: string): Promise<EtcdMember>;
}

export interface EtcdOptions {
  members?: number;
  /** Extra flags for every member (e.g. ['--auto-compaction-retention', '0']). */
  extraArgs?: string[];
  startTimeoutMs?: number;
}

/** Throws with the install command when the etcd binary is not on PATH. */
export function requireEtcd(): string {
  const r = spawnSync(ETCD_BIN, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`etcd is not installed (${ETCD_BIN}): \`apt-get install -y etcd-server etcd-client\` (Debian) provides it; .ci/run installs it`);
  }
  return r.stdout.split('\n')[0] ?? '';
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

export async function startEtcdCluster(opts: EtcdOptions = {}): Promise<EtcdCluster> {
  requireEtcd();
  const n = opts.members ?? 3;
  const rootDir = mkdtempSync(join(tmpdir(), 'etcd-ref-'));
  const ports = await freePorts(2 * n);
  const names = Array.from({ length: n }, (_, i) => `m${i + 1}`);
  const peerUrl = (i: number): string => `http://127.0.0.1:${ports[2 * i + 1]}`;
  const initialCluster = names.map((name, i) => `${name}=${peerUrl(i)}`).join(',');
  const spawnMember = (name: string, clientPort: number, peerUrl: string, initial: string, state: 'new' | 'existing'): EtcdMember => {
    const clientUrl = `http://127.0.0.1:${clientPort}`;
    const logFile = join(rootDir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    const proc = spawn(
      ETCD_BIN,
      [
        '--name', name,
        '--data-dir', join(rootDir, name),
        '--listen-client-urls', clientUrl,
        '--advertise-client-urls', clientUrl,
        '--listen-peer-urls', peerUrl,
        '--initial-advertise-peer-urls', peerUrl,
        '--initial-cluster', initial,
        '--initial-cluster-token', `ref-${ports[0]}`,
        '--initial-cluster-state', state,
        '--logger', 'zap',
        '--log-level', 'warn',
        ...(opts.extraArgs ?? []),
      ],
      { stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    if (proc.pid === undefined) throw new Error(`could not start ${ETCD_BIN}`);
    live.add(proc);
    return { name, clientUrl, grpcAddress: `127.0.0.1:${clientPort}`, proc, pid: proc.pid, logFile };
  };
  const members: EtcdMember[] = names.map((name, i) => spawnMember(name, ports[2 * i]!, peerUrl(i), initialCluster, 'new'));
  const stop = async (): Promise<void> => {
    await Promise.all(
      members.map((m) => {
        if (m.proc.exitCode !== null || m.proc.signalCode !== null) return Promise.resolve();
        const exited = new Promise<void>((r) => m.proc.once('exit', () => r()));
        try {
          process.kill(m.pid, 'SIGKILL');
        } catch {
          // already gone
        }
        return exited;
      }),
    );
    for (const m of members) live.delete(m.proc);
    rmSync(rootDir, { recursive: true, force: true });
  };
  const healthy = (m: EtcdMember): Promise<unknown> =>
    poll(
      async () => {
        if (m.proc.exitCode !== null) throw new Error(`etcd ${m.name} exited: ${readFileSync(m.logFile, 'utf8').slice(-2000)}`);
        const res = await fetch(`${m.clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
        return ((await res.json()) as { health?: string }).health === 'true';
      },
      { what: `etcd ${m.name} healthy`, timeoutMs: opts.startTimeoutMs ?? 30_000 },
    );
  try {
    for (const m of members) await healthy(m);
  } catch (err) {
    await stop();
    throw err;
  }
  const leader = (): Promise<EtcdMember> =>
    poll(
      async () => {
        for (const m of members) {
          const text = await (await fetch(`${m.clientUrl}/metrics`, { signal: AbortSignal.timeout(1000) })).text();
          if (/^etcd_server_is_leader 1$/m.test(text)) return m;
        }
        return null;
      },
      { what: 'an etcd leader', timeoutMs: 30_000 },
    );
  const endpoints = members.map((m) => m.grpcAddress);
  const addLearner = async (name: string): Promise<EtcdMember> => {
    const [clientPort, peerPort] = await freePorts(2);
    const peer = `http://127.0.0.1:${peerPort}`;
    // etcd refuses membership changes until its members have been connected for 5 s.
    const add = await poll(
      async () => {
        const r = spawnSync(ETCDCTL_FOR_MEMBERS, ['--endpoints', endpoints.join(','), 'member', 'add', name, `--peer-urls=${peer}`, '--learner'], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });
        if (r.status === 0) return r.stdout;
        if (/unhealthy cluster/.test(r.stderr)) return null;
        throw new Error(`member add ${name}: ${r.stderr}`);
      },
      { what: `member add ${name}`, timeoutMs: 30_000, intervalMs: 500 },
    );
    const initial = /ETCD_INITIAL_CLUSTER="([^"]*)"/.exec(add)?.[1];
    if (!initial) throw new Error(`member add ${name} printed no ETCD_INITIAL_CLUSTER: ${add}`);
    const m = spawnMember(name, clientPort!, peer, initial, 'existing');
    members.push(m);
    return m;
  };
  return { members, endpoints, rootDir, leader, stop, addLearner };
}
