// Peer authentication and peer-message validation in one process: the Hello handshake and the
// per-call HMACs (src/transport/peer-auth.ts), the message rules (src/transport/validate.ts),
// and PeerTransport end to end on loopback: a wrong secret delivers nothing, a session the
// receiver forgot (it restarted) is replaced transparently, and a member can only speak as itself.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { PeerTransport, type TransportHandler } from '../../src/transport/index.js';
import { MD_MAC, MD_SEQ, MD_SESSION, NONCE_BYTES, PeerAuthClient, PeerAuthError, PeerAuthServer, deriveClusterKey } from '../../src/transport/peer-auth.js';
import { MAX_RAFT_NUMBER, messageProblem, peerLimits, snapshotMessageProblem } from '../../src/transport/validate.js';
import { MessageType, type Message } from '../../raft/types.js';
import type { PeerHelloReply } from '../../proto/gen/placement/v1/peer.js';
import { PeerProbe, TEST_SECRET, commandEntry, testSecurity, wireMessage } from '../support/peer.js';

const log = pino({ level: 'silent' });
const key = deriveClusterKey(TEST_SECRET, 'c1');
const noCert = {};

function server(members = [1, 2, 3], now?: () => number): PeerAuthServer {
  return new PeerAuthServer({ clusterId: 'c1', selfId: 1, key, requireCert: false, isMember: (id) => members.includes(id), now });
}

async function session(s: PeerAuthServer, from = 2, k = key) {
  const client = new PeerAuthClient({ clusterId: 'c1', selfId: from, key: k });
  return client.open(1, async (req) => s.hello(req, noCert));
}

const code = (fn: () => unknown): number => {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PeerAuthError, String(err));
    return err.code;
  }
  return grpc.status.OK;
};

describe('peer authentication: Hello and per-call HMACs', () => {
  it('authenticates the session member; each call is accepted once', async () => {
    const s = server();
    const sess = await session(s);
    const md = sess.metadata('Raft');
    assert.equal(s.authenticate('Raft', md, noCert).member, 2);
    assert.equal(code(() => s.authenticate('Raft', md, noCert)), grpc.status.UNAUTHENTICATED, 'a replayed call is refused');
    assert.throws(() => s.authenticate('Raft', md, noCert), /replayed peer call/);
    // The HMAC covers the method: a Raft call's metadata does not authorize a Forward.
    const md2 = sess.metadata('Raft');
    assert.throws(() => s.authenticate('Forward', md2, noCert), /authentication failed/);
    assert.equal(s.authenticate('Forward', sess.metadata('Forward'), noCert).member, 2);
  });

  it('refuses calls without a session, with a tampered MAC, an unknown session or a garbled sequence number', async () => {
    const s = server();
    const sess = await session(s);
    assert.throws(() => s.authenticate('Raft', new grpc.Metadata(), noCert), /no peer session/);
    const tampered = sess.metadata('Raft');
    const mac = Buffer.from(tampered.get(MD_MAC)[0] as string, 'base64');
    mac[0] ^= 1;
    tampered.set(MD_MAC, mac.toString('base64'));
    assert.throws(() => s.authenticate('Raft', tampered, noCert), /authentication failed/);
    const unknown = sess.metadata('Raft');
    unknown.set(MD_SESSION, Buffer.alloc(NONCE_BYTES, 7).toString('base64'));
    assert.throws(() => s.authenticate('Raft', unknown, noCert), /unknown or expired peer session/);
    const garbled = sess.metadata('Raft');
    garbled.set(MD_SEQ, '-5');
    assert.throws(() => s.authenticate('Raft', garbled, noCert), /malformed peer call sequence number/);
  });

  it('a wrong secret gets a session proof the dialer rejects, and calls that fail', async () => {
    const s = server();
    const wrong = deriveClusterKey(Buffer.from('another-secret-another-secret-0123'), 'c1');
    await assert.rejects(session(s, 2, wrong), /member 1 could not prove it holds the cluster secret/);
    // A dialer with the wrong key that ignores the proof still cannot make a valid call.
    let reply: PeerHelloReply | undefined;
    const liar = new PeerAuthClient({ clusterId: 'c1', selfId: 2, key: wrong });
    await liar.open(1, async (req) => (reply = s.hello(req, noCert))).catch(() => {});
    const md = new grpc.Metadata();
    md.set(MD_SESSION, Buffer.from(reply!.serverNonce).toString('base64'));
    md.set(MD_SEQ, '1');
    md.set(MD_MAC, Buffer.alloc(32).toString('base64'));
    assert.throws(() => s.authenticate('Raft', md, noCert), /authentication failed/);
    // The same secret under another cluster id is a different key.
    await assert.rejects(session(s, 2, deriveClusterKey(TEST_SECRET, 'c2')), /could not prove/);
  });

  it('Hello refuses another cluster, a non-member, a wrong recipient and a malformed nonce', () => {
    const s = server();
    const hello = (over: object) => () => s.hello({ clusterId: 'c1', from: 2, to: 1, clientNonce: Buffer.alloc(NONCE_BYTES), ...over }, noCert);
    assert.equal(code(hello({ clusterId: 'c2' })), grpc.status.FAILED_PRECONDITION);
    assert.equal(code(hello({ from: 9 })), grpc.status.PERMISSION_DENIED);
    assert.equal(code(hello({ to: 3 })), grpc.status.FAILED_PRECONDITION);
    assert.equal(code(hello({ clientNonce: Buffer.alloc(8) })), grpc.status.INVALID_ARGUMENT);
    assert.equal(code(hello({})), grpc.status.OK);
  });

  it('a flood of Hellos cannot evict a session that is in use; idle sessions expire', async () => {
    let now = 1_000_000;
    const s = server([1, 2, 3], () => now);
    const sess = await session(s);
    assert.equal(s.authenticate('Raft', sess.metadata('Raft'), noCert).member, 2);
    for (let i = 0; i < 2000; i++) s.hello({ clusterId: 'c1', from: 3, to: 1, clientNonce: Buffer.alloc(NONCE_BYTES, i & 0xff) }, noCert);
    assert.ok(s.sessions <= 256 + 1, `bounded: ${s.sessions} sessions`);
    assert.equal(s.authenticate('Forward', sess.metadata('Forward'), noCert).member, 2, 'the proven session survived the flood');
    now += 31 * 60_000;
    s.hello({ clusterId: 'c1', from: 3, to: 1, clientNonce: Buffer.alloc(NONCE_BYTES) }, noCert);
    assert.throws(() => s.authenticate('Forward', sess.metadata('Forward'), noCert), /unknown or expired/);
  });

  it('calls overtaking each other within the window are accepted, far older ones are not', async () => {
    const s = server();
    const sess = await session(s);
    const mds = Array.from({ length: 5000 }, () => sess.metadata('Forward'));
    assert.equal(s.authenticate('Forward', mds[10]!, noCert).member, 2);
    assert.equal(s.authenticate('Forward', mds[3]!, noCert).member, 2, 'an earlier call arriving later');
    assert.equal(s.authenticate('Forward', mds[4999]!, noCert).member, 2);
    assert.throws(() => s.authenticate('Forward', mds[100]!, noCert), /replayed/, 'beyond the window');
  });
});

