// grpc-js fails a call it could not pick a connection for (the peer refuses connections, is down,
// or the dial failed) with UNAVAILABLE and this status from its load balancer, before the call
// has a stream: nothing of it was sent. A call whose connection breaks later fails with other
// details, and its outcome is unknown. The peer transport (forwarding a write elsewhere) and the
// chaos workload (a definite failure in the history) both decide on it. If a grpc-js upgrade
// words it otherwise, such failures count as unknown outcomes again, the safe side; the Go
// clientv3 failover test and test/chaos/workload.test.ts notice.
import * as grpc from '@grpc/grpc-js';

export function noConnectionPicked(err: Pick<grpc.ServiceError, 'code' | 'details'>): boolean {
  return err.code === grpc.status.UNAVAILABLE && typeof err.details === 'string' && err.details.startsWith('No connection established');
}
