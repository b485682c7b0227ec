// The etcd v3 API on a member's gRPC port: one module per etcd service, registered here.
import type * as grpc from '@grpc/grpc-js';
import type { Metrics } from '../../metrics/metrics.js';
import { registerLease, type LeaseNode } from './lease.js';

export interface EtcdServices {
  /** Ends the long-lived streams (graceful shutdown). */
  closeStreams(): void;
}

export function registerEtcdServices(server: grpc.Server, node: LeaseNode, opts: { metrics?: Metrics } = {}): EtcdServices {
  const lease = registerLease(server, node, opts.metrics);
  return { closeStreams: () => lease.closeStreams() };
}
