// KvService.Session on a real 3-process cluster: operations multiplexed on one stream answer
// exactly as their unary methods do (validation, de-duplication, forwarding from a follower),
// each by its own xid; a malformed message fails the stream and changes nothing; a graceful stop
// ends open sessions cleanly instead of leaving them to the force-shutdown timer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { poll, startCluster, type Cluster } from '../support/cluster.js';
import { kvClient } from '../support/kv.js';
import {
  KvServiceClient,
  SessionRequest,
  type SessionOp,
  type SessionReply,
  type SessionResult,
} from '../../proto/gen/placement/v1/kv.js';

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

/** A raw session: sends batches, collects results by xid, reports how the stream ended. */
class RawSession {
  readonly results = new Map<number, SessionResult>();
  readonly ended: Promise<grpc.StatusObject>;
  private readonly client: KvServiceClient;
  private readonly call: grpc.ClientDuplexStream<SessionRequest, SessionReply>;
  private waiters: Array<() => void> = [];

  constructor(address: string) {
    this.client = new KvServiceClient(address, grpc.credentials.createInsecure());
    this.call = this.client.session();
    this.call.on('data', (r: SessionReply) => {
      for (const x of r.results) this.results.set(x.xid, x);
      for (const w of this.waiters.splice(0)) w();
    });
    this.call.on('error', () => {});
    this.ended = new Promise((resolve) => this.call.on('status', resolve));
  }

  send(ops: SessionOp[]): void {
    this.call.write({ ops });
  }

