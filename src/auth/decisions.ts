// The auth decision of every entry point: what each gRPC method and admin HTTP route needs from
// its caller once auth is on. One table, so that a method or route added without a decision is
// visible: the table test (test/auth/decisions.test.ts) enumerates what the server registered and
// fails on anything missing here, and at run time an undecided one needs the root role.
import type { Request } from 'express';
import { commandNeed, prefixEnd, ROOT, txnNeeds, type KeyNeed, type Need } from '../../storage/index.js';
import type { CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest, WatchRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { SessionOp } from '../../proto/gen/placement/v1/kv.js';
import { PLACEMENT_GRPC_DECISIONS, PLACEMENT_HTTP_DECISIONS } from '../api/placement/decisions.js';

export { ROOT };

/** How a method is guarded: 'open' (no identity needed even with auth on), 'peer' (the peer
 *  handshake authenticates it: src/transport/peer-auth.ts), or the need computed from a request. */
export type Decision = 'open' | 'peer' | ((req: unknown) => Need);

const NONE: Need = { kind: 'none' };
const USER: Need = { kind: 'user' };
const ROOT_NEED: Need = { kind: 'root' };
const EMPTY = new Uint8Array(0);
const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const keyNeed = (key: string, access: KeyNeed['access']): KeyNeed => ({ key: utf8(key), rangeEnd: EMPTY, access });
const prefixNeed = (prefix: string, access: KeyNeed['access']): KeyNeed => {
  const key = utf8(prefix);
  return { key, rangeEnd: prefixEnd(key), access };
};
const keys = (...k: KeyNeed[]): Need => ({ kind: 'keys', keys: k });
const root = (): Need => ROOT_NEED;
const user = (): Need => USER;

/** The need of one native Session operation (src/grpc/session.ts): each is judged on its own. */
export function sessionOpNeed(sop: SessionOp): Need {
  const op = sop.op;
  if (!op) return USER;
  switch (op.$case) {
    case 'set':
      return keys(keyNeed(op.value.key, 'write'));
    case 'get':
    case 'exists':
      return keys(keyNeed(op.value.key, 'read'));
    case 'delete':
      return keys(keyNeed(op.value.key, 'write'));
    case 'list':
      return keys(prefixNeed(op.value.prefix, 'read'));
    case 'compareAndSwap':
      return keys(keyNeed(op.value.key, 'read'), keyNeed(op.value.key, 'write'));
    default:
      return USER;
  }
}

const AUTH_ADMIN = [
  'AuthDisable', 'UserAdd', 'UserList', 'UserDelete', 'UserChangePassword', 'UserGrantRole', 'UserRevokeRole',
  'RoleAdd', 'RoleList', 'RoleDelete', 'RoleGrantPermission', 'RoleRevokePermission',
];

const etcdRange = (r: RangeRequest): Need => keys({ key: r.key, rangeEnd: r.rangeEnd, access: 'read' });
const etcdPut = (r: PutRequest): Need => commandNeed({ clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'etcdPut', value: r } });
const etcdDelete = (r: DeleteRangeRequest): Need => commandNeed({ clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'etcdDeleteRange', value: r } });

/**
 * The methods whose handler makes its caller's KV requests through the KV operations, each
 * checked by the KV guard (kv-guard.ts), as etcd's Lock and Election services act through its KV
 * API for their caller (src/api/etcd/recipe-kv.ts); like the KV methods, only the caller's
 * identity is resolved before the handler runs.
 */
export const RECIPE_METHODS = new Set([
  '/v3lockpb.Lock/Lock',
  '/v3lockpb.Lock/Unlock',
  '/v3electionpb.Election/Campaign',
  '/v3electionpb.Election/Proclaim',
  '/v3electionpb.Election/Leader',
  '/v3electionpb.Election/Observe',
  '/v3electionpb.Election/Resign',
]);

