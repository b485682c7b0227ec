// A unary etcd handler as grpc-js wants it: refuses calls while the node shuts down, calls a
// learner does not answer (learner.ts), and calls that require a leader while it knows none
// (require-leader.ts), bounds the server-side
// deadline, answers a malformed or oversized request before the handler runs, counts the call in
// flight for graceful shutdown, and maps every failure to etcd's error (errors.ts).
import * as grpc from '@grpc/grpc-js';
import { checkMalformed, type Maybe } from '../../grpc/malformed.js';
import { callDeadline } from '../../grpc/unary.js';
import { PlacementError } from '../../errors.js';
import { toEtcdError } from './errors.js';
import type { EtcdNode } from './node.js';
import { oversized } from './wire.js';
import { noLeader, requiresLeader } from './require-leader.js';
import { learnerRefusal, learnerServes } from './learner.js';

export type EtcdHandler<Req, Rep> = (req: Req, deadline: number, call: grpc.ServerUnaryCall<Maybe<Req>, Rep>) => Rep | Promise<Rep>;

export function etcdUnary<Req, Rep>(node: EtcdNode, fn: EtcdHandler<Req, Rep>): grpc.handleUnaryCall<Maybe<Req>, Rep> {
  return (call, cb) => {
    if (!node.accepting()) {
      cb(toEtcdError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
      return;
    }
    if (node.isLearner && !learnerServes(call.getPath(), call.request)) {
      cb(learnerRefusal());
      return;
    }
    if (node.knownLeader === 0 && requiresLeader(call.metadata)) {
      cb(noLeader());
      return;
    }
    const big = oversized(call.request);
    if (big) {
      cb(big);
      return;
    }
    let r: Rep | Promise<Rep>;
    try {
      r = fn(checkMalformed(call.request), callDeadline(node.cfg.requestTimeoutMs, call), call);
    } catch (err) {
      cb(toEtcdError(err));
      return;
    }
    if (!(r instanceof Promise)) {
      cb(null, r);
      return;
    }
    node.track(r).then(
      (rep) => cb(null, rep),
      (err: unknown) => cb(toEtcdError(err)),
    );
  };
}
