// Compaction releases what it drops (issue 16 item 8: after writing 300 values of 1 MiB, the node
// held all 300 MiB of entries although its snapshots had compacted the log to 193: the dead
// prefix of the log's array is sliced off only past 1024 slots, and until then it kept them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { EntryType, type Entry } from '../../raft/index.js';
import { RaftLog } from '../../raft/log.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** `n` entries of 64 KiB and a weak reference to each one's data (the log holds the only strong ones). */
function entries(n: number): { ents: Entry[]; refs: WeakRef<Uint8Array>[] } {
  const ents: Entry[] = [];
  const refs: WeakRef<Uint8Array>[] = [];
  for (let i = 1; i <= n; i++) {
    const data = new Uint8Array(64 * 1024).fill(i);
    ents.push({ term: 1, index: i, type: EntryType.Normal, data });
    refs.push(new WeakRef(data));
  }
  return { ents, refs };
}

test('RaftLog: entries compacted away are no longer reachable through the log; the rest are intact', async () => {
  const made = entries(300);
  const log = new RaftLog(0, 0, made.ents);
  made.ents.length = 0;
  const refs = made.refs;
  log.commitTo(300);
  log.applied = 300;
  log.compact(100);
  log.compact(193);
  // A WeakRef's target stays alive for the job that made it: collect in a later turn.
  await new Promise((r) => setImmediate(r));
  gc();
  const alive = refs.map((r) => r.deref() !== undefined);
  assert.deepEqual(alive.slice(0, 193).filter(Boolean).length, 0, 'entries 1..193 were compacted');
  assert.ok(alive.slice(193).every(Boolean), 'entries 194..300 are still in the log');
  assert.deepEqual([log.firstIndex(), log.lastIndex(), log.term(193), log.term(194)], [194, 300, 1, 1]);
  assert.equal(log.entry(250)!.data[0], 250 & 0xff);
  assert.deepEqual(log.slice(194, 301).map((e) => e.index), Array.from({ length: 107 }, (_, i) => 194 + i));
  assert.deepEqual(log.toApply(), []);
});
