// The Placement Center's own scheduling API on a member's gRPC port: the broker registry and the
// shard map (one module per service), plus the leader-only reassignment controller. Everything is
// stored in the replicated keyspace under /placement/ (src/registry/layout.ts), so it is in
// snapshots, served by any member, and watchable with the etcd Watch API.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import { PlacementController, type ControllerOptions } from '../../placement/controller.js';
import { Shards } from '../../placement/shards.js';
import { Registry, type RegistryNode } from '../../registry/registry.js';
import type { CallNode } from './call.js';
import { registerPlacement } from './placement.js';
import { registerRegistry } from './registry.js';
import { registerBrokerMeta } from './meta.js';
import { BrokerMeta } from '../../placement/meta.js';

export interface PlacementServicesNode extends RegistryNode, CallNode {
  readonly cfg: RegistryNode['cfg'] & CallNode['cfg'];
  isLeader(): boolean;
}

export interface PlacementServices {
  readonly registry: Registry;
  readonly shards: Shards;
  readonly controller: PlacementController;
  close(): void;
}

export function registerPlacementServices(
  server: grpc.Server,
  node: PlacementServicesNode,
  opts: { metrics?: Metrics; log?: Logger; controller?: Omit<ControllerOptions, 'log'> } = {},
): PlacementServices {
  const registry = new Registry(node);
  const shards = new Shards(registry);
  const reg = registerRegistry(server, node, registry, opts.metrics);
  registerPlacement(server, node, shards, opts.metrics);
  registerBrokerMeta(server, node, new BrokerMeta(registry.kv), opts.metrics);
  const controller = new PlacementController(node, registry, { ...opts.controller, log: opts.log });
  controller.start();
  return {
    registry,
    shards,
    controller,
    close() {
      controller.stop();
      reg.closeStreams();
    },
  };
}
