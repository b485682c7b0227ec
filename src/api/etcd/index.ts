// The etcd v3 API on a member's gRPC port: one module per etcd service, registered here. A new
// service (KV, Lease, Cluster, Maintenance, Auth) adds its line below.
import type * as grpc from '@grpc/grpc-js';
import type { NodeConfig } from '../../config/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { PlacementNode } from '../../node/node.js';
import { startWatchHub } from '../../watch/node-hub.js';
import type { WatchHub } from '../../watch/hub.js';
import { registerWatch, type WatchService } from './watch.js';

export interface EtcdServicesOptions {
  cfg: NodeConfig;
  metrics?: Metrics;
  log?: Logger;
}

export interface EtcdServices {
  /** The node's watch hub (also serves the admin SSE route). */
  readonly hub: WatchHub;
  readonly watch: WatchService;
  /** Graceful stop: open streams end with etcd's "server stopped" so clients resume elsewhere. */
  close(): void;
}

export function registerEtcdServices(server: grpc.Server, node: PlacementNode, opts: EtcdServicesOptions): EtcdServices {
  const hub = startWatchHub(node, opts.cfg, opts.metrics, opts.log);
  const watch = registerWatch(server, {
    hub,
    node: { cfg: node.cfg, get raftTerm() { return node.raftTerm; }, accepting: () => node.accepting(), leaderId: () => node.raftStatus().softState.leader },
    electionTimeoutMs: opts.cfg.electionTicks * opts.cfg.tickMs,
    log: opts.log,
  });
  return {
    hub,
    watch,
    close() {
      watch.closeAll();
      node.setApplyListener(null);
      hub.close();
    },
  };
}
