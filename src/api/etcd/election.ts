// v3electionpb.Election on a member's gRPC port, wire-compatible with etcd 3.4: leader election
// for clients without etcd's concurrency package (Rust's etcd-client, jetcd, the JSON gateway's
// /v3/election/*). Served as etcd serves it: its concurrency package's election, made for the
// caller through the KV operations (recipe-kv.ts).
//
// - Campaign(name, lease, value) writes `<name>/<lease hex>` = value (or finds it written by the
//   same lease, and proclaims the new value) and waits until no candidate's key is older; it
//   answers the leader key {name, key, rev: the key's create revision, lease}. A campaign whose
//   client gives up while waiting resigns.
// - Proclaim and Resign act only while the key is still the one created at `rev` (the leader
//   key names one leadership, not one lease); Proclaim then fails with "election: not leader",
//   Resign answers as if done.
// - Leader reads the oldest key ("election: no leader" if none); Observe sends it, then each value
//   it proclaims, and after it is gone the next leader (or, while nobody leads, the first value
//   put under the name), until the client cancels. Each is read from the stored history once the
//   previous ones were taken by the client (HTTP/2 flow control), so a client that stops reading
//   costs the member a bounded queue, whatever is proclaimed meanwhile.
//
// One departure: an Observe whose read fails (permission denied, no leader) ends with that error;
// etcd's ends the stream without one.
import * as grpc from '@grpc/grpc-js';
import {
  CampaignRequest,
  CampaignResponse,
  ElectionService,
  LeaderRequest,
  LeaderResponse,
  ProclaimRequest,
  ProclaimResponse,
  ResignRequest,
  ResignResponse,
  type LeaderKey,
} from '../../../proto/gen/etcd/v3electionpb/v3election.js';
import type { ResponseHeader } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { KeyValue } from '../../../proto/gen/etcd/mvccpb/kv.js';
import { checkMalformed, type Maybe } from '../../grpc/malformed.js';
import type { Metrics } from '../../metrics/metrics.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import { toEtcdError } from './errors.js';
import { headerFiller } from './header.js';
import type { EtcdNode } from './node.js';
import { refusalAtStart } from './call.js';
import { RecipeError, recipeUnary, toRecipeError, type RecipeWaits } from './recipe-call.js';
import { RecipeKv, contenderKey, createRevisionIs, deleteOp, firstCreated, namePrefix, putOp, rangeOp, type NextEvent, type RecipeKvDeps } from './recipe-kv.js';
import { GRPC_OVERHEAD_BYTES, etcdDefinition } from './wire.js';
import { drained } from '../../grpc/drained.js';

export const ERR_MISSING_LEADER_KEY = '"leader" field must be provided';
export const ERR_NOT_LEADER = 'election: not leader';
export const ERR_NO_LEADER = 'election: no leader';

/** Puts `value` on the leader key if it still names this leadership; the header, or "not leader". */
async function proclaim(kv: RecipeKv, leader: LeaderKey, lease: number, value: Buffer): Promise<ResponseHeader | undefined> {
  const key = Buffer.from(leader.key);
  const r = await kv.txn({ compare: [createRevisionIs(key, leader.rev)], success: [putOp({ key, value, lease })] });
  if (!r.succeeded) throw new RecipeError(ERR_NOT_LEADER);
  return r.header;
}

/** Deletes the leader key if it still names this leadership. */
async function resign(kv: RecipeKv, leader: LeaderKey): Promise<ResponseHeader | undefined> {
  const key = Buffer.from(leader.key);
  const r = await kv.txn({ compare: [createRevisionIs(key, leader.rev)], success: [deleteOp(key)] });
  return r.header;
}