export const GRPC_DECISIONS: Record<string, Decision> = {
  '/placement.v1.KvService/Set': (r) => keys(keyNeed((r as { key: string }).key, 'write')),
  '/placement.v1.KvService/Get': (r) => keys(keyNeed((r as { key: string }).key, 'read')),
  '/placement.v1.KvService/Exists': (r) => keys(keyNeed((r as { key: string }).key, 'read')),
  '/placement.v1.KvService/Delete': (r) => keys(keyNeed((r as { key: string }).key, 'write')),
  '/placement.v1.KvService/List': (r) => keys(prefixNeed((r as { prefix: string }).prefix, 'read')),
  '/placement.v1.KvService/CompareAndSwap': (r) => keys(keyNeed((r as { key: string }).key, 'read'), keyNeed((r as { key: string }).key, 'write')),
  // Opening the stream needs a user; each operation is then judged on its own (sessionOpNeed).
  '/placement.v1.KvService/Session': user,
  // Status names members and the leader (what a client needs to find it), nothing secret.
  '/placement.v1.ClusterService/Status': 'open',
  '/placement.v1.ClusterService/Members': user,
  // Changing the membership or moving leadership: root, as etcd's member and MoveLeader APIs.
  '/placement.v1.ClusterService/MemberAdd': root,
  '/placement.v1.ClusterService/MemberRemove': root,
  '/placement.v1.ClusterService/MemberPromote': root,
  '/placement.v1.ClusterService/MemberUpdate': root,
  '/placement.v1.ClusterService/MoveLeader': root,
  '/placement.v1.PeerService/Hello': 'peer',
  '/placement.v1.PeerService/Raft': 'peer',
  '/placement.v1.PeerService/InstallSnapshot': 'peer',
  '/placement.v1.PeerService/Forward': 'peer',
  '/grpc.health.v1.Health/Check': 'open',
  '/grpc.health.v1.Health/Watch': 'open',
  '/grpc.health.v1.Health/List': 'open',
  '/etcdserverpb.KV/Range': (r) => etcdRange(r as RangeRequest),
  '/etcdserverpb.KV/Put': (r) => etcdPut(r as PutRequest),
  '/etcdserverpb.KV/DeleteRange': (r) => etcdDelete(r as DeleteRangeRequest),
  '/etcdserverpb.KV/Txn': (r) => keys(...txnNeeds(r as TxnRequest, 0)),
  '/etcdserverpb.KV/Compact': (r) => (void (r as CompactionRequest), ROOT_NEED),
  // Leases: any authenticated user, as the native lease operations (a lease holds no data of its own;
  // the keys attached to it are written through KV, which checks them). A revoke deletes the
  // lease's keys: the applier requires write on each (storage/auth/recheck.ts leaseKeyWriteCheck,
  // etcd's checkLeasePuts). etcd 3.4 answers Grant, KeepAlive, TimeToLive and Leases even to
  // anonymous callers; here they need a user (stricter, on purpose: every entry point checks).
  '/etcdserverpb.Lease/LeaseGrant': user,
  '/etcdserverpb.Lease/LeaseRevoke': user,
  '/etcdserverpb.Lease/LeaseKeepAlive': user,
  '/etcdserverpb.Lease/LeaseTimeToLive': user,
  '/etcdserverpb.Lease/LeaseLeases': user,
  // Watch: each message of the stream is judged on its own; creating a watch reads its range (a
  // refused create cancels that watch alone: guard.ts); cancel and progress requests concern only
  // the stream's own watchers, and etcd checks nothing on them.
  '/etcdserverpb.Watch/Watch': (r) => {
    const u = (r as WatchRequest).requestUnion;
    return u?.$case === 'createRequest' ? keys({ key: u.value.key, rangeEnd: u.value.rangeEnd, access: 'read' }) : NONE;
  },
  // AuthEnable needs root once auth is on (then it is a no-op); Authenticate is how one gets a token.
  '/etcdserverpb.Auth/AuthEnable': root,
  '/etcdserverpb.Auth/Authenticate': 'open',
  ...Object.fromEntries(AUTH_ADMIN.map((m) => [`/etcdserverpb.Auth/${m}`, root])),
  // etcd's Cluster service: listing as the native Members (a user; etcd 3.4 asks nothing), changes root.
  '/etcdserverpb.Cluster/MemberList': user,
  '/etcdserverpb.Cluster/MemberAdd': root,
  '/etcdserverpb.Cluster/MemberRemove': root,
  '/etcdserverpb.Cluster/MemberUpdate': root,
  '/etcdserverpb.Cluster/MemberPromote': root,
  // Maintenance: Status is open as in etcd (ids, Raft positions, sizes: nothing secret); hashes,
  // defragmentation and backups need root (etcd's admin check); MoveLeader root, as the native one;
  // listing alarms a user, raising or clearing one root.
  '/etcdserverpb.Maintenance/Status': 'open',
  '/etcdserverpb.Maintenance/Hash': root,
  '/etcdserverpb.Maintenance/HashKV': root,
  '/etcdserverpb.Maintenance/Defragment': root,
  '/etcdserverpb.Maintenance/Snapshot': root,
  '/etcdserverpb.Maintenance/MoveLeader': root,
  '/etcdserverpb.Maintenance/Alarm': (r) => ((r as { action?: number }).action ? ROOT_NEED : USER),
  // Root, or (judged by the Auth service, src/api/etcd/auth.ts) a user getting itself or a role it holds.
  '/etcdserverpb.Auth/UserGet': user,
  '/etcdserverpb.Auth/RoleGet': user,
  // Lock and Election: each KV request they make for the caller is checked on its own
  // (RECIPE_METHODS above), as etcd's services go through its KV API; a user at least.
  ...Object.fromEntries([...RECIPE_METHODS].map((m) => [m, user])),
  // Broker registry and shard placement: the keys they touch under /placement/ (src/api/placement/decisions.ts).
  ...PLACEMENT_GRPC_DECISIONS,
};

/** An undecided method: the root role, so nothing new is ever open by accident. */
export function grpcDecision(path: string): Decision {
  return GRPC_DECISIONS[path] ?? root;
}

