import { readdirSync, readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { Wal } from '/work/main/storage/index.js';
import { readFrame, decodeBody } from '/work/main/storage/wal/record.js';
import { entry, rng } from '/work/main/test/storage/helpers.js';
const conf = { voters: [1], learners: [] };
const seed = Number(process.argv[2]);
const rand = rng(seed);
const dir = mkdtempSync('/tmp/dbg-');
const segmentBytes = 300 + Math.floor(rand() * 2000);
const log: string[] = [];
const orig = (Wal.prototype as any).rotate;
(Wal.prototype as any).rotate = async function () { log.push(`ROTATE durableSnap=${this.durableSnapshot?.index}`); return orig.call(this); };
const origC = Wal.prototype.compact;
Wal.prototype.compact = async function (i: number) { const n = await origC.call(this, i); log.push(`COMPACT ${i} dropped ${n} segs now ${(this as any).segments.map((s: any) => s.seq + ':' + s.maxIndex).join(',')}`); return n; };
function dump() {
  for (const f of readdirSync(dir).filter(n => n.endsWith('.wal')).sort()) {
    const buf = readFileSync(join(dir, f)); let off = 0; const out = [];
    for (;;) { const r = readFrame(buf, off); if (r.kind !== 'ok') break; const d: any = decodeBody(r.body);
      out.push(d.type === 2 ? `E${d.entries[0].index}-${d.entries.at(-1).index}t${d.entries[0].term}` : d.type === 4 ? `S${d.meta.index}t${d.meta.term}` : d.type === 3 ? 'H' : 'hdr'); off = r.next; }
    console.log(f, out.join(' '));
  }
}
let { wal } = await Wal.open(dir, { segmentBytes });
const model = new Map<number, number>(); let base = 0; let term = 1;
const last = () => { let m = base; while (model.has(m + 1)) m++; return m; };
try {
for (let step = 0; step < 300; step++) {
  const r = rand();
  const ps: Promise<unknown>[] = [];
  if (r < 0.05) { await wal.close(); log.push('REOPEN'); ({ wal } = await Wal.open(dir, { segmentBytes })); }
  else if (r < 0.12 && last() > base) {
    const s = base + 1 + Math.floor(rand() * (last() - base)); const t = model.get(s)!;
    await wal.save({ snapshot: { index: s, term: t, confState: conf } }); log.push(`localsnap ${s}t${t}`);
    for (const k of [...model.keys()]) if (k <= s) model.delete(k); base = s;
    if (rand() < 0.8) await wal.compact(s);
  } else if (r < 0.15) {
    term++; const s = last() + Math.floor(rand() * 4) - 1;
    if (s > base) { const keep = model.get(s) === term; await wal.save({ snapshot: { index: s, term, confState: conf } }); log.push(`recvsnap ${s}t${term} keep=${keep}`); for (const k of [...model.keys()]) if (!keep || k <= s) model.delete(k); base = s; }
  } else if (r < 0.3 && last() > base + 1) {
    term++; const first = Math.max(base + 1, last() - Math.floor(rand() * 10)); const n = 1 + Math.floor(rand() * 5);
    const es = []; for (let i = first; i < first + n; i++) es.push(entry(i, term, 20));
    for (const k of [...model.keys()]) if (k >= first) model.delete(k); for (const e of es) model.set(e.index, term);
    log.push(`overwrite ${first}-${first+n-1}t${term}`);
    ps.push(wal.save({ entries: es, hardState: { term, vote: 1, commit: base } }));
  } else {
    const first = last() + 1; const n = 1 + Math.floor(rand() * 8);
    const es = []; for (let i = first; i < first + n; i++) es.push(entry(i, term, 20 + Math.floor(rand() * 60)));
    for (const e of es) model.set(e.index, term); log.push(`append ${first}-${first+n-1}t${term}`);
    ps.push(wal.save({ entries: es }));
  }
  await Promise.all(ps);
}
console.log('no failure');
} catch (e) { console.log(log.slice(-40).join('\n')); dump(); console.log(String(e)); }