export function registerElection(server: grpc.Server, node: EtcdNode, deps: RecipeKvDeps, waits: RecipeWaits, metrics?: Metrics): void {
  const header = headerFiller(node);
  const handlers = {
    campaign: recipeUnary<CampaignRequest, CampaignResponse>(node, waits, async (req, call, signal) => {
      const kv = new RecipeKv(deps, call);
      const lease = await kv.sessionLease(req.lease);
      const prefix = namePrefix(req.name);
      const key = contenderKey(prefix, lease);
      const value = Buffer.from(req.value);
      const r = await kv.txn({ compare: [createRevisionIs(key, 0)], success: [putOp({ key, value, lease })], failure: [rangeOp({ key })] });
      const leader: LeaderKey = { name: Buffer.from(req.name), key, rev: r.header?.revision ?? 0, lease };
      if (!r.succeeded) {
        const own = r.responses[0]?.response;
        const kvNow = own?.$case === 'responseRange' ? own.value.kvs[0] : undefined;
        leader.rev = kvNow?.createRevision ?? 0;
        if (kvNow && !Buffer.from(kvNow.value).equals(value)) {
          try {
            await proclaim(kv, leader, lease, value);
          } catch (err) {
            await resign(kv, leader).catch(() => undefined);
            throw err;
          }
        }
      }
      try {
        await kv.waitDeletes(prefix, leader.rev - 1, signal);
      } catch (err) {
        // A client that gave up leaves the line (etcd resigns only then).
        if (signal.aborted) await resign(kv, leader).catch(() => undefined);
        throw err;
      }
      return { header: r.header, leader };
    }),

    proclaim: recipeUnary<ProclaimRequest, ProclaimResponse>(node, waits, async (req, call) => {
      if (!req.leader) throw new RecipeError(ERR_MISSING_LEADER_KEY);
      const kv = new RecipeKv(deps, call);
      const lease = await kv.sessionLease(req.leader.lease);
      return { header: await proclaim(kv, req.leader, lease, Buffer.from(req.value)) };
    }),

    leader: recipeUnary<LeaderRequest, LeaderResponse>(node, waits, async (req, call) => {
      const r = await new RecipeKv(deps, call).range(firstCreated(namePrefix(req.name)));
      const kv = r.kvs[0];
      if (!kv) throw new RecipeError(ERR_NO_LEADER);
      return { header: r.header, kv };
    }),

    observe: (call: grpc.ServerWritableStream<Maybe<LeaderRequest>, LeaderResponse>) => {
      const refused = refusalAtStart(node, call);
      if (refused) {
        call.emit('error', refused);
        return;
      }
      let req: LeaderRequest;
      try {
        req = checkMalformed(call.request);
      } catch (err) {
        call.emit('error', toEtcdError(err));
        return;
      }
      const scope = waits.forCall(call);
      // A client that does not read holds the loop here, not a growing queue of responses: the
      // next event is read from the stored history once the stream drained.
      const send = (resp: LeaderResponse): Promise<void> | undefined => (call.write(resp) ? undefined : drained(call, scope.signal));
      observeLeaders(new RecipeKv(deps, call.request as object), namePrefix(req.name), header, scope.signal, send).then(
        () => {
          scope.done();
          call.end();
        },
        (err: unknown) => {
          scope.done();
          if (!call.cancelled) call.emit('error', toRecipeError(scope.signal.aborted ? (scope.signal.reason ?? err) : err));
        },
      );
    },

    resign: recipeUnary<ResignRequest, ResignResponse>(node, waits, async (req, call) => {
      if (!req.leader) throw new RecipeError(ERR_MISSING_LEADER_KEY);
      const kv = new RecipeKv(deps, call);
      // etcd opens a session on the leader key's lease first (granting one when it is 0).
      await kv.sessionLease(req.leader.lease);
      return { header: await resign(kv, req.leader) };
    }),
  };
  const def = etcdDefinition(
    ElectionService,
    {
      campaign: [CampaignRequest, CampaignResponse],
      proclaim: [ProclaimRequest, ProclaimResponse],
      leader: [LeaderRequest, LeaderResponse],
      observe: [LeaderRequest, LeaderResponse],
      resign: [ResignRequest, ResignResponse],
    } as never,
    node.cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES,
  );
  server.addService(def, metrics ? instrumentGrpcService('v3electionpb.Election', handlers, metrics, ElectionService) : handlers);
}

/** The event, or the error that ends an Observe whose history was compacted under it. */
function orCompacted(e: NextEvent | 'compacted'): NextEvent {
  if (e === 'compacted') throw new RecipeError('etcdserver: mvcc: required revision has been compacted');
  return e;
}

/**
 * etcd's observe loop: the leader (or, while nobody leads, the first key put under the name),
 * then each of its puts, until its key is deleted; then again. Runs until the signal aborts
 * (rejecting with its reason) or a read fails.
 */
async function observeLeaders(
  kv: RecipeKv,
  prefix: Buffer,
  header: ReturnType<typeof headerFiller>,
  signal: AbortSignal,
  send: (resp: LeaderResponse) => Promise<void> | undefined,
): Promise<void> {
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const r = await kv.range(firstCreated(prefix));
    let current = r.kvs[0];
    let at = r.header;
    if (!current) {
      // Nobody leads: the first put under the name (a delete there is no leader).
      const first = orCompacted(await kv.nextEvent(prefix, { prefix: true, fromRevision: r.header?.revision ?? 0 }, (e) => !e.isDelete, signal));
      current = KeyValue.decode(first.kv);
      at = header(current.modRevision);
    }
    await send({ header: at, kv: current });
    // Its puts (proclaims) until it is deleted.
    let from = (at?.revision ?? 0) + 1;
    for (;;) {
      const ev = orCompacted(await kv.nextEvent(Buffer.from(current.key), { prefix: false, fromRevision: from }, () => true, signal));
      if (ev.isDelete) break;
      const kvNow = KeyValue.decode(ev.kv);
      await send({ header: header(ev.revision), kv: kvNow });
      from = kvNow.modRevision + 1;
    }
  }
}