  async waitFor(xids: number[], timeoutMs = 10_000): Promise<SessionResult[]> {
    const until = Date.now() + timeoutMs;
    while (!xids.every((x) => this.results.has(x))) {
      if (Date.now() > until) throw new Error(`no result for xids ${xids.filter((x) => !this.results.has(x)).join(',')}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return xids.map((x) => this.results.get(x)!);
  }

  end(): void {
    this.call.end();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

const set = (xid: number, key: string, value: string, clientId = '', seq = 0): SessionOp => ({
  xid,
  timeoutMs: 10_000,
  op: { $case: 'set', value: { key, value: enc(value), clientId, seq, lease: 0, prevKv: false } },
});
const get = (xid: number, key: string, serializable = false): SessionOp => ({
  xid,
  timeoutMs: 10_000,
  op: { $case: 'get', value: { key, serializable, kvMetadataOnly: false } },
});

describe('KvService.Session', () => {
  let c: Cluster;
  let leader: number;
  let follower: number;
  const sessions: RawSession[] = [];
  const open = (id: number): RawSession => {
    const s = new RawSession(c.node(id).grpcAddress);
    sessions.push(s);
    return s;
  };

  before(async () => {
    c = await startCluster({ nodes: 3 });
    leader = await c.waitForLeader();
    follower = c.nodes.map((n) => n.id).find((id) => id !== leader)!;
  });

  after(async () => {
    for (const s of sessions) s.close();
    await c?.stop();
  });

  it('answers every operation of a batch by its xid, valid and invalid alike, through a follower', async () => {
    const s = open(follower);
    const big = 'v'.repeat(1024 * 1024 + 1);
    s.send([
      set(1, 'session/a', 'A'),
      set(2, '', 'empty key'),
      set(3, 'session/big', big),
      { xid: 4, timeoutMs: 10_000, op: undefined },
      set(5, 'session/b', 'B'),
      set(6, 'k'.repeat(4097), 'long key'),
    ]);
    const [a, empty, tooBig, none, b, longKey] = await s.waitFor([1, 2, 3, 4, 5, 6]);
    assert.equal(a!.code, grpc.status.OK, a!.error);
    assert.equal(a!.reply?.$case, 'set');
    assert.equal(b!.code, grpc.status.OK, b!.error);
    assert.equal(empty!.code, grpc.status.INVALID_ARGUMENT);
    assert.match(empty!.error, /key must not be empty/);
    assert.equal(tooBig!.code, grpc.status.INVALID_ARGUMENT);
    assert.match(tooBig!.error, /value is 1048577 bytes, over the limit of 1048576 bytes \(max-value-bytes\)/);
    assert.equal(none!.code, grpc.status.INVALID_ARGUMENT);
    assert.match(none!.error, /names no operation/);
    assert.equal(longKey!.code, grpc.status.INVALID_ARGUMENT);
    assert.match(longKey!.error, /over the limit of 4096 bytes \(max-key-bytes\)/);
    const metrics = await (await fetch(`http://${c.node(follower).httpAddress}/metrics`)).text();
    const open_ = /^placement_grpc_sessions_open (\d+)/m.exec(metrics);
    assert.ok(open_ && Number(open_[1]) >= 1, `placement_grpc_sessions_open on the follower: ${open_?.[1]}`);
    assert.match(metrics, /^placement_grpc_requests_total\{[^}]*method="Set"[^}]*code="INVALID_ARGUMENT"[^}]*\} [1-9]/m, 'session operations are counted per method and code');
    // ...and as started calls, under etcd's names too: each ended one was started.
    const sum = (re: RegExp): number => [...metrics.matchAll(re)].reduce((t, m) => t + Number(m[1]), 0);
    const started = sum(/^grpc_server_started_total\{[^}]*grpc_service="placement\.v1\.KvService",grpc_type="unary"[^}]*\} (\d+)/gm);
    const handled = sum(/^grpc_server_handled_total\{[^}]*grpc_service="placement\.v1\.KvService",grpc_type="unary"[^}]*\} (\d+)/gm);
    assert.ok(handled >= 4 && started === handled, `KvService unary calls on the follower: started ${started}, handled ${handled}`);

    // Linearizable reads on the same stream, at every node, see both writes; nothing else changed.
    for (const n of c.nodes) {
      const t = open(n.id);
      t.send([get(10, 'session/a'), get(11, 'session/b'), get(12, 'session/big')]);
      const [ra, rb, rbig] = await t.waitFor([10, 11, 12]);
      assert.equal(ra!.reply?.$case === 'get' && ra!.reply.value.value.toString(), 'A', `node ${n.id}`);
      assert.equal(rb!.reply?.$case === 'get' && rb!.reply.value.value.toString(), 'B', `node ${n.id}`);
      assert.equal(rbig!.reply?.$case === 'get' && rbig!.reply.value.found, false, `node ${n.id}`);
      t.end();
      assert.equal((await t.ended).code, grpc.status.OK, 'a session the client ends finishes with OK');
    }
    const kv = kvClient(c.node(leader).grpcAddress);
    try {
      assert.equal((await kv.exists({ key: '' }).catch((e: grpc.ServiceError) => e.code)), grpc.status.INVALID_ARGUMENT);
      const l = await kv.list({ prefix: 'session/' });
      assert.deepEqual(
        l.kvs.map((x) => x.key),
        ['session/a', 'session/b'],
      );
    } finally {
      kv.close();
    }
  });

  it('a retried write (same client id and seq) on a session is applied once', async () => {
    const s = open(leader);
    s.send([set(1, 'session/once', 'first', 'session-test-client', 7)]);
    const [first] = await s.waitFor([1]);
    assert.equal(first!.code, grpc.status.OK, first!.error);
    // The retry, on another node's session: the same request gets the stored result.
    const t = open(follower);
    t.send([set(1, 'session/once', 'first', 'session-test-client', 7)]);
    const [again] = await t.waitFor([1]);
    assert.equal(again!.code, grpc.status.OK, again!.error);
    const rev = (r: SessionResult): number => (r.reply?.$case === 'set' ? r.reply.value.header!.revision : -1);
    assert.equal(rev(again!), rev(first!));
    t.send([get(2, 'session/once')]);
    const [g] = await t.waitFor([2]);
    assert.ok(g!.reply?.$case === 'get');
    assert.equal(g!.reply.value.value.toString(), 'first');
    assert.equal(g!.reply.value.kv!.version, 1);
  });

  // Issue 16 item 2: two clients sharing an id used to get each other's stored results, so the
  // second one's write was acknowledged and never applied.
  it('another request under the same (client id, seq) is refused with FAILED_PRECONDITION, not answered with the stored result', async () => {
    const s = open(leader);
    s.send([set(1, 'session/shared-id', 'mine', 'shared-client', 3)]);
    const [first] = await s.waitFor([1]);
    assert.equal(first!.code, grpc.status.OK, first!.error);
    const t = open(follower);
    t.send([set(1, 'session/shared-id', 'theirs', 'shared-client', 3)]);
    const [other] = await t.waitFor([1]);
    assert.equal(other!.code, grpc.status.FAILED_PRECONDITION, other!.error);
    assert.match(other!.error, /^client id reused with a different request/);
    t.send([get(2, 'session/shared-id')]);
    const [g] = await t.waitFor([2]);
    assert.ok(g!.reply?.$case === 'get');
    assert.equal(g!.reply.value.value.toString(), 'mine', 'nothing of the second request was applied');
    assert.equal(g!.reply.value.kv!.version, 1);
  });

  it('a retry older than the de-dup window answers ABORTED "outcome unknown" and applies nothing', async () => {
    const s = open(leader);
    const n = 1024 + 6; // the state machine remembers the last 1024 seqs of each client
    s.send(Array.from({ length: n }, (_, i) => set(i + 1, `session/window/${i % 8}`, `v${i + 1}`, 'window-client', i + 1)));
    const all = await s.waitFor(Array.from({ length: n }, (_, i) => i + 1), 30_000);
    assert.deepEqual(all.filter((r) => r.code !== grpc.status.OK).map((r) => r.error), []);
    s.send([set(5000, 'session/window/late', 'late', 'window-client', 1)]);
    const [late] = await s.waitFor([5000]);
    assert.equal(late!.code, grpc.status.ABORTED, late!.error);
    assert.match(late!.error, /^outcome unknown: seq 1 of client window-client is older than the de-duplication window of 1024/);
    s.send([get(5001, 'session/window/late')]);
    const [g] = await s.waitFor([5001]);
    assert.ok(g!.reply?.$case === 'get');
    assert.equal(g!.reply.value.found, false, 'the late retry wrote nothing');
  });

  it('a message that does not decode fails the stream with INVALID_ARGUMENT and changes nothing', async () => {
    const before = await c.status(leader);
    const client = new grpc.Client(c.node(follower).grpcAddress, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest<Buffer, Buffer>(
        '/placement.v1.KvService/Session',
        (b) => b,
        (b) => b,
      );
      const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
      call.on('error', () => {});
      call.on('data', () => {});
      // Field 1 (ops) as a length-delimited record claiming more bytes than follow.
      call.write(Buffer.from([0x0a, 0x7f, 0x08, 0x01]));
      const st = await status;
      assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
      assert.match(st.details, /malformed session request/);
    } finally {
      client.close();
    }
    const now = await c.status(leader);
    assert.equal(now.revision, before.revision, 'nothing was written');
  });

  /** Gets the leader has answered OK so far (its metrics). */
  const servedGets = async (): Promise<number> => {
    const text = await (await fetch(`http://${c.node(leader).httpAddress}/metrics`)).text();
    const m = /^placement_grpc_requests_total\{[^}]*method="Get"[^}]*code="OK"[^}]*\} (\d+)/m.exec(text);
    return m ? Number(m[1]) : 0;
  };

  /**
   * Opens a session to the leader that reads nothing, lets `send` write `n` reads of a 512 KiB
   * value on it, waits until the leader stops serving, and returns how many it served by then.
   * Then it reads again and checks that all `n` results arrive.
   */
  const servedToPausedClient = async (n: number, send: (call: grpc.ClientDuplexStream<SessionRequest, SessionReply>, op: (i: number) => SessionOp) => Promise<void>): Promise<number> => {
    const kv = kvClient(c.node(leader).grpcAddress);
    await kv.set({ key: 'session/big-value', value: Buffer.alloc(512 * 1024, 7) });
    kv.close();
    const before = await servedGets();
    const client = new KvServiceClient(c.node(leader).grpcAddress, grpc.credentials.createInsecure());
    const call = client.session();
    call.on('error', (e) => assert.fail(`session failed: ${e.message}`));
    let received = 0;
    call.on('data', (r: SessionReply) => (received += r.results.length));
    call.pause(); // read nothing: every answer is about 1 MiB
    await send(call, (i) => get(i + 1, 'session/big-value', true));
    let last = -1;
    let now = await servedGets();
    while (now !== last) {
      last = now;
      await new Promise((r) => setTimeout(r, 300));
      now = await servedGets();
    }
    call.resume();
    await poll(async () => received === n, { what: `all ${n} results after resuming (got ${received})`, timeoutMs: 30_000 });
    call.end();
    client.close();
    return now - before;
  };

  it('a client that stops reading its results stops the server reading its operations (back-pressure)', async () => {
    const n = 400;
    // One operation per message, a turn apart, as a client issuing reads over time would.
    const served = await servedToPausedClient(n, async (call, op) => {
      for (let i = 0; i < n; i++) {
        call.write({ ops: [op(i)] });
        await new Promise((r) => setImmediate(r));
      }
    });
    assert.ok(served < n / 2, `served ${served} of ${n} reads of 512 KiB to a client that read nothing`);
  });

  it('a burst of operations to a client that reads nothing: the server starts only what its result budget allows', async () => {
    const n = 400;
    // All in one message: decoded in one turn, so only the result budget can hold them back.
    const served = await servedToPausedClient(n, async (call, op) => {
      call.write({ ops: Array.from({ length: n }, (_, i) => op(i)) });
    });
    // 8 MiB of untaken results is 16 of these; one turn starts up to 64 (PUMP_STEP) before any is counted.
    assert.ok(served >= 1 && served <= 80, `served ${served} of ${n} reads of 512 KiB from one message to a client that read nothing`);
  });

  it('a graceful stop ends open sessions with OK after answering what is in flight', async () => {
    const s = open(follower);
    s.send([set(1, 'session/before-stop', 'x')]);
    const [r] = await s.waitFor([1]);
    assert.equal(r!.code, grpc.status.OK, r!.error);
    // The stream stays open (idle) while the node stops: it must be ended by the server, not reset.
    const code = await c.stopNode(follower);
    assert.equal(code, 0, 'the node exits 0 on SIGTERM');
    const st = await s.ended;
    assert.equal(st.code, grpc.status.OK, `session ended with ${grpc.status[st.code]}: ${st.details}`);
    assert.match(c.logs(follower), /stopped/);
  });
});
