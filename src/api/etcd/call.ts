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

/**
 * What an etcd call is answered before its handler runs, if anything: the node is stopping, a
 * learner does not serve it, it requires a leader the member does not know, or it is too large.
 */
export function refusalAtStart(node: EtcdNode, call: StartingCall): grpc.ServiceError | undefined {
  if (!node.accepting()) return toEtcdError(new PlacementError('UNAVAILABLE', 'node is shutting down'));
  if (node.isLearner && !learnerServes(call.getPath(), call.request)) return learnerRefusal();
  // The metadata only when it matters: a call answered from its HTTP/2 stream builds it when first
  // asked for, and every etcd write would (1% of a busy leader's time).
  if (node.knownLeader === 0 && requiresLeader(call.metadata)) return noLeader();
  return oversized(call.request);
}

/** What refusalAtStart reads of a call. */
export interface StartingCall {
  getPath(): string;
  readonly metadata: grpc.Metadata;
  readonly request: unknown;
}

export function etcdUnary<Req, Rep>(node: EtcdNode, fn: EtcdHandler<Req, Rep>): grpc.handleUnaryCall<Maybe<Req>, Rep> {
  return (call, cb) => {
    const refused = refusalAtStart(node, call);
    if (refused) {
      cb(refused);
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
