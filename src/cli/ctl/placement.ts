// placement-ctl node list|describe|unregister|drain and shard create|list|describe|move|delete:
// the broker registry and the shard map (client.registry / client.placement). Every command takes
// the broker cluster's name with -c/--cluster.
import { InvalidArgumentError as CommanderInvalidArgument, type Command } from 'commander';
import type { NodeInfo, ShardInfo } from '../../client/index.js';
import { printJson, println, table } from './output.js';
import { EXIT } from './exit-codes.js';
import { CtlError, parsePositiveInt, withClient } from './program.js';

const nodeJson = (n: NodeInfo) => ({
  nodeId: n.nodeId,
  nodeType: n.nodeType,
  zone: n.zone,
  addresses: n.addresses,
  capacity: n.capacity,
  leaseId: n.leaseId,
  draining: n.draining,
  load: n.load ?? null,
  extendInfo: n.extendInfo,
});

const shardJson = (s: ShardInfo) => ({
  shard: s.shardName,
  replicas: s.replicas,
  leader: s.leader,
  epoch: s.epoch,
  status: s.status,
  replicationFactor: s.replicationFactor,
  constraints: s.constraints ?? null,
  modRevision: s.modRevision,
});

function idList(raw: string): number[] {
  return raw.split(',').filter((x) => x !== '').map((x) => {
    if (!/^\d+$/.test(x) || Number(x) <= 0) throw new CommanderInvalidArgument(`expected comma-separated node ids, got "${x}"`);
    return Number(x);
  });
}

const clusterOpt = (c: Command): Command => c.requiredOption('-c, --cluster <name>', 'broker cluster name');

