// `npm run bench:zk`: the measurements of `npm run bench`, run against a local 3-member ZooKeeper
// ensemble for a head-to-head number. ZooKeeper comes from Debian (`apt-get install -y zookeeper`,
// 3.8): the members are three separate JVMs (`java -cp /usr/share/java/zookeeper.jar
// QuorumPeerMain zoo.cfg`) on loopback, each with its own zoo.cfg and data dir under os.tmpdir(),
// ports picked free at run time, the admin server off, and forceSync=yes (ZooKeeper's default: it
// fsyncs its transaction log before acknowledging, as we fsync our Raft log).
//
// Client: the pure-JS node-zookeeper-client, which (like ZooKeeper's own clients) multiplexes all
// requests of a session over one TCP connection. The same drive loop and percentile method as
// bench/cluster.ts (bench/measure.ts), BENCH_SECONDS (default 5) per measurement, and the same
// columns. Measured:
//   - writes: setData of a 256-byte value on znodes /bench/<n>/<i % 10000> that were created
//     (untimed, in multi batches) before the run, at 1, 16, 64 and 256 in flight, sent to the leader's
//     client port (the leader is the member whose `srvr` says "Mode: leader");
//   - the same writes at the highest level through a session on a follower (followers forward
//     writes to the leader, so this is what a client that didn't pick the leader gets);
//   - reads: getData at 64 and 256 in flight (BENCH_READ_CONCURRENCY) spread over one session per member. ZooKeeper serves reads
//     from the local replica, so this compares with our *serializable* reads; "sync+getData" sends
//     a sync and then the getData on the same session (pipelined; the session's FIFO order makes
//     the read wait for the sync), ZooKeeper's recipe for an up-to-date read, which is the closest
//     thing to our linearizable (ReadIndex) reads;
//   - RSS of every member at the end; CPU (user+sys) per op of all members, of the leader, and of
//     this load generator.
// Warm-up: BENCH_WARMUP (default 5) seconds of writes and then of reads before measuring, not the
// 1.5 s of writes of bench/cluster.ts: the JVMs need it for their JIT (see main()).
// Options (env): BENCH_SECONDS, BENCH_WARMUP, BENCH_CONCURRENCY (e.g. "1,16,64"), ZK_JAR (default
// /usr/share/java/zookeeper.jar; its manifest carries the classpath), JAVA_BIN (default java),
// ZK_HEAP (default 512m, the JVM's -Xmx).
import { cpuSeconds, drive, header, keepRawOutput, line, READ_LEVELS, READ_SPREAD, readRatios, readTarget, rssMiB, type Result } from './measure.js';
import { VALUE, create, findLeader, getData, open, populate, setData, startZooKeeper, sync, versions } from './zk-ensemble.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5); // seconds of writes, then of reads, untimed
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64,256').split(',').map(Number);
const KEYS = 10_000;

async function main(): Promise<void> {
  keepRawOutput('zookeeper');
  console.log('starting a 3-member ZooKeeper ensemble ...');
  const zk = await startZooKeeper();
  try {
    const members = zk.members;
    const leader = await findLeader(members);
    const follower = members.find((m) => m !== leader)!;
    console.log(`${await versions(leader)}; data under ${zk.root}`);
    const lc = await open(leader.clientPort);
    const fc = await open(follower.clientPort);
    const all = await Promise.all(members.map((m) => open(m.clientPort)));

    await create(lc, '/bench', Buffer.alloc(0));
    const top = Math.max(...LEVELS);
    for (const n of new Set(LEVELS)) await populate(lc, `/bench/${n}`, KEYS);
    await populate(lc, '/bench/follower', KEYS);
    await populate(lc, '/bench/warm', 1000);
    console.log(`leader: ${leader.name} (pid ${leader.pid}); ${SECONDS} s per measurement after ${WARMUP} s + ${WARMUP} s of write + read warm-up; 256-byte values; reads spread per ${READ_SPREAD}; setData on ${KEYS} pre-created znodes per level\n`);
    console.log(header());
    // Longer than our 1.5 s: HotSpot's C2 compiles a method only after ~10k calls, and without this
    // the first measurements (and the reads) run partly interpreted and come out ~30% lower.
    await drive('warm-up', 16, WARMUP, (i) => setData(lc, `/bench/warm/${i % 1000}`, VALUE));
    await drive('warm-up reads', 64, WARMUP, (i) => Promise.all([sync(all[i % 3]!, '/bench/warm'), getData(all[i % 3]!, `/bench/warm/${i % 1000}`)]));
    const results: Result[] = [];
    const measure = async (name: string, n: number, op: (i: number, worker: number) => Promise<unknown>): Promise<void> => {
      const n0 = members.reduce((a, m) => a + cpuSeconds(m.pid), 0);
      const l0 = cpuSeconds(leader.pid);
      const c0 = process.cpuUsage();
      const r = await drive(name, n, SECONDS, op);
      const cu = process.cpuUsage(c0);
      const n1 = members.reduce((a, m) => a + cpuSeconds(m.pid), 0);
      const l1 = cpuSeconds(leader.pid);
      console.log(line(r, n1 - n0, (cu.user + cu.system) / 1e6, l1 - l0));
      results.push(r);
    };
    for (const n of LEVELS) await measure('write (setData)', n, (i) => setData(lc, `/bench/${n}/${i % KEYS}`, VALUE));
    await measure('write via follower', top, (i) => setData(fc, `/bench/follower/${i % KEYS}`, VALUE));
    const readKey = (i: number): string => `/bench/warm/${i % 1000}`;
    for (const n of READ_LEVELS) {
      await measure('read sync+getData', n, (i, w) => {
        const c = all[readTarget(i, w, 3)]!;
        return Promise.all([sync(c, readKey(i)), getData(c, readKey(i))]);
      });
      await measure('read getData (local)', n, (i, w) => getData(all[readTarget(i, w, 3)]!, readKey(i)));
    }
    const ratios = readRatios(results.filter((r) => r.name !== 'write via follower'), (r) => r.name === 'write (setData)');
    if (ratios.length > 0) console.log(`\n${ratios.join('\n')}`);
    const still = await findLeader(members);
    if (still !== leader) console.log(`\nnote: leadership moved to ${still.name} during the run`);
    console.log(`\nRSS per member (MiB): ${members.map((m) => `${m.name}${m === leader ? ' (leader)' : ''}: ${rssMiB(m.pid)}`).join(', ')}`);
  } finally {
    await zk.stop();
  }
}

main().then(
  () => process.exit(0), // node-zookeeper-client may hold timers after close()
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
