import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import { Wal } from '../../storage/index.js';
import { entry, rng, tempDir } from './helpers.js';
const conf = { voters: [1], learners: [] };
it('fuzz2 pipelined', async () => {
  for (let seed = Number(process.env.S ?? 1); seed <= Number(process.env.N ?? 30); seed++) {
    console.log('seed', seed);
    const rand = rng(seed * 7919);
    const dir = tempDir(after);
    const segmentBytes = 300 + Math.floor(rand() * 3000);
    let { wal } = await Wal.open(dir, { segmentBytes });
    const model = new Map<number, number>(); let base = 0; let snap: {index:number,term:number}|undefined; let term = 1; let hs = {term:0,vote:0,commit:0};
    const last = () => { let m = base; while (model.has(m + 1)) m++; return m; };
    let ps: Promise<unknown>[] = [];
    for (let step = 0; step < 400; step++) {
      const r = rand();
      if (r < 0.03) { await Promise.all(ps); ps = []; await wal.close(); ({ wal } = await Wal.open(dir, { segmentBytes }));
        assert.equal(wal.lastIndex, last(), `seed ${seed} step ${step} reopen`);
      } else if (r < 0.12 && last() > base) {
        const s = base + 1 + Math.floor(rand() * (last() - base));
        const t = model.get(s)!;
        const p = wal.save({ snapshot: { index: s, term: t, confState: conf } });
        for (const k of [...model.keys()]) if (k <= s) model.delete(k);
        base = s; snap = { index: s, term: t };
        if (rand() < 0.5) { await p; ps.push(wal.compact(s)); } else ps.push(p, wal.compact(Math.max(0, s - Math.floor(rand() * 20))));
      } else if (r < 0.14) {
        term++; const s = last() + Math.floor(rand() * 4) - 1;
        if (s > base) { const keep = model.get(s) === term; ps.push(wal.save({ snapshot: { index: s, term, confState: conf } })); for (const k of [...model.keys()]) if (!keep || k <= s) model.delete(k); base = s; snap = {index:s, term}; }
      } else if (r < 0.3 && last() > base + 1) {
        term++; const first = Math.max(base + 1, last() - Math.floor(rand() * 15)); const n = 1 + Math.floor(rand() * 5);
        const es = []; for (let i = first; i < first + n; i++) es.push(entry(i, term, 20));
        for (const k of [...model.keys()]) if (k >= first) model.delete(k);
        for (const e of es) model.set(e.index, term);
        hs = { term, vote: 1 + (step % 3), commit: base };
        ps.push(wal.save({ entries: es, hardState: hs }));
      } else {
        const first = last() + 1; const n = 1 + Math.floor(rand() * 8);
        const es = []; for (let i = first; i < first + n; i++) es.push(entry(i, term, 20 + Math.floor(rand()*80)));
        for (const e of es) model.set(e.index, term);
        if (rand() < 0.3) { hs = { ...hs, commit: hs.commit + 1 }; ps.push(wal.save({ entries: es, hardState: hs })); } else ps.push(wal.save({ entries: es }));
      }
      if (rand() < 0.2) { await Promise.all(ps); ps = []; }
    }
    await Promise.all(ps);
    await wal.close();
    const o = await Wal.open(dir, { segmentBytes });
    const rec = o.recovered;
    assert.equal(rec.snapshot?.index, snap?.index, `seed ${seed}`);
    assert.deepEqual(rec.hardState, hs, `seed ${seed}`);
    assert.deepEqual(rec.entries.map(e => [e.index, e.term]), [...model.entries()].sort((a,b)=>a[0]-b[0]), `seed ${seed}`);
    for (const e of rec.entries) assert.deepEqual(e.data.length >= 20, true);
    await o.wal.close();
  }
});
