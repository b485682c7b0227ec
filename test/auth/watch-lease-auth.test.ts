// Differential, auth on watches and leases, against a real etcd 3.4 and Placement Center:
//
// - A watch create the caller may not make is answered on its own (created + canceled, watch id
//   -1, etcd's cancel_reason: the text of its gRPC error), and the stream goes on serving its other
//   watchers: over raw gRPC (a user without the grant, anonymous, a token that does not verify)
//   and through `etcdctl watch`.
// - LeaseRevoke needs write permission on every key attached to the lease (etcd checks it when it
//   applies the revoke): a user with write on only some of them is refused with "etcdserver:
//   permission denied" and nothing is deleted; with write on all of them the revoke goes through.
// - Grant, keep-alive, time-to-live and list: what a user gets is etcd's answer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { AuthService, WatchRequest, WatchResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { Normalizer, etcdctl, etcdctlWatch, firstDifference, runSession, type Step, type Transcript } from '../support/etcdctl.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { PlacementClient } from '../../src/client/index.js';
import { decodeWatchResponse } from '../../src/client/watch-decode.js';

const ROOT = ['--user', 'root:rootpw'];
const ALICE = ['--user', 'alice:alicepw'];

/** alice may read and write /a/, read /r/, nothing else. */
const SETUP: Step[] = [
  { args: ['user', 'add', 'root', '--interactive=false'], stdin: 'rootpw\n' },
  { args: ['role', 'add', 'app'] },
  { args: ['role', 'grant-permission', 'app', '--prefix=true', 'readwrite', '/a/'] },
  { args: ['role', 'grant-permission', 'app', '--prefix=true', 'read', '/r/'] },
  { args: ['user', 'add', 'alice', '--interactive=false'], stdin: 'alicepw\n' },
  { args: ['user', 'grant-role', 'alice', 'app'] },
  { args: ['auth', 'enable'] },
];

let etcd: EtcdCluster | undefined;
let ours: Cluster | undefined;
const at: Record<'etcd' | 'ours', string> = { etcd: '', ours: '' };

function authenticate(addr: string, name: string, password: string): Promise<string> {
  const d = AuthService.authenticate;
  const client = new grpc.Client(addr, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) =>
    // The response is read by hand: etcd's header carries 64-bit ids our generated decoder refuses.
    client.makeUnaryRequest(d.path, d.requestSerialize, (b: Buffer) => b, { name, password }, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, rep) => {
      client.close();
      if (err) reject(err);
      else resolve(lengthDelimitedField(rep!, 2).toString('utf8'));
    }),
  );
}

/** A length-delimited field of a protobuf message (AuthenticateResponse.token is field 2). */
function lengthDelimitedField(b: Buffer, field: number): Buffer {
  let i = 0;
  const varint = (): number => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const byte = b[i++]!;
      v += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return v;
      shift += 7;
    }
  };
  while (i < b.length) {
    const tag = varint();
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const len = varint();
      if (tag >>> 3 === field) return b.subarray(i, i + len);
      i += len;
    } else throw new Error(`unexpected wire type ${wire}`);
  }
  throw new Error(`field ${field} not found`);
}

const create = (key: string, rangeEnd = ''): WatchRequest => ({
  requestUnion: {
    $case: 'createRequest',
    value: { key: Buffer.from(key), rangeEnd: Buffer.from(rangeEnd), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false },
  },
});

/** One raw Watch stream: what it received (normalized) and how it ended. */
class RawWatch {
  readonly lines: string[] = [];
  status: string | null = null;
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<WatchRequest, WatchResponse>;
  private waiters: Array<() => void> = [];

