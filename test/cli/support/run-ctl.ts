// Runs placement-ctl as a real child process, built from the current source.
//
// By default the CLI's TypeScript (src/cli/ctl.ts and what it imports from src/ and proto/) is
// transpiled once per test process with esbuild (the transpiler tsx itself uses) into
// node_modules/.cache/, with every npm package left external; each child then starts with plain
// `node`, about 3x cheaper than going through the tsx loader on every spawn (CLI tests spawn a
// lot, on a shared 2-core machine). PLACEMENT_CTL_TEST_TSX=1 runs `node --import tsx src/cli/ctl.ts`
// instead.
import { spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
export const CTL_ENTRY = join(ROOT, 'src', 'cli', 'ctl.ts');

let prepared: Promise<string[]> | undefined;

/** The node arguments that start the CLI. */
export function ctlCommand(): Promise<string[]> {
  prepared ??= (async () => {
    if (process.env.PLACEMENT_CTL_TEST_TSX === '1') return ['--import', 'tsx', CTL_ENTRY];
    try {
      const { build } = await import('esbuild');
      const dir = join(ROOT, 'node_modules', '.cache', 'placement-ctl-test');
      mkdirSync(dir, { recursive: true });
      const outfile = join(dir, `ctl-${process.pid}.mjs`);
      await build({
        entryPoints: [CTL_ENTRY],
        outfile,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        sourcemap: 'inline',
        logLevel: 'silent',
      });
      process.once('exit', () => rmSync(outfile, { force: true }));
      return ['--enable-source-maps', outfile];
    } catch {
      return ['--import', 'tsx', CTL_ENTRY];
    }
  })();
  return prepared;
}

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
  const child = spawn(process.execPath, [...(await ctlCommand()), ...args], {
    cwd: ROOT,
    env: env as NodeJS.ProcessEnv,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  const killer = setTimeout(() => {
    if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  }, options.timeoutMs ?? 60_000);
  try {
    return await new Promise<CtlResult>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    });
  } finally {
    clearTimeout(killer);
  }
}
