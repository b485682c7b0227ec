// A unary handler of the native placement services as grpc-js wants it: the shared native one
// (src/grpc/unary.ts) with the node's request timeout and the leader-hinting error mapping of
// src/grpc/services.ts.
import type * as grpc from '@grpc/grpc-js';
import type { Maybe } from '../../grpc/malformed.js';
import { toServiceError } from '../../grpc/services.js';
import { callDeadline, unaryHandler, type Handler } from '../../grpc/unary.js';

export type { Handler };

export interface CallNode {
  accepting(): boolean;
  track<T>(p: Promise<T>): Promise<T>;
  readonly cfg: { readonly requestTimeoutMs: number };
}

export function deadlineOf(node: CallNode, call: { getDeadline(): grpc.Deadline }): number {
  return callDeadline(node.cfg.requestTimeoutMs, call);
}

export function unary<Req, Rep>(node: CallNode, fn: Handler<Req, Rep>): grpc.handleUnaryCall<Maybe<Req>, Rep> {
  return unaryHandler(node, () => node.cfg.requestTimeoutMs, toServiceError, fn);
}
