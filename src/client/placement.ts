// `client.registry` and `client.placement`: the broker registry and the shard map
// (placement.v1.RegistryService / PlacementService). Calls travel on each member's channel as
// plain unary calls (no generated stub is kept per endpoint). Idempotent calls (register,
// heartbeat, drain, unregister, reads) are retried like reads; the compare-and-set ones only when
// the attempt certainly never reached a server, since a lost reply would make a retry report the
// wrong outcome.
import type * as grpc from '@grpc/grpc-js';
import {
  RegistryServiceService,
  type DrainNodeReply,
  type HeartbeatReply,
  type ListNodesReply,
  type NodeInfo,
  type NodeLoad,
  type RegisterNodeReply,
  type UnregisterNodeReply,
} from '../../proto/gen/placement/v1/registry.js';
import {
  PlacementServiceService,
  type CreateShardReply,
  type DeleteShardReply,
  type GetShardReply,
  type ListShardsReply,
  type MoveShardReply,
  type ReportShardLeaderReply,
  type ShardInfo,
  type UpdateShardStatusReply,
} from '../../proto/gen/placement/v1/placement.js';
import { BrokerMetaServiceService, type GetOffsetReply, type GetResourceConfigReply, type SetIdempotentReply, type ExistsIdempotentReply } from '../../proto/gen/placement/v1/meta.js';
import type { CallOptions } from './types.js';
import type { PlacementClient } from './client.js';

export type { NodeInfo, NodeLoad, ShardInfo };

interface MethodDef {
  path: string;
  requestSerialize: (v: never) => Buffer;
  responseDeserialize: (b: Buffer) => unknown;
}

function call<Res>(c: PlacementClient, def: MethodDef, req: object, mutation: boolean, options: CallOptions): Promise<Res> {
  const name = def.path.slice(def.path.indexOf('.v1.') + 4);
  return c.invoke<Res>(
    name,
    'write',
    (s, md, o, cb) =>
      s.generic.makeUnaryRequest(def.path, (v: object) => def.requestSerialize(v as never), (b: Buffer) => def.responseDeserialize(b) as Res, req, md, o, cb as grpc.requestCallback<Res>),
    { ...options, mutation },
  );
}

export interface RegisterOptions extends CallOptions {
  nodeType?: string;
  addresses?: string[];
  zone?: string;
  capacity?: number;
  /** JSON text. */
  extendInfo?: string;
  /** Attach the registration to this lease (a session's); default: the server grants one of ttlSeconds. */
  leaseId?: number;
  ttlSeconds?: number;
}

export interface ShardConstraintsInput {
  zones?: string[];
  excludeNodes?: number[];
  nodeType?: string;
}

const R = RegistryServiceService;
const P = PlacementServiceService;

/** `client.registry`. */
export class RegistryApi {
  /** @internal */
  constructor(private readonly c: PlacementClient) {}

  register(cluster: string, nodeId: number, o: RegisterOptions = {}): Promise<RegisterNodeReply> {
    const req = {
      clusterName: cluster,
      nodeId,
      nodeType: o.nodeType ?? 'broker',
      addresses: o.addresses ?? [],
      zone: o.zone ?? '',
      capacity: o.capacity ?? 0,
      extendInfo: o.extendInfo ?? '',
      leaseId: o.leaseId ?? 0,
      ttlSeconds: o.ttlSeconds ?? 0,
    };
    return call(this.c, R.registerNode, req, false, o);
  }

  heartbeat(cluster: string, nodeId: number, load?: NodeLoad, o: CallOptions = {}): Promise<HeartbeatReply> {
    return call(this.c, R.heartbeat, { clusterName: cluster, nodeId, load }, false, o);
  }

  async unregister(cluster: string, nodeId: number, o: CallOptions = {}): Promise<boolean> {
    return (await call<UnregisterNodeReply>(this.c, R.unregisterNode, { clusterName: cluster, nodeId }, false, o)).unregistered;
  }

  list(cluster: string, o: CallOptions & { nodeType?: string } = {}): Promise<ListNodesReply> {
    return call(this.c, R.listNodes, { clusterName: cluster, nodeType: o.nodeType ?? '' }, false, o);
  }

  async drain(cluster: string, nodeId: number, draining = true, o: CallOptions = {}): Promise<NodeInfo> {
    return (await call<DrainNodeReply>(this.c, R.drainNode, { clusterName: cluster, nodeId, draining }, false, o)).node!;
  }
}

