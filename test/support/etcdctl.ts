// Runs Debian's etcdctl (3.4) against any endpoints and makes its output comparable between two
// servers: the differential tests run one scripted session against a real etcd and against
// Placement Center and require the same normalized transcript.
//
// What normalization removes is exactly what legitimately differs between two clusters: cluster
// and member ids, raft terms (json and fields output), lease ids (random in etcd; mapped to L1, L2… in order of first
// appearance), timestamps and connection targets in etcdctl's retry warnings, and durations.
// Everything else — revisions, versions, values, error strings, the gRPC code in retry warnings,
// exit codes — must match.
import { spawn } from 'node:child_process';

export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? 'etcdctl';

export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CtlOptions {
  stdin?: string;
  env?: Record<string, string>;
  timeoutMs?: number;
  /** Extra global flags, e.g. ['--user', 'root:pw']. */
  global?: string[];
}

/** Runs `etcdctl --endpoints … args`; never rejects for a non-zero exit (that is part of the result). */
export function etcdctl(endpoints: string[], args: string[], opts: CtlOptions = {}): Promise<CtlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(ETCDCTL_BIN, ['--endpoints', endpoints.join(','), '--command-timeout', '5s', '--dial-timeout', '2s', ...(opts.global ?? []), ...args], {
      env: { ...process.env, ETCDCTL_API: '3', ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${ETCDCTL_BIN}: ${err.message} (\`apt-get install -y etcd-client\` provides it)`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    // A command that never reads its input may exit before the write lands: the pipe then breaks
    // (EPIPE), which is no failure of the command; its exit code and output tell what happened.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Per-server state of a normalization (lease ids seen so far). */
export class Normalizer {
  private readonly leases = new Map<string, string>();

  private lease(id: string): string {
    const key = id.toLowerCase().replace(/^0+/, '');
    let name = this.leases.get(key);
    if (!name) this.leases.set(key, (name = `L${this.leases.size + 1}`));
    return name;
  }

  /** Lease ids are printed in hex by the text output and in decimal by the json output. */
  private leaseDecimal(dec: string): string {
    return this.lease(BigInt(dec).toString(16));
  }

  text(s: string): string {
    return s
      .split('\n')
      .map((line) => this.line(line))
      .join('\n');
  }

  private line(line: string): string {
    // etcdctl's client logs a JSON warning per retried call: keep the error (it holds the gRPC
    // code and message), drop the timestamp, the caller and the connection target.
    if (line.startsWith('{"level":')) {
      try {
        const w = JSON.parse(line) as { level?: string; msg?: string; error?: string };
        return `${w.level}: ${w.msg}: ${w.error ?? ''}`;
      } catch {
        return line;
      }
    }
    if (line.startsWith('{') || line.startsWith('[')) return this.json(line);
    // -w fields: one "Name" : value per line.
    const field = /^"(ClusterID|MemberID|RaftTerm)" : \d+$/.exec(line);
    if (field) return `"${field[1]}" : <${field[1]}>`;
    return line
      .replace(/\blease ([0-9a-f]{1,16})\b/g, (_, id: string) => `lease ${this.lease(id)}`)
      .replace(/took = [\d.]+(ns|µs|ms|s|m)/g, 'took = <duration>');
  }

  /** JSON output: ids and terms replaced before parsing (uint64s do not fit a double). */
  private json(line: string): string {
    return line
      .replace(/"cluster_id":\d+/g, '"cluster_id":"<cluster>"')
      .replace(/"member_id":\d+/g, '"member_id":"<member>"')
      .replace(/"raft_term":\d+/g, '"raft_term":"<term>"')
      .replace(/"(ID|id|lease)":(\d+)/g, (_, k: string, v: string) => (v === '0' ? `"${k}":0` : `"${k}":"${this.leaseDecimal(v)}"`));
  }

  result(r: CtlResult): CtlResult {
    return { code: r.code, stdout: this.text(r.stdout), stderr: this.text(r.stderr) };
  }
}

export interface Step {
  args: string[];
  stdin?: string;
  /** Why this step is in the session (printed on a mismatch). */
  note?: string;
}

export interface Transcript {
  steps: Array<{ args: string[]; result: CtlResult }>;
}

/** Runs the steps in order against one server; results are normalized. */
export async function runSession(endpoints: string[], steps: Step[], opts: CtlOptions = {}): Promise<Transcript> {
  const norm = new Normalizer();
  const out: Transcript = { steps: [] };
  for (const s of steps) {
    const r = await etcdctl(endpoints, s.args, { ...opts, stdin: s.stdin });
    out.steps.push({ args: s.args, result: norm.result(r) });
  }
  return out;
}

/** The first step whose normalized result differs, described for an assertion message; null when equal. */
export function firstDifference(expected: Transcript, actual: Transcript, labels = ['etcd', 'ours']): string | null {
  const n = Math.max(expected.steps.length, actual.steps.length);
  for (let i = 0; i < n; i++) {
    const a = expected.steps[i];
    const b = actual.steps[i];
    if (!a || !b) return `step ${i}: only one transcript has it`;
    for (const field of ['code', 'stdout', 'stderr'] as const) {
      if (a.result[field] !== b.result[field]) {
        return [
          `step ${i}: etcdctl ${a.args.join(' ')}: ${field} differs`,
          `--- ${labels[0]}:`,
          String(a.result[field]),
          `--- ${labels[1]}:`,
          String(b.result[field]),
        ].join('\n');
      }
    }
  }
  return null;
}

/**
 * Runs `etcdctl watch …` (which runs until killed) and collects its output until `done(stdout)`
 * holds or it exits by itself (a canceled watch); then kills it by pid. `whileRunning` runs once
 * it started (the writes the watch should see), with what it printed so far. etcdctl prints
 * nothing when its watch is created: writes that must not race the creation wait for an event. Rejects on timeout with what was collected.
 */
export function etcdctlWatch(
  endpoints: string[],
  args: string[],
  done: (stdout: string) => boolean,
  opts: { timeoutMs?: number; whileRunning?: (output: () => string) => Promise<void> } = {},
): Promise<CtlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(ETCDCTL_BIN, ['--endpoints', endpoints.join(','), '--dial-timeout', '2s', 'watch', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (code: number | null, err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      if (err) reject(err);
      else resolve({ code: code ?? -1, stdout, stderr });
    };
    const timer = setTimeout(
      () => finish(null, new Error(`etcdctl watch ${args.join(' ')}: not done after ${opts.timeoutMs ?? 20_000} ms; stdout:\n${stdout}\nstderr:\n${stderr}`)),
      opts.timeoutMs ?? 20_000,
    );
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      if (done(stdout)) finish(-1);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', (err) => finish(null, new Error(`cannot run ${ETCDCTL_BIN}: ${err.message}`)));
    // Exited by itself (the server canceled the watch): what it printed is the result.
    child.on('close', (code) => setImmediate(() => finish(code ?? -1)));
    opts.whileRunning?.(() => stdout).catch((err: Error) => finish(null, err));
  });
}
