// A member that lost its quorum, asked by raw etcd gRPC clients with and without metadata
// hasleader=true (clientv3.WithRequireLeader; clientv3's lease keep-alive streams and
// Kubernetes' watches carry it): the same calls against a real 3-member etcd 3.4 and a 3-member
// Placement Center, two members killed, must give the same answers. Without the metadata a
// serializable read is served; with it every call is refused at once with etcd's "no leader",
// and keep-alive and watch streams opened before are ended the same way (after three election
// timeouts without a leader, on both), so that clients reopen them on another member.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { LeaseGrantRequest, LeaseKeepAliveRequest, PutRequest, RangeRequest, StatusRequest, WatchRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { etcdAndOurs } from '../support/differential.js';
import { RawEtcd, outcome, varintField } from '../support/raw-etcd.js';

interface Side {
  /** The member left alone. */
  survivor: string;
  /** Kills the two others (SIGKILL, by pid). */
  killOthers(): Promise<void>;
}

const requireLeader = (): grpc.Metadata => {
  const md = new grpc.Metadata();
  md.set('hasleader', 'true');
  return md;
};

/** A stream's end: its error (or 'ended') when the server ends it; 'still open' after 20 s. */
function ended(s: grpc.ClientDuplexStream<never, Buffer>): Promise<string> {
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      s.cancel();
      resolve('still open after 20 s');
    }, 20_000);
    s.on('error', (e: grpc.ServiceError) => {
      clearTimeout(t);
      resolve(outcome(e));
    });
    s.on('end', () => {
      clearTimeout(t);
      resolve('ended');
    });
  });
}

/** The first message of a stream (proof it is live). */
function firstMessage(s: grpc.ClientDuplexStream<never, Buffer>): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no message on the stream in 10 s')), 10_000);
    s.once('data', () => {
      clearTimeout(t);
      resolve();
    });
    s.once('error', reject);
  });
}

const put = (value: string): PutRequest => PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from(value) });
const watchCreate = WatchRequest.fromPartial({ requestUnion: { $case: 'createRequest', value: { key: Buffer.from('k') } } });

async function run(side: Side): Promise<Record<string, string>> {
  const c = new RawEtcd(side.survivor);
  try {
    const seeded = await c.unary('/etcdserverpb.KV/Put', PutRequest, put('v'));
    assert.equal(seeded.err, null, 'a write while the cluster is whole');
    // Streams opened while a leader is known, requiring one: live before the fault.
    const ka = c.stream('/etcdserverpb.Lease/LeaseKeepAlive', LeaseKeepAliveRequest, requireLeader());
    const kaLive = firstMessage(ka as grpc.ClientDuplexStream<never, Buffer>);
    const kaEnd = ended(ka as grpc.ClientDuplexStream<never, Buffer>);
    ka.write({ ID: 1 }); // a lease that does not exist: answered TTL 0, the stream stays
    await kaLive;
    const w = c.stream('/etcdserverpb.Watch/Watch', WatchRequest, requireLeader());
    const wLive = firstMessage(w as grpc.ClientDuplexStream<never, Buffer>);
    const wEnd = ended(w as grpc.ClientDuplexStream<never, Buffer>);
    w.write(watchCreate);
    await wLive;

    await side.killOthers();
    // Status names the leader the member knows (field 4; absent when none).
    const end = Date.now() + 30_000;
    for (;;) {
      const st = await c.unary('/etcdserverpb.Maintenance/Status', StatusRequest, {});
      if (!st.err && st.rep && varintField(st.rep, 4) === 0) break;
      assert.ok(Date.now() < end, 'the survivor still knows a leader 30 s after the others were killed');
    }

    const range = async (md: grpc.Metadata): Promise<string> => {
      const r = await c.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: Buffer.from('k'), serializable: true }), md);
      return r.err ? outcome(r.err) : `ok count ${varintField(r.rep!, 4)}`;
    };
    const out: Record<string, string> = {};
    out['serializable range'] = await range(new grpc.Metadata());
    out['serializable range requiring a leader'] = await range(requireLeader());
    out['put requiring a leader'] = outcome((await c.unary('/etcdserverpb.KV/Put', PutRequest, put('w'), requireLeader())).err);
    out['lease grant requiring a leader'] = outcome((await c.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, { TTL: 10, ID: 0 }, requireLeader())).err);
    const ka2 = c.stream('/etcdserverpb.Lease/LeaseKeepAlive', LeaseKeepAliveRequest, requireLeader());
    const ka2End = ended(ka2 as grpc.ClientDuplexStream<never, Buffer>);
    ka2.write({ ID: 1 });
    out['keep-alive stream opened requiring a leader'] = await ka2End;
    const w2 = c.stream('/etcdserverpb.Watch/Watch', WatchRequest, requireLeader());
    const w2End = ended(w2 as grpc.ClientDuplexStream<never, Buffer>);
    w2.write(watchCreate);
    out['watch stream opened requiring a leader'] = await w2End;
    out['keep-alive stream opened before'] = await kaEnd;
    out['watch stream opened before'] = await wEnd;
    return out;
  } finally {
    c.close();
  }
}

describe('a member without a leader, asked to require one: the same answers as etcd 3.4', { timeout: 240_000 }, () => {
  const pair = etcdAndOurs();

  test('refused at once with "no leader"; streams opened before are ended the same way', async () => {
    const e = pair.etcd;
    const theirs = await run({
      survivor: e.endpoints[0]!,
      killOthers: async () => {
        for (const m of e.members.slice(1)) {
          const gone = new Promise<void>((r) => (m.proc.exitCode !== null ? r() : m.proc.once('exit', () => r())));
          process.kill(m.pid, 'SIGKILL');
          await gone;
        }
      },
    });
    const c = pair.ours;
    const survivor = c.nodes[0]!;
    const mine = await run({
      survivor: survivor.grpcAddress,
      killOthers: async () => {
        for (const n of c.nodes.slice(1)) await c.kill(n.id, 'SIGKILL');
      },
    });
    const noLeader = 'error UNAVAILABLE: etcdserver: no leader';
    assert.equal(theirs['serializable range'], 'ok count 1', JSON.stringify(theirs));
    assert.equal(theirs['put requiring a leader'], noLeader, JSON.stringify(theirs));
    assert.equal(theirs['keep-alive stream opened before'], noLeader, JSON.stringify(theirs));
    assert.deepEqual(mine, theirs);
  });
});
