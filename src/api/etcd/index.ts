// The etcd v3 API on a member's gRPC port: one module per etcd service, registered here. A new
// service (Watch, Cluster, Maintenance, Auth) adds its line below.
import type * as grpc from '@grpc/grpc-js';
import type { Metrics } from '../../metrics/metrics.js';
import { registerKv } from './kv.js';
import { registerLease, type LeaseNode } from './lease.js';
import type { KvGuard } from './permissions.js';

export type { EtcdNode } from './node.js';
export type { LeaseNode } from './lease.js';

export interface EtcdServicesOptions {
  metrics?: Metrics;
  /** Largest reply the server can send (its grpc.max_send_message_length). */
  maxReplyBytes: number;
  /** Per-request permission checks (the Auth API's); default: everyone may do everything. */
  kvGuard?: KvGuard;
}

export interface EtcdServices {
  /** Ends the long-lived streams (Lease keep-alives) for a graceful shutdown. */
  closeStreams(): void;
}

export function registerEtcdServices(server: grpc.Server, node: LeaseNode, opts: EtcdServicesOptions): EtcdServices {
  registerKv(server, node, { metrics: opts.metrics, maxReplyBytes: opts.maxReplyBytes, guard: opts.kvGuard });
  const lease = registerLease(server, node, opts.metrics);
  return { closeStreams: () => lease.closeStreams() };
}
