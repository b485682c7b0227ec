// The probes of issue 20, as regression tests against a real 3-node cluster. Each opens the
// PeerService of a node the way an outside process would and must change nothing:
//  - a forged Append from a process without the cluster secret (it had made a follower serve a
//    key no one wrote, and later lose an acknowledged write);
//  - a message with term 2^53-1 from a process that holds the secret, i.e. a buggy or
//    compromised member (it had left the cluster without a leader for good);
//  - Forwards with an 8 MiB value, a 10 KiB key and a lease TTL of 10^12 ms (they had bypassed
//    the client limits), and a forward from a process without the secret.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { MessageType } from '../../raft/types.js';
import { startCluster, poll, type Cluster } from '../support/cluster.js';
import { kvClient, type KvClient } from '../support/kv.js';
import { PeerProbe, commandEntry, readPeerSecret, wireMessage } from '../support/peer.js';

describe('issue 20 peer probes', { timeout: 180_000 }, () => {
  let c: Cluster;
  let secret: Buffer;
  const kvs = new Map<number, KvClient>();
  const kv = (id: number): KvClient => {
    let k = kvs.get(id);
    if (!k) kvs.set(id, (k = kvClient(c.node(id).grpcAddress)));
    return k;
  };
  const leaderTerm = async (): Promise<{ leader: number; term: number }> => {
    const leader = await c.waitForLeader();
    return { leader, term: (await c.status(leader)).term };
  };
  /** A write through the cluster succeeds and every node serves it: the cluster is healthy. */
  const healthy = async (key: string): Promise<void> => {
    const { leader } = await leaderTerm();
    await kv(leader).set({ key, value: Buffer.from('ok') });
    for (const n of c.nodes) {
      const g = await kv(n.id).get({ key });
      assert.equal(g.found, true, `node ${n.id} serves ${key}`);
    }
  };

  before(async () => {
    c = await startCluster({ nodes: 3 });
    secret = readPeerSecret(c.peerSecretFile);
  });
  after(async () => {
    for (const k of kvs.values()) k.close();
    await c?.stop();
  });

  it('a forged Append from a process without the secret is refused and writes nothing', async () => {
    await healthy('/probe/warm');
    const { leader, term } = await leaderTerm();
    const follower = c.nodes.find((n) => n.id !== leader)!;
    const st = await c.status(follower.id);
    // Quiet cluster: the follower's last entry is at st.lastIndex, of the current term. The forged
    // Append claims to come from the leader and continues the log with a put, committed at once.
    const forged = wireMessage({
      type: MessageType.Append,
      from: leader,
      to: follower.id,
      term,
      logTerm: term,
      index: st.lastIndex,
      commit: st.lastIndex + 1,
      entries: [{ term, index: st.lastIndex + 1, type: 0, data: commandEntry({ $case: 'put', value: { key: '/probe/forged', value: Buffer.from('evil'), lease: 0, prevKv: false } }) }],
    });
    const attacker = new PeerProbe({ address: follower.grpcAddress, clusterId: c.clusterId, from: leader, to: follower.id });
    const err = await attacker.raft([attacker.batch([forged])]);
    attacker.close();
    assert.equal(err?.code, grpc.status.UNAUTHENTICATED, `refused: ${err?.details}`);
    // Give a wrongly accepted entry every chance to be applied before looking.
    await poll(async () => (await c.status(follower.id)).appliedIndex >= st.lastIndex, { what: 'follower applied' });
    const g = await kv(follower.id).get({ key: '/probe/forged', serializable: true });
    assert.equal(g.found, false, 'the follower serves no key that no one wrote');
    await healthy('/probe/after-append');
  });

  it('a message with term 2^53-1, even from a holder of the secret, is refused and never stored', async () => {
    const { leader, term } = await leaderTerm();
    const target = c.nodes.find((n) => n.id !== leader)!;
    const rogue = new PeerProbe({ address: target.grpcAddress, clusterId: c.clusterId, from: leader, to: target.id, secret });
    await rogue.authenticate();
    const huge = 2 ** 53 - 1;
    const err = await rogue.raft([rogue.batch([wireMessage({ type: MessageType.Heartbeat, from: leader, to: target.id, term: huge, commit: 0 })])]);
    assert.equal(err?.code, grpc.status.INVALID_ARGUMENT, `refused: ${err?.details}`);
    assert.match(err!.details, /term 9007199254740991 is beyond 2\^52/);
    const err2 = await rogue.raft([rogue.batch([wireMessage({ type: MessageType.Vote, from: leader, to: target.id, term: term + 1, logTerm: huge, index: huge })])]);
    assert.equal(err2?.code, grpc.status.INVALID_ARGUMENT);
    rogue.close();
    for (const n of c.nodes) assert.ok((await c.status(n.id)).term < 2 ** 52, `node ${n.id} kept a sane term`);
    await healthy('/probe/after-term');
    // ... and after a restart (nothing of it was persisted).
    await c.restart(target.id);
    await c.waitForLeader();
    assert.ok((await c.status(target.id)).term < 2 ** 52);
    await healthy('/probe/after-restart');
  });

  it('forwarded commands over the client limits are refused at the leader exactly like client requests', async () => {
    const { leader } = await leaderTerm();
    const follower = c.nodes.find((n) => n.id !== leader)!.id;
    const probe = new PeerProbe({ address: c.node(leader).grpcAddress, clusterId: c.clusterId, from: follower, to: leader, secret });
    await probe.authenticate();
    const put = (key: string, value: Buffer) => ({ kind: { $case: 'command' as const, value: { clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'put' as const, value: { key, value, lease: 0, prevKv: false } } } } });
    const big = await probe.forward(put('/probe/big', Buffer.alloc(8 * 1024 * 1024, 1)), 30_000);
    assert.equal(big.errorCode, grpc.status.INVALID_ARGUMENT, big.errorMessage);
    assert.equal(big.errorMessage, 'value is 8388608 bytes, over the limit of 1048576 bytes (max-value-bytes)');
    const longKey = '/probe/' + 'k'.repeat(10 * 1024);
    const key = await probe.forward(put(longKey, Buffer.from('v')));
    assert.equal(key.errorCode, grpc.status.INVALID_ARGUMENT);
    assert.match(key.errorMessage, /^key is 10247 bytes, over the limit of 4096 bytes \(max-key-bytes\)$/);
    // The same requests from a client get the same answers.
    await assert.rejects(kv(follower).set({ key: '/probe/big', value: Buffer.alloc(8 * 1024 * 1024, 1) }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details === big.errorMessage);
    await assert.rejects(kv(follower).set({ key: longKey, value: Buffer.from('v') }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && e.details === key.errorMessage);
    const ttl = await probe.forward({ kind: { $case: 'command', value: { clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'leaseGrant', value: { id: 777, ttlMs: 1e12 } } } } });
    assert.equal(ttl.errorCode, grpc.status.INVALID_ARGUMENT);
    assert.match(ttl.errorMessage, /lease TTL 1000000000000 ms is outside 1\.\.31536000000 ms \(max-lease-ttl-ms\)/);
    probe.close();
    // Nothing was applied anywhere.
    for (const n of c.nodes) {
      assert.equal((await kv(n.id).get({ key: '/probe/big' })).found, false);
      const res = await fetch(`http://${c.node(n.id).httpAddress}/v1/leases`);
      const leases = ((await res.json()) as { data: { leases: { id: number }[] } }).data.leases;
      assert.ok(!leases.some((l) => l.id === 777), `node ${n.id} has no lease 777`);
    }
    // A forward from a process without the secret does not reach the leader at all.
    const anon = new PeerProbe({ address: c.node(leader).grpcAddress, clusterId: c.clusterId, from: follower, to: leader });
    await assert.rejects(anon.forward(put('/probe/anon', Buffer.from('v'))), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    anon.close();
    assert.equal((await kv(leader).get({ key: '/probe/anon' })).found, false);
    await healthy('/probe/after-forward');
  });
});

describe('secrets stay secret', { timeout: 120_000 }, () => {
  it('no API answer, metric, OpenAPI document or log line carries the peer secret or the key derived from it', async () => {
    const c = await startCluster({ nodes: 3 });
    const clients: KvClient[] = [];
    try {
      const secret = readPeerSecret(c.peerSecretFile);
      const { deriveClusterKey } = await import('../../src/transport/peer-auth.js');
      const key = deriveClusterKey(secret, c.clusterId);
      const needles = [secret.toString('utf8'), key.toString('hex'), key.toString('base64'), secret.toString('base64')];
      // Peer traffic has flowed (sessions opened, forwards made) before anything is collected.
      const leader = await c.waitForLeader();
      const follower = c.nodes.find((n) => n.id !== leader)!;
      const k = kvClient(follower.grpcAddress);
      clients.push(k);
      await k.set({ key: '/secret/probe', value: Buffer.from('v') });
      const texts: string[] = [];
      for (const n of c.nodes) {
        const kc = kvClient(n.grpcAddress);
        clients.push(kc);
        // Anonymous ClusterService calls, as any client may make them.
        texts.push(JSON.stringify(await kc.status({})), JSON.stringify(await kc.members({})));
        for (const path of ['/v1/cluster/status', '/v1/cluster/members', '/metrics', '/v1/openapi.json', '/v1/config', '/livez', '/readyz']) {
          texts.push(await (await fetch(`http://${n.httpAddress}${path}`)).text());
        }
      }
      for (const n of c.nodes) await c.stopNode(n.id);
      for (const n of c.nodes) texts.push(c.logs(n.id));
      const all = texts.join('\n');
      assert.ok(all.length > 10_000, 'something was collected');
      for (const needle of needles) assert.ok(!all.includes(needle), 'the secret (or its key) leaked');
    } finally {
      for (const k of clients) k.close();
      await c.stop();
    }
  });
});
