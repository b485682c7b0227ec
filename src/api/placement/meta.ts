// placement.v1.BrokerMetaService on a member's gRPC port: resource configuration, idempotent-
// producer records, consumer-group offsets — thin wrappers over src/placement/meta.ts.
import type * as grpc from '@grpc/grpc-js';
import {
  BrokerMetaServiceService,
  type DeleteIdempotentReply,
  type DeleteResourceConfigReply,
  type DeleteResourceConfigRequest,
  type ExistsIdempotentReply,
  type GetOffsetReply,
  type GetOffsetRequest,
  type GetResourceConfigReply,
  type GetResourceConfigRequest,
  type IdempotentRequest,
  type SaveOffsetReply,
  type SaveOffsetRequest,
  type SetIdempotentReply,
  type SetResourceConfigReply,
  type SetResourceConfigRequest,
} from '../../../proto/gen/placement/v1/meta.js';
import { tolerant } from '../../grpc/malformed.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { BrokerMeta } from '../../placement/meta.js';
import { unary, type CallNode } from './call.js';

export function registerBrokerMeta(server: grpc.Server, node: CallNode, meta: BrokerMeta, metrics?: Metrics): void {
  const handlers = {
    setResourceConfig: unary<SetResourceConfigRequest, SetResourceConfigReply>(node, async (r, d, by) => (await meta.setConfig(r.clusterName, r.resources, r.config, d, by), {})),
    getResourceConfig: unary<GetResourceConfigRequest, GetResourceConfigReply>(node, (r, d) => meta.getConfig(r.clusterName, r.resources, d)),
    deleteResourceConfig: unary<DeleteResourceConfigRequest, DeleteResourceConfigReply>(node, async (r, d, by) => ({ deleted: await meta.deleteConfig(r.clusterName, r.resources, d, by) })),
    setIdempotentData: unary<IdempotentRequest, SetIdempotentReply>(node, async (r, d, by) => ({ created: await meta.setIdempotent(r.clusterName, r.producerId, r.seqNum, d, by) })),
    existsIdempotentData: unary<IdempotentRequest, ExistsIdempotentReply>(node, async (r, d) => ({ exists: await meta.existsIdempotent(r.clusterName, r.producerId, r.seqNum, d) })),
    deleteIdempotentData: unary<IdempotentRequest, DeleteIdempotentReply>(node, async (r, d, by) => ({ deleted: await meta.deleteIdempotent(r.clusterName, r.producerId, r.seqNum, d, by) })),
    saveOffset: unary<SaveOffsetRequest, SaveOffsetReply>(node, async (r, d, by) => (await meta.saveOffsets(r.clusterName, r.group, r.offsets, d, by), {})),
    getOffset: unary<GetOffsetRequest, GetOffsetReply>(node, async (r, d) => ({ offsets: await meta.getOffsets(r.clusterName, r.group, d) })),
  };
  server.addService(tolerant(BrokerMetaServiceService), metrics ? instrumentGrpcService('placement.v1.BrokerMetaService', handlers, metrics, BrokerMetaServiceService) : handlers);
}
