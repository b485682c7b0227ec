// Crash test with real processes: a child appends to the WAL and reports every save it has been
// told is durable; the parent SIGKILLs it at random moments, reopens the WAL and checks that the
// recovered state equals "all acknowledged saves, plus possibly some of the unacknowledged ones in
// order, the first of those possibly cut at a record boundary" — nothing lost, nothing partial.
// Every other round the child zero-fills its active segment ahead of the data (preallocation).

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Wal, type WalRecovered } from '../../storage/index.js';
import { payload, rng, seedFromEnv, tempDir } from './helpers.js';
import type { SaveIntent } from './fixtures/wal-writer.js';

const WRITER = fileURLToPath(new URL('./fixtures/wal-writer.ts', import.meta.url));
const dataSize = (index: number): number => 8 + ((index * 37) % 300);

/** Independent model of the log semantics (not the WAL's own code). */
class Model {
  terms = new Map<number, number>();
  base = 0;
  snapshot: { index: number; term: number } | undefined;
  hs = { term: 0, vote: 0, commit: 0 };
  lastIndex(): number {
    let m = this.base;
    while (this.terms.has(m + 1)) m++;
    return m;
  }
  clone(): Model {
    const m = new Model();
    m.terms = new Map(this.terms);
    m.base = this.base;
    m.snapshot = this.snapshot;
    m.hs = { ...this.hs };
    return m;
  }
  /** Apply the records of one save; `records` limits how many of its records (snapshot, entries, hard state) take effect. */
  apply(s: SaveIntent, records = 3): void {
    const recs: (() => void)[] = [];
    if (s.snapshot) {
      const snap = s.snapshot;
      recs.push(() => {
        if (this.snapshot && snap.index <= this.snapshot.index) return;
        const keep = this.terms.get(snap.index) === snap.term;
        for (const i of [...this.terms.keys()]) if (!keep || i <= snap.index) this.terms.delete(i);
        this.base = snap.index;
        this.snapshot = snap;
      });
    }
    if (s.n) {
      recs.push(() => {
        for (const i of [...this.terms.keys()]) if (i >= s.first!) this.terms.delete(i);
        for (let i = 0; i < s.n!; i++) this.terms.set(s.first! + i, s.term);
      });
    }
    if (s.hs) recs.push(() => (this.hs = { ...s.hs! }));
    recs.slice(0, records).forEach((f) => f());
  }
  recordCount(s: SaveIntent): number {
    return (s.snapshot ? 1 : 0) + (s.n ? 1 : 0) + (s.hs ? 1 : 0);
  }
  matches(r: WalRecovered): string | undefined {
    if (r.snapshot?.index !== this.snapshot?.index || r.snapshot?.term !== this.snapshot?.term) return 'snapshot differs';
    if (JSON.stringify(r.hardState) !== JSON.stringify(this.hs)) return 'hard state differs';
    const last = this.lastIndex();
    if (r.entries.length !== last - this.base) return `length ${r.entries.length} vs ${last - this.base}`;
    for (let i = 0; i < r.entries.length; i++) {
      const e = r.entries[i];
      if (e.index !== this.base + 1 + i || e.term !== this.terms.get(e.index)) return `entry ${e.index} differs`;
    }
    return undefined;
  }
}

function runChild(dir: string, seed: number, firstId: number, killAfterMs: number, preallocateBytes: number, kids: Set<ChildProcess>): Promise<{ intents: SaveIntent[]; durable: Set<number>; recoveredLast: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(seed), String(firstId), String(preallocateBytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
    kids.add(child);
    const intents: SaveIntent[] = [];
    const durable = new Set<number>();
    let recoveredLast = -1;
    let buf = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('R ')) {
          recoveredLast = Number(line.slice(2));
          // Start the kill clock once the child is running.
          timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        } else if (line.startsWith('I ')) intents.push(JSON.parse(line.slice(2)) as SaveIntent);
        else if (line.startsWith('D ')) durable.add(Number(line.slice(2)));
        else if (line.startsWith('E ')) reject(new Error(`child error: ${line}`));
      }
    });
    child.on('exit', (code, signal) => {
      kids.delete(child);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code ?? signal}`));
      else resolve({ intents, durable, recoveredLast });
    });
  });
}

describe('WAL crash safety (real processes, SIGKILL)', () => {
  it('every acknowledged save survives; no partial record is visible', { timeout: 90_000 }, async () => {
    const seed = seedFromEnv('wal crash');
    const rand = rng(seed);
    const dir = tempDir(after, 'walcrash');
    const kids = new Set<ChildProcess>();
    after(() => {
      for (const k of kids) k.kill('SIGKILL');
    });
    let model = new Model();
    let nextId = 1;
    const rounds = 6;
    let totalAcked = 0;
    for (let round = 0; round < rounds; round++) {
      const killAfter = 20 + Math.floor(rand() * 400);
      // Rounds alternate a child that zero-fills its active segment ahead and one that does not:
      // each recovers the other's files (this process reopens without preallocating).
      const preallocateBytes = round % 2 === 0 ? 4096 + Math.floor(rand() * 8192) : 0;
      const { intents, durable, recoveredLast } = await runChild(dir, Math.floor(rand() * 2 ** 31), nextId, killAfter, preallocateBytes, kids);
      assert.equal(recoveredLast, model.lastIndex(), `round ${round}: child recovered a different log`);
      nextId += intents.length + 1;
      const maxAcked = Math.max(0, ...[...durable].map((id) => intents.findIndex((s) => s.id === id) + 1));
      totalAcked += durable.size;
      const { wal, recovered } = await Wal.open(dir, { segmentBytes: 16 * 1024 });
      // Candidates: acked prefix + k more saves, the (k+1)-th possibly cut after some of its records.
      let m = model.clone();
      for (let i = 0; i < maxAcked; i++) m.apply(intents[i]);
      let found: Model | undefined;
      const problems: string[] = [];
      for (let k = maxAcked; k <= intents.length && !found; k++) {
        const s = intents[k];
        if (s) {
          for (let recs = 0; recs < m.recordCount(s) && !found; recs++) {
            const partial = m.clone();
            partial.apply(s, recs);
            const why = partial.matches(recovered);
            if (!why) found = partial;
            else if (problems.length < 3) problems.push(`k=${k} recs=${recs}: ${why}`);
          }
          if (!found) m.apply(s);
        } else {
          const why = m.matches(recovered);
          if (!why) found = m;
          else problems.push(`all: ${why}`);
        }
      }
      assert.ok(found, `round ${round} (seed ${seed}): recovered state matches no allowed prefix: ${problems.join('; ')}`);
      // Content is intact.
      for (const e of recovered.entries) assert.deepEqual(e.data, payload(e.index, e.term, dataSize(e.index)), `entry ${e.index} data`);
      console.log(`# round ${round}: preallocate ${preallocateBytes} B, kill after ${killAfter} ms, ${intents.length} saves issued, ${durable.size} acked, recovered last index ${wal.lastIndex}, ${wal.segmentCount} segments${recovered.truncatedTail ? `, torn tail ${recovered.truncatedTail.droppedBytes} B` : ''}`);
      model = found;
      await wal.close();
    }
    assert.ok(totalAcked > 0, 'the child acknowledged some saves');
  });
});