/** `client.placement`. */
export class PlacementApi {
  /** @internal */
  constructor(private readonly c: PlacementClient) {}

  async createShard(cluster: string, shard: string, replicas: number, o: CallOptions & { constraints?: ShardConstraintsInput; status?: string } = {}): Promise<ShardInfo> {
    const constraints = { zones: o.constraints?.zones ?? [], excludeNodes: o.constraints?.excludeNodes ?? [], nodeType: o.constraints?.nodeType ?? '' };
    return (await call<CreateShardReply>(this.c, P.createShard, { clusterName: cluster, shardName: shard, replicas, constraints, status: o.status ?? '' }, true, o)).shard!;
  }

  async getShard(cluster: string, shard: string, o: CallOptions = {}): Promise<ShardInfo> {
    return (await call<GetShardReply>(this.c, P.getShard, { clusterName: cluster, shardName: shard }, false, o)).shard!;
  }

  listShards(cluster: string, o: CallOptions & { nodeId?: number } = {}): Promise<ListShardsReply> {
    return call(this.c, P.listShards, { clusterName: cluster, nodeId: o.nodeId ?? 0 }, false, o);
  }

  async deleteShard(cluster: string, shard: string, o: CallOptions = {}): Promise<boolean> {
    return (await call<DeleteShardReply>(this.c, P.deleteShard, { clusterName: cluster, shardName: shard }, true, o)).deleted;
  }

  updateShardStatus(cluster: string, shard: string, expected: string, next: string, o: CallOptions = {}): Promise<UpdateShardStatusReply> {
    return call(this.c, P.updateShardStatus, { clusterName: cluster, shardName: shard, expectedStatus: expected, nextStatus: next }, true, o);
  }

  reportShardLeader(cluster: string, shard: string, nodeId: number, epoch: number, o: CallOptions = {}): Promise<ReportShardLeaderReply> {
    return call(this.c, P.reportShardLeader, { clusterName: cluster, shardName: shard, nodeId, epoch }, true, o);
  }

  async moveShard(cluster: string, shard: string, fromNode: number, toNode = 0, o: CallOptions = {}): Promise<ShardInfo> {
    return (await call<MoveShardReply>(this.c, P.moveShard, { clusterName: cluster, shardName: shard, fromNode, toNode }, true, o)).shard!;
  }
}

const M = BrokerMetaServiceService;

/** `client.brokerMeta`: resource config, idempotent-producer records, consumer-group offsets. */
export class BrokerMetaApi {
  /** @internal */
  constructor(private readonly c: PlacementClient) {}

  async setResourceConfig(cluster: string, resources: string[], config: Uint8Array | string, o: CallOptions = {}): Promise<void> {
    await call(this.c, M.setResourceConfig, { clusterName: cluster, resources, config: Buffer.from(config) }, false, o);
  }

  /** The config, or undefined when none is stored. */
  async getResourceConfig(cluster: string, resources: string[], o: CallOptions = {}): Promise<Buffer | undefined> {
    const r = await call<GetResourceConfigReply>(this.c, M.getResourceConfig, { clusterName: cluster, resources }, false, o);
    return r.found ? Buffer.from(r.config) : undefined;
  }

  /** Records (producer, seq): false when it was already recorded (a duplicate send). Not retried after an ambiguous failure. */
  async setIdempotent(cluster: string, producerId: string, seqNum: number, o: CallOptions = {}): Promise<boolean> {
    return (await call<SetIdempotentReply>(this.c, M.setIdempotentData, { clusterName: cluster, producerId, seqNum }, true, o)).created;
  }

  async existsIdempotent(cluster: string, producerId: string, seqNum: number, o: CallOptions = {}): Promise<boolean> {
    return (await call<ExistsIdempotentReply>(this.c, M.existsIdempotentData, { clusterName: cluster, producerId, seqNum }, false, o)).exists;
  }

  /** Saves a group's offsets in one revision. */
  async saveOffsets(cluster: string, group: string, offsets: Record<string, number>, o: CallOptions = {}): Promise<void> {
    await call(this.c, M.saveOffset, { clusterName: cluster, group, offsets: Object.entries(offsets).map(([shardName, offset]) => ({ shardName, offset })) }, false, o);
  }

  async getOffsets(cluster: string, group: string, o: CallOptions = {}): Promise<Record<string, number>> {
    const r = await call<GetOffsetReply>(this.c, M.getOffset, { clusterName: cluster, group }, false, o);
    return Object.fromEntries(r.offsets.map((x) => [x.shardName, x.offset]));
  }
}
