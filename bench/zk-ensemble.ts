// A 3-member ZooKeeper 3.8 ensemble on loopback and a promisified node-zookeeper-client, shared by
// `npm run bench:zk` (bench/zookeeper.ts) and `npm run bench:compare` (bench/compare.ts). Members
// are separate JVMs with their own zoo.cfg and data dir, ports picked free at run time, the admin
// server off and forceSync=yes (ZooKeeper's default: fsync before acknowledging, as we fsync our
// Raft log). Options (env): ZK_JAR, JAVA_BIN, ZK_HEAP (see bench/zookeeper.ts).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zookeeper, { type Client as ZkClient, type Transaction } from 'node-zookeeper-client';
import { freePorts, poll } from '../test/support/cluster.js';
import { Children } from './children.js';

export const VALUE = Buffer.alloc(256, 0x61);
const ZK_JAR = process.env.ZK_JAR ?? '/usr/share/java/zookeeper.jar';
const JAVA = process.env.JAVA_BIN ?? 'java';
const HEAP = process.env.ZK_HEAP ?? '512m';
// Debian's zookeeper.jar only brings slf4j-api (no binding, so no logs at all); add the simple
// binding when it is there, at WARN, so a member that fails to start says why in its log file.
const SLF4J_SIMPLE = '/usr/share/java/slf4j-simple.jar';

// ---- the ZooKeeper ensemble ----
export interface Member { id: number; name: string; clientPort: number; proc: ChildProcess; pid: number; log: string }
const children = new Children();
let tempRoot: string | null = null;
children.atExit(() => {
  if (tempRoot) rmSync(tempRoot, { recursive: true, force: true });
});

/** A running ensemble; `stop()` closes every client opened with open(), kills the JVMs and removes the data. */
export interface Ensemble {
  root: string;
  members: Member[];
  /** The heap limit each JVM runs with (-Xmx). */
  heap: string;
  stop(): Promise<void>;
}

/** Starts three members under a new temp dir and waits until each is in a quorum. */
export async function startZooKeeper(): Promise<Ensemble> {
  checkInstall();
  const root = mkdtempSync(join(tmpdir(), 'zk-bench-'));
  tempRoot = root;
  let members: Member[];
  try {
    members = await startEnsemble(root);
  } catch (err) {
    await children.stopAll();
    throw err;
  }
  return {
    root,
    members,
    heap: HEAP,
    async stop(): Promise<void> {
      await closeClients();
      await children.stopAll();
      rmSync(root, { recursive: true, force: true });
      tempRoot = null;
    },
  };
}

/** "3.8.x" and the Debian package and Java versions, for the bench's header line. */
export async function versions(m: Member): Promise<string> {
  const version = /^Zookeeper version: (.*)$/m.exec(await fourLetter(m.clientPort, 'srvr'))?.[1] ?? '?';
  const deb = spawnSync('dpkg-query', ['-W', '-f=${Version}', 'zookeeper'], { encoding: 'utf8' });
  const javaVersion = /version "([^"]+)"/.exec(spawnSync(JAVA, ['-version'], { encoding: 'utf8' }).stderr ?? '')?.[1] ?? '?';
  return `ZooKeeper ${version}${deb.status === 0 ? ` (Debian package ${deb.stdout})` : ''}; Java ${javaVersion}; -Xmx${HEAP}`;
}

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

export async function findLeader(members: Member[]): Promise<Member> {
  return poll(async () => {
    for (const m of members) if ((await mode(m)) === 'leader') return m;
    return null;
  }, { what: 'a ZooKeeper leader', timeoutMs: 30_000 });
}

// ---- node-zookeeper-client, promisified ----
const clients: ZkClient[] = [];

export async function open(port: number): Promise<ZkClient> {
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
export const setData = (c: ZkClient, path: string, data: Buffer): Promise<unknown> => new Promise((res, rej) => c.setData(path, data, -1, cb(res, rej)));
export const getData = (c: ZkClient, path: string): Promise<Buffer> => new Promise((res, rej) => c.getData(path, cb(res, rej)));
export const create = (c: ZkClient, path: string, data: Buffer): Promise<unknown> => new Promise((res, rej) => c.create(path, data, cb(res, rej)));
const multi = (t: Transaction): Promise<unknown> => new Promise((res, rej) => t.commit(cb(res, rej)));

/**
 * node-zookeeper-client has no sync(). Queue a SyncRequest (op 9, one ustring path) on the
 * session's connection by hand: the header serializes as op 9 but reports type DELETE to the
 * library, whose reply decoder then expects an empty body (the SyncResponse's path is skipped).
 */
interface Internals { connectionManager: { queue(req: unknown, cb: (err: unknown) => void): void } }
export function sync(c: ZkClient, path: string): Promise<void> {
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
export async function populate(c: ZkClient, parent: string, count: number): Promise<void> {
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

/** Closes every session opened with open() (waits up to 2 s each for the close to be acknowledged). */
async function closeClients(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => new Promise<void>((res) => {
    if (c.getState() !== zookeeper.State.SYNC_CONNECTED) return res();
    const t = setTimeout(res, 2000);
    c.once('disconnected', () => {
      clearTimeout(t);
      res();
    });
    c.close();
  })));
}
