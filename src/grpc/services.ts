// Client-facing gRPC services (KvService, ClusterService) on top of a ServingNode.
// Validation happens here, before anything reaches Raft: a bad request changes nothing.
// Errors are PlacementError (src/errors.ts), mapped to gRPC codes; leadership errors carry the
// leader hint in trailing metadata (x-placement-leader-id / x-placement-leader-address).
import * as grpc from '@grpc/grpc-js';
import { ResultCode, type Command, type CommandResult, type CommandCaller } from '../../proto/gen/placement/v1/command.js';
import {
  KvServiceService,
  type CompareAndSwapReply,
  type CompareAndSwapRequest,
  type DeleteReply,
  type DeleteRequest,
  type ExistsReply,
  type ExistsRequest,
  type GetReply,
  type GetRequest,
  type KeyValue,
  type ListReply,
  type ListRequest,
  type ResponseHeader,
  type SetReply,
  type SetRequest,
} from '../../proto/gen/placement/v1/kv.js';
import {
  ClusterServiceService,
  type Member,
  type MemberAddRequest,
  type MemberPromoteRequest,
  type MemberUpdateRequest,
  type MemberRemoveRequest,
  type MembershipChangeReply,
  type MoveLeaderRequest,
  type MembersReply,
  type MembersRequest,
  type StatusReply,
  type StatusRequest,
} from '../../proto/gen/placement/v1/cluster.js';
import type { ClusterStatus, ListPage, MemberInfo } from '../http/backend.js';
import { PlacementError, invalidArgument, toGrpcStatus } from '../errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { instrumentGrpcService } from '../metrics/grpc.js';
import { VERSION } from '../version.js';
import { answerResult } from '../results.js';
import { KvService } from '../../proto/services.js';
import { tolerant, type Maybe } from './malformed.js';
import { unaryHandler, type Handler } from './unary.js';
import { SessionHub } from './session.js';
import { methodNeed } from '../auth/decisions.js';
import { assertStillPermitted } from '../auth/read-recheck.js';
import type { AuthSnapshot } from '../../storage/index.js';
import type { MembershipRequest } from '../../proto/gen/placement/v1/peer.js';

const EMPTY = Buffer.alloc(0);

export const LEADER_ID_KEY = 'x-placement-leader-id';
export const LEADER_ADDRESS_KEY = 'x-placement-leader-address';

/** What the gRPC layer needs from the node. */
export interface ServingNode {
  readonly limits: { maxKeyBytes: number; maxValueBytes: number; maxListLimit: number; requestTimeoutMs: number };
  /** Replicates a command (forwarding to the leader when needed); resolves with its applied result. */
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
  /** Resolves when a read at this node reflects every write acknowledged before the call
   *  (ReadIndex); for serializable reads, once every write this node already answered is
   *  visible locally (at once, unless its state-machine batch is still being written). */
  readBarrier(serializable: boolean, deadline: number): Promise<void>;
  /** True when a serializable read needs no readBarrier (nothing answered is still unwritten). */
  readsCurrent?(): boolean;
  /** The auth state reads are served on (src/auth/read-recheck.ts); none: auth is not in use. */
  authState?(): AuthSnapshot;
  getKv(key: string): Promise<KeyValue | null>;
  /** getKv without waiting, when the value can be read synchronously; `undefined` = use getKv. */
  getKvSync?(key: string): KeyValue | null | undefined;
  listKv(prefix: string, startAfter: string, limit: number, keysOnly: boolean): Promise<ListPage>;
  header(): ResponseHeader;
  clusterStatus(): ClusterStatus;
  members(deadline: number): Promise<MemberInfo[]>;
  /** An operator's membership change or leader move (src/membership/ops.ts); resolves with the member concerned. */
  changeMembership(req: MembershipRequest, deadline: number): Promise<number>;
  /** False while shutting down: new requests are refused with UNAVAILABLE. */
  accepting(): boolean;
  /** Lease timing (src/lease/timing.ts), reported in Status for the SDK's sessions. */
  readonly leases?: { readonly expiryMarginMs: number; readonly timing: { readonly minTtlMs: number } };
  /** Track in-flight requests so that shutdown can wait for them. */
  track<T>(p: Promise<T>): Promise<T>;
  /** The same, for a request whose end the caller signals itself (session operations). */
  requestStarted(): void;
  requestFinished(): void;
}

