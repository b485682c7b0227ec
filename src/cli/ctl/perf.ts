// placement-ctl check perf: a short write load with throughput and latency percentiles
// (in the spirit of `etcdctl check perf`). The progress bar goes to stderr, on a TTY only.
import { Option, type Command } from 'commander';
import cliProgress from 'cli-progress';
import { DeadlineExceededError, UnavailableError, PlacementClientError } from '../../client/index.js';
import { EXIT } from './exit-codes.js';
import { out, printJson, println } from './output.js';
import { makeClient, parseDuration, parsePositiveInt, withClient } from './program.js';
import type { PlacementClient } from '../../client/index.js';

/** Writes in flight per client: well inside the server's per-client de-duplication window (64). */
const PER_CLIENT = 32;

interface PerfOptions {
  duration: number;
  concurrency: number;
  valueSize: number;
  keys: number;
  prefix: string;
  minThroughput?: number;
  maxP99?: number;
  cleanup: boolean;
}

/** Percentile of a sorted sample (nearest-rank). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

export function registerPerf(program: Command): void {
  const check = program.command('check').description('health and performance checks');
  check
    .command('perf')
    .description('run a short write load and report throughput and latency percentiles')
    .addOption(new Option('--duration <duration>', 'how long to write (500ms, 5s, 1m)').argParser(parseDuration).default(5000, '5s'))
    .addOption(new Option('--concurrency <n>', 'writes in flight').argParser(parsePositiveInt).default(16))
    .addOption(new Option('--value-size <bytes>', 'size of each value').argParser(parsePositiveInt).default(256))
    .addOption(new Option('--keys <n>', 'distinct keys written (round robin)').argParser(parsePositiveInt).default(1000))
    .option('--prefix <prefix>', 'key prefix of the load', '/placement-ctl/check-perf/')
    .addOption(new Option('--min-throughput <writes/s>', 'fail (exit 1) below this throughput').argParser(parsePositiveInt))
    .addOption(new Option('--max-p99 <duration>', 'fail (exit 1) when p99 latency is above this').argParser(parseDuration))
    .option('--no-cleanup', 'keep the written keys')
    .action(async (opts: PerfOptions, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const value = Buffer.alloc(opts.valueSize, 'x');
        const latencies: number[] = [];
        const used = new Set<string>();
        let errors = 0;
        let fatal: PlacementClientError | undefined;
        let firstError: string | undefined;
        let n = 0;
        const started = performance.now();
        const endAt = started + opts.duration;
        const showBar = process.stderr.isTTY === true && !g.json;
        const bar = showBar
          ? new cliProgress.SingleBar(
              {
                stream: process.stderr,
                format: `check perf |{bar}| {percentage}% | {elapsed}/{total_s}s | {writes} writes, {errors} errors`,
                hideCursor: true,
                clearOnComplete: true,
              },
              cliProgress.Presets.shades_classic,
            )
          : undefined;
        const totalS = round2(opts.duration / 1000);
        bar?.start(opts.duration, 0, { elapsed: 0, total_s: totalS, writes: 0, errors: 0 });
        const ticker = bar
          ? setInterval(() => {
              const el = Math.min(opts.duration, performance.now() - started);
              bar.update(Math.round(el), { elapsed: round2(el / 1000), writes: latencies.length, errors });
            }, 100)
          : undefined;
        ticker?.unref();

        // Several clients (ids) above PER_CLIENT in flight, so a retried write always stays
        // inside its client's de-duplication window.
        const clients: PlacementClient[] = [client];
        for (let i = 1; i < Math.ceil(opts.concurrency / PER_CLIENT); i++) clients.push(makeClient(g));
        let wi = 0;
        const worker = async (): Promise<void> => {
          const client = clients[wi++ % clients.length]!;
          while (fatal === undefined && performance.now() < endAt) {
            const key = `${opts.prefix}${String(n++ % opts.keys).padStart(8, '0')}`;
            used.add(key);
            const t0 = performance.now();
            try {
              await client.kv.set(key, value);
              latencies.push(performance.now() - t0);
            } catch (e) {
              errors++;
              if (firstError === undefined) firstError = e instanceof Error ? e.message : String(e);
              if ((e instanceof UnavailableError || e instanceof DeadlineExceededError) && latencies.length === 0) fatal = e;
              else if (e instanceof PlacementClientError && !(e instanceof UnavailableError || e instanceof DeadlineExceededError)) {
                fatal = e; // a definite rejection will not get better
              }
            }
          }
        };
        try {
          await Promise.all(Array.from({ length: opts.concurrency }, worker));
        } finally {
          for (const c of clients.slice(1)) c.close();
          if (ticker) clearInterval(ticker);
          if (bar) {
            bar.update(opts.duration, { elapsed: totalS, writes: latencies.length, errors });
            bar.stop();
          }
        }
        const elapsedMs = performance.now() - started;
        if (fatal && latencies.length === 0) throw fatal;

        if (opts.cleanup) {
          const keys = [...used];
          const cleaners = Array.from({ length: Math.min(opts.concurrency, 16) }, async () => {
            for (let k = keys.pop(); k !== undefined; k = keys.pop()) {
              await client.kv.delete(k).catch(() => undefined);
            }
          });
          await Promise.all(cleaners);
        }

        const sorted = [...latencies].sort((a, b) => a - b);
        const mean = sorted.length === 0 ? 0 : sorted.reduce((s, x) => s + x, 0) / sorted.length;
        const throughput = latencies.length / (elapsedMs / 1000);
        const result = {
          writes: latencies.length,
          errors,
          durationMs: Math.round(elapsedMs),
          concurrency: opts.concurrency,
          valueSize: opts.valueSize,
          throughput: round2(throughput),
          latencyMs: {
            p50: round2(percentile(sorted, 50)),
            p90: round2(percentile(sorted, 90)),
            p99: round2(percentile(sorted, 99)),
            max: round2(sorted[sorted.length - 1] ?? 0),
            mean: round2(mean),
          },
          ...(firstError !== undefined ? { firstError } : {}),
        };
        const failures: string[] = [];
        if (opts.minThroughput !== undefined && throughput < opts.minThroughput) {
          failures.push(`throughput ${result.throughput} writes/s is below ${opts.minThroughput}`);
        }
        if (opts.maxP99 !== undefined && result.latencyMs.p99 > opts.maxP99) {
          failures.push(`p99 latency ${result.latencyMs.p99} ms is above ${opts.maxP99} ms`);
        }
        if (errors > 0) failures.push(`${errors} write(s) failed (first: ${firstError})`);
        const pass = failures.length === 0;

        if (g.json) {
          printJson({ ...result, pass, failures });
        } else {
          const c = out.stdout;
          const L = result.latencyMs;
          println(`Throughput  ${result.throughput} writes/s`);
          println(`Latency     p50 ${L.p50} ms  p90 ${L.p90} ms  p99 ${L.p99} ms  max ${L.max} ms  mean ${L.mean} ms`);
          println(
            `Writes      ${result.writes} ok, ${errors} failed in ${round2(elapsedMs / 1000)} s ` +
              `(${opts.concurrency} in flight, ${opts.valueSize}-byte values)`,
          );
          println(pass ? c.green('PASS') : `${c.red('FAIL')}: ${failures.join('; ')}`);
        }
        if (!pass) process.exitCode = EXIT.FAILURE;
      });
    });
}
