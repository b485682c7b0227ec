// etcd's rule for a learner member: it answers Maintenance.Status and serializable Ranges only;
// every other etcd call, and every stream, is refused with Unavailable "etcdserver: rpc not
// supported for learner", so that etcd clients go to another member (clientv3 retries there).
// Our own API (placement.v1) is not etcd's and keeps serving on a learner.
import * as grpc from '@grpc/grpc-js';
import { serviceError } from './errors.js';

export const ETCD_LEARNER_REFUSED = 'etcdserver: rpc not supported for learner';

/** Whether a learner answers the unary call `path` with `request`. */
export function learnerServes(path: string, request: unknown): boolean {
  if (path === '/etcdserverpb.Maintenance/Status') return true;
  if (path === '/etcdserverpb.KV/Range') return (request as { serializable?: boolean } | undefined)?.serializable === true;
  return false;
}

export function learnerRefusal(): grpc.ServiceError {
  return serviceError(grpc.status.UNAVAILABLE, ETCD_LEARNER_REFUSED);
}
