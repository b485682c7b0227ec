// Peer transport (src/transport/) in one process: two endpoints on loopback exchange batched
// Raft messages over one long-lived stream (after opening an authenticated session with the
// cluster secret); foreign clusters and non-members are rejected; a snapshot file is streamed in
// chunks; forwards reach the handler. All of it with the Raft stream served by grpc-js and served
// straight from its HTTP/2 stream (src/grpc/h2/direct-stream.ts, the node's default), whose
// pause/resume carries the driver's back-pressure.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { pino } from 'pino';
import { PeerTransport, type TransportHandler, type SnapshotSink } from '../../src/transport/index.js';
import { MessageType, type Message, type SnapshotMeta } from '../../raft/types.js';
import { commandEntry, PeerProbe, TEST_SECRET, testSecurity } from '../support/peer.js';
import { serveStreamsDirectly, type DirectStreamHook } from '../../src/grpc/h2/direct-stream.js';
import { DIRECT_STREAMS } from '../../src/auth/guard.js';

const log = pino({ level: 'silent' });

/** A put command as a client would propose it (entries carry commands, which are validated). */
const put = (value: string): Buffer => commandEntry({ $case: 'put', value: { key: 'k', value: Buffer.from(value), lease: 0, prevKv: false } });

function msg(from: number, to: number, i: number, data: Uint8Array = Buffer.alloc(0)): Message {
  return {
    type: MessageType.Append,
    from,
    to,
    term: 1,
    logTerm: 1,
    index: i,
    entries: data.length ? [{ term: 1, index: i + 1, type: 0, data }] : [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: Buffer.alloc(0),
    readSeq: 0,
  };
}

interface Endpoint {
  t: PeerTransport;
  server: grpc.Server;
  port: number;
  received: Message[];
  batches: number;
  snapshots: { meta: SnapshotMeta; bytes: Buffer }[];
  snapshotReports: [number, boolean][];
  unreachable: number[];
  /** Returned by the next onMessages (the driver's back-pressure), then cleared. */
  hold?: Promise<void>;
  hook?: DirectStreamHook;
}

async function endpoint(id: number, clusterId: string, members: number[], direct = false): Promise<Endpoint> {
  const e = { received: [], batches: 0, snapshots: [], snapshotReports: [], unreachable: [] } as unknown as Endpoint;
  const handler: TransportHandler = {
    isMember: (x) => members.includes(x),
    onMessages: (ms) => {
      e.batches++;
      e.received.push(...ms);
      const hold = e.hold;
      e.hold = undefined;
      return hold;
    },
    receiveSnapshot: async (meta): Promise<SnapshotSink> => {
      const parts: Buffer[] = [];
      return {
        write: async (c) => void parts.push(Buffer.from(c)),
        commit: async () => void e.snapshots.push({ meta, bytes: Buffer.concat(parts) }),
        abort: async () => {},
      };
    },
    onSnapshotMessage: (m) => e.received.push(m),
    openSnapshot: async () => {
      const data = Buffer.alloc(700_000, 7);
      return {
        size: data.length,
        chunks: (async function* () {
          for (let o = 0; o < data.length; o += 65536) yield data.subarray(o, o + 65536);
        })(),
      };
    },
    reportUnreachable: (x) => e.unreachable.push(x),
    reportSnapshot: (x, ok) => e.snapshotReports.push([x, ok]),
    forward: async (req) => ({ errorCode: 0, errorMessage: '', leaderId: id, result: undefined, term: 9, members: [], leaderLastIndex: req.from, memberId: 0 }),
  };
  e.t = new PeerTransport({ clusterId, selfId: id, log, handler });
  e.t.useSecurity(testSecurity(clusterId));
  e.server = new grpc.Server();
  if (direct) e.hook = serveStreamsDirectly(e.server, { paths: DIRECT_STREAMS, limits: { maxReceiveMessageBytes: 64 << 20, maxSendMessageBytes: 64 << 20 } });
  e.t.register(e.server);
  e.port = await new Promise((res, rej) => e.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? rej(err) : res(p))));
  return e;
}

async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

