// Public entry of the Placement Center SDK (the package's main export).
//
//   import { PlacementClient, NotFoundError, UnavailableError } from 'placement-center';
//   const client = new PlacementClient({ endpoints: ['127.0.0.1:1228'], deadlineMs: 5000 });
//   await client.connect();                                   // optional: learn members, fail fast
//   await client.kv.set('/brokers/1', JSON.stringify({ host: '10.0.0.1' }));
//   const kv = await client.kv.get('/brokers/1');             // KeyValue | undefined
//   const cas = await client.kv.compareAndSwap('/controller', { absent: true }, '1');
//   for await (const k of client.kv.listAll('/brokers/')) console.log(k.key);
//   const st = await client.cluster.status();                 // leader, term, commit/applied, members
//   // The etcd KV service on the same members: byte keys, ranges, old revisions, Txn, Compact.
//   const old = await client.kv.get('/brokers/1', { revision: 42 });
//   const r = await client.etcd.range('/brokers/', { prefix: true, sortTarget: 'mod', sortOrder: 'descend', limit: 10 });
//   const t = await client.txn().if(cmp.modRevision('/controller', '=', 0)).then(op.put('/controller', '1')).else(op.get('/controller')).commit();
//   const session = await client.session({ ttlMs: 10_000 });  // a lease kept alive in the background
//   await session.put('/brokers/1/alive', 'yes');             // deleted when the session ends
//   session.on('state', (s) => console.log(s));               // connected | suspended | expired | closed
//   const m = new Mutex(client, 'locks/orders', session);   // recipes/: mutex and leader election
//   await m.withLock(async (fencingToken) => { ... });         // (etcd concurrency's key layout)
//   const e = new Election(client, 'elections/ctl', session);
//   const token = await e.campaign('broker-1');               // resolves once elected
//   client.close();
//
// Retries: UNAVAILABLE, connection failures and per-attempt timeouts move on to the next member
// (leader hint first) and, once every member failed, back off exponentially with jitter, all
// inside the call's deadline (`deadlineMs`, overridable per call). Definite failures are thrown at
// once as typed errors (InvalidArgumentError, NotFoundError, …). A write keeps its (clientId, seq)
// across retries, so the server applies it once. Keep a client's writes in flight below the
// server's de-duplication window (the last 1024 sequence numbers of each client id): a retry that
// arrives later fails with OutcomeUnknownError. Use more clients beyond that.
//
// Transport: KV operations travel on one long-lived KvService.Session stream per member, batched
// per event-loop turn (`transport: 'unary'` makes one gRPC call per operation instead). The stream
// is ended after 300 ms without operations, so a process that never calls close() still exits.
export { PlacementClient, KvApi, ClusterApi, normalizeEndpoint } from './client.js';
export { EtcdKvApi, TxnBuilder, op, cmp, prefixEnd } from './etcd-kv.js';
export type {
  Bytes,
  Cmp,
  CompareOp,
  CompactOptions,
  DeleteRangeOptions,
  DeleteRangeResult,
  EtcdHeader,
  EtcdKeyValue,
  Op,
  OpResult,
  PutOptions,
  PutResult,
  RangeOptions,
  RangeResult,
  RangeSpec,
  SortOrder,
  SortTarget,
  TxnResult,
} from './etcd-kv.js';
export { LeaseApi, Session } from './lease.js';
export type { AuthOptions } from './auth.js';
export { AuthAdminApi, permissionRange, type PermissionSpec, type PermissionType, type RolePermission } from './auth-admin.js';
export type { GrantedLease, LeaseGrantOptions, LeaseTimeToLive, SessionOptions, SessionState, TimeToLiveOptions } from './lease.js';
export { Watch, WatchCompactedError } from './watch.js';
export type { WatchBatch, WatchEvent, WatchOptions } from './watch.js';
export { Election, NotLeaderError } from './recipes/election.js';
export type { CampaignOptions, Leader } from './recipes/election.js';
export { Mutex } from './recipes/mutex.js';
export type { LockOptions } from './recipes/mutex.js';
export type { RecipeClient, RecipeSession } from './recipes/wait.js';
export { backoffDelay, resolveBackoff, seededRandom } from './backoff.js';
export type { BackoffOptions, ResolvedBackoff } from './backoff.js';
export {
  PlacementClientError,
  NotFoundError,
  InvalidArgumentError,
  AlreadyExistsError,
  FailedPreconditionError,
  PermissionDeniedError,
  UnauthenticatedError,
  ResourceExhaustedError,
  InternalError,
  OutcomeUnknownError,
  UnimplementedError,
  UnavailableError,
  DeadlineExceededError,
  ClientClosedError,
  errorFromStatus,
  grpcCodeName,
  leaderHintFrom,
  LEADER_ID_METADATA,
  LEADER_ADDRESS_METADATA,
} from './errors.js';
export type { AttemptFailure, GrpcCodeName, LeaderHint, PlacementClientErrorOptions } from './errors.js';
export type {
  CallOptions,
  CasExpectation,
  CasOptions,
  CasResult,
  ClusterStatus,
  DeleteOptions,
  DeleteResult,
  KeyValue,
  ListAllOptions,
  ListOptions,
  ListResult,
  Member,
  MemberRole,
  MembersResult,
  MembershipChangeResult,
  NodeRole,
  PlacementClientOptions,
  ReadOptions,
  ResponseHeader,
  RetryEvent,
  SetOptions,
  SetResult,
  StatusOptions,
  TlsOptions,
  ValueInput,
} from './types.js';
export { RegistryApi, PlacementApi, BrokerMetaApi } from './placement.js';
export type { NodeInfo, NodeLoad, ShardInfo, RegisterOptions, ShardConstraintsInput } from './placement.js';
export { BrokerAgent } from './broker-agent.js';
export type { BrokerAgentOptions, ShardAssignment } from './broker-agent.js';