describe('peer message validation', () => {
  const lim = peerLimits({ maxKeyBytes: 16, maxValueBytes: 64, maxLeaseTtlMs: 60_000 });
  const append = (over: object = {}) =>
    wireMessage({
      type: MessageType.Append,
      from: 2,
      to: 1,
      term: 5,
      logTerm: 5,
      index: 10,
      commit: 10,
      entries: [{ term: 5, index: 11, type: 0, data: commandEntry({ $case: 'put', value: { key: 'k', value: Buffer.from('v'), lease: 0, prevKv: false } }) }],
      ...over,
    });
  const problem = (m: ReturnType<typeof append>) => messageProblem(m, 2, 1, lim);

  it('accepts a well-formed Append, heartbeat, vote and a no-op entry', () => {
    assert.equal(problem(append()), null);
    assert.equal(problem(wireMessage({ type: MessageType.Heartbeat, from: 2, to: 1, term: 5, commit: 3, context: Buffer.alloc(8) })), null);
    assert.equal(problem(wireMessage({ type: MessageType.Vote, from: 2, to: 1, term: MAX_RAFT_NUMBER, logTerm: 5, index: 100 })), null);
    assert.equal(problem(append({ entries: [{ term: 5, index: 11, type: 0, data: Buffer.alloc(0) }] })), null);
  });

  it('refuses numbers that would lose precision, unknown types and wrong members', () => {
    assert.match(problem(append({ term: 2 ** 53 - 1 }))!, /term 9007199254740991 is beyond 2\^52/);
    assert.match(problem(append({ commit: MAX_RAFT_NUMBER + 1 }))!, /commit .* beyond 2\^52/);
    assert.match(problem(append({ entries: [{ term: 5, index: 2 ** 53, type: 0, data: Buffer.alloc(0) }], index: 2 ** 53 - 1 }))!, /index .* beyond 2\^52/);
    assert.match(problem(wireMessage({ type: 99 as MessageType, from: 2, to: 1 }))!, /unknown message type 99/);
    assert.match(problem(wireMessage({ type: MessageType.Snapshot, from: 2, to: 1 }))!, /travel on InstallSnapshot/);
    assert.match(problem(append({ from: 3 }))!, /claims to be from member 3, the stream is authenticated as member 2/);
    assert.match(problem(append({ to: 3 }))!, /for member 3 delivered to member 1/);
    assert.match(problem(append({ context: Buffer.alloc(5000) }))!, /context of 5000 bytes/);
  });

  it('refuses entries that are not contiguous, newer than the message, oversized, undecodable or over the client limits', () => {
    const e = (over: object) => ({ term: 5, index: 11, type: 0, data: Buffer.alloc(0), ...over });
    assert.match(problem(append({ entries: [e({ index: 12 })] }))!, /entry 0 has index 12, expected 11/);
    assert.match(problem(append({ entries: [e({}), e({ index: 13 })] }))!, /entry 1 has index 13, expected 12/);
    assert.match(problem(append({ entries: [e({ term: 6 })] }))!, /newer than the message's term 5/);
    assert.match(problem(append({ entries: [e({ type: 7, data: Buffer.from('x') })] }))!, /unknown type 7/);
    assert.match(problem(append({ entries: [e({ data: Buffer.alloc(lim.maxEntryBytes + 1) })] }))!, /entry 11 is \d+ bytes \(at most/);
    assert.match(problem(append({ entries: [e({ data: Buffer.from([0xff, 0xff, 0xff]) })] }))!, /not a decodable command/);
    const put = (key: string, value: Buffer) => e({ data: commandEntry({ $case: 'put', value: { key, value, lease: 0, prevKv: false } }) });
    assert.match(problem(append({ entries: [put('k'.repeat(17), Buffer.alloc(1))] }))!, /entry 11: key is 17 bytes, over the limit of 16 bytes \(max-key-bytes\)/);
    assert.match(problem(append({ entries: [put('k', Buffer.alloc(65))] }))!, /entry 11: value is 65 bytes, over the limit of 64 bytes/);
    const grant = e({ data: commandEntry({ $case: 'leaseGrant', value: { id: 1, ttlMs: 1e12 } }) });
    assert.match(problem(append({ entries: [grant] }))!, /lease TTL 1000000000000 ms is outside 1\.\.60000 ms/);
    assert.match(problem(wireMessage({ type: MessageType.Heartbeat, from: 2, to: 1, entries: [e({})] }))!, /entries on a Heartbeat message/);
  });

  it('checks the Snapshot message heading an InstallSnapshot stream', () => {
    const snap = (meta: object | undefined) => wireMessage({ type: MessageType.Snapshot, from: 2, to: 1, term: 5, snapshot: meta as never });
    assert.equal(snapshotMessageProblem(snap({ index: 10, term: 5, confState: { voters: [1, 2, 3], learners: [] } }), 2, 1, lim), null);
    assert.match(snapshotMessageProblem(undefined, 2, 1, lim)!, /carries no Snapshot message/);
    assert.match(snapshotMessageProblem(snap(undefined), 2, 1, lim)!, /carries no Snapshot message/);
    assert.match(snapshotMessageProblem(snap({ index: 2 ** 53 - 1, term: 5, confState: { voters: [1], learners: [] } }), 2, 1, lim)!, /snapshot index .* beyond 2\^52/);
    assert.match(snapshotMessageProblem(snap({ index: 10, term: 5, confState: { voters: [], learners: [] } }), 2, 1, lim)!, /no voter/);
    assert.match(snapshotMessageProblem(snap({ index: 10, term: 5, confState: { voters: [0], learners: [] } }), 2, 1, lim)!, /names member 0/);
    assert.match(snapshotMessageProblem(snap({ index: 10, term: 5, confState: { voters: Array.from({ length: 2000 }, (_, i) => i + 1), learners: [] } }), 2, 1, lim)!, /membership of 2000 members/);
  });
});

describe('peer transport with authentication', () => {
  interface Ep {
    t: PeerTransport;
    server: grpc.Server;
    port: number;
    received: Message[];
    unreachable: number[];
  }
  const open: Ep[] = [];
  after(() => {
    for (const e of open) {
      e.t.close();
      e.server.forceShutdown();
    }
  });

  async function ep(id: number, secret = TEST_SECRET, port = 0): Promise<Ep> {
    const e = { received: [], unreachable: [] } as unknown as Ep;
    const handler: TransportHandler = {
      isMember: (x) => [1, 2, 3].includes(x),
      onMessages: (ms) => void e.received.push(...ms),
      receiveSnapshot: async () => ({ write: async () => {}, commit: async () => {}, abort: async () => {} }),
      onSnapshotMessage: () => {},
      openSnapshot: async () => ({ size: 0, chunks: (async function* () {})() }),
      reportUnreachable: (x) => e.unreachable.push(x),
      reportSnapshot: () => {},
      forward: async (req) => ({ errorCode: 0, errorMessage: '', leaderId: id, result: undefined, term: 1, members: [], leaderLastIndex: req.from, memberId: 0 }),
    };
    e.t = new PeerTransport({ clusterId: 'c1', selfId: id, log, handler });
    e.t.useSecurity(testSecurity('c1', secret));
    e.server = new grpc.Server();
    e.t.register(e.server);
    e.port = await new Promise((res, rej) => e.server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))));
    open.push(e);
    return e;
  }
  const hb = (from: number, to: number, commit: number): Message => ({ type: MessageType.Heartbeat, from, to, term: 1, logTerm: 0, index: 0, entries: [], commit, reject: false, rejectHint: 0, context: Buffer.alloc(0), readSeq: 0 });
  async function until(pred: () => boolean, what: string): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it('a member with the wrong secret delivers nothing and reports the peer unreachable', async () => {
    const a = await ep(1);
    const b = await ep(2, Buffer.from('a-different-secret-0123456789abcdef'));
    b.t.setPeer(1, `127.0.0.1:${a.port}`);
    b.t.send([hb(2, 1, 1)]);
    await until(() => b.unreachable.includes(1), 'unreachable report');
    await assert.rejects(b.t.forward(1, { kind: { $case: 'members', value: true } }, Date.now() + 2000), /could not prove it holds the cluster secret/);
    assert.equal(a.received.length, 0);
  });

  it('opens a new session transparently when the receiver restarted and forgot the old one', async () => {
    const a = await ep(1);
    const b = await ep(2);
    b.t.setPeer(1, `127.0.0.1:${a.port}`);
    b.t.send([hb(2, 1, 1)]);
    await until(() => a.received.length === 1, 'first heartbeat');
    assert.equal((await b.t.forward(1, { kind: { $case: 'members', value: true } }, Date.now() + 5000)).leaderLastIndex, 2);
    // Member 1 restarts on the same port: same secret, no sessions.
    const port = a.port;
    a.t.close();
    a.server.forceShutdown();
    const a2 = await ep(1, TEST_SECRET, port);
    // The forward retries once on a new session (the refusal came before the handler ran). The
    // old connection's end may surface first as UNAVAILABLE, as for any restarted server.
    let reply;
    for (let i = 0; ; i++) {
      try {
        reply = await b.t.forward(1, { kind: { $case: 'members', value: true } }, Date.now() + 5000);
        break;
      } catch (err) {
        if ((err as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || i > 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    assert.equal(reply.leaderLastIndex, 2);
    assert.ok(a2.t.stats.rejected >= 1, 'the forgotten session was refused, then replaced');
    b.t.send([hb(2, 1, 2)]);
    await until(() => a2.received.some((m) => m.commit === 2), 'heartbeat after the restart');
  });

  it('a holder of the secret speaks only as the member it opened its session as', async () => {
    const a = await ep(1);
    const probe = new PeerProbe({ address: `127.0.0.1:${a.port}`, clusterId: 'c1', from: 2, to: 1, secret: TEST_SECRET });
    await probe.authenticate();
    const claims3 = await probe.raft([probe.batch([wireMessage({ type: MessageType.Heartbeat, from: 3, to: 1, term: 1 })], { from: 3 })]);
    assert.equal(claims3?.code, grpc.status.PERMISSION_DENIED);
    assert.match(claims3!.details, /authenticated as member 2 \(secret\), claims to be member 3/);
    const inner = await probe.raft([probe.batch([wireMessage({ type: MessageType.Heartbeat, from: 3, to: 1, term: 1 })])]);
    assert.equal(inner?.code, grpc.status.INVALID_ARGUMENT);
    // A bad message anywhere in a batch: none of the batch is delivered.
    const mixed = await probe.raft([probe.batch([wireMessage({ type: MessageType.Heartbeat, from: 2, to: 1, term: 1, commit: 7 }), wireMessage({ type: MessageType.Heartbeat, from: 2, to: 1, term: 2 ** 53 - 1 })])]);
    assert.equal(mixed?.code, grpc.status.INVALID_ARGUMENT);
    assert.ok(!a.received.some((m) => m.commit === 7), 'nothing of the rejected batch was delivered');
    const ok = await probe.raft([probe.batch([wireMessage({ type: MessageType.Heartbeat, from: 2, to: 1, term: 1, commit: 8 })])]);
    assert.equal(ok, null);
    assert.ok(a.received.some((m) => m.commit === 8));
    probe.close();
  });
});