export function toServiceError(err: unknown): grpc.ServiceError {
  const pe = err instanceof PlacementError ? err : null;
  const md = new grpc.Metadata();
  let code = grpc.status.INTERNAL;
  let message = (err as Error)?.message ?? String(err);
  if (pe) {
    code = toGrpcStatus(pe.code);
    if (pe.leaderId) md.set(LEADER_ID_KEY, String(pe.leaderId));
    if (pe.leaderAddress) md.set(LEADER_ADDRESS_KEY, pe.leaderAddress);
  } else if (err && typeof err === 'object' && typeof (err as grpc.ServiceError).code === 'number') {
    code = (err as grpc.ServiceError).code;
    message = (err as grpc.ServiceError).details ?? message;
  }
  const se = new Error(message) as grpc.ServiceError;
  se.code = code;
  se.details = message;
  se.metadata = md;
  return se;
}

/** False for a string with a lone surrogate: it has no UTF-8 form (encoding would substitute U+FFFD). */
const wellFormed = (s: string): boolean => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

export function validateKey(key: string, max: number, what = 'key'): void {
  if (key.length === 0) throw invalidArgument(`${what} must not be empty`);
  if (!wellFormed(key)) throw invalidArgument(`${what} is not valid UTF-8 text (it holds a lone surrogate); the etcd API takes keys of any bytes`);
  const n = Buffer.byteLength(key, 'utf8');
  if (n > max) throw invalidArgument(`${what} is ${n} bytes, over the limit of ${max} bytes (max-key-bytes)`);
}

export function validateValue(value: Uint8Array, max: number): void {
  if (value.byteLength > max) throw invalidArgument(`value is ${value.byteLength} bytes, over the limit of ${max} bytes (max-value-bytes)`);
}

export type { Handler } from './unary.js';

function unary<Req, Rep>(node: ServingNode, fn: Handler<Req, Rep>): grpc.handleUnaryCall<Maybe<Req>, Rep> {
  return unaryHandler(node, () => node.limits.requestTimeoutMs, toServiceError, fn);
}

function memberToWire(m: MemberInfo): Member {
  return {
    id: m.id,
    address: m.address,
    role: m.role,
    isLeader: m.isLeader,
    matchIndex: m.matchIndex ?? 0,
    lag: m.lag ?? 0,
    httpAddress: m.httpAddress,
  };
}

async function membershipChange(node: ServingNode, req: MembershipRequest, deadline: number): Promise<MembershipChangeReply> {
  const memberId = await node.changeMembership(req, deadline);
  const ms = await node.members(deadline);
  const s = node.clusterStatus();
  return { clusterId: s.clusterId, leaderId: s.leaderId, memberId, members: ms.map(memberToWire) };
}

/** The KvService operations, transport-free: the unary methods and the Session stream (session.ts)
 *  both call these, so an operation behaves the same whichever way it arrives. */
export interface KvOps {
  set: Handler<SetRequest, SetReply>;
  get: Handler<GetRequest, GetReply>;
  delete: Handler<DeleteRequest, DeleteReply>;
  exists: Handler<ExistsRequest, ExistsReply>;
  list: Handler<ListRequest, ListReply>;
  compareAndSwap: Handler<CompareAndSwapRequest, CompareAndSwapReply>;
}

const h = <Req, Rep>(fn: Handler<Req, Rep>): Handler<Req, Rep> => fn;

const GET = '/placement.v1.KvService/Get';
const EXISTS = '/placement.v1.KvService/Exists';
const LIST = '/placement.v1.KvService/List';

