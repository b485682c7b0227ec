// A follower's write, sent to the leader (PeerService.Forward), and what its answer or its loss
// means for the request. The leader's refusal "not leader" means nothing was proposed (null: the
// caller waits for the next leader and sends it there). A forward that never left, or whose
// outcome this member's own log settles (forward-outcomes.ts), may be sent again; one whose
// outcome stays unknown at the deadline is reported as such, as etcd reports a proposal it lost
// track of.
import * as grpc from '@grpc/grpc-js';
import type { Command, CommandResult } from '../../proto/gen/placement/v1/command.js';
import type { ForwardReply, ForwardRequest } from '../../proto/gen/placement/v1/peer.js';
import { PlacementError, leaderUnreachable, toGrpcStatus, type ErrorCode, type LeaderUnreachableError } from '../errors.js';
import type { Logger } from '../log.js';
import { forwardNotSent } from '../transport/index.js';
import type { ForwardOutcomes } from './forward-outcomes.js';

const grpcToCode = new Map<number, ErrorCode>(
  (['INVALID_ARGUMENT', 'NOT_FOUND', 'ALREADY_EXISTS', 'FAILED_PRECONDITION', 'UNAVAILABLE', 'DEADLINE_EXCEEDED', 'PERMISSION_DENIED', 'UNAUTHENTICATED', 'RESOURCE_EXHAUSTED', 'ABORTED', 'INTERNAL'] as ErrorCode[]).map(
    (c) => [toGrpcStatus(c) as number, c],
  ),
);

/** The error a leader's ForwardReply carries, as this member's own. */
export function errorOfReply(reply: Pick<ForwardReply, 'errorCode' | 'errorMessage' | 'leaderId'>, addressOf: (id: number) => string): PlacementError {
  return new PlacementError(grpcToCode.get(reply.errorCode) ?? 'INTERNAL', reply.errorMessage, reply.leaderId, addressOf(reply.leaderId));
}

export interface ForwardHost {
  /** The term this member knows the leader leads: the leader proposes the command only in it. */
  term(): number;
  forward(to: number, req: Omit<ForwardRequest, 'clusterId' | 'from' | 'term'> & { term?: number }, deadline: number): Promise<ForwardReply>;
  readonly forwards: ForwardOutcomes;
  addressOf(id: number): string;
  readonly log: Logger;
}

/**
 * The caller may send the command again when this returns null (the leader said it is not the
 * leader: nothing was proposed) or an error: the request never reached the leader (down or
 * unreachable), reached one whose term ended before it committed, or carries a client id (its
 * repeat is answered from the de-duplication record). The caller waits for the members to elect
 * another leader and sends it there, as a write to etcd waits out an election, and reports this
 * error if none comes in time.
 */
export async function forwardCommand(host: ForwardHost, leader: number, cmd: Command, deadline: number): Promise<CommandResult | LeaderUnreachableError | null> {
  const term = host.term();
  // Only a command without a client id needs its stamp (see below): no listening otherwise.
  const pending = cmd.clientId === '' ? host.forwards.stamp(cmd, term) : undefined;
  try {
    let reply: ForwardReply;
    try {
      reply = await host.forward(leader, { kind: { $case: 'command', value: cmd }, term }, deadline);
    } catch (err) {
      const e = err as grpc.ServiceError;
      const detail = e.details ?? e.message;
      if (forwardNotSent(err)) return leaderUnreachable(leader, host.addressOf(leader), detail, 'not-sent');
      // It left; its reply did not come. A command with a client id may go to the next leader
      // at once (the state machine answers a repeat from its de-duplication record). Any other
      // waits for this member's log to tell: applied (its result), or never to be (send it
      // again), or neither by the deadline (its outcome is unknown, as etcd's would be).
      if (!pending) return leaderUnreachable(leader, host.addressOf(leader), detail, 'unknown');
      const o = await host.forwards.outcome(pending, deadline);
      if (o === 'never-committed') {
        host.log.info({ leader, term, details: detail }, 'forwarded write lost with its leader and never committed: sending it to the next leader');
        return leaderUnreachable(leader, host.addressOf(leader), detail, 'not-committed');
      }
      if (o !== 'unknown') return o.applied;
      if (e.code === grpc.status.DEADLINE_EXCEEDED) throw new PlacementError('DEADLINE_EXCEEDED', `forwarded write to leader ${leader} timed out; its outcome is unknown`);
      host.log.warn({ leader, code: e.code, details: detail }, 'forwarded write lost on its way to the leader; its outcome is still unknown at the deadline');
      throw leaderUnreachable(leader, host.addressOf(leader), detail, 'unknown');
    }
    if (reply.errorCode === 0 && reply.result) return reply.result;
    if (reply.errorCode === grpc.status.FAILED_PRECONDITION && reply.errorMessage.startsWith('not leader')) return null;
    throw errorOfReply(reply, host.addressOf);
  } finally {
    if (pending) host.forwards.release(pending);
  }
}
