// The etcd v3 API on a member's gRPC port: one module per etcd service, registered here. A new
// service adds its line below.
import type * as grpc from '@grpc/grpc-js';
import type { Authenticator } from '../../auth/authenticator.js';
import type { NodeConfig } from '../../config/index.js';
import type { Logger } from '../../log.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { WatchHub } from '../../watch/hub.js';
import { startWatchHub, type WatchHubHost } from '../../watch/node-hub.js';
import { registerAuth } from './auth.js';
import { registerCluster } from './cluster.js';
import { registerMaintenance, type MaintenanceNode } from './maintenance.js';
import { registerKv } from './kv.js';
import { registerLock } from './lock.js';
import { registerElection } from './election.js';
import { RecipeWaits } from './recipe-call.js';
import type { RecipeKvDeps } from './recipe-kv.js';
import { exposeEtcdMetricNames } from './metric-names.js';
import { headerFiller } from './header.js';
import { leaseOps, registerLease, type LeaseNode } from './lease.js';
import { LeaderMonitor } from './require-leader.js';
import type { KvGuard } from './permissions.js';
import { GRPC_OVERHEAD_BYTES } from './wire.js';
import { registerWatch, type WatchService } from './watch.js';

export type { EtcdNode } from './node.js';
export type { LeaseNode } from './lease.js';

/** A node serving the etcd API: the facade, the apply feed of its watch hub, the leader it knows. */
export interface EtcdServicesNode extends LeaseNode, WatchHubHost, MaintenanceNode {
  readonly cfg: LeaseNode['cfg'] & MaintenanceNode['cfg'];
  raftStatus(): { softState: { leader: number } };
}

export interface EtcdServicesOptions {
  /** The node's configuration: watch bounds and the election timeout. */
  cfg: NodeConfig;
  metrics?: Metrics;
  log?: Logger;
  /** Largest reply the server can send (its grpc.max_send_message_length). */
  maxReplyBytes: number;
  /** Per-request permission checks (the Auth API's); default: everyone may do everything. */
  kvGuard?: KvGuard;
  /** The Auth service's users, roles and tokens (src/auth); none: the Auth service is not served. */
  authn?: Authenticator;
}

export interface EtcdServices {
  /** The node's watch hub (also serves the admin SSE route). */
  readonly hub: WatchHub;
  readonly watch: WatchService;
  /**
   * Graceful stop: ends the long-lived streams (Lease keep-alives; Watch streams with etcd's
   * "server stopped", so clients resume elsewhere) and detaches the watch hub.
   */
  closeStreams(): void;
}

export function registerEtcdServices(server: grpc.Server, node: EtcdServicesNode, opts: EtcdServicesOptions): EtcdServices {
  const kv = registerKv(server, node, { metrics: opts.metrics, maxReplyBytes: opts.maxReplyBytes, guard: opts.kvGuard });
  const leaderMonitor = new LeaderMonitor(() => node.knownLeader, opts.cfg.electionTicks * opts.cfg.tickMs);
  const lease = registerLease(server, node, leaderMonitor, opts.metrics);
  const hub = startWatchHub(node, opts.cfg, opts.metrics, opts.log);
  const watch = registerWatch(server, {
    hub,
    node: {
      accepting: () => node.accepting(),
      leaderId: () => node.knownLeader,
      isLearner: () => node.isLearner,
      answeredWritesPending: () => (node.readsCurrent() ? undefined : node.readBarrier(true, Date.now() + node.cfg.requestTimeoutMs)),
    },
    header: headerFiller(node),
    leaderMonitor,
    // etcd fragments a watch response past its gRPC limit: --max-request-bytes plus the overhead.
    maxResponseBytes: opts.cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    log: opts.log,
    metrics: opts.metrics,
  });
  // Lock and Election act through the KV operations and the watch hub, as etcd's through its in-process client.
  const grant = leaseOps(node).grant;
  const recipes: RecipeKvDeps = {
    kv,
    hub,
    requestTimeoutMs: node.cfg.requestTimeoutMs,
    grantLease: async (ttlS, deadline, by) => (await grant({ ttl: ttlS, id: 0 }, deadline, by)).ID,
  };
  const recipeWaits = new RecipeWaits();
  registerLock(server, node, recipes, recipeWaits, opts.metrics);
  registerElection(server, node, recipes, recipeWaits, opts.metrics);
  if (opts.metrics && opts.cfg.etcdMetricNames) exposeEtcdMetricNames(opts.metrics, node, opts.cfg);
  if (opts.authn) registerAuth(server, node, opts.authn, opts.metrics);
  registerCluster(server, node, opts.metrics);
  const stopQuota = registerMaintenance(server, node, opts.log, opts.metrics);
  return {
    hub,
    watch,
    closeStreams() {
      stopQuota();
      recipeWaits.close();
      lease.closeStreams();
      watch.closeAll();
      leaderMonitor.close();
      node.setApplyListener(null);
      hub.close();
    },
  };
}
