// etcdserverpb.KV on every member's gRPC port: Range, Put, DeleteRange, Txn, Compact, with
// etcd 3.4's semantics and errors (etcdserver/api/v3rpc/key.go and etcdserver/v3_server.go).
//
// - Requests are checked before anything is proposed, with etcd's checks and limits
//   (storage's validate functions, --max-txn-ops, --max-request-bytes on the writes), then by the
//   permission guard (permissions.ts); a read that waits for a barrier is judged after it, on the
//   state it is served from (etcd's order: a permission revoked before the read arrived holds on a
//   member that applied the revoke late).
// - Writes go through the node's propose path (forwarded to the leader); the applied result is
//   answered through the result table (errors.ts), never a non-OK result as success.
// - Range is linearizable by default (a ReadIndex barrier, then a local read) and local when
//   serializable. A Txn whose operations are all Range is served the same way, without Raft, as
//   etcd does; any other Txn is replicated.
// - A read whose reply would not fit in one gRPC message is refused (RESOURCE_EXHAUSTED) before
//   its reply is built: etcd clients do not expect a shortened page.
import * as grpc from '@grpc/grpc-js';
import {
  KVService,
  CompactionRequest,
  CompactionResponse,
  DeleteRangeRequest,
  DeleteRangeResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
  TxnResponse,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { Command } from '../../../proto/gen/placement/v1/command.js';
import { checkDeleteRange, checkPut, checkRange, checkRequestSize, checkTxn, isReadOnlyTxn, type RangeResult } from '../../../storage/index.js';
import { PlacementError, invalidArgument } from '../../errors.js';
import { encodePutResponse } from './kv-wire.js';
import type { Metrics } from '../../metrics/metrics.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import { etcdUnary } from './call.js';
import { etcdResponse } from './errors.js';
import { headerFiller } from './header.js';
import { CLIENT_ID_METADATA, SEQ_METADATA } from './metadata.js';
import type { EtcdNode } from './node.js';
import { ALLOW_ALL, type KvGuard } from './permissions.js';
import { GRPC_OVERHEAD_BYTES, etcdDefinition, requestBytes } from './wire.js';
import { callerOf } from '../../auth/context.js';
import type { GrpcCallLike } from '../../auth/caller.js';
import { textMetadata } from '../../grpc/h2/call.js';

export interface KvServiceOptions {
  metrics?: Metrics;
  /** Largest reply the server can send (its grpc.max_send_message_length). */
  maxReplyBytes: number;
  guard?: KvGuard;
}

const NO_DEDUP = { clientId: '', seq: 0 };

/** The (client id, seq) our SDK sends in metadata (metadata.ts); none from a plain etcd client. */
function dedupOf(call: { readonly metadata: grpc.Metadata }): { clientId: string; seq: number } {
  const clientId = textMetadata(call, CLIENT_ID_METADATA);
  if (clientId === undefined) return NO_DEDUP;
  const seq = Number(textMetadata(call, SEQ_METADATA) ?? '');
  if (clientId === '' || clientId.length > 256 || !Number.isSafeInteger(seq) || seq <= 0) {
    throw invalidArgument(`${CLIENT_ID_METADATA} needs ${SEQ_METADATA}, a positive integer, and an id of 1..256 characters`);
  }
  return { clientId, seq };
}

/** etcd's isTxnSerializable: a read-only txn may skip the ReadIndex only if every range asks to. */
function txnSerializable(r: TxnRequest): boolean {
  for (const op of r.success) if (op.request?.$case !== 'requestRange' || !op.request.value.serializable) return false;
  for (const op of r.failure) if (op.request?.$case !== 'requestRange' || !op.request.value.serializable) return false;
  return true;
}

function tooLarge(maxReplyBytes: number): PlacementError {
  return new PlacementError(
    'RESOURCE_EXHAUSTED',
    `the reply would be larger than the server's largest message (${maxReplyBytes} bytes): narrow the range, or use limit, keys_only or count_only`,
  );
}

/** A KV operation as the service serves it: checked, guarded, proposed or read (no transport). */
export type KvOperation<Req, Rep> = (req: Req, deadline: number, call: KvCall) => Rep | Promise<Rep>;

/** What a KV operation reads of its call: the metadata (de-dup ids) and, through auth's binding, who asks. */
export type KvCall = { readonly metadata: grpc.Metadata } & GrpcCallLike;

export interface KvOperations {
  range: KvOperation<RangeRequest, RangeResponse>;
  put: KvOperation<PutRequest, PutResponse>;
  deleteRange: KvOperation<DeleteRangeRequest, DeleteRangeResponse>;
  txn: KvOperation<TxnRequest, TxnResponse>;
  compact: KvOperation<CompactionRequest, CompactionResponse>;
}

/**
 * The KV service's operations, transport-free: the service serves them, and the Lock and Election
 * services make theirs through them for their caller (recipe-kv.ts), as etcd's act through its
 * in-process client.
 */
export function kvOperations(node: EtcdNode, opts: KvServiceOptions): KvOperations {
  const ks = node.keyspace;
  const guard = opts.guard ?? ALLOW_ALL;
  const maxReply = opts.maxReplyBytes;
  const header = headerFiller(node);
  const writeCheck = (req: object): void => {
    const bad = checkRequestSize(requestBytes(req), node.cfg.maxRequestBytes);
    if (bad) throw bad;
  };
  const command = (call: { readonly metadata: grpc.Metadata }, op: Command['op']): Command => {
    const { clientId, seq } = dedupOf(call);
    return { clientId, seq, leaderTimeMs: 0, op };
  };
  const rangeReply = (rr: RangeResult): RangeResponse => {
    if (rr.truncated) throw tooLarge(maxReply);
    return { header: header(rr.revision), kvs: rr.kvs, more: rr.more, count: rr.count };
  };

  return {
    range: (req, deadline, call) => {
      const bad = checkRange(req);
      if (bad) throw bad;
      // As etcd: judged on the state the read is served from, after a barrier when it needs one
      // (a linearizable read's barrier catches the member up: its refusal is final).
      const read = (): Promise<RangeResponse> => {
        guard.range(call, req, !req.serializable);
        return ks.range(req, { maxBytes: maxReply }).then(rangeReply);
      };
      if (req.serializable && node.readsCurrent()) return read();
      return node.readBarrier(req.serializable, deadline).then(read);
    },

    put: (req, deadline, call) => {
      const bad = checkPut(req);
      if (bad) throw bad;
      writeCheck(req);
      guard.put(call, req);
      return node.propose(command(call, { $case: 'etcdPut', value: req }), deadline, callerOf(call)).then((r) => {
        const resp = etcdResponse(r, 'etcdPut');
        resp.header = header(resp.header?.revision);
        return resp;
      });
    },

    deleteRange: (req, deadline, call) => {
      const bad = checkDeleteRange(req);
      if (bad) throw bad;
      writeCheck(req);
      guard.deleteRange(call, req);
      return node.propose(command(call, { $case: 'etcdDeleteRange', value: req }), deadline, callerOf(call)).then((r) => {
        const resp = etcdResponse(r, 'etcdDeleteRange');
        resp.header = header(resp.header?.revision);
        return resp;
      });
    },

    txn: (req, deadline, call) => {
      const bad = checkTxn(req, node.cfg.maxTxnOps);
      if (bad) throw bad;
      if (isReadOnlyTxn(req)) {
        const serializable = txnSerializable(req);
        const read = (): Promise<TxnResponse> => {
          guard.txn(call, req, !serializable);
          return ks.readTxn(req, { maxBytes: maxReply }).then(({ response, truncated }) => {
            if (truncated) throw tooLarge(maxReply);
            response.header = header(response.header?.revision);
            return response;
          });
        };
        if (serializable && node.readsCurrent()) return read();
        return node.readBarrier(serializable, deadline).then(read);
      }
      writeCheck(req);
      guard.txn(call, req);
      return node.propose(command(call, { $case: 'etcdTxn', value: req }), deadline, callerOf(call)).then((r) => {
        const resp = etcdResponse(r, 'etcdTxn');
        resp.header = header(resp.header?.revision);
        return resp;
      });
    },

    compact: async (req, deadline, call) => {
      guard.compact(call, req);
      const r = await node.propose(command(call, { $case: 'etcdCompaction', value: req }), deadline, callerOf(call));
      etcdResponse(r, 'etcdCompaction');
      // etcd's physical: answer once this member has removed the history (its own pace).
      if (req.physical) await waitUntil(ks.waitCompaction(req.revision), deadline);
      // etcd answers with the member's current revision.
      return { header: header() };
    },
  };
}

export function registerKv(server: grpc.Server, node: EtcdNode, opts: KvServiceOptions): KvOperations {
  const ops = kvOperations(node, opts);
  const handlers = {
    range: etcdUnary<RangeRequest, RangeResponse>(node, ops.range),
    put: etcdUnary<PutRequest, PutResponse>(node, ops.put),
    deleteRange: etcdUnary<DeleteRangeRequest, DeleteRangeResponse>(node, ops.deleteRange),
    txn: etcdUnary<TxnRequest, TxnResponse>(node, ops.txn),
    compact: etcdUnary<CompactionRequest, CompactionResponse>(node, ops.compact),
  };
  const def = etcdDefinition(
    KVService,
    {
      range: [RangeRequest, RangeResponse],
      put: [PutRequest, PutResponse],
      deleteRange: [DeleteRangeRequest, DeleteRangeResponse],
      txn: [TxnRequest, TxnResponse],
      compact: [CompactionRequest, CompactionResponse],
    } as never,
    node.cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES,
  );
  const served = { ...def, put: { ...def.put, responseSerialize: encodePutResponse } };
  server.addService(served, opts.metrics ? instrumentGrpcService('etcdserverpb.KV', handlers, opts.metrics, KVService) : handlers);
  return ops;
}

/** `p`, or DEADLINE_EXCEEDED (etcd's "request timed out") once `deadline` passes. */
function waitUntil(p: Promise<void>, deadline: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new PlacementError('DEADLINE_EXCEEDED', 'physical compaction did not finish in time')), Math.max(0, deadline - Date.now()));
    p.then(
      () => {
        clearTimeout(t);
        resolve();
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err instanceof Error ? new PlacementError('UNAVAILABLE', err.message) : err);
      },
    );
  });
}
