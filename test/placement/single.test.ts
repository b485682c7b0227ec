// The registry and placement services on one real member: the SDK calls (bad input refused with
// nothing changed, CAS semantics of status and leader reports, lease expiry removing a
// registration, watch and etcdctl seeing the keys), placement-ctl node/shard, a drain moving
// shards off gracefully, and the admin HTTP routes with bad input.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { etcdctl } from '../support/etcdctl.js';
import { runCtl } from '../cli/support/run-ctl.js';
import { PlacementClient } from '../../src/client/index.js';
import * as grpc from '@grpc/grpc-js';
import { rawStream } from '../support/raw-grpc-stream.js';

const EXIT = { OK: 0, USAGE: 2, NOT_FOUND: 4 };
const CL = 'mq';

describe('registry and placement on one member', { timeout: 180_000 }, () => {
  let c: Cluster;
  let client: PlacementClient;
  let ep: string;
  let http: string;
  const ctl = (...args: string[]) => runCtl(['--endpoints', ep, ...args]);

  before(async () => {
    c = await startCluster({ nodes: 1 });
    ep = c.nodes[0]!.grpcAddress;
    http = `http://${c.nodes[0]!.httpAddress}`;
    client = new PlacementClient({ endpoints: [ep], deadlineMs: 10_000 });
    for (const [id, zone] of [[1, 'a'], [2, 'b'], [3, 'c']] as const) {
      await client.registry.register(CL, id, { zone, addresses: [`10.0.0.${id}:9092`], ttlSeconds: 60, extendInfo: '{"rack":1}' });
    }
  });
  after(async () => {
    client?.close();
    await c?.stop();
  });

  it('refuses bad registrations and unknown nodes, changing nothing', async () => {
    const before = (await client.registry.list(CL)).revision;
    await assert.rejects(client.registry.register(CL, 0), /node_id must be a positive integer/);
    await assert.rejects(client.registry.register('a/b', 9), /cluster_name must be/);
    await assert.rejects(client.registry.register(CL, 9, { extendInfo: '{not json' }), /extend_info must be JSON/);
    await assert.rejects(client.registry.register(CL, 9, { leaseId: 987654321 }), /lease 987654321 does not exist/);
    await assert.rejects(client.registry.heartbeat(CL, 99), /not registered/);
    await assert.rejects(client.placement.createShard(CL, 'bad/name', 1), /shard_name must be/);
    await assert.rejects(client.placement.createShard(CL, 'x', 4), /3 eligible .* for 4 replicas asked/);
    const after = await client.registry.list(CL);
    assert.equal(after.revision, before, 'nothing written');
    assert.deepEqual(after.nodes.map((n) => n.nodeId), [1, 2, 3]);
    assert.equal(after.nodes[0]!.extendInfo, '{"rack":1}');
  });

  it('heartbeat renews and stores the load; the keys are plain etcd keys', async () => {
    const hb = await client.registry.heartbeat(CL, 1, { shardCount: 3, cpuPercent: 12.5, diskUsedBytes: 10, diskTotalBytes: 100 });
    assert.equal(hb.ttlSeconds, 60);
    const n1 = (await client.registry.list(CL)).nodes.find((n) => n.nodeId === 1)!;
    assert.equal(n1.load?.cpuPercent, 12.5);
    const g = await etcdctl([ep], ['get', '--prefix', '--keys-only', `/placement/registry/${CL}/nodes/`]);
    assert.equal(g.code, 0, g.stderr);
    assert.deepEqual(g.stdout.split('\n').filter((l) => l !== ''), [1, 2, 3].map((i) => `/placement/registry/${CL}/nodes/${i}`));
  });

  it('a registration on a short lease vanishes when it expires, and a watch sees the join and the death', async () => {
    const start = (await client.registry.list(CL)).revision + 1;
    const w = client.watch(`/placement/registry/${CL}/nodes/`, { prefix: true, startRevision: start });
    const r = await client.registry.register(CL, 50, { zone: 'z', ttlSeconds: 1 });
    assert.ok(r.ttlSeconds >= 1);
    const seen: string[] = [];
    for await (const b of w) {
      for (const e of b.events) seen.push(`${e.type} ${e.kv.key}`);
      if (seen.some((s) => s.startsWith('delete'))) break;
    }
    w.close();
    assert.deepEqual(seen, [`put /placement/registry/${CL}/nodes/50`, `delete /placement/registry/${CL}/nodes/50`]);
  });

  it('UpdateShardStatus and ReportShardLeader are compare-and-set', async () => {
    const s = await client.placement.createShard(CL, 'cas', 3);
    assert.deepEqual([...s.replicas].sort(), [1, 2, 3]);
    const miss = await client.placement.updateShardStatus(CL, 'cas', 'sealed', 'deleting');
    assert.equal(miss.succeeded, false);
    assert.equal(miss.shard!.status, 'active');
    const hit = await client.placement.updateShardStatus(CL, 'cas', 'active', 'sealed');
    assert.equal(hit.succeeded, true);
    assert.equal(hit.shard!.status, 'sealed');
    const other = s.replicas.find((r) => r !== s.leader)!;
    const stale = await client.placement.reportShardLeader(CL, 'cas', other, s.epoch + 5);
    assert.equal(stale.succeeded, false);
    const won = await client.placement.reportShardLeader(CL, 'cas', other, s.epoch);
    assert.equal(won.succeeded, true);
    assert.equal(won.shard!.leader, other);
    assert.equal(won.shard!.epoch, s.epoch + 1);
    // A second report at the old epoch (a racing broker) changes nothing.
    const late = await client.placement.reportShardLeader(CL, 'cas', s.leader, s.epoch);
    assert.equal(late.succeeded, false);
    assert.equal(late.shard!.leader, other);
    await assert.rejects(client.placement.reportShardLeader(CL, 'cas', 77, won.shard!.epoch), /not a replica/);
    assert.equal(await client.placement.deleteShard(CL, 'cas'), true);
    assert.equal(await client.placement.deleteShard(CL, 'cas'), false);
  });

  it('placement-ctl: shard create/list/describe/move, node list/describe, drain moves shards off, unregister', async () => {
    const cr = await ctl('--json', 'shard', 'create', 'orders', '-c', CL, '--replicas', '2');
    assert.equal(cr.code, EXIT.OK, cr.stderr);
    const created = JSON.parse(cr.stdout) as { replicas: number[]; leader: number; epoch: number };
    assert.equal(created.replicas.length, 2);
    const nl = await ctl('node', 'list', '-c', CL);
    assert.equal(nl.code, EXIT.OK, nl.stderr);
    assert.match(nl.stdout, /ID\s+TYPE\s+ZONE/);
    assert.match(nl.stdout, /10\.0\.0\.2:9092/);
    const sl = await ctl('shard', 'list', '-c', CL);
    assert.match(sl.stdout, /orders\s+\d,\d\s+\d\s+1\s+active/);
    const d = await ctl('shard', 'describe', 'orders', '-c', CL);
    assert.match(d.stdout, /^shard orders: replicas \d,\d \(factor 2\), leader \d, epoch 1, status active\n$/);
    assert.equal((await ctl('shard', 'describe', 'nosuch', '-c', CL)).code, EXIT.NOT_FOUND);
    assert.equal((await ctl('node', 'describe', '42', '-c', CL)).code, EXIT.NOT_FOUND);
    assert.equal((await ctl('node', 'list')).code, EXIT.USAGE, '--cluster is required');

    // Move the leader's replica to the third broker: the leader hands over at epoch + 1.
    const third = [1, 2, 3].find((x) => !created.replicas.includes(x))!;
    const mv = JSON.parse((await ctl('--json', 'shard', 'move', 'orders', '-c', CL, '--from', String(created.leader), '--to', String(third))).stdout) as { replicas: number[]; leader: number; epoch: number };
    assert.ok(mv.replicas.includes(third) && !mv.replicas.includes(created.leader));
    assert.notEqual(mv.leader, created.leader);
    assert.equal(mv.epoch, 2);

    // Drain the current leader: the controller moves the shard off it, a new leader at epoch + 1.
    const dr = await ctl('node', 'drain', String(mv.leader), '-c', CL);
    assert.equal(dr.stdout, `node ${mv.leader} draining\n`);
    const moved = await c.waitFor(async () => {
      const s = await client.placement.getShard(CL, 'orders');
      return s.replicas.includes(mv.leader) ? null : s;
    }, { what: 'the drained broker to lose its replica', timeoutMs: 20_000 });
    assert.equal(moved.replicas.length, 2);
    assert.notEqual(moved.leader, mv.leader);
    assert.equal(moved.epoch, 3);
    const desc = await ctl('node', 'describe', String(mv.leader), '-c', CL);
    assert.match(desc.stdout, /draining\n/);
    assert.match(desc.stdout, /shards: -/);
    // A draining node gets no new replicas.
    await assert.rejects(client.placement.createShard(CL, 'three', 3), /2 eligible .* for 3 replicas asked/);
    assert.equal((await ctl('node', 'drain', String(mv.leader), '-c', CL, '--undo')).stdout, `node ${mv.leader} active\n`);
    assert.equal((await ctl('node', 'unregister', '3', '-c', CL)).stdout, 'node 3 unregistered\n');
    assert.equal((await ctl('node', 'unregister', '3', '-c', CL)).stdout, 'node 3 was not registered\n');
  });

  it('HeartbeatStream: one reply per heartbeat; an unknown node ends the stream with NOT_FOUND', async () => {
    const { RegistryServiceService } = await import('../../proto/gen/placement/v1/registry.js');
    const d = RegistryServiceService.heartbeatStream;
    const raw = new grpc.Client(ep, grpc.credentials.createInsecure());
    try {
      const stream = raw.makeBidiStreamRequest(d.path, d.requestSerialize, d.responseDeserialize);
      const replies: number[] = [];
      const ended = new Promise<grpc.status>((resolve) => {
        stream.on('data', (r: { ttlSeconds: number }) => replies.push(r.ttlSeconds));
        stream.on('error', (e: grpc.ServiceError) => resolve(e.code));
        stream.on('end', () => resolve(grpc.status.OK));
      });
      stream.write({ clusterName: CL, nodeId: 1 });
      stream.write({ clusterName: CL, nodeId: 2, load: { shardCount: 1, cpuPercent: 1, diskUsedBytes: 0, diskTotalBytes: 0 } });
      stream.write({ clusterName: CL, nodeId: 404 });
      assert.equal(await ended, grpc.status.NOT_FOUND);
      assert.deepEqual(replies, [60, 60]);
    } finally {
      raw.close();
    }
  });

  it('HeartbeatStream: a broker that does not read its replies is not read either, and gets every reply once it reads', async () => {
    const { HeartbeatRequest, HeartbeatReply } = await import('../../proto/gen/placement/v1/registry.js');
    const HEARTBEATS = 40_000;
    let replies = 0;
    let onAll: () => void = () => {};
    const all = new Promise<void>((r) => (onAll = r));
    const call = rawStream(ep, '/placement.v1.RegistryService/HeartbeatStream', (m) => {
      assert.equal(HeartbeatReply.decode(m).ttlSeconds, 60);
      if (++replies === HEARTBEATS) onAll();
    });
    try {
      const { heldAt, finish } = await call.sendUnread(HeartbeatRequest.encode({ clusterName: CL, nodeId: 1 }).finish(), HEARTBEATS, 60_000);
      // What the flow-control windows both ways hold and a backlog of 64 heartbeats, not all of them.
      assert.ok(heldAt < HEARTBEATS / 2, `the member kept reading a broker that reads nothing: ${heldAt} of ${HEARTBEATS} heartbeats left it`);
      console.log(`# ${heldAt} of ${HEARTBEATS} heartbeats left the broker while it read nothing`);
      await finish();
      await all;
      assert.equal(replies, HEARTBEATS, 'one reply per heartbeat');
    } finally {
      call.close();
    }
  });

  it('BrokerMetaService: resource config, idempotent records (duplicate detected), offsets in one revision; bad input refused', async () => {
    const { BrokerMetaServiceService: M } = await import('../../proto/gen/placement/v1/meta.js');
    const raw = new grpc.Client(ep, grpc.credentials.createInsecure());
    const call = <T>(d: { path: string; requestSerialize: (v: never) => Buffer; responseDeserialize: (b: Buffer) => unknown }, req: object): Promise<T> =>
      new Promise((resolve, reject) =>
        raw.makeUnaryRequest(d.path, (v: object) => d.requestSerialize(v as never), d.responseDeserialize as (b: Buffer) => T, req, (e, r) => (e ? reject(e) : resolve(r as T))),
      );
    try {
      await call(M.setResourceConfig, { clusterName: CL, resources: ['topic', 'orders'], config: Buffer.from('{"retention":"1h"}') });
      const got = await call<{ found: boolean; config: Buffer }>(M.getResourceConfig, { clusterName: CL, resources: ['topic', 'orders'] });
      assert.equal(got.found, true);
      assert.equal(Buffer.from(got.config).toString(), '{"retention":"1h"}');
      assert.equal((await call<{ deleted: boolean }>(M.deleteResourceConfig, { clusterName: CL, resources: ['topic', 'orders'] })).deleted, true);
      assert.equal((await call<{ found: boolean }>(M.getResourceConfig, { clusterName: CL, resources: ['topic', 'orders'] })).found, false);
      await assert.rejects(call(M.setResourceConfig, { clusterName: CL, resources: ['a/b'], config: Buffer.from('x') }), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);

      const idem = { clusterName: CL, producerId: 'p-1', seqNum: 42 };
      assert.equal((await call<{ created: boolean }>(M.setIdempotentData, idem)).created, true);
      assert.equal((await call<{ created: boolean }>(M.setIdempotentData, idem)).created, false, 'the duplicate is detected');
      assert.equal((await call<{ exists: boolean }>(M.existsIdempotentData, idem)).exists, true);
      assert.equal((await call<{ deleted: boolean }>(M.deleteIdempotentData, idem)).deleted, true);
      assert.equal((await call<{ exists: boolean }>(M.existsIdempotentData, idem)).exists, false);

      const rev0 = (await client.etcd.range('/placement/offsets/', { prefix: true })).header.revision;
      await call(M.saveOffset, { clusterName: CL, group: 'g1', offsets: [{ shardName: 's0', offset: 10 }, { shardName: 's1', offset: 20 }] });
      const r = await client.etcd.range('/placement/offsets/', { prefix: true });
      assert.equal(r.header.revision, rev0 + 1, 'both offsets in one revision');
      const off = await call<{ offsets: Array<{ shardName: string; offset: number }> }>(M.getOffset, { clusterName: CL, group: 'g1' });
      assert.deepEqual(off.offsets, [{ shardName: 's0', offset: 10 }, { shardName: 's1', offset: 20 }]);
      await assert.rejects(call(M.saveOffset, { clusterName: CL, group: 'g1', offsets: [{ shardName: 's0', offset: 1 }, { shardName: 's0', offset: 2 }] }), /appears twice/);
      await assert.rejects(call(M.saveOffset, { clusterName: CL, group: 'g1', offsets: [] }), /must not be empty/);
      // The same through the SDK.
      await client.brokerMeta.saveOffsets(CL, 'g2', { s0: 5 });
      assert.deepEqual(await client.brokerMeta.getOffsets(CL, 'g2'), { s0: 5 });
      assert.equal(await client.brokerMeta.setIdempotent(CL, 'p-2', 1), true);
      assert.equal(await client.brokerMeta.setIdempotent(CL, 'p-2', 1), false);
      assert.equal(await client.brokerMeta.getResourceConfig(CL, ['nosuch']), undefined);
      const after = await client.etcd.range('/placement/offsets/', { prefix: true });
      assert.deepEqual(after.kvs.map((k) => `${k.key.toString()}=${k.value.toString()}`), [`/placement/offsets/${CL}/g1/s0=10`, `/placement/offsets/${CL}/g1/s1=20`, `/placement/offsets/${CL}/g2/s0=5`], 'refused saves changed nothing');
    } finally {
      raw.close();
    }
  });

  it('3 → 10 brokers: new shards go to the least loaded, the spread ends even (max/min printed)', async () => {
    const G = 'grow';
    for (let id = 1; id <= 3; id++) await client.registry.register(G, id, { zone: `z${id % 5}`, ttlSeconds: 60 });
    for (let i = 0; i < 30; i++) await client.placement.createShard(G, `a${i}`, 2);
    for (let id = 4; id <= 10; id++) await client.registry.register(G, id, { zone: `z${id % 5}`, ttlSeconds: 60 });
    for (let i = 0; i < 70; i++) await client.placement.createShard(G, `b${i}`, 2);
    const held = new Map<number, number>();
    for (const s of (await client.placement.listShards(G)).shards) for (const r of s.replicas) held.set(r, (held.get(r) ?? 0) + 1);
    const counts = [...held.values()];
    const ratio = Math.max(...counts) / Math.min(...counts);
    console.log(`3 → 10 brokers, 100 shards × 2 replicas: replicas per broker ${[...held].sort((a, b) => a[0] - b[0]).map(([id, n]) => `${id}:${n}`).join(' ')}, max/min ${ratio.toFixed(2)}`);
    assert.equal(held.size, 10);
    assert.ok(ratio <= 1.25, `max/min ${ratio}`);
  });

  it('admin HTTP: /v1/cluster/nodes and /v1/shards, bad input answered 400 with nothing changed', async () => {
    const get = async (path: string) => {
      const r = await fetch(`${http}${path}`);
      return { status: r.status, body: (await r.json()) as { data: unknown; error?: string } };
    };
    const post = async (body: unknown) => {
      const r = await fetch(`${http}/v1/shards`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as { data: unknown; error?: string } };
    };
    const nodes = await get(`/v1/cluster/nodes?cluster=${CL}`);
    assert.equal(nodes.status, 200);
    assert.deepEqual((nodes.body.data as { nodes: Array<{ nodeId: number }> }).nodes.map((n) => n.nodeId), [1, 2]);
    const before = (await get(`/v1/shards?cluster=${CL}`)).body.data as { shards: unknown[]; revision: number };
    for (const [path, msg] of [
      ['/v1/cluster/nodes', /cluster is required/],
      ['/v1/cluster/nodes?cluster=a%2Fb', /cluster_name must be/],
      [`/v1/shards?cluster=${CL}&node=abc`, /node: must be a positive integer/],
    ] as const) {
      const r = await get(path);
      assert.equal(r.status, 400, path);
      assert.match(r.body.error!, msg);
    }
    for (const [body, msg] of [
      [[1], /must be a JSON object/],
      [{ cluster: CL, shard: 'h', replicas: 0 }, /replicas: must be a positive integer/],
      [{ cluster: CL, shard: 'h', replicas: 'two' }, /replicas: must be a positive integer/],
      [{ cluster: CL, shard: 'h', replicas: 1, constraints: { zones: 'a' } }, /zones: must be an array of strings/],
      [{ cluster: CL, replicas: 1 }, /shard must be a string/],
    ] as const) {
      const r = await post(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error!, msg);
    }
    const tooMany = await post({ cluster: CL, shard: 'h', replicas: 5 });
    assert.equal(tooMany.status, 409);
    assert.match(tooMany.body.error!, /2 eligible .* for 5 replicas asked/);
    const mid = (await get(`/v1/shards?cluster=${CL}`)).body.data as { shards: unknown[]; revision: number };
    assert.equal(mid.revision, before.revision, 'bad input changed nothing');
    const created = await post({ cluster: CL, shard: 'h', replicas: 1, constraints: { zones: ['b'] } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual((created.body.data as { shard: { replicas: number[] } }).shard.replicas, [2]);
    const dup = await post({ cluster: CL, shard: 'h', replicas: 1 });
    assert.equal(dup.status, 409);
    const on2 = (await get(`/v1/shards?cluster=${CL}&node=2`)).body.data as { shards: Array<{ shardName: string }> };
    assert.ok(on2.shards.some((s) => s.shardName === 'h'));
  });
});

describe('examples/broker.ts', { timeout: 120_000 }, () => {
  it('runs against a real member: three brokers join, broker 1 leaves, its shards move', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const c = await startCluster({ nodes: 1 });
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../examples/broker.ts', import.meta.url))], {
        env: { ...process.env, PLACEMENT_ENDPOINTS: c.nodes[0]!.grpcAddress },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      assert.equal(code, 0, `${out}\n${err}`);
      assert.match(out, /registered: 1@zone-a, 2@zone-b, 3@zone-c/);
      assert.match(out, /broker 1 leaves \(it held 2 shards\)/);
      const after = out.slice(out.indexOf('broker 1 leaves'));
      const finals = [...after.matchAll(/^now (\w+): replicas ([\d,]+), leader (\d+), epoch (\d+)$/gm)];
      assert.equal(finals.length, 3, out);
      for (const f of finals) assert.ok(!f[2]!.split(',').includes('1') && f[3] !== '1', f[0]);
      assert.match(after, /broker [23]: assigned/);
    } finally {
      await c.stop();
    }
  });
});
