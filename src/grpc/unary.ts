// One unary gRPC handler as every native service wants it: refused while the node shuts down,
// its deadline the caller's or the node's request timeout (whichever is sooner), a malformed
// request refused, the call counted in flight (shutdown waits for it), failures mapped by
// `toError` (src/grpc/services.ts's toServiceError, passed in so this module imports no service).
import type * as grpc from '@grpc/grpc-js';
import { PlacementError } from '../errors.js';
import { checkMalformed, type Maybe } from './malformed.js';
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { callerOf } from '../auth/context.js';

/** `by`: the caller the request is served for (src/auth/context.ts), for the commands it proposes. */
export type Handler<Req, Rep> = (req: Req, deadline: number, by: CommandCaller | undefined) => Promise<Rep>;

export interface UnaryHost {
  accepting(): boolean;
  track<T>(p: Promise<T>): Promise<T>;
}

/** The sooner of the caller's deadline and now + `timeoutMs`. */
export function callDeadline(timeoutMs: number, call: { getDeadline(): grpc.Deadline }): number {
  let deadline = Date.now() + timeoutMs;
  const dl = call.getDeadline();
  const d = dl instanceof Date ? dl.getTime() : Number(dl);
  if (Number.isFinite(d) && d > 0 && d < deadline) deadline = d;
  return deadline;
}

export function unaryHandler<Req, Rep>(
  host: UnaryHost,
  timeoutMs: () => number,
  toError: (err: unknown) => grpc.ServiceError,
  fn: Handler<Req, Rep>,
): grpc.handleUnaryCall<Maybe<Req>, Rep> {
  return (call, cb) => {
    if (!host.accepting()) {
      cb(toError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
      return;
    }
    let p: Promise<Rep>;
    try {
      p = fn(checkMalformed(call.request), callDeadline(timeoutMs(), call), callerOf(call));
    } catch (err) {
      cb(toError(err));
      return;
    }
    host.track(p).then(
      (rep) => cb(null, rep),
      (err: unknown) => cb(toError(err)),
    );
  };
}
