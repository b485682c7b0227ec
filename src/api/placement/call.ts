// A unary handler of the native placement services as grpc-js wants it: refuses calls while the
// node shuts down, bounds the deadline, refuses a malformed request, counts it in flight, and
// maps failures to gRPC statuses with the leader hint (src/grpc/services.ts).
import type * as grpc from '@grpc/grpc-js';
import { PlacementError } from '../../errors.js';
import { checkMalformed, type Maybe } from '../../grpc/malformed.js';
import { toServiceError } from '../../grpc/services.js';

export interface CallNode {
  accepting(): boolean;
  track<T>(p: Promise<T>): Promise<T>;
  readonly cfg: { readonly requestTimeoutMs: number };
}

export type Handler<Req, Rep> = (req: Req, deadline: number) => Promise<Rep>;

export function deadlineOf(node: CallNode, call: { getDeadline(): grpc.Deadline }): number {
  let deadline = Date.now() + node.cfg.requestTimeoutMs;
  const dl = call.getDeadline();
  const d = dl instanceof Date ? dl.getTime() : Number(dl);
  if (Number.isFinite(d) && d > 0 && d < deadline) deadline = d;
  return deadline;
}

export function unary<Req, Rep>(node: CallNode, fn: Handler<Req, Rep>): grpc.handleUnaryCall<Maybe<Req>, Rep> {
  return (call, cb) => {
    if (!node.accepting()) {
      cb(toServiceError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
      return;
    }
    let p: Promise<Rep>;
    try {
      p = fn(checkMalformed(call.request), deadlineOf(node, call));
    } catch (err) {
      cb(toServiceError(err));
      return;
    }
    node.track(p).then(
      (rep) => cb(null, rep),
      (err: unknown) => cb(toServiceError(err)),
    );
  };
}
