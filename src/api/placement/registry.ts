// placement.v1.RegistryService on a member's gRPC port: RegisterNode, Heartbeat (unary and a
// stream), UnregisterNode, ListNodes, DrainNode — thin wrappers over src/registry/registry.ts.
// Reads are linearizable; writes are proposed through Raft (forwarded to the leader).
import type * as grpc from '@grpc/grpc-js';
import {
  RegistryServiceService,
  type DrainNodeReply,
  type DrainNodeRequest,
  type HeartbeatReply,
  type HeartbeatRequest,
  type ListNodesReply,
  type ListNodesRequest,
  type RegisterNodeReply,
  type RegisterNodeRequest,
  type UnregisterNodeReply,
  type UnregisterNodeRequest,
} from '../../../proto/gen/placement/v1/registry.js';
import { PlacementError } from '../../errors.js';
import { checkMalformed, tolerant, type Maybe } from '../../grpc/malformed.js';
import { toServiceError } from '../../grpc/services.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { Registry } from '../../registry/registry.js';
import { deadlineOf, unary, type CallNode } from './call.js';
import { callerOf } from '../../auth/context.js';
import { drained } from '../../grpc/drained.js';
import { ReadGate } from '../../grpc/read-gate.js';

export interface RegistryService {
  /** Ends open heartbeat streams (graceful stop: brokers resume on another member). */
  closeStreams(): void;
}

/** Heartbeats received on one stream and not yet answered, at which the stream is not read. */
export const HEARTBEAT_BACKLOG = 64;

export function registerRegistry(server: grpc.Server, node: CallNode, registry: Registry, metrics?: Metrics): RegistryService {
  const streams = new Set<grpc.ServerDuplexStream<Maybe<HeartbeatRequest>, HeartbeatReply>>();
  const handlers = {
    registerNode: unary<RegisterNodeRequest, RegisterNodeReply>(node, (req, deadline, by) => registry.register(req, deadline, by)),
    heartbeat: unary<HeartbeatRequest, HeartbeatReply>(node, (req, deadline, by) => registry.heartbeat(req.clusterName, req.nodeId, req.load, deadline, by)),
    unregisterNode: unary<UnregisterNodeRequest, UnregisterNodeReply>(node, async (req, deadline, by) => ({ unregistered: await registry.unregister(req.clusterName, req.nodeId, deadline, by) })),
    listNodes: unary<ListNodesRequest, ListNodesReply>(node, (req, deadline) => registry.list(req.clusterName, req.nodeType, deadline)),
    drainNode: unary<DrainNodeRequest, DrainNodeReply>(node, async (req, deadline, by) => ({ node: await registry.drain(req.clusterName, req.nodeId, req.draining, deadline, by) })),
  };
  // Heartbeats in order, one reply each; the first failure ends the stream with its status (the
  // broker re-registers on NOT_FOUND). A broker that sends faster than its heartbeats are handled,
  // or does not read the replies, is not read either once HEARTBEAT_BACKLOG wait (HTTP/2 flow
  // control then holds it) instead of this member queueing them all.
  const heartbeatStream: grpc.handleBidiStreamingCall<Maybe<HeartbeatRequest>, HeartbeatReply> = (call) => {
    if (!node.accepting()) {
      call.emit('error', toServiceError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
      return;
    }
    streams.add(call);
    let chain = Promise.resolve();
    let ended = false;
    const backlog = new ReadGate(call, HEARTBEAT_BACKLOG);
    const fail = (err: unknown): void => {
      if (ended) return;
      ended = true;
      // grpc-js ends a server stream with a status when 'error' is emitted on it.
      call.emit('error', toServiceError(err));
    };
    call.on('data', (raw: Maybe<HeartbeatRequest>) => {
      backlog.add();
      chain = chain.then(async () => {
        try {
          if (ended) return;
          const req = checkMalformed(raw);
          const rep = await node.track(registry.heartbeat(req.clusterName, req.nodeId, req.load, deadlineOf(node, call), callerOf(raw as object)));
          // A reply the broker does not read holds the next heartbeat back.
          if (!ended && !call.write(rep)) await drained(call);
        } catch (err) {
          fail(err);
        } finally {
          backlog.done();
        }
      });
    });
    call.on('end', () => {
      void chain.then(() => {
        if (!ended) {
          ended = true;
          call.end();
        }
      });
    });
    call.on('cancelled', () => {
      ended = true;
    });
    call.on('close', () => streams.delete(call));
  };
  const instrumented = metrics ? instrumentGrpcService('placement.v1.RegistryService', handlers, metrics, RegistryServiceService) : handlers;
  server.addService(tolerant(RegistryServiceService), { ...instrumented, heartbeatStream });
  return {
    closeStreams() {
      for (const s of streams) s.end();
      streams.clear();
    },
  };
}
