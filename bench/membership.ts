// `npm run bench:membership`: growing a loaded cluster, on a 3-member cluster holding a sizable
// keyspace (BENCH_KEYSPACE_MIB, default 100, of BENCH_VALUE_KIB-KiB values, default 64):
//   1. write throughput before (BENCH_WRITERS concurrent 1 KiB writes, default 16, for BENCH_SECONDS, default 5);
//   2. snapshot save: a backup downloaded from GET /v1/maintenance/snapshot, MB/s;
//   3. a learner is added, started, and promoted as soon as the leader accepts (it refuses while
//      the learner has not caught up): time from MemberAdd to the promotion, and write
//      throughput during that time relative to before.
// No reference system is run here: etcd's numbers for the same flow are not measured in this run,
// so these are absolute numbers for this machine, not ratios.
import { PlacementClient } from '../src/client/index.js';
import { startCluster } from '../test/support/cluster.js';
import { keepRawOutput } from './measure.js';

const KEYSPACE_MIB = Number(process.env.BENCH_KEYSPACE_MIB ?? 100);
const VALUE_KIB = Number(process.env.BENCH_VALUE_KIB ?? 64);
const WRITERS = Number(process.env.BENCH_WRITERS ?? 16);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const f = (n: number, d = 1): string => n.toFixed(d);

async function main(): Promise<void> {
  keepRawOutput('membership');
  console.log(`starting a 3-member Placement Center cluster (src/ via tsx) ...`);
  const c = await startCluster({ nodes: 3, env: { PLACEMENT_LOG_LEVEL: 'info' } });
  const eps = c.nodes.map((n) => n.grpcAddress);
  const client = new PlacementClient({ endpoints: eps, deadlineMs: 30_000 });
  try {
    // Load the keyspace.
    const value = Buffer.alloc(VALUE_KIB * 1024, 'x');
    const count = Math.ceil((KEYSPACE_MIB * 1024) / VALUE_KIB);
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        for (let i = next++; i < count; i = next++) await client.kv.set(`/load/${String(i).padStart(8, '0')}`, value);
      }),
    );
    const loadS = (performance.now() - t0) / 1000;
    console.log(`loaded ${count} keys × ${VALUE_KIB} KiB = ${KEYSPACE_MIB} MiB in ${f(loadS)} s (${f(KEYSPACE_MIB / loadS)} MiB/s)`);

    // Small writes: counted while `running`.
    const small = Buffer.alloc(1024, 'y');
    let writes = 0;
    let errors = 0;
    let running = true;
    let n = 0;
    const writers = Array.from({ length: WRITERS }, async () => {
      while (running) {
        try {
          await client.kv.set(`/w/${n++ % 10_000}`, small);
          writes++;
        } catch {
          errors++;
        }
      }
    });
    const rate = async (during: () => Promise<void>): Promise<{ perS: number; s: number }> => {
      const w0 = writes;
      const s0 = performance.now();
      await during();
      const s = (performance.now() - s0) / 1000;
      return { perS: (writes - w0) / s, s };
    };
    const before = await rate(() => new Promise((r) => setTimeout(r, SECONDS * 1000)));
    console.log(`writes before: ${f(before.perS, 0)}/s (1 KiB, ${WRITERS} concurrent, ${SECONDS} s)`);

    // Snapshot save over the admin HTTP (the same backup as Maintenance.Snapshot).
    const s0 = performance.now();
    const res = await fetch(`http://${c.nodes[0]!.httpAddress}/v1/maintenance/snapshot`);
    let bytes = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
    const saveS = (performance.now() - s0) / 1000;
    if (res.status !== 200 || bytes !== Number(res.headers.get('content-length'))) throw new Error(`snapshot download failed: HTTP ${res.status}, ${bytes} bytes`);
    console.log(`snapshot save (during writes): ${f(bytes / 1048576)} MiB in ${f(saveS, 2)} s = ${f(bytes / 1048576 / saveS)} MiB/s`);

    // Add a learner, start it, promote it as soon as the leader accepts.
    let id = 0;
    let promoteAttempts = 0;
    const during = await rate(async () => {
      const address = c.spareGrpcAddress();
      id = (await client.cluster.memberAdd(address, { isLearner: true })).memberId;
      c.addNode(id, [1, 2, 3]);
      await c.start(id);
      for (;;) {
        promoteAttempts++;
        try {
          await client.cluster.memberPromote(id);
          return;
        } catch (err) {
          if (!/has not caught up|not in sync/.test((err as Error).message)) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    });
    console.log(`learner ${id}: MemberAdd → started → promoted in ${f(during.s, 2)} s (${promoteAttempts} promote attempts)`);
    console.log(`writes during the catch-up: ${f(during.perS, 0)}/s = ${f((during.perS / before.perS) * 100, 0)}% of before`);
    running = false;
    await Promise.all(writers);
    console.log(`write errors: ${errors}`);
    // Stability over the whole run: elections (the term starts at 1 once the first leader is
    // elected) and late Raft ticks (a blocked event loop), per member.
    const terms = await Promise.all([1, 2, 3, id].map(async (m) => (await c.tryStatus(m))?.term ?? 0));
    console.log(`leader elections after the first: ${Math.max(...terms) - 1} (term ${Math.max(...terms)})`);
    for (const m of [1, 2, 3, id]) {
      const late = c.logs(m).split('\n').filter((l) => l.includes('ticked late'));
      const gaps = late.map((l) => Number(/"gapMs":(\d+)/.exec(l)?.[1] ?? 0));
      console.log(`member ${m}: ${late.length} late ticks${late.length ? `, longest ${Math.max(...gaps)} ms` : ''}; snapshots sent: ${c.logs(m).split('\n').filter((l) => l.includes('"snapshot sent"')).length}`);
    }
  } finally {
    client.close();
    await c.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
