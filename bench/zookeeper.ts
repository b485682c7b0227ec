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
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zookeeper, { type Client as ZkClient, type Transaction } from 'node-zookeeper-client';
import { freePorts, poll } from '../test/support/cluster.js';
import { Children } from './children.js';
import { READ_LEVELS, READ_SPREAD, cpuSeconds, drive, header, line, readRatios, readTarget, rssMiB, type Result } from './measure.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 5); // seconds of writes, then of reads, untimed
const LEVELS = (process.env.BENCH_CONCURRENCY ?? '1,16,64,256').split(',').map(Number);
const VALUE = Buffer.alloc(256, 0x61);
const ZK_JAR = process.env.ZK_JAR ?? '/usr/share/java/zookeeper.jar';
const JAVA = process.env.JAVA_BIN ?? 'java';
const HEAP = process.env.ZK_HEAP ?? '512m';
// Debian's zookeeper.jar only brings slf4j-api (no binding, so no logs at all); add the simple
// binding when it is there, at WARN, so a member that fails to start says why in its log file.
const SLF4J_SIMPLE = '/usr/share/java/slf4j-simple.jar';
const KEYS = 10_000;

// ---- the ZooKeeper ensemble ----
interface Member { id: number; name: string; clientPort: number; proc: ChildProcess; pid: number; log: string }
const children = new Children();
let tempRoot: string | null = null;
children.atExit(() => {
  if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
});

function checkInstall(): void {
  const java = spawnSync(JAVA, ['-version'], { stdio: 'ignore' });
  if (!existsSync(ZK_JAR) || java.error || java.status !== 0) {
    const what = !existsSync(ZK_JAR) ? `${ZK_JAR} not found` : `cannot run ${JAVA}`;
    console.error(`ZooKeeper is not available (${what}).\nInstall Debian's ZooKeeper 3.8 (it pulls in a JRE) with:\n\n  sudo apt-get install -y zookeeper\n\nor point ZK_JAR / JAVA_BIN at an existing install.`);
    process.exit(1);
  }
}

/** Sends a four-letter word to a member's client port and returns the whole reply. */
function fourLetter(port: number, word: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let out = '';
    s.setTimeout(timeoutMs, () => s.destroy(new Error(`${word} on :${port} timed out`)));
    s.on('connect', () => s.end(word));
    s.on('data', (d: Buffer) => (out += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(out));
  });
}

async function mode(m: Member): Promise<string | null> {
  if (m.proc.exitCode !== null || m.proc.signalCode !== null) throw new Error(`ZooKeeper ${m.name} exited; see ${m.log}`);
  return /^Mode: (\w+)/m.exec(await fourLetter(m.clientPort, 'srvr'))?.[1] ?? null;
}

