// The memory allocator the launchers start the server with: jemalloc when the machine has it
// (Debian/Ubuntu: `apt-get install libjemalloc2`), through LD_PRELOAD, which must be in the
// environment before node starts, so each launcher (npm start, the image, the test and bench
// clusters) sets it for the process it spawns.
//
// Why: node:http2, LevelDB and Buffers make many small native allocations per request; glibc's
// malloc spent more CPU on them than jemalloc does. Same clusters, same load (`npm run bench:ab`,
// BENCH_ROWS=put@1,put@64,rs@64,range@64, 5 paired rounds, B preloading jemalloc with
// narenas:2): member CPU per operation 0.98x at 1 write in flight, 0.93x at 64, 0.95x for
// serializable and 0.90x for linearizable reads at 64, the largest member's RSS 1.01-1.02x.
// jemalloc's default of 4 arenas per CPU gave the same CPU at up to 1.09x the RSS; with two
// arenas RSS stayed where glibc's was (one arena and fast decay gave back the CPU gain).
//
// PLACEMENT_ALLOCATOR: unset or `auto` (jemalloc if found, else the system's), `jemalloc` (an
// error if it is not found), `system` (never preload). An LD_PRELOAD already in the environment
// is the operator's and is left alone, as is a MALLOC_CONF.
import { existsSync } from 'node:fs';

/** Where Debian, Ubuntu, Fedora and Alpine-style layouts put the library. */
export const JEMALLOC_PATHS: readonly string[] = [
  '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2',
  '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2',
  '/usr/lib64/libjemalloc.so.2',
  '/usr/lib/libjemalloc.so.2',
  '/usr/local/lib/libjemalloc.so.2',
];

/** jemalloc's settings unless MALLOC_CONF says otherwise: two arenas (see above). */
export const JEMALLOC_CONF = 'narenas:2';

export class AllocatorError extends Error {}

/**
 * The variables to add to a server's environment (none when it keeps the system allocator).
 * Throws AllocatorError for a PLACEMENT_ALLOCATOR it does not know, or `jemalloc` without the library.
 */
export function allocatorEnv(env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync): Record<string, string> {
  const choice = env.PLACEMENT_ALLOCATOR ?? 'auto';
  if (choice !== 'auto' && choice !== 'jemalloc' && choice !== 'system') {
    throw new AllocatorError(`PLACEMENT_ALLOCATOR must be auto, jemalloc or system, not "${choice}"`);
  }
  if (choice === 'system' || (env.LD_PRELOAD ?? '') !== '') return {};
  const lib = JEMALLOC_PATHS.find((p) => exists(p));
  if (!lib) {
    if (choice === 'jemalloc') throw new AllocatorError(`PLACEMENT_ALLOCATOR=jemalloc, but libjemalloc.so.2 is in none of ${JEMALLOC_PATHS.join(', ')} (Debian: apt-get install libjemalloc2)`);
    return {};
  }
  return { LD_PRELOAD: lib, MALLOC_CONF: env.MALLOC_CONF ?? JEMALLOC_CONF };
}

/** Which allocator this process runs with, from its own memory map (Linux; elsewhere "system"). */
export function runningAllocator(readMaps: () => string): 'jemalloc' | 'system' {
  try {
    return /\/libjemalloc\.so[.\d]*$/m.test(readMaps()) ? 'jemalloc' : 'system';
  } catch {
    return 'system';
  }
}