export function kvOps(node: ServingNode): KvOps {
  const lim = node.limits;
  // A read is served from the state its barrier waited for: judged again there if auth moved since
  // it arrived (src/auth/read-recheck.ts).
  const stillPermitted = (by: CommandCaller | undefined, path: string, req: unknown): void => {
    const auth = node.authState?.();
    // The common case, nothing changed since the check: no closure made per read.
    if (auth && by && by.authRevision !== auth.revision) assertStillPermitted(auth, by, () => methodNeed(path, req));
  };
  return {
    set: h<SetRequest, SetReply>(async (req, deadline, by) => {
      validateKey(req.key, lim.maxKeyBytes);
      validateValue(req.value, lim.maxValueBytes);
      const r = answerResult(
        await node.propose(
          { clientId: req.clientId, seq: req.seq, leaderTimeMs: 0, op: { $case: 'put', value: { key: req.key, value: req.value, lease: req.lease, prevKv: req.prevKv } } },
          deadline,
          by,
        ),
      );
      return { header: { ...node.header(), revision: r.revision }, prevKv: r.prevKv };
    }),
    get: h<GetRequest, GetReply>((req, deadline, by) => {
      validateKey(req.key, lim.maxKeyBytes);
      const slim = req.kvMetadataOnly;
      const reply = (kv: KeyValue | null): GetReply => ({
        header: node.header(),
        found: kv !== null,
        value: kv?.value ?? EMPTY,
        kv: kv === null ? undefined : slim ? { ...kv, key: '', value: EMPTY } : kv,
      });
      const read = (): GetReply | Promise<GetReply> => {
        stillPermitted(by, GET, req);
        const kv = node.getKvSync?.(req.key);
        return kv !== undefined ? reply(kv) : node.getKv(req.key).then(reply);
      };
      // No async function and no extra turns: serializable reads answer in the same tick.
      if (req.serializable && node.readsCurrent?.() !== false) return Promise.resolve(read());
      return node.readBarrier(req.serializable, deadline).then(read);
    }),
    delete: h<DeleteRequest, DeleteReply>(async (req, deadline, by) => {
      validateKey(req.key, lim.maxKeyBytes);
      const r = answerResult(
        await node.propose({ clientId: req.clientId, seq: req.seq, leaderTimeMs: 0, op: { $case: 'delete', value: { key: req.key, prevKv: req.prevKv } } }, deadline, by),
      );
      const deleted = r.succeeded || r.prevKv !== undefined;
      return { header: { ...node.header(), revision: r.revision }, deleted, prevKv: req.prevKv ? r.prevKv : undefined };
    }),
    exists: h<ExistsRequest, ExistsReply>(async (req, deadline, by) => {
      validateKey(req.key, lim.maxKeyBytes);
      await node.readBarrier(req.serializable, deadline);
      stillPermitted(by, EXISTS, req);
      const sync = node.getKvSync?.(req.key);
      const kv = sync !== undefined ? sync : await node.getKv(req.key);
      return { header: node.header(), exists: kv !== null };
    }),
    list: h<ListRequest, ListReply>(async (req, deadline, by) => {
      if (Buffer.byteLength(req.prefix, 'utf8') > lim.maxKeyBytes) throw invalidArgument(`prefix is over the limit of ${lim.maxKeyBytes} bytes (max-key-bytes)`);
      if (req.limit > lim.maxListLimit) throw invalidArgument(`limit ${req.limit} is over the maximum of ${lim.maxListLimit} (max-list-limit)`);
      await node.readBarrier(req.serializable, deadline);
      stillPermitted(by, LIST, req);
      const page = await node.listKv(req.prefix, req.startAfter, req.limit === 0 ? lim.maxListLimit : req.limit, req.keysOnly);
      return { header: node.header(), kvs: page.kvs, more: page.more, nextKey: page.nextKey };
    }),
    compareAndSwap: h<CompareAndSwapRequest, CompareAndSwapReply>(async (req, deadline, by) => {
      validateKey(req.key, lim.maxKeyBytes);
      validateValue(req.value, lim.maxValueBytes);
      if (!req.expect) throw invalidArgument('compare-and-swap needs one expectation: expected_mod_revision, expected_value or expect_absent');
      if (req.expect.$case === 'expectedValue') validateValue(req.expect.value, lim.maxValueBytes);
      if (req.expect.$case === 'expectAbsent' && !req.expect.value) throw invalidArgument('expect_absent must be true when set');
      // An unmet expectation is CAS's own answer (succeeded: false); every other non-OK result fails.
      const r = answerResult(
        await node.propose(
          {
            clientId: req.clientId,
            seq: req.seq,
            leaderTimeMs: 0,
            op: { $case: 'cas', value: { key: req.key, expect: req.expect, value: req.value, lease: req.lease } },
          },
          deadline,
          by,
        ),
        { replySaysUnmet: true },
      );
      return { header: { ...node.header(), revision: r.revision }, succeeded: r.code === ResultCode.RESULT_OK && r.succeeded, prevKv: r.prevKv };
    }),
  };
}

