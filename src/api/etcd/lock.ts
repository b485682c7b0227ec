// v3lockpb.Lock on a member's gRPC port, wire-compatible with etcd 3.4: a distributed lock for
// clients that do not carry etcd's concurrency package (Rust's etcd-client, jetcd, the JSON
// gateway's /v3/lock/*). Served as etcd serves it: a mutex of its concurrency package, made for
// the caller through the KV operations (recipe-kv.ts), on the lease the caller names.
//
// Lock(name, lease) queues the key `<name>/<lease hex>` (or finds it queued already: one lease
// holds one place per name) and waits until no key under the name is older; it answers that key.
// The holder keeps the lock until it unlocks or its lease ends. A Lock whose client gives up while
// waiting leaves the queue (its key is deleted). One departure from etcd 3.4: if the caller's key
// is gone by the time its turn comes (its lease expired while it waited), Lock fails with
// "mutex: session is expired" instead of answering a lock nobody holds (etcd 3.5's check).
import type * as grpc from '@grpc/grpc-js';
import { LockService, LockRequest, LockResponse, UnlockRequest, UnlockResponse } from '../../../proto/gen/etcd/v3lockpb/v3lock.js';
import type { Metrics } from '../../metrics/metrics.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import type { EtcdNode } from './node.js';
import { RecipeError, recipeUnary, type RecipeWaits } from './recipe-call.js';
import { RecipeKv, contenderKey, createRevisionIs, firstCreated, namePrefix, putOp, rangeOp, type RecipeKvDeps } from './recipe-kv.js';
import { GRPC_OVERHEAD_BYTES, etcdDefinition } from './wire.js';

export const ERR_SESSION_EXPIRED = 'mutex: session is expired';

export function registerLock(server: grpc.Server, node: EtcdNode, deps: RecipeKvDeps, waits: RecipeWaits, metrics?: Metrics): void {
  const handlers = {
    lock: recipeUnary<LockRequest, LockResponse>(node, waits, async (req, call, signal) => {
      const kv = new RecipeKv(deps, call);
      const lease = await kv.sessionLease(req.lease);
      const prefix = namePrefix(req.name);
      const key = contenderKey(prefix, lease);
      const queued = await kv.txn({
        compare: [createRevisionIs(key, 0)],
        success: [putOp({ key, value: Buffer.alloc(0), lease }), rangeOp(firstCreated(prefix))],
        failure: [rangeOp({ key }), rangeOp(firstCreated(prefix))],
      });
      const own = queued.responses[0]?.response;
      const mine = queued.succeeded ? (queued.header?.revision ?? 0) : own?.$case === 'responseRange' ? (own.value.kvs[0]?.createRevision ?? 0) : 0;
      const holder = queued.responses[1]?.response;
      const first = holder?.$case === 'responseRange' ? holder.value.kvs[0] : undefined;
      if (!first || first.createRevision === mine) return { header: queued.header, key };
      try {
        const found = await kv.waitDeletes(prefix, mine - 1, signal);
        const still = await kv.range({ key });
        if (still.kvs.length === 0) throw new RecipeError(ERR_SESSION_EXPIRED);
        return { header: found, key };
      } catch (err) {
        // Leave the queue, or the next in line would wait behind a key nobody will release.
        if (!(err instanceof RecipeError)) await kv.deleteKey(key).catch(() => undefined);
        throw err;
      }
    }),

    unlock: recipeUnary<UnlockRequest, UnlockResponse>(node, waits, async (req, call) => {
      const r = await new RecipeKv(deps, call).deleteKey(Buffer.from(req.key));
      return { header: r.header };
    }),
  };
  const def = etcdDefinition(
    LockService,
    { lock: [LockRequest, LockResponse], unlock: [UnlockRequest, UnlockResponse] } as never,
    node.cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES,
  );
  server.addService(def, metrics ? instrumentGrpcService('v3lockpb.Lock', handlers, metrics, LockService) : handlers);
}
