import { startCluster } from './cluster.js';
import { kvClient } from './kv.js';
const t0 = Date.now();
const c = await startCluster({ nodes: 3 });
try {
  const leader = await c.waitForLeader();
  console.log('leader', leader, Date.now() - t0, 'ms');
  const f = c.nodes.find((n) => n.id !== leader)!;
  const kv = kvClient(f.grpcAddress);
  const r = await kv.set({ key: 'a', value: Buffer.from('hello') });
  console.log('set', r);
  for (const n of c.nodes) {
    const k = kvClient(n.grpcAddress);
    console.log(n.id, (await k.get({ key: 'a' })).value.toString());
    k.close();
  }
  let t = Date.now();
  const N = 2000;
  let inflight = 0, done = 0, i = 0;
  const lk = kvClient(c.node(leader).grpcAddress);
  await new Promise<void>((res) => {
    const next = () => { while (inflight < 64 && i < N) { inflight++; i++; lk.set({ key: 'k' + i, value: Buffer.alloc(256) }).then(() => { inflight--; done++; if (done === N) res(); else next(); }, (e) => { console.log(e.message); inflight--; done++; if (done === N) res(); else next(); }); } };
    next();
  });
  console.log('writes/s', N / ((Date.now() - t) / 1000));
  console.log(await c.status(leader));
} finally {
  await c.stop();
}
