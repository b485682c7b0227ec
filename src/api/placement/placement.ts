// placement.v1.PlacementService on a member's gRPC port: shard create/get/list/delete, the status
// compare-and-set, leader reports and moves — thin wrappers over src/placement/shards.ts.
import type * as grpc from '@grpc/grpc-js';
import {
  PlacementServiceService,
  type CreateShardReply,
  type CreateShardRequest,
  type DeleteShardReply,
  type DeleteShardRequest,
  type GetShardReply,
  type GetShardRequest,
  type ListShardsReply,
  type ListShardsRequest,
  type MoveShardReply,
  type MoveShardRequest,
  type ReportShardLeaderReply,
  type ReportShardLeaderRequest,
  type UpdateShardStatusReply,
  type UpdateShardStatusRequest,
} from '../../../proto/gen/placement/v1/placement.js';
import { tolerant } from '../../grpc/malformed.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { Shards } from '../../placement/shards.js';
import { unary, type CallNode } from './call.js';

export function registerPlacement(server: grpc.Server, node: CallNode, shards: Shards, metrics?: Metrics): void {
  const handlers = {
    createShard: unary<CreateShardRequest, CreateShardReply>(node, async (req, deadline, by) => ({ shard: await shards.create(req, deadline, by) })),
    getShard: unary<GetShardRequest, GetShardReply>(node, async (req, deadline) => ({ shard: await shards.get(req.clusterName, req.shardName, deadline) })),
    listShards: unary<ListShardsRequest, ListShardsReply>(node, (req, deadline) => shards.list(req.clusterName, req.nodeId, deadline)),
    deleteShard: unary<DeleteShardRequest, DeleteShardReply>(node, async (req, deadline, by) => ({ deleted: await shards.delete(req.clusterName, req.shardName, deadline, by) })),
    updateShardStatus: unary<UpdateShardStatusRequest, UpdateShardStatusReply>(node, (req, deadline, by) =>
      shards.updateStatus(req.clusterName, req.shardName, req.expectedStatus, req.nextStatus, deadline, by),
    ),
    reportShardLeader: unary<ReportShardLeaderRequest, ReportShardLeaderReply>(node, (req, deadline, by) =>
      shards.reportLeader(req.clusterName, req.shardName, req.nodeId, req.epoch, deadline, by),
    ),
    moveShard: unary<MoveShardRequest, MoveShardReply>(node, async (req, deadline, by) => ({ shard: await shards.move(req, deadline, by) })),
  };
  server.addService(tolerant(PlacementServiceService), metrics ? instrumentGrpcService('placement.v1.PlacementService', handlers, metrics, PlacementServiceService) : handlers);
}
