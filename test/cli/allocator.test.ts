// The allocator every launcher starts the server with (src/cli/allocator.ts): the choice, its
// errors, the image's copy of it, and what a started member really runs with.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AllocatorError, JEMALLOC_CONF, JEMALLOC_PATHS, allocatorEnv, runningAllocator } from '../../src/cli/allocator.js';
import { REPO_ROOT, startCluster } from '../support/cluster.js';

const LIB = JEMALLOC_PATHS[2]!;
const only = (path: string) => (p: string): boolean => p === path;
const none = (): boolean => false;

test('auto (the default) preloads the first jemalloc found, with two arenas unless MALLOC_CONF says otherwise', () => {
  assert.deepEqual(allocatorEnv({}, only(LIB)), { LD_PRELOAD: LIB, MALLOC_CONF: JEMALLOC_CONF });
  assert.deepEqual(allocatorEnv({ PLACEMENT_ALLOCATOR: 'auto' }, only(LIB)), { LD_PRELOAD: LIB, MALLOC_CONF: 'narenas:2' });
  assert.deepEqual(allocatorEnv({ MALLOC_CONF: 'narenas:1' }, only(LIB)), { LD_PRELOAD: LIB, MALLOC_CONF: 'narenas:1' });
  assert.deepEqual(allocatorEnv({}, (p) => p === JEMALLOC_PATHS[0] || p === LIB), { LD_PRELOAD: JEMALLOC_PATHS[0], MALLOC_CONF: JEMALLOC_CONF });
});

test('without the library, auto keeps the system allocator and jemalloc is an error naming the package', () => {
  assert.deepEqual(allocatorEnv({}, none), {});
  assert.throws(() => allocatorEnv({ PLACEMENT_ALLOCATOR: 'jemalloc' }, none), (e: Error) => e instanceof AllocatorError && /libjemalloc\.so\.2 is in none of .*apt-get install libjemalloc2/.test(e.message));
  assert.deepEqual(allocatorEnv({ PLACEMENT_ALLOCATOR: 'jemalloc' }, only(LIB)), { LD_PRELOAD: LIB, MALLOC_CONF: JEMALLOC_CONF });
});

test("system never preloads, an operator's LD_PRELOAD is left alone, and an unknown choice is refused", () => {
  assert.deepEqual(allocatorEnv({ PLACEMENT_ALLOCATOR: 'system' }, only(LIB)), {});
  assert.deepEqual(allocatorEnv({ LD_PRELOAD: '/opt/tcmalloc.so' }, only(LIB)), {});
  assert.deepEqual(allocatorEnv({ LD_PRELOAD: '' }, only(LIB)), { LD_PRELOAD: LIB, MALLOC_CONF: JEMALLOC_CONF });
  assert.throws(() => allocatorEnv({ PLACEMENT_ALLOCATOR: 'tcmalloc' }, only(LIB)), /PLACEMENT_ALLOCATOR must be auto, jemalloc or system, not "tcmalloc"/);
});

test('the allocator in use is read from the memory map', () => {
  const maps = (lib: string): string => `7f0000000000-7f0000001000 r-xp 00000000 08:01 123 /usr/lib/x86_64-linux-gnu/libc.so.6\n7f0000002000-7f0000003000 r-xp 00000000 08:01 124 ${lib}\n`;
  assert.equal(runningAllocator(() => maps('/usr/lib/x86_64-linux-gnu/libjemalloc.so.2')), 'jemalloc');
  assert.equal(runningAllocator(() => maps('/usr/lib/x86_64-linux-gnu/libm.so.6')), 'system');
  assert.equal(runningAllocator(() => maps('/home/me/libjemalloc.so.2.backup/libz.so')), 'system');
  assert.equal(
    runningAllocator(() => {
      throw new Error('ENOENT');
    }),
    'system',
  );
});

test('the image installs jemalloc and preloads it from a path the launchers know, with the same settings', () => {
  const dockerfile = readFileSync(join(REPO_ROOT, 'deploy', 'Dockerfile'), 'utf8');
  assert.match(dockerfile, /apt-get install [^\n]*\blibjemalloc2\b/);
  const preload = /^\s*LD_PRELOAD=(\S+)/m.exec(dockerfile)?.[1];
  assert.ok(preload && JEMALLOC_PATHS.includes(preload), `LD_PRELOAD ${preload} not among ${JEMALLOC_PATHS.join(', ')}`);
  assert.match(dockerfile, new RegExp(`ln -s .* ${preload!.replace(/\./g, '\\.')}`));
  assert.equal(/^\s*MALLOC_CONF=(\S+)$/m.exec(dockerfile)?.[1], JEMALLOC_CONF);
});

test('members started as every launcher starts them run with jemalloc when it is installed, and with glibc when told', { timeout: 90_000 }, async (t) => {
  const installed = JEMALLOC_PATHS.some((p) => existsSync(p)) && !process.env.LD_PRELOAD && process.env.PLACEMENT_ALLOCATOR !== 'system';
  const mapped = (pid: number): boolean => /libjemalloc\.so/.test(readFileSync(`/proc/${pid}/maps`, 'utf8'));
  const reported = (log: string): string | undefined => /"allocator":"(\w+)"/.exec(log)?.[1];
  const envs: Record<string, string>[] = [{}, { PLACEMENT_ALLOCATOR: 'system' }];
  for (const env of envs) {
    const c = await startCluster({ nodes: 1, env });
    t.after(() => c.stop());
    const want = installed && !env.PLACEMENT_ALLOCATOR ? 'jemalloc' : 'system';
    const pid = c.nodes[0]!.pid!;
    assert.equal(mapped(pid), want === 'jemalloc', `member with ${JSON.stringify(env)}: jemalloc mapped`);
    await c.waitFor(async () => reported(c.logs(c.nodes[0]!.id)) !== undefined, { what: 'the start log line' });
    assert.equal(reported(c.logs(c.nodes[0]!.id)), want);
    await c.stop();
  }
});