async function startEnsemble(root: string): Promise<Member[]> {
  const ports = await freePorts(9); // per member: client, quorum, election
  const ids = [1, 2, 3];
  const servers = ids.map((id, i) => `server.${id}=127.0.0.1:${ports[3 * i + 1]}:${ports[3 * i + 2]}`);
  const cp = [ZK_JAR, ...(existsSync(SLF4J_SIMPLE) ? [SLF4J_SIMPLE] : [])].join(':');
  const members = ids.map((id, i) => {
    const name = `zk${id}`;
    const dir = join(root, name);
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(join(dir, 'data', 'myid'), `${id}\n`);
    const cfg = join(dir, 'zoo.cfg');
    writeFileSync(cfg, [
      'tickTime=2000',
      'initLimit=10',
      'syncLimit=5',
      `dataDir=${join(dir, 'data')}`,
      `clientPort=${ports[3 * i]}`,
      'clientPortAddress=127.0.0.1',
      'maxClientCnxns=0',
      'forceSync=yes', // the default, spelled out: fsync the txn log before acknowledging
      '4lw.commands.whitelist=srvr,stat,ruok',
      'admin.enableServer=false',
      ...servers,
      '',
    ].join('\n'));
    const log = join(root, `${name}.log`);
    const fd = openSync(log, 'a');
    const proc = spawn(JAVA, [
      `-Xmx${HEAP}`,
      '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn',
      '-Dorg.slf4j.simpleLogger.showDateTime=true',
      '-Dzookeeper.jmx.log4j.disable=true',
      '-cp', cp,
      'org.apache.zookeeper.server.quorum.QuorumPeerMain', cfg,
    ], { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    children.add(proc);
    if (proc.pid === undefined) throw new Error(`could not start ${JAVA}`);
    return { id, name, clientPort: ports[3 * i]!, proc, pid: proc.pid, log };
  });
  // A member answers srvr with a Mode only once it is in a quorum (leader or follower).
  for (const m of members) await poll(() => mode(m), { what: `ZooKeeper ${m.name} to join a quorum`, timeoutMs: 60_000, intervalMs: 100 });
  return members;
}

async function findLeader(members: Member[]): Promise<Member> {
  return poll(async () => {
    for (const m of members) if ((await mode(m)) === 'leader') return m;
    return null;
  }, { what: 'a ZooKeeper leader', timeoutMs: 30_000 });
}

// ---- node-zookeeper-client, promisified ----
const clients: ZkClient[] = [];

async function open(port: number): Promise<ZkClient> {
  const c = zookeeper.createClient(`127.0.0.1:${port}`, { sessionTimeout: 30_000, retries: 0 });
  clients.push(c);
  await new Promise<void>((res, rej) => {
    const t = setTimeout(() => rej(new Error(`no ZooKeeper session on :${port} within 10 s`)), 10_000);
    c.once('connected', () => {
      clearTimeout(t);
      res();
    });
    c.connect();
  });
  return c;
}

const cb = <T>(res: (v: T) => void, rej: (e: unknown) => void) => (err: unknown, v: T): void => (err ? rej(err) : res(v));
const setData = (c: ZkClient, path: string, data: Buffer): Promise<unknown> => new Promise((res, rej) => c.setData(path, data, -1, cb(res, rej)));
const getData = (c: ZkClient, path: string): Promise<Buffer> => new Promise((res, rej) => c.getData(path, cb(res, rej)));
const create = (c: ZkClient, path: string, data: Buffer): Promise<unknown> => new Promise((res, rej) => c.create(path, data, cb(res, rej)));
const multi = (t: Transaction): Promise<unknown> => new Promise((res, rej) => t.commit(cb(res, rej)));

/**
 * node-zookeeper-client has no sync(). Queue a SyncRequest (op 9, one ustring path) on the
 * session's connection by hand: the header serializes as op 9 but reports type DELETE to the
 * library, whose reply decoder then expects an empty body (the SyncResponse's path is skipped).
 */
interface Internals { connectionManager: { queue(req: unknown, cb: (err: unknown) => void): void } }
function sync(c: ZkClient, path: string): Promise<void> {
  const p = Buffer.from(path);
  const hdr = {
    xid: 0,
    type: 2, // DELETE, for the reply decoder
    byteLength: (): number => 8,
    serialize(b: Buffer, o: number): number {
      b.writeInt32BE(this.xid, o);
      b.writeInt32BE(9, o + 4); // OpCode.sync
      return 8;
    },
  };
  const payload = {
    byteLength: (): number => 4 + p.length,
    serialize(b: Buffer, o: number): number {
      b.writeInt32BE(p.length, o);
      p.copy(b, o + 4);
      return 4 + p.length;
    },
  };
  const request = {
    header: hdr,
    payload,
    toBuffer(): Buffer {
      const b = Buffer.alloc(4 + 8 + payload.byteLength());
      b.writeInt32BE(b.length - 4, 0);
      hdr.serialize(b, 4);
      payload.serialize(b, 12);
      return b;
    },
  };
  return new Promise((res, rej) => (c as unknown as Internals).connectionManager.queue(request, (err) => (err ? rej(err) : res())));
}

/** Creates parent and parent/0..count-1 (256-byte values), 500 per multi, 8 multis in flight. */
async function populate(c: ZkClient, parent: string, count: number): Promise<void> {
  await create(c, parent, Buffer.alloc(0));
  const batches: number[] = [];
  for (let s = 0; s < count; s += 500) batches.push(s);
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < batches.length) {
      const s = batches[next++]!;
      const t = c.transaction();
      for (let k = s; k < Math.min(count, s + 500); k++) t.create(`${parent}/${k}`, VALUE);
      await multi(t);
    }
  }));
}

async function main(): Promise<void> {
  checkInstall();
  const root = mkdtempSync(join(tmpdir(), 'zk-bench-'));
  tempRoot = root;
  try {
    console.log(`starting a 3-member ZooKeeper ensemble under ${root} ...`);
    const members = await startEnsemble(root);
    const leader = await findLeader(members);
    const follower = members.find((m) => m !== leader)!;
    const version = /^Zookeeper version: (.*)$/m.exec(await fourLetter(leader.clientPort, 'srvr'))?.[1] ?? '?';
    const deb = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'zookeeper'], { encoding: 'utf8' });
    const javaVersion = /version "([^"]+)"/.exec(spawnSync(JAVA, ['-version'], { encoding: 'utf8' }).stderr ?? '')?.[1] ?? '?';
    console.log(`ZooKeeper ${version}${deb.status === 0 ? ` (Debian package ${deb.stdout})` : ''}; Java ${javaVersion}; -Xmx${HEAP}`);
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
    await Promise.all(clients.map((c) => new Promise<void>((res) => {
      if (c.getState() !== zookeeper.State.SYNC_CONNECTED) return res();
      const t = setTimeout(res, 2000);
      c.once('disconnected', () => {
        clearTimeout(t);
        res();
      });
      c.close();
    })));
    await children.stopAll();
    rmSync(root, { recursive: true, force: true });
    tempRoot = null;
  }
}

main().then(
  () => process.exit(0), // node-zookeeper-client may hold timers after close()
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
