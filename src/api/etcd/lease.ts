// etcdserverpb.Lease on a member's gRPC port, wire-compatible with etcd 3.4: LeaseGrant,
// LeaseRevoke, LeaseKeepAlive (bidirectional stream), LeaseTimeToLive, LeaseLeases.
//
// TTLs are whole seconds on this API, milliseconds inside the cluster. A grant below the minimum
// (1.5 × the longest election timeout, rounded up to a second here) is raised to it, as etcd does;
// above etcd's maximum (9,000,000,000 s) or this cluster's --max-lease-ttl-ms it is refused with
// etcd's "too large lease TTL". Ids are the cluster's (always below 2^53: the codec maps int64 to
// number); a client-chosen id at or above 2^53-1 is refused with a clear message, while a revoke,
// keep-alive or time-to-live naming one answers "not found" as for any lease that does not exist
// (and so do a Put, Txn, Lock or Campaign: see wire.ts).
//
// A keep-alive is answered only once its renewal is committed and applied (src/lease/renewals.ts),
// with the lease's granted TTL (etcd's answer), or TTL 0 when the lease does not exist — or, on
// the leader, at once when the replicated expiry already covers it to within a small D
// (src/lease/timing.ts renewalCover; the bound is unchanged, see src/lease/README.md). A stream
// that requires a leader (clientv3 opens every one that way) follows require-leader.ts.
import * as grpc from '@grpc/grpc-js';
import type { CommandCaller, Lease } from '../../../proto/gen/placement/v1/command.js';
import { callerOf } from '../../auth/context.js';
import type {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { EtcdLeaseService } from '../../../proto/services.js';
import { PlacementError } from '../../errors.js';
import { checkMalformed, malformed, type Maybe } from '../../grpc/malformed.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import type { Metrics } from '../../metrics/metrics.js';
import type { LeaseKeeper } from '../../lease/keeper.js';
import { etcdUnary } from './call.js';
import { ETCD_LEASE_NOT_FOUND, ETCD_LEASE_TTL_TOO_LARGE, etcdError, toEtcdLeaseError } from './errors.js';
import { headerFiller } from './header.js';
import { decodeGrant, decodeId, decodeTimeToLive, encodeKeepAliveResponse, type GrantRequest, type IdRequest, type TimeToLiveRequest, type WireId } from './lease-wire.js';
import type { EtcdNode } from './node.js';
import { messageWriter } from '../../grpc/stream-writer.js';
import { noLeader, requiresLeader, type LeaderMonitor } from './require-leader.js';
import { learnerRefusal } from './learner.js';
import { ReadGate } from '../../grpc/read-gate.js';

/** etcd's lease.MaxLeaseTTL, in seconds. */
export const ETCD_MAX_LEASE_TTL_S = 9_000_000_000;

/** What the Lease service needs from a node beyond what every etcd service does. */
export interface LeaseNode extends EtcdNode {
  readonly cfg: EtcdNode['cfg'] & { readonly maxLeaseTtlMs: number };
  readonly leases: LeaseKeeper;
  /** Keys attached to a lease, as stored. */
  leaseKeys(id: number): Promise<Buffer[]>;
}

/**
 * A lease id this cluster could hold: 1..2^53-2. Not 2^53-1: the KV, Lock and Election services
 * read every larger id as that one (wire.ts), which must then name no lease.
 */
function ourId(id: WireId): number | undefined {
  return typeof id === 'number' && id > 0 && id < Number.MAX_SAFE_INTEGER && Number.isInteger(id) ? id : undefined;
}

const seconds = (ms: number): number => Math.ceil(ms / 1000);

/** Keep-alive answers a stream may have that its client has not taken before it stops being read. */
const KEEPALIVE_MAX_UNTAKEN = 256;

/** The operations, transport-free (the tests drive them directly too). */
export function leaseOps(node: LeaseNode) {
  const header = headerFiller(node);
  const minTtlS = seconds(node.leases.timing.minTtlMs);
  const maxTtlS = Math.min(ETCD_MAX_LEASE_TTL_S, Math.floor(node.cfg.maxLeaseTtlMs / 1000));
  return {
    header,
    async grant(req: GrantRequest, deadline: number, by: CommandCaller | undefined): Promise<LeaseGrantResponse> {
      if (typeof req.ttl === 'bigint' || req.ttl > maxTtlS) {
        // etcd's refusal above its own maximum; ours is the configured one when lower.
        throw etcdError(grpc.status.OUT_OF_RANGE, ETCD_LEASE_TTL_TOO_LARGE);
      }
      if (req.id !== 0 && ourId(req.id) === undefined) {
        throw etcdError(grpc.status.INVALID_ARGUMENT, `lease ID ${req.id} is outside 1..${Number.MAX_SAFE_INTEGER - 1} (2^53-2), the ids this cluster supports; give 0 to let the server choose`);
      }
      const ttlS = Math.max(req.ttl, minTtlS);
      const lease = await node.leases.grant(ttlS * 1000, req.id as number, deadline, by);
      return { header: header(), ID: lease.id, TTL: seconds(lease.ttlMs), error: '' };
    },
    async revoke(req: IdRequest, deadline: number, by: CommandCaller | undefined): Promise<LeaseRevokeResponse> {
      const id = ourId(req.id);
      if (id === undefined) throw etcdError(grpc.status.NOT_FOUND, ETCD_LEASE_NOT_FOUND);
      const r = await node.leases.revoke(id, deadline, by);
      return { header: header(r.revision) };
    },
    /**
     * A keep-alive the leader answers at once from the replicated expiry (keeper.renewNow), or
     * undefined when it needs a renewal command (keepAlive).
     */
    keepAliveNow(req: IdRequest, nowMs: number): LeaseKeepAliveResponse | undefined {
      const id = ourId(req.id);
      const e = id === undefined ? undefined : node.leases.renewNow(id, nowMs);
      return e && { header: header(), ID: e.id, TTL: seconds(e.ttlMs) };
    },
    /** One keep-alive: the renewed lease's granted TTL, or 0 when it does not exist. */
    async keepAlive(req: IdRequest): Promise<LeaseKeepAliveResponse> {
      // The header is taken before the renewal, as etcd does: its revision is never past the
      // revision at which the lease could have been revoked.
      const h = header();
      const id = ourId(req.id);
      const lease: Lease | null = id === undefined ? null : await node.leases.renew(id);
      return { header: h, ID: req.id as number, TTL: lease ? seconds(lease.ttlMs) : 0 };
    },
    async timeToLive(req: TimeToLiveRequest, deadline: number): Promise<LeaseTimeToLiveResponse> {
      await node.readBarrier(false, deadline);
      const id = ourId(req.id);
      const e = id === undefined ? undefined : node.leases.table.get(id);
      if (!e) return { header: header(), ID: req.id as number, TTL: -1, grantedTTL: 0, keys: [] };
      const keys = req.keys ? await node.leaseKeys(e.id) : [];
      // Seconds left, rounded down (etcd truncates its remaining duration).
      const ttl = Math.floor(node.leases.remainingMs(e, Date.now()) / 1000);
      return { header: header(), ID: e.id, TTL: ttl, grantedTTL: seconds(e.ttlMs), keys };
    },
    async leases(deadline: number): Promise<LeaseLeasesResponse> {
      await node.readBarrier(false, deadline);
      return { header: header(), leases: node.leases.table.list().map((e) => ({ ID: e.id })) };
    },
  };
}

/** Request decoders that keep ids beyond 2^53 (lease-wire.ts) and never throw (malformed.ts). */
function tolerantDecode<T>(decode: (b: Uint8Array) => T): (b: Buffer) => Maybe<T> {
  return (b) => {
    try {
      return decode(b);
    } catch (err) {
      return malformed((err as Error).message);
    }
  };
}

export interface LeaseServiceHandle {
  /** Ends every keep-alive stream (graceful shutdown: clients resume on another member). */
  closeStreams(): void;
}

export function registerLease(server: grpc.Server, node: LeaseNode, leaderMonitor: LeaderMonitor, metrics?: Metrics): LeaseServiceHandle {
  const ops = leaseOps(node);
  // etcdUnary (call.ts) maps failures with toEtcdError; the lease operations answer etcd's lease
  // strings for their own "not found" / "exists" (errors.ts: toEtcdLeaseError).
  const unary = <Req, Rep>(fn: (req: Req, deadline: number, by: CommandCaller | undefined) => Promise<Rep>): grpc.handleUnaryCall<Maybe<Req>, Rep> =>
    etcdUnary<Req, Rep>(node, (req, deadline, call) =>
      fn(req, deadline, callerOf(call)).catch((err: unknown) => {
        throw toEtcdLeaseError(err);
      }),
    );

  const streams = new Set<grpc.ServerDuplexStream<Maybe<IdRequest>, LeaseKeepAliveResponse>>();
  const keepAlive: grpc.handleBidiStreamingCall<Maybe<IdRequest>, LeaseKeepAliveResponse> = (call) => {
    if (!node.accepting()) {
      call.emit('error', toEtcdLeaseError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
      return;
    }
    if (node.isLearner) {
      call.emit('error', learnerRefusal());
      return;
    }
    // clientv3 opens its keep-alive streams requiring a leader: a member that has none sends the
    // client to another, where its leases can still be renewed.
    const requireLeader = requiresLeader(call.metadata);
    if (requireLeader && node.knownLeader === 0) {
      call.emit('error', noLeader());
      return;
    }
    streams.add(call);
    // The keep-alives one renewal answers leave together (src/grpc/stream-writer.ts).
    const write = messageWriter(call);
    // A client that sends keep-alives without reading the answers stops being read (HTTP/2 flow
    // control then holds its requests), as etcd's loop, which sends each answer before it receives
    // the next request: the answers it has not taken stay bounded.
    const untaken = new ReadGate(call, KEEPALIVE_MAX_UNTAKEN);
    const send = (rep: LeaseKeepAliveResponse): void => {
      untaken.add();
      write(rep, () => untaken.done());
    };
    let inFlight = 0;
    let ended = false;
    let failed = false;
    let unmonitor: (() => void) | undefined;
    const finish = (): void => {
      streams.delete(call);
      unmonitor?.();
      if (!failed) call.end();
    };
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      streams.delete(call);
      unmonitor?.();
      call.emit('error', toEtcdLeaseError(err));
    };
    if (requireLeader) unmonitor = leaderMonitor.add(fail);
    call.on('data', (raw: Maybe<IdRequest>) => {
      if (failed) return;
      let req: IdRequest;
      try {
        req = checkMalformed(raw);
      } catch (err) {
        fail(err);
        return;
      }
      const now = ops.keepAliveNow(req, Date.now());
      if (now) {
        if (!call.cancelled) send(now);
        return;
      }
      inFlight++;
      node.track(ops.keepAlive(req)).then(
        (rep) => {
          inFlight--;
          if (!failed && !call.cancelled) send(rep);
          if (ended && inFlight === 0) finish();
        },
        (err: unknown) => {
          inFlight--;
          // As etcd: a renewal that cannot be made ends the stream with the error; the client
          // opens another (on another member when this one cannot reach the leader).
          fail(err);
        },
      );
    });
    call.on('end', () => {
      ended = true;
      if (inFlight === 0) finish();
    });
    call.on('cancelled', () => {
      streams.delete(call);
      unmonitor?.();
    });
    call.on('error', () => {
      streams.delete(call);
      unmonitor?.();
    });
  };

  const handlers = {
    leaseGrant: unary<GrantRequest, LeaseGrantResponse>((req, d, by) => ops.grant(req, d, by)),
    leaseRevoke: unary<IdRequest, LeaseRevokeResponse>((req, d, by) => ops.revoke(req, d, by)),
    leaseKeepAlive: keepAlive,
    leaseTimeToLive: unary<TimeToLiveRequest, LeaseTimeToLiveResponse>((req, d) => ops.timeToLive(req, d)),
    leaseLeases: unary<unknown, LeaseLeasesResponse>((_req, d) => ops.leases(d)),
  };
  const def = {
    ...EtcdLeaseService,
    leaseGrant: { ...EtcdLeaseService.leaseGrant, requestDeserialize: tolerantDecode(decodeGrant) },
    leaseRevoke: { ...EtcdLeaseService.leaseRevoke, requestDeserialize: tolerantDecode(decodeId) },
    leaseKeepAlive: { ...EtcdLeaseService.leaseKeepAlive, requestDeserialize: tolerantDecode(decodeId), responseSerialize: encodeKeepAliveResponse },
    leaseTimeToLive: { ...EtcdLeaseService.leaseTimeToLive, requestDeserialize: tolerantDecode(decodeTimeToLive) },
  };
  server.addService(def as unknown as grpc.ServiceDefinition, (metrics ? instrumentGrpcService('etcdserverpb.Lease', handlers, metrics, EtcdLeaseService) : handlers) as unknown as grpc.UntypedServiceImplementation);
  return {
    closeStreams: () => {
      for (const s of [...streams]) {
        streams.delete(s);
        s.emit('error', toEtcdLeaseError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
      }
    },
  };
}