export function registerPlacement(program: Command): void {
  const node = program.command('node').description('the broker registry: live brokers (registrations bound to leases)');

  clusterOpt(node.command('list').description('list the registered brokers of a cluster'))
    .option('--type <type>', 'only brokers of this node type')
    .action(async (opts: { cluster: string; type?: string }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.registry.list(opts.cluster, { nodeType: opts.type });
        if (g.json) return printJson({ nodes: r.nodes.map(nodeJson), revision: r.revision });
        println(table(['ID', 'TYPE', 'ZONE', 'ADDRESSES', 'LEASE', 'STATE'], r.nodes.map((n) => [n.nodeId, n.nodeType, n.zone, n.addresses.join(','), n.leaseId, n.draining ? 'draining' : 'active'])));
      });
    });

  clusterOpt(node.command('describe').description('one broker\'s registration').argument('<id>', 'node id', parsePositiveInt)).action(
    async (id: number, opts: { cluster: string }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.registry.list(opts.cluster);
        const n = r.nodes.find((x) => x.nodeId === id);
        if (!n) throw new CtlError(`node ${id} is not registered in cluster ${opts.cluster}`, EXIT.NOT_FOUND, 'NOT_FOUND');
        const shards = (await client.placement.listShards(opts.cluster, { nodeId: id })).shards;
        if (g.json) return printJson({ ...nodeJson(n), shards: shards.map((s) => ({ shard: s.shardName, leader: s.leader === id, epoch: s.epoch })) });
        println(`node ${n.nodeId} (${n.nodeType}) zone ${n.zone || '-'} lease ${n.leaseId} ${n.draining ? 'draining' : 'active'}`);
        println(`addresses: ${n.addresses.join(', ') || '-'}`);
        println(`shards: ${shards.map((s) => (s.leader === id ? `${s.shardName}*` : s.shardName)).join(', ') || '-'}  (* = leader)`);
      });
    },
  );

  clusterOpt(node.command('unregister').description('remove a broker\'s registration (its shards move to others)').argument('<id>', 'node id', parsePositiveInt)).action(
    async (id: number, opts: { cluster: string }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const done = await client.registry.unregister(opts.cluster, id);
        if (g.json) printJson({ nodeId: id, unregistered: done });
        else println(done ? `node ${id} unregistered` : `node ${id} was not registered`);
      });
    },
  );

  clusterOpt(node.command('drain').description('stop placing replicas on a broker and move its shards off (--undo ends it)').argument('<id>', 'node id', parsePositiveInt))
    .option('--undo', 'end the drain')
    .action(async (id: number, opts: { cluster: string; undo?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const n = await client.registry.drain(opts.cluster, id, !opts.undo);
        if (g.json) printJson(nodeJson(n));
        else println(`node ${id} ${n.draining ? 'draining' : 'active'}`);
      });
    });

  const shard = program.command('shard').description('the shard map: replicas, leader and epoch of each shard');

  clusterOpt(shard.command('create').description('create a shard; replicas are chosen by zone spread and load').argument('<name>', 'shard name'))
    .requiredOption('-r, --replicas <n>', 'replica count', parsePositiveInt)
    .option('--zones <list>', 'only brokers in these zones (comma-separated)')
    .option('--exclude <ids>', 'never these brokers (comma-separated ids)', idList)
    .option('--node-type <type>', 'only brokers of this type')
    .action(async (name: string, opts: { cluster: string; replicas: number; zones?: string; exclude?: number[]; nodeType?: string }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const s = await client.placement.createShard(opts.cluster, name, opts.replicas, {
          constraints: { zones: opts.zones ? opts.zones.split(',').filter((z) => z !== '') : [], excludeNodes: opts.exclude ?? [], nodeType: opts.nodeType },
        });
        if (g.json) printJson(shardJson(s));
        else println(`shard ${s.shardName} created: replicas ${s.replicas.join(',')}, leader ${s.leader}, epoch ${s.epoch}`);
      });
    });

  clusterOpt(shard.command('list').description('list the shards of a cluster'))
    .option('--node <id>', 'only shards with this broker among their replicas', parsePositiveInt)
    .action(async (opts: { cluster: string; node?: number }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const r = await client.placement.listShards(opts.cluster, { nodeId: opts.node });
        if (g.json) return printJson({ shards: r.shards.map(shardJson), revision: r.revision });
        println(table(['SHARD', 'REPLICAS', 'LEADER', 'EPOCH', 'STATUS'], r.shards.map((s) => [s.shardName, s.replicas.join(','), s.leader, s.epoch, s.status])));
      });
    });

  clusterOpt(shard.command('describe').description('one shard').argument('<name>', 'shard name')).action(async (name: string, opts: { cluster: string }, cmd: Command) => {
    await withClient(cmd, async (client, g) => {
      const s = await client.placement.getShard(opts.cluster, name);
      if (g.json) return printJson(shardJson(s));
      println(`shard ${s.shardName}: replicas ${s.replicas.join(',') || '-'} (factor ${s.replicationFactor}), leader ${s.leader || '-'}, epoch ${s.epoch}, status ${s.status}`);
    });
  });

  clusterOpt(shard.command('move').description('replace one replica (a moved leader hands over at epoch + 1)').argument('<name>', 'shard name'))
    .requiredOption('--from <id>', 'the replica to replace', parsePositiveInt)
    .option('--to <id>', 'the broker to put it on (default: chosen by zone spread and load)', parsePositiveInt)
    .action(async (name: string, opts: { cluster: string; from: number; to?: number }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const s = await client.placement.moveShard(opts.cluster, name, opts.from, opts.to ?? 0);
        if (g.json) printJson(shardJson(s));
        else println(`shard ${s.shardName}: replicas ${s.replicas.join(',')}, leader ${s.leader}, epoch ${s.epoch}`);
      });
    });

  clusterOpt(shard.command('delete').description('delete a shard').argument('<name>', 'shard name')).action(async (name: string, opts: { cluster: string }, cmd: Command) => {
    await withClient(cmd, async (client, g) => {
      const deleted = await client.placement.deleteShard(opts.cluster, name);
      if (g.json) printJson({ shard: name, deleted });
      else println(deleted ? `shard ${name} deleted` : `shard ${name} did not exist`);
    });
  });
}
