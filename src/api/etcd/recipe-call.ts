// How the Lock and Election services take a call and answer it. Unlike a KV call, a Lock or a
// Campaign may wait for as long as the lock or the name is held by someone else: the wait ends
// when the client cancels (or its deadline passes), when the member stops, or when the caller's
// turn comes, never on the server's request timeout (each KV request the wait makes has its own).
//
// Errors are answered as etcd's services answer them: its in-process client hands them etcd's own
// errors as plain errors (clientv3's rpctypes), so gRPC answers them Unknown with the same text
// ("etcdserver: requested lease not found"), and the recipes' own refusals ("election: not
// leader") the same way. The member's conditions before the call starts (stopping, a learner, no
// leader when one is required, a malformed or oversized request) are answered as every etcd call's.
import * as grpc from '@grpc/grpc-js';
import { checkMalformed, type Maybe } from '../../grpc/malformed.js';
import { ETCD_STOPPED, serviceError, toEtcdError } from './errors.js';
import { refusalAtStart } from './call.js';
import type { EtcdNode } from './node.js';

/** A refusal of the recipe itself (etcd's plain errors: `"leader" field must be provided`, ...). */
export class RecipeError extends Error {}

/** The member is stopping: waits end, and the client goes to another member. */
export class RecipesStopped extends Error {
  constructor() {
    super(ETCD_STOPPED);
  }
}

/** The failure of a Lock or Election call as etcd answers it. */
export function toRecipeError(err: unknown): grpc.ServiceError {
  if (err instanceof RecipeError) return serviceError(grpc.status.UNKNOWN, err.message);
  if (err instanceof RecipesStopped) return serviceError(grpc.status.UNAVAILABLE, ETCD_STOPPED);
  const e = toEtcdError(err);
  if (e.details.startsWith('etcdserver: ') || e.details.startsWith('mvcc: ')) return serviceError(grpc.status.UNKNOWN, e.details);
  return e;
}

/** Ends every wait of the services when the member stops. */
export class RecipeWaits {
  private readonly stop = new AbortController();

  /** A signal that aborts when `call` is cancelled or the member stops; `done()` detaches it. */
  forCall(call: { on(event: 'cancelled', l: () => void): unknown; off?(event: 'cancelled', l: () => void): unknown }): { signal: AbortSignal; done(): void } {
    const ac = new AbortController();
    const onCancel = (): void => ac.abort(new Error('the call was cancelled'));
    const onStop = (): void => ac.abort(new RecipesStopped());
    if (this.stop.signal.aborted) onStop();
    this.stop.signal.addEventListener('abort', onStop, { once: true });
    call.on('cancelled', onCancel);
    return {
      signal: ac.signal,
      done: () => {
        this.stop.signal.removeEventListener('abort', onStop);
        call.off?.('cancelled', onCancel);
      },
    };
  }

  close(): void {
    this.stop.abort(new RecipesStopped());
  }
}

/** A unary recipe handler: `fn` gets the decoded request and a signal that aborts as described above. */
export function recipeUnary<Req, Rep>(
  node: EtcdNode,
  waits: RecipeWaits,
  fn: (req: Req, call: grpc.ServerUnaryCall<Maybe<Req>, Rep>, signal: AbortSignal) => Promise<Rep>,
): grpc.handleUnaryCall<Maybe<Req>, Rep> {
  return (call, cb) => {
    const refused = refusalAtStart(node, call);
    if (refused) {
      cb(refused);
      return;
    }
    let req: Req;
    try {
      req = checkMalformed(call.request);
    } catch (err) {
      cb(toEtcdError(err));
      return;
    }
    const scope = waits.forCall(call);
    fn(req, call, scope.signal).then(
      (rep) => {
        scope.done();
        cb(null, rep);
      },
      (err: unknown) => {
        scope.done();
        cb(toRecipeError(scope.signal.aborted && !(err instanceof RecipeError) ? (scope.signal.reason ?? err) : err));
      },
    );
  };
}
