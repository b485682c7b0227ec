import { startNode } from '../../src/node/index.js';
import { resolveConfig } from '../../src/config/index.js';
import { freePorts } from './cluster.js';
import { kvClient } from './kv.js';
import { rmSync } from 'node:fs';
const ports = await freePorts(6);
const peers = [1, 2, 3].map((id) => `${id}=127.0.0.1:${ports[id * 2 - 2]}`).join(',');
rmSync('/tmp/inproc', { recursive: true, force: true });
const nodes = [];
for (const id of [1, 2, 3]) {
  const cfg = resolveConfig({ id, dataDir: `/tmp/inproc/${id}`, listen: `127.0.0.1:${ports[id * 2 - 2]}`, http: `127.0.0.1:${ports[id * 2 - 1]}`, peers, logLevel: 'warn' } as never, {});
  nodes.push(await startNode(cfg));
}
let leader = 0;
while (!leader) { await new Promise((r) => setTimeout(r, 50)); leader = nodes[0]!.node.clusterStatus().leaderId; }
const ln = nodes[leader - 1]!;
const kv = kvClient(`127.0.0.1:${ln.grpcPort}`);
const N = Number(process.env.N ?? 3000);
const t = Date.now(); const cpu0 = process.cpuUsage();
let inflight = 0, done = 0, i = 0;
await new Promise<void>((res) => {
  const next = () => { while (inflight < 64 && i < N) { inflight++; i++; kv.set({ key: 'k' + i, value: Buffer.alloc(256) }).then(() => { inflight--; done++; if (done === N) res(); else next(); }, (e) => { console.log(e.message); inflight--; done++; if (done === N) res(); else next(); }); } };
  next();
});
const cu = process.cpuUsage(cpu0); console.log('writes/s', N / ((Date.now() - t) / 1000), 'cpu us/write', (cu.user + cu.system) / N);
await Promise.all(nodes.map((n) => n.stop()));
process.exit(0);
