// Kill a process applying entries (and installing snapshots) with SIGKILL at random moments; on
// reopen the data must always be exactly the state after `appliedIndex` entries — never a batch
// applied without its index, or an index without its batch, or a half-installed snapshot.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import { StateMachine } from '../../storage/index.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';
import { KEYS, valueOf } from './fixtures/sm-applier.js';

const APPLIER = fileURLToPath(new URL('./fixtures/sm-applier.ts', import.meta.url));

async function checkStateIsFunctionOfIndex(sm: StateMachine): Promise<void> {
  const n = sm.appliedIndex;
  assert.equal(sm.revision, n + 1, 'every entry is a put: revision == applied index + 1 (a new store is at revision 1)');
  const { kvs } = await sm.list('');
  assert.equal(kvs.length, Math.min(n, KEYS));
  for (const kv of kvs) {
    const j = Number(kv.key.slice(1));
    // Entry i is the put at revision i + 1.
    const last = n - ((((n - j) % KEYS) + KEYS) % KEYS);
    assert.equal(kv.modRevision, last + 1, `${kv.key} mod revision at applied ${n}`);
    assert.ok(kv.value.equals(valueOf(last)), `${kv.key} value at applied ${n}`);
    assert.equal(kv.createRevision, (j === 0 ? KEYS : j) + 1);
    assert.equal(kv.version, Math.floor((last + 1 - kv.createRevision) / KEYS) + 1);
  }
}

describe('StateMachine crash safety (real processes, SIGKILL)', () => {
  it('applied index and data always agree, including kills during snapshot install', { timeout: 90_000 }, async () => {
    const seed = seedFromEnv('sm crash');
    const rand = rng(seed);
    const base = tempDir(after, 'smcrash');
    const smDir = join(base, 'sm');
    const snapDir = join(base, 'snap');
    const kids = new Set<ChildProcess>();
    after(() => {
      for (const k of kids) k.kill('SIGKILL');
    });
    let installs = 0;
    for (let round = 0; round < 6; round++) {
      const killAfter = 30 + Math.floor(rand() * 500);
      const { lastAcked, installing } = await new Promise<{ lastAcked: number; installing: boolean }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', APPLIER, smDir, snapDir, String(Math.floor(rand() * 2 ** 31))], { stdio: ['ignore', 'pipe', 'inherit'] });
        kids.add(child);
        let lastAcked = 0;
        let installing = false;
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const [tag, num] = buf.slice(0, nl).split(' ');
            buf = buf.slice(nl + 1);
            if (tag === 'R') {
              lastAcked = Number(num);
              setTimeout(() => child.kill('SIGKILL'), killAfter);
            } else if (tag === 'A') lastAcked = Number(num);
            else if (tag === 'S') installing = true;
            else if (tag === 'T') {
              installing = false;
              installs++;
              lastAcked = Number(num);
            }
          }
        });
        child.on('exit', (code, signal) => {
          kids.delete(child);
          if (signal === 'SIGKILL') resolve({ lastAcked, installing });
          else reject(new Error(`applier exited with ${code ?? signal}`));
        });
      });
      const sm = await StateMachine.open(smDir);
      try {
        console.log(`# round ${round}: killed after ${killAfter} ms${installing ? ' during an install' : ''}; acked ${lastAcked}, recovered ${sm.appliedIndex}`);
        if (!installing) assert.ok(sm.appliedIndex >= lastAcked, `lost applied entries: ${sm.appliedIndex} < ${lastAcked}`);
        await checkStateIsFunctionOfIndex(sm);
        assert.equal(readdirSync(smDir).filter((n) => n.startsWith('db-')).length, 1);
      } finally {
        await sm.close();
      }
    }
    console.log(`# ${installs} snapshot installs completed`);
  });
});