for (const direct of [false, true]) describe(`peer transport (Raft stream served ${direct ? 'directly' : 'by grpc-js'})`, () => {
  let a: Endpoint;
  let b: Endpoint;
  let stranger: Endpoint;
  before(async () => {
    a = await endpoint(1, 'c1', [1, 2], direct);
    b = await endpoint(2, 'c1', [1, 2], direct);
    stranger = await endpoint(2, 'other', [1, 2], direct);
    a.t.setPeer(2, `127.0.0.1:${b.port}`);
    b.t.setPeer(1, `127.0.0.1:${a.port}`);
  });
  after(() => {
    for (const e of [a, b, stranger]) {
      e.t.close();
      e.server.forceShutdown();
    }
  });

  it('delivers messages in order, batched on one stream', async () => {
    const n = 500;
    for (let i = 0; i < n; i++) a.t.send([msg(1, 2, i, put(`e${i}`))]);
    await until(() => b.received.length === n, 'all messages');
    assert.deepEqual(b.received.map((m) => m.index), Array.from({ length: n }, (_, i) => i));
    assert.deepEqual(b.received[42]!.entries[0]!.data, put('e42'));
    assert.ok(b.batches < n / 10, `${b.batches} batches for ${n} messages sent in one turn`);
    if (direct) assert.ok(b.hook!.counts.direct >= 1, 'the Raft stream was served directly');
  });

  it('answers a Raft stream with its response headers at once, before any message', async () => {
    // A grpc-js sender keeps every message it wrote until it sees them (up to 256 KiB of
    // messages, each small acknowledgement pinning an 8 KiB buffer): a follower held ~40 MiB so.
    const probe = new PeerProbe({ address: `127.0.0.1:${b.port}`, clusterId: 'c1', from: 1, to: 2, secret: TEST_SECRET });
    let timer: NodeJS.Timeout | undefined;
    try {
      await probe.authenticate();
      const headers = await Promise.race([probe.raftHeaders(), new Promise<'none'>((r) => (timer = setTimeout(() => r('none'), 5_000)))]);
      assert.ok(Array.isArray(headers), `response headers before any message: got ${String(headers)}`);
    } finally {
      clearTimeout(timer);
      probe.client.close();
    }
  });

  it('a busy driver pauses the stream: nothing more is delivered until it resumes, and nothing is lost or reordered', async () => {
    b.received.length = 0;
    let release!: () => void;
    b.hold = new Promise<void>((r) => (release = r));
    a.t.send([msg(1, 2, 0, put('first'))]);
    await until(() => b.received.length === 1, 'the first batch');
    const n = 300;
    for (let i = 1; i <= n; i++) {
      a.t.send([msg(1, 2, i, put(`e${i}`))]);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(b.received.length, 1, 'delivered while the driver held the stream');
    release();
    await until(() => b.received.length === n + 1, 'every message after the release');
    assert.deepEqual(b.received.map((m) => m.index), Array.from({ length: n + 1 }, (_, i) => i));
  });

  it('streams a snapshot in chunks and reports the outcome', async () => {
    const meta = { index: 100, term: 3, confState: { voters: [1, 2], learners: [] } };
    a.t.send([{ ...msg(1, 2, 0), type: MessageType.Snapshot, snapshot: { meta, data: new Uint8Array() } }]);
    await until(() => a.snapshotReports.length === 1, 'snapshot report');
    assert.deepEqual(a.snapshotReports[0], [2, true]);
    assert.equal(b.snapshots.length, 1);
    assert.equal(b.snapshots[0]!.bytes.length, 700_000);
    assert.deepEqual(b.snapshots[0]!.meta, meta);
    assert.equal(b.received.at(-1)!.type, MessageType.Snapshot);
  });

  it('forwards requests to the peer', async () => {
    const r = await b.t.forward(1, { kind: { $case: 'members', value: true } }, Date.now() + 5000);
    assert.equal(r.term, 9);
    assert.equal(r.leaderLastIndex, 2, 'the handler saw the sender id');
  });

  it('rejects a peer from another cluster and reports it unreachable', async () => {
    const c = await endpoint(1, 'c1', [1, 2]);
    try {
      c.t.setPeer(2, `127.0.0.1:${stranger.port}`);
      c.t.send([msg(1, 2, 0)]);
      await until(() => c.unreachable.includes(2), 'unreachable report');
      assert.equal(stranger.received.length, 0);
      assert.equal(stranger.t.stats.rejected >= 1, true);
    } finally {
      c.t.close();
      c.server.forceShutdown();
    }
  });

  it('bounds the queue to a dead peer: drops and reports unreachable instead of growing', async () => {
    const d = await endpoint(1, 'c1', [1, 3], direct);
    try {
      const small = new PeerTransport({ clusterId: 'c1', selfId: 1, log, handler: { ...(d.t.handler), reportUnreachable: (x) => d.unreachable.push(x) }, maxQueueMessages: 10 });
      small.useSecurity(testSecurity('c1'));
      small.setPeer(3, '127.0.0.1:1'); // nothing listens there
      for (let i = 0; i < 100; i++) small.send([msg(1, 3, i)]);
      assert.ok(small.stats.dropped >= 90, `dropped ${small.stats.dropped}`);
      assert.ok(d.unreachable.filter((x) => x === 3).length >= 90);
      small.close();
    } finally {
      d.t.close();
      d.server.forceShutdown();
    }
  });
});
