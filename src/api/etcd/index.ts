// The etcd v3 API on a member's gRPC port: one module per etcd service, registered here. A new
// service (Watch, Lease, Cluster, Maintenance, Auth) adds its line below.
import type * as grpc from '@grpc/grpc-js';
import type { Metrics } from '../../metrics/metrics.js';
import { registerKv } from './kv.js';
import type { EtcdNode } from './node.js';
import type { KvGuard } from './permissions.js';

export type { EtcdNode } from './node.js';

export interface EtcdServicesOptions {
  metrics?: Metrics;
  /** Largest reply the server can send (its grpc.max_send_message_length). */
  maxReplyBytes: number;
  /** Per-request permission checks (the Auth API's); default: everyone may do everything. */
  kvGuard?: KvGuard;
}

export function registerEtcdServices(server: grpc.Server, node: EtcdNode, opts: EtcdServicesOptions): void {
  registerKv(server, node, { metrics: opts.metrics, maxReplyBytes: opts.maxReplyBytes, guard: opts.kvGuard });
}