/** What the node's shutdown needs from the client services. */
export interface ClientServices {
  /** Ends every Session stream once its in-flight operations have answered. */
  closeSessions(): void;
}

export function registerClientServices(server: grpc.Server, node: ServingNode, metrics?: Metrics): ClientServices {
  const ops = kvOps(node);
  // Session operations are counted one by one under their own method names (session.ts), so the
  // stream itself is left out of the per-call instrumentation: its "latency" is its lifetime.
  const sessions = new SessionHub(node, ops, metrics);
  metrics?.bindSessions(() => sessions.size);
  const kv = {
    set: unary(node, ops.set),
    get: unary(node, ops.get),
    delete: unary(node, ops.delete),
    exists: unary(node, ops.exists),
    list: unary(node, ops.list),
    compareAndSwap: unary(node, ops.compareAndSwap),
  };
  const cluster = {
    status: unary<StatusRequest, StatusReply>(node, async () => {
      const s = node.clusterStatus();
      const leader = s.members.find((m) => m.id === s.leaderId);
      return {
        clusterId: s.clusterId,
        id: s.id,
        leaderId: s.leaderId,
        term: s.term,
        role: s.role,
        commitIndex: s.commitIndex,
        appliedIndex: s.appliedIndex,
        members: s.members.map(memberToWire),
        revision: s.revision,
        leaderAddress: leader?.address ?? '',
        lastIndex: s.lastIndex,
        snapshotIndex: s.snapshotIndex,
        version: VERSION,
        leaseExpiryMarginMs: node.leases?.expiryMarginMs ?? 0,
        leaseMinTtlMs: node.leases?.timing.minTtlMs ?? 0,
      };
    }),
    members: unary<MembersRequest, MembersReply>(node, async (_req, deadline) => {
      const ms = await node.members(deadline);
      const s = node.clusterStatus();
      return { clusterId: s.clusterId, leaderId: s.leaderId, members: ms.map(memberToWire) };
    }),
    memberAdd: unary<MemberAddRequest, MembershipChangeReply>(node, (req, deadline) =>
      membershipChange(node, { op: 'add', id: req.id, address: req.address, isLearner: req.isLearner }, deadline),
    ),
    memberRemove: unary<MemberRemoveRequest, MembershipChangeReply>(node, (req, deadline) => membershipChange(node, { op: 'remove', id: req.id, address: '', isLearner: false }, deadline)),
    memberPromote: unary<MemberPromoteRequest, MembershipChangeReply>(node, (req, deadline) => membershipChange(node, { op: 'promote', id: req.id, address: '', isLearner: false }, deadline)),
    memberUpdate: unary<MemberUpdateRequest, MembershipChangeReply>(node, (req, deadline) => membershipChange(node, { op: 'update', id: req.id, address: req.address, isLearner: false }, deadline)),
    moveLeader: unary<MoveLeaderRequest, MembershipChangeReply>(node, (req, deadline) => membershipChange(node, { op: 'move-leader', id: req.targetId, address: '', isLearner: false }, deadline)),
  };
  const kvDef = tolerant(KvService);
  const clDef = tolerant(ClusterServiceService);
  const kvHandlers = metrics ? instrumentGrpcService('placement.v1.KvService', kv, metrics, KvServiceService) : kv;
  server.addService(kvDef, { ...kvHandlers, session: sessions.handler });
  server.addService(clDef, metrics ? instrumentGrpcService('placement.v1.ClusterService', cluster, metrics, ClusterServiceService) : cluster);
  return { closeSessions: () => sessions.closeAll() };
}
