// Kill a process applying Txns (and compactions, whose physical removal runs in the background)
// with SIGKILL at random moments; after each reopen every Txn is whole or absent: at every
// retained revision, the keys t/0..t/4 hold the same value at the same mod revision, exactly one
// d/<i> exists, and the history agrees with the applied index.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { StateMachine } from '../../storage/index.js';
import { RangeRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';
import { COMPACT_EVERY, WIDTH, revisionAfter } from './fixtures/sm-txn-applier.js';

const APPLIER = fileURLToPath(new URL('./fixtures/sm-txn-applier.ts', import.meta.url));
const B = (s: string): Buffer => Buffer.from(s);

async function checkWholeTxns(sm: StateMachine): Promise<number> {
  const n = sm.appliedIndex;
  assert.equal(sm.revision, revisionAfter(n), `revision after ${n} entries`);
  const lastCompaction = Math.floor(n / COMPACT_EVERY) * COMPACT_EVERY;
  const compactRev = lastCompaction > 0 ? revisionAfter(lastCompaction) - 5 : -1;
  assert.equal(sm.compactRevision, compactRev);
  // The entry that made each revision.
  const byRev = new Map<number, number>();
  for (let i = 1; i <= n; i++) if (i % COMPACT_EVERY !== 0) byRev.set(revisionAfter(i), i);
  let checked = 0;
  for (let rev = Math.max(2, compactRev); rev <= sm.revision; rev++) {
    const i = byRev.get(rev)!;
    const t = await sm.range(RangeRequest.fromPartial({ key: B('t/'), rangeEnd: B('t0'), revision: rev }));
    assert.equal(t.kvs.length, WIDTH, `t/ at revision ${rev}`);
    for (const kv of t.kvs) {
      assert.equal(kv.value.toString(), String(i), `${kv.key} at revision ${rev}`);
      assert.equal(kv.modRevision, rev);
      assert.equal(kv.version, rev - 1);
    }
    const d = await sm.range(RangeRequest.fromPartial({ key: B('d/'), rangeEnd: B('d0'), revision: rev }));
    assert.deepEqual(d.kvs.map((kv) => kv.key.toString()), [`d/${i}`], `d/ at revision ${rev}`);
    checked++;
  }
  return checked;
}

describe('StateMachine crash safety with Txns (real processes, SIGKILL)', () => {
  it('every Txn is whole or absent at every retained revision after a kill', { timeout: 120_000 }, async () => {
    const seed = seedFromEnv('sm txn crash');
    const rand = rng(seed);
    const smDir = join(tempDir(after, 'smtxncrash'), 'sm');
    const kids = new Set<ChildProcess>();
    after(() => {
      for (const k of kids) k.kill('SIGKILL');
    });
    for (let round = 0; round < 6; round++) {
      const killAfter = 30 + Math.floor(rand() * 400);
      const lastAcked = await new Promise<number>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', APPLIER, smDir, String(Math.floor(rand() * 2 ** 31))], { stdio: ['ignore', 'pipe', 'inherit'] });
        kids.add(child);
        let acked = 0;
        let buf = '';
        child.stdout!.on('data', (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const [tag, num] = buf.slice(0, nl).split(' ');
            buf = buf.slice(nl + 1);
            if (tag === 'R') {
              acked = Number(num);
              setTimeout(() => child.kill('SIGKILL'), killAfter);
            } else if (tag === 'A') acked = Number(num);
          }
        });
        child.on('exit', (code, signal) => {
          kids.delete(child);
          if (signal === 'SIGKILL') resolve(acked);
          else reject(new Error(`applier exited with ${code ?? signal}`));
        });
      });
      const sm = await StateMachine.open(smDir);
      try {
        assert.ok(sm.appliedIndex >= lastAcked, `lost applied entries: ${sm.appliedIndex} < ${lastAcked}`);
        const checked = await checkWholeTxns(sm);
        console.log(`# round ${round}: killed after ${killAfter} ms; acked ${lastAcked}, recovered ${sm.appliedIndex}, revision ${sm.revision}, ${checked} revisions checked`);
        // Physical compaction resumes and finishes on the recovered state; the answers stay the same.
        await sm.waitCompaction(sm.compactRevision);
        assert.equal(sm.compaction.lastError, undefined);
        await checkWholeTxns(sm);
      } finally {
        await sm.close();
      }
    }
  });
});