  constructor(addr: string, token: string | null) {
    this.client = new grpc.Client(addr, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    if (token !== null) md.set('token', token);
    this.call = this.client.makeBidiStreamRequest(
      '/etcdserverpb.Watch/Watch',
      (r: WatchRequest) => Buffer.from(WatchRequest.encode(r).finish()),
      (b: Buffer) => decodeWatchResponse(b),
      md,
    );
    this.call.on('data', (r: WatchResponse) => {
      const flags = `${r.created ? ' created' : ''}${r.canceled ? ' canceled' : ''}`;
      const events = r.events.map((e) => ` ${e.type === 1 ? 'DELETE' : 'PUT'} ${Buffer.from(e.kv!.key).toString()}=${Buffer.from(e.kv!.value).toString()}`).join('');
      this.lines.push(`id=${r.watchId}${flags}${r.cancelReason ? ` reason=${r.cancelReason}` : ''}${events}`);
      this.wake();
    });
    this.call.on('error', (e: grpc.ServiceError) => {
      this.status = `${grpc.status[e.code]} ${e.details}`;
      this.wake();
    });
    this.call.on('status', (s: grpc.StatusObject) => {
      this.status ??= `${grpc.status[s.code]} ${s.details}`;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(r: WatchRequest): void {
    this.call.write(r);
  }

  async until(what: string, pred: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`${what}: not seen within ${timeoutMs} ms; got ${JSON.stringify(this.lines)}, status ${this.status}`);
      await new Promise<void>((res) => {
        this.waiters.push(res);
        setTimeout(res, 200);
      });
    }
  }

  /** How the stream stands (etcd keeps a half-closed stream open: the client cancels it). */
  end(): string {
    const status = this.status ?? 'open';
    this.call.cancel();
    this.client.close();
    return status;
  }
}

/** The raw-gRPC watch session on one server: refused creates and the watchers that go on. */
async function rawWatchSession(addr: string, put: (k: string, v: string) => Promise<void>): Promise<string[]> {
  const alice = await authenticate(addr, 'alice', 'alicepw');
  const w = new RawWatch(addr, alice);
  const anon = new RawWatch(addr, null);
  const bad = new RawWatch(addr, 'not-a-token');
  w.write(create('/a/', '/a0'));
  await w.until('the granted watch', () => w.lines.length >= 1);
  w.write(create('/b'));
  await w.until('the refused watch', () => w.lines.length >= 2);
  w.write(create('/', '/0'));
  await w.until('the partly granted watch', () => w.lines.length >= 3);
  w.write(create('/r/x'));
  await w.until('the read-only granted watch', () => w.lines.length >= 4);
  anon.write(create('/a/x'));
  bad.write(create('/a/x'));
  await anon.until('the anonymous watch', () => anon.lines.length >= 1);
  await bad.until('the watch with a bad token', () => bad.lines.length >= 1);
  // The stream was not ended by the refusals: its granted watchers still get events.
  await put('/b', 'x');
  await put('/a/1', 'one');
  await put('/r/x', 'two');
  await w.until('the events after the refusals', () => w.lines.length >= 6);
  // The anonymous stream too is still open: a progress request is answered.
  anon.write({ requestUnion: { $case: 'progressRequest', value: {} } });
  await anon.until('the progress response', () => anon.lines.length >= 2);
  for (const s of [w, anon, bad]) assert.equal(s.status, null, 'no refusal ended a stream');
  const out = [
    ...w.lines.map((l) => `alice: ${l}`),
    `alice: stream ${w.end()}`,
    ...anon.lines.map((l) => `anonymous: ${l}`),
    `anonymous: stream ${anon.end()}`,
    ...bad.lines.map((l) => `bad token: ${l}`),
    `bad token: stream ${bad.end()}`,
  ];
  return out;
}

describe('auth on watches and leases: the same answers from etcd 3.4 and Placement Center', { timeout: 300_000 }, () => {
  before(async () => {
    [etcd, ours] = await Promise.all([startEtcdCluster({ members: 1 }), startCluster({ nodes: 1 })]);
    at.etcd = etcd.endpoints[0]!;
    at.ours = ours.node(1).grpcAddress;
    for (const side of ['etcd', 'ours'] as const) {
      const t = await runSession([at[side]], SETUP);
      for (const s of t.steps) assert.equal(s.result.code, 0, `${side}: ${s.args.join(' ')}: ${s.result.stderr}`);
    }
  });

  after(async () => {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  });

  it('a refused watch create cancels that watch alone, with etcd\'s reason; the stream and its other watchers go on', async () => {
    const got: Record<string, string[]> = {};
    for (const side of ['etcd', 'ours'] as const) {
      const put = async (k: string, v: string): Promise<void> => assert.equal((await etcdctl([at[side]], ['put', k, v, ...ROOT])).code, 0);
      got[side] = await rawWatchSession(at[side], put);
    }
    assert.deepEqual(got.ours, got.etcd);
    // What etcd answers, spelled out.
    const e = got.etcd!;
    assert.ok(e.includes('alice: id=-1 created canceled reason=rpc error: code = PermissionDenied desc = etcdserver: permission denied'), e.join('\n'));
    assert.ok(e.includes('anonymous: id=-1 created canceled reason=rpc error: code = InvalidArgument desc = etcdserver: user name is empty'), e.join('\n'));
    assert.ok(e.includes('bad token: id=-1 created canceled reason=rpc error: code = Unauthenticated desc = etcdserver: invalid auth token'), e.join('\n'));
    assert.ok(e.some((l) => l.startsWith('alice: id=0') && l.includes('PUT /a/1=one')), e.join('\n'));
  });

  it('etcdctl watch on a key the user may not read: the same output and exit code', async () => {
    const out: Record<string, string> = {};
    for (const side of ['etcd', 'ours'] as const) {
      const r = await etcdctlWatch([at[side]], ['/b', ...ALICE], () => false);
      out[side] = `exit ${r.code}\n${r.stdout}\n--- stderr\n${new Normalizer().text(r.stderr)}`;
    }
    assert.equal(out.ours, out.etcd);
    assert.match(out.etcd!, /watch was canceled \(rpc error: code = PermissionDenied desc = etcdserver: permission denied\)/);
  });

  it('the SDK reports a refused watch with the code and message etcd put in the reason', async () => {
    const c = new PlacementClient({ endpoints: [at.ours], auth: { username: 'alice', password: 'alicepw' }, discoverMembers: false });
    try {
      await assert.rejects(
        (async () => {
          for await (const _ of c.watch('/b')) break;
        })(),
        (e: Error & { code?: number | string }) => /etcdserver: permission denied/.test(e.message) && !/rpc error/.test(e.message),
      );
    } finally {
      c.close();
    }
  });

  it('LeaseRevoke needs write on every attached key; grant, keep-alive, time-to-live and list answer as etcd', async () => {
    const transcripts: Record<string, Transcript> = {};
    for (const side of ['etcd', 'ours'] as const) {
      const ep = [at[side]];
      const norm = new Normalizer();
      const t: Transcript = { steps: [] };
      const run = async (args: string[]): Promise<string> => {
        const r = await etcdctl(ep, args);
        const n = norm.result(r);
        // The seconds left may differ by one between the two runs; etcd lists leases in map order.
        n.stdout = n.stdout.replace(/remaining\(\d+s\)/g, 'remaining(<s>)');
        if (args[1] === 'list') {
          const name = new Map([[l1.padStart(16, '0'), 'L1'], [l2.padStart(16, '0'), 'L2']]);
          n.stdout = n.stdout.split('\n').map((l) => name.get(l) ?? l).sort().join('\n');
        }
        t.steps.push({ args, result: n });
        return r.stdout;
      };
      const idOf = (out: string): string => /lease ([0-9a-f]+) granted/.exec(out)![1]!;
      // L1 holds a key alice may write and one she may not; L2 only keys she may write.
      let l1 = '';
      let l2 = '';
      l1 = idOf(await run(['lease', 'grant', '600', ...ROOT]));
      l2 = idOf(await run(['lease', 'grant', '600', ...ALICE]));
      await run(['put', '/a/lx', '1', `--lease=${l1}`, ...ROOT]);
      await run(['put', '/b/lx', '2', `--lease=${l1}`, ...ROOT]);
      await run(['put', '/a/ly', '3', `--lease=${l2}`, ...ALICE]);
      await run(['lease', 'revoke', l1, ...ALICE]); // refused: /b/x is not hers
      await run(['get', '/a/l', '--prefix', ...ROOT]); // nothing deleted
      await run(['get', '/b/l', '--prefix', ...ROOT]);
      await run(['lease', 'timetolive', l1, ...ALICE]);
      await run(['lease', 'keep-alive', '--once', l1, ...ALICE]);
      await run(['lease', 'list', ...ALICE]);
      await run(['lease', 'revoke', l2, ...ALICE]); // allowed: /a/y is hers
      await run(['lease', 'revoke', l1, ...ROOT]); // root may
      await run(['get', '/a/l', '--prefix', ...ROOT]);
      await run(['get', '/b/l', '--prefix', ...ROOT]);
      await run(['lease', 'revoke', l1, ...ALICE]); // gone
      transcripts[side] = t;
    }
    const diff = firstDifference(transcripts.etcd!, transcripts.ours!);
    assert.equal(diff, null);
    const refused = transcripts.etcd!.steps[5]!.result;
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Error: failed to revoke lease \(etcdserver: permission denied\)/);
    assert.match(transcripts.etcd!.steps[6]!.result.stdout, /\/a\/lx\n1\n\/a\/ly\n3/);
    assert.match(transcripts.etcd!.steps[7]!.result.stdout, /\/b\/lx\n2/);
  });
});
