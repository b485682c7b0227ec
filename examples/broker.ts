// Three brokers joining a Placement Center cluster with the SDK's BrokerAgent, in one process for
// the demo (each would be its own process in real life): they register in three zones, three
// shards of two replicas are placed on them, and when broker 1 leaves its shards move to the
// others — a new leader at epoch + 1 where broker 1 led.
//
//   npm start                                         # a local 3-node cluster (another terminal)
//   node --import tsx examples/broker.ts              # or: PLACEMENT_ENDPOINTS=host:port,...
import { BrokerAgent, PlacementClient, type ShardAssignment } from '../src/client/index.js';

const endpoints = (process.env.PLACEMENT_ENDPOINTS ?? '127.0.0.1:1228').split(',');
const cluster = process.env.BROKER_CLUSTER ?? `demo-${process.pid}`;
const client = new PlacementClient({ endpoints, deadlineMs: 10_000 });
const show = (s: ShardAssignment): string => `${s.shard} (replicas ${s.replicas.join(',')}, leader ${s.leader}, epoch ${s.epoch})`;

const agents: BrokerAgent[] = [];
try {
  // 1. Each broker: a dozen lines — start an agent, react to its events.
  for (const [nodeId, zone] of [[1, 'zone-a'], [2, 'zone-b'], [3, 'zone-c']] as const) {
    const agent = await BrokerAgent.start(client, { cluster, nodeId, zone, addresses: [`127.0.0.1:${9091 + nodeId}`], ttlMs: 5000 });
    agent.on('assigned', (s) => console.log(`broker ${nodeId}: assigned ${show(s)}`));
    agent.on('leader', (s) => console.log(`broker ${nodeId}: now LEADS ${s.shard} at epoch ${s.epoch}`));
    agent.on('revoked', (shard) => console.log(`broker ${nodeId}: revoked ${shard}`));
    agents.push(agent);
  }
  const nodes = await client.registry.list(cluster);
  console.log(`registered: ${nodes.nodes.map((n) => `${n.nodeId}@${n.zone}`).join(', ')}`);

  // 2. Shards: replicas by zone spread and load, a leader, epoch 1.
  for (const name of ['orders', 'payments', 'audit']) {
    const s = await client.placement.createShard(cluster, name, 2);
    console.log(`created ${name}: replicas ${s.replicas.join(',')}, leader ${s.leader}, epoch ${s.epoch}`);
  }
  await new Promise((r) => setTimeout(r, 500));

  // 3. Broker 1 leaves: the Placement Center leader moves its shards to the others.
  const had = (await client.placement.listShards(cluster, { nodeId: 1 })).shards.length;
  console.log(`broker 1 leaves (it held ${had} shards)`);
  await agents.shift()!.close();
  for (let i = 0; i < 100; i++) {
    if ((await client.placement.listShards(cluster, { nodeId: 1 })).shards.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const s of (await client.placement.listShards(cluster)).shards) console.log(`now ${s.shardName}: replicas ${s.replicas.join(',')}, leader ${s.leader}, epoch ${s.epoch}`);
  await new Promise((r) => setTimeout(r, 300));
} finally {
  // 4. Clean up: the demo's shards and brokers.
  for (const s of (await client.placement.listShards(cluster).catch(() => ({ shards: [] }))).shards) await client.placement.deleteShard(cluster, s.shardName).catch(() => undefined);
  for (const a of agents) await a.close();
  client.close();
}
