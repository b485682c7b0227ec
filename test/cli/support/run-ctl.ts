// Runs the real placement-ctl (from source, through tsx) as a child process.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CTL_ENTRY = fileURLToPath(new URL('../../../src/cli/ctl.ts', import.meta.url));

export interface CtlResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export async function runCtl(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; input?: string; timeoutMs?: number } = {},
): Promise<CtlResult> {
  const env: Record<string, string | undefined> = { ...process.env, PLACEMENT_ENDPOINTS: undefined, NO_COLOR: undefined, FORCE_COLOR: undefined };
  for (const [k, v] of Object.entries(options.env ?? {})) env[k] = v;
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', CTL_ENTRY, ...args], {
    env: env as NodeJS.ProcessEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(options.input ?? '');
  const killer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  try {
    return await new Promise<CtlResult>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  } finally {
    clearTimeout(killer);
  }
}