/** What a request of a method that is decided per request needs (throws for any other method). */
export function methodNeed(path: string, req: unknown): Need {
  const d = GRPC_DECISIONS[path];
  if (typeof d !== 'function') throw new Error(`${path}: no permission decision`);
  return d(req);
}

// ---------------------------------------------------------------- admin HTTP

type HttpDecision = 'open' | ((req: Request) => Need);

const kvKey = (req: Request): string => {
  const q = (req.query as Record<string, unknown>).key;
  if (typeof q === 'string') return q;
  return decodeURIComponent(req.path.replace(/^\/v1\/kv\/?/, ''));
};

export interface HttpDecisionOptions {
  metricsAuth: boolean;
}

/** Route templates as listRoutes (src/http/app.ts) reports them, `METHOD /path/{param}`. */
export function httpDecisions(opts: HttpDecisionOptions): Record<string, HttpDecision> {
  const read = (req: Request): Need => {
    const q = req.query as Record<string, unknown>;
    if (req.path === '/v1/kv' && typeof q.key !== 'string') return keys(prefixNeed(typeof q.prefix === 'string' ? q.prefix : '', 'read'));
    return keys(keyNeed(kvKey(req), 'read'));
  };
  const write = (req: Request): Need => {
    const body = req.body as Record<string, unknown> | undefined;
    const cas = body && typeof body === 'object' && 'expectedModRevision' in body;
    return cas ? keys(keyNeed(kvKey(req), 'read'), keyNeed(kvKey(req), 'write')) : keys(keyNeed(kvKey(req), 'write'));
  };
  return {
    'GET /livez': 'open',
    'GET /readyz': 'open',
    'GET /metrics': opts.metricsAuth ? root : 'open',
    'GET /v1/openapi.json': 'open',
    // The dashboard's files: public; what it shows comes through the guarded routes below.
    'GET /ui': 'open',
    'GET /ui/{path}': 'open',
    'GET /ui/': 'open',
    'GET /v1/cluster/status': user,
    'GET /v1/cluster/overview': user,
    'GET /v1/cluster/members': user,
    'POST /v1/cluster/members': root,
    'DELETE /v1/cluster/members/{id}': root,
    'PUT /v1/cluster/members/{id}': root,
    'POST /v1/cluster/members/{id}/promote': root,
    'POST /v1/cluster/move-leader': root,
    'GET /v1/debug/hash': root,
    // Compaction drops history for every key: root, as etcd's Compact.
    'POST /v1/compaction': root,
    'GET /v1/kv': read,
    'PUT /v1/kv': write,
    'DELETE /v1/kv': write,
    'GET /v1/kv/{key}': read,
    'PUT /v1/kv/{key}': write,
    'DELETE /v1/kv/{key}': write,
    'GET /v1/leases': user,
    // Server-Sent Events of a key or a prefix: reading it.
    'GET /v1/watch': (req) => {
      const q = req.query as Record<string, unknown>;
      return typeof q.key === 'string' ? keys(keyNeed(q.key, 'read')) : keys(prefixNeed(typeof q.prefix === 'string' ? q.prefix : '', 'read'));
    },
    // Revoking deletes the lease's keys, whoever wrote them: root.
    'DELETE /v1/leases/{id}': root,
    'GET /v1/users': root,
    'POST /v1/users': root,
    'GET /v1/users/{name}': root,
    'PUT /v1/users/{name}': root,
    'DELETE /v1/users/{name}': root,
    'GET /v1/users/{name}/permissions': root,
    'PUT /v1/users/{name}/permissions': root,
    'GET /v1/config': root,
    'GET /v1/config/{name}': root,
    'PUT /v1/config/{name}': root,
    'DELETE /v1/config/{name}': root,
    // Maintenance, as etcd's Maintenance service: this member's status and the alarm list a user
    // (HTTP's cluster status needs one too); hashes, clearing alarms, defragmentation and backups root.
    'GET /v1/maintenance/status': user,
    'GET /v1/maintenance/hashkv': root,
    'GET /v1/maintenance/alarms': user,
    'POST /v1/maintenance/alarms/disarm': root,
    'POST /v1/maintenance/defragment': root,
    'GET /v1/maintenance/snapshot': root,
    ...PLACEMENT_HTTP_DECISIONS,
  };
}

/** The decision for a request, matched against the route templates; undecided: the root role. */
export function httpDecision(table: Record<string, HttpDecision>, req: Request): HttpDecision {
  const exact = table[`${req.method} ${req.path}`];
  if (exact) return exact;
  for (const [k, d] of Object.entries(table)) {
    const sp = k.indexOf(' ');
    if (k.slice(0, sp) !== req.method) continue;
    const tpl = k.slice(sp + 1);
    if (!tpl.includes('{')) continue;
    // {key}, {name} and {path} are wildcards (Express `*key`, `:name`): one or more segments.
    const re = new RegExp(`^${tpl.replace(/[.]/g, '\\.').replace(/\{[A-Za-z0-9_]+\}/g, '.+')}$`);
    if (re.test(req.path)) return d;
  }
  return root;
}
