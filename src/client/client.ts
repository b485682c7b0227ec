// PlacementClient: the broker-facing SDK of the Placement Center.
//
// Any one live member is enough to start: the client learns the members from Cluster.Members,
// keeps the list fresh (after fail-overs and on an unref'd timer), follows the leader hints
// servers put in trailing metadata, and retries UNAVAILABLE / connection failures on other
// members with exponential back-off and jitter, all inside a per-call deadline. Definite
// failures (INVALID_ARGUMENT, NOT_FOUND, …) are never retried. Every logical write carries the
// client id and a fresh sequence number that its retries reuse, so the server applies it once.
import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { EtcdLeaseClient, KvServiceClient } from '../../proto/services.js';
import { KeepAliveStream } from './lease-stream.js';
import { LeaseApi, Session, type SessionOptions } from './lease.js';
import { BrokerMetaApi, PlacementApi, RegistryApi } from './placement.js';
import {
  type KeyValue as PbKeyValue,
  type ResponseHeader as PbResponseHeader,
  type CompareAndSwapRequest,
  type CompareAndSwapReply,
  type DeleteReply,
  type ExistsReply,
  type GetReply,
  type ListReply,
  type SetReply,
} from '../../proto/gen/placement/v1/kv.js';
import {
  ClusterServiceClient,
  type Member as PbMember,
  type MembersReply,
  type MembershipChangeReply,
  type StatusReply,
} from '../../proto/gen/placement/v1/cluster.js';
import { KVClient as EtcdKvClient, AuthClient as EtcdAuthClient } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { AuthAdminApi, type AuthMethod, type AuthUnary } from './auth-admin.js';
import { EtcdKvApi, TxnBuilder, type EtcdUnary } from './etcd-kv.js';
import { backoffDelay, resolveBackoff, type ResolvedBackoff } from './backoff.js';
import { ClientAuth } from './auth.js';
import { Watch, type WatchOptions } from './watch.js';
import { ClientSession, type Cancellable, type KvMethod, type KvReplies, type KvRequests } from './session.js';
import {
  ClientClosedError,
  DeadlineExceededError,
  InvalidArgumentError,
  NotFoundError,
  PlacementClientError,
  UnavailableError,
  describeFailure,
  errorFromStatus,
  grpcCodeName,
  isConnectionFailure,
  isNotConnectedTimeout,
  isLearnerRefusal,
  isRefused,
  leaderHintFrom,
  type AttemptFailure,
  type LeaderHint,
} from './errors.js';
import type {
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
  MembersResult,
  MembershipChangeResult,
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

const DEFAULT_DEADLINE_MS = 5000;
const DEFAULT_ATTEMPT_TIMEOUT_MS = 2000;
const DEFAULT_REFRESH_INTERVAL_MS = 30_000;
/** Every endpoint refusing connections for this long ends a call (a member restarting is back by then). */
const DEFAULT_REFUSED_GIVE_UP_MS = 1000;
/** Largest page listAll asks for explicitly (the server's default --max-list-limit). */
const LIST_PAGE_MAX = 1000;
/** An endpoint that failed this recently is tried after the others. */
const SUSPECT_MS = 3000;

export type Kind = 'read' | 'write';
type UnaryCallback<Res> = (error: grpc.ServiceError | null, response: Res) => void;
export type Invoker<Res> = (
  stubs: Endpoint,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions> & { deadline: number },
  callback: UnaryCallback<Res>,
) => Cancellable;

/** Channel credentials from the SDK's TlsOptions. */
function tlsCredentials(tls: TlsOptions): grpc.ChannelCredentials {
  const buf = (v: string | Uint8Array | undefined): Buffer | null => (v === undefined ? null : typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v));
  if ((tls.cert === undefined) !== (tls.key === undefined)) throw new InvalidArgumentError('tls.cert and tls.key go together');
  try {
    return grpc.credentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert));
  } catch (err) {
    throw new InvalidArgumentError(`tls: ${(err as Error).message}`);
  }
}

/** One member's channel, shared by both service stubs and the KV session. */
export class Endpoint {
  readonly channel: grpc.Channel;
  readonly kv: KvServiceClient;
  readonly cluster: ClusterServiceClient;
  /** For streams without a generated stub (etcd Watch). */
  readonly generic: grpc.Client;
  /** etcdserverpb.Lease: the SDK's leases and sessions. */
  readonly lease: EtcdLeaseClient;
  private session: ClientSession | undefined;
  private keepAlives: KeepAliveStream | undefined;
  private etcdStub: EtcdKvClient | undefined;
  private authStub: EtcdAuthClient | undefined;
  /** Date.now() of the last failure, 0 when the last attempt succeeded. */
  failedAt = 0;

  constructor(
    readonly address: string,
    private readonly credentials: grpc.ChannelCredentials,
    options: grpc.ChannelOptions,
    private useSession: boolean,
    private readonly auth?: ClientAuth,
  ) {
    this.channel = new grpc.Channel(address, credentials, options);
    this.kv = new KvServiceClient(address, credentials, { channelOverride: this.channel });
    this.cluster = new ClusterServiceClient(address, credentials, { channelOverride: this.channel });
    this.generic = new grpc.Client(address, credentials, { channelOverride: this.channel });
    this.lease = new EtcdLeaseClient(address, credentials, { channelOverride: this.channel });
  }

  /** The member's shared keep-alive stream (lease-stream.ts). */
  get keepAliveStream(): KeepAliveStream {
    // With auth, the stream carries the token like every other call (a stream refused for a stale
    // token fails its keep-alives; the retry authenticates again and opens a new one).
    return (this.keepAlives ??= new KeepAliveStream(this.lease, () => this.auth?.metadata()));
  }

  /** Drops the session stream (it was opened with a token that is no longer good). */
  resetSession(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** The etcd KV service stub on this member's channel (made on first use). */
  get etcdKv(): EtcdKvClient {
    this.etcdStub ??= new EtcdKvClient(this.address, this.credentials, { channelOverride: this.channel });
    return this.etcdStub;
  }

  /** The etcd Auth service stub on this member's channel (made on first use). */
  get etcdAuth(): EtcdAuthClient {
    this.authStub ??= new EtcdAuthClient(this.address, this.credentials, { channelOverride: this.channel });
    return this.authStub;
  }

  /** One KV operation, on the session stream or as a unary call. */
  kvCall<M extends KvMethod>(
    method: M,
    request: KvRequests[M],
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions> & { deadline: number },
    cb: UnaryCallback<KvReplies[M]>,
  ): Cancellable {
    if (!this.useSession) return this.unary(method, request, metadata, options, cb);
    this.session ??= new ClientSession(this.kv, this.channel, () => this.auth?.metadata());
    let fallback: Cancellable | undefined;
    const handle = this.session.call(method, request, Math.max(1, options.deadline - Date.now()), (err, reply) => {
      if (err?.code === grpc.status.UNIMPLEMENTED && this.useSession) {
        // A server without KvService.Session (an older version): unary calls from now on.
        this.useSession = false;
        this.session?.close();
        this.session = undefined;
        fallback = this.unary(method, request, metadata, options, cb);
        return;
      }
      cb(err, reply as KvReplies[M]);
    });
    return { cancel: () => (fallback ?? handle).cancel() };
  }

  private unary<M extends KvMethod>(
    method: M,
    request: KvRequests[M],
    metadata: grpc.Metadata,
    options: Partial<grpc.CallOptions>,
    cb: UnaryCallback<KvReplies[M]>,
  ): Cancellable {
    const fn = this.kv[method] as unknown as (
      req: KvRequests[M],
      md: grpc.Metadata,
      o: Partial<grpc.CallOptions>,
      cb: UnaryCallback<KvReplies[M]>,
    ) => grpc.ClientUnaryCall;
    return fn.call(this.kv, request, metadata, options, cb);
  }

  close(): void {
    this.session?.close();
    this.keepAlives?.close();
    this.channel.close();
  }
}

/** Normalises "host:port" endpoint strings (trims, drops a scheme prefix). */
export function normalizeEndpoint(raw: string): string {
  return raw.trim().replace(/^(grpc|http|dns):\/\/\/?/i, '');
}

function toBuffer(v: ValueInput): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  throw new InvalidArgumentError(`value must be a string or bytes, got ${typeof v}`);
}

function checkKey(key: unknown, what = 'key'): string {
  if (typeof key !== 'string') throw new InvalidArgumentError(`${what} must be a string, got ${typeof key}`);
  return key;
}

function toKeyValue(kv: PbKeyValue): KeyValue {
  return {
    key: kv.key,
    value: kv.value,
    createRevision: kv.createRevision,
    modRevision: kv.modRevision,
    version: kv.version,
    lease: kv.lease,
  };
}

function toHeader(h: PbResponseHeader | undefined): ResponseHeader {
  return {
    clusterId: h?.clusterId ?? '',
    memberId: h?.memberId ?? 0,
    raftTerm: h?.raftTerm ?? 0,
    revision: h?.revision ?? 0,
  };
}

function toMember(m: PbMember): Member {
  return {
    id: m.id,
    address: m.address,
    role: m.role,
    isLeader: m.isLeader,
    matchIndex: m.matchIndex,
    lag: m.lag,
    httpAddress: m.httpAddress,
  };
}

function toStatus(r: StatusReply): ClusterStatus {
  return {
    clusterId: r.clusterId,
    id: r.id,
    leaderId: r.leaderId,
    leaderAddress: r.leaderAddress,
    term: r.term,
    role: r.role,
    commitIndex: r.commitIndex,
    appliedIndex: r.appliedIndex,
    lastIndex: r.lastIndex,
    snapshotIndex: r.snapshotIndex,
    revision: r.revision,
    version: r.version,
    members: r.members.map(toMember),
  };
}

export interface InvokeOptions extends CallOptions {
  /** Pin the call to this endpoint: one attempt, no fail-over. */
  endpoint?: string;
  /**
   * A write the server cannot de-duplicate (the etcd API): retried only when the attempt
   * certainly never reached a server (refused, or never connected).
   */
  mutation?: boolean;
}

/** The Placement Center client. Create one per process and share it; call `close()` when done. */
export class PlacementClient {
  /** Key-value operations. */
  readonly kv: KvApi;
  /** Cluster introspection. */
  readonly cluster: ClusterApi;
  /** Leases (the etcd Lease API of the members). */
  readonly lease: LeaseApi;
  /** The broker registry (placement.v1.RegistryService). */
  readonly registry: RegistryApi;
  /** The shard map (placement.v1.PlacementService). */
  readonly placement: PlacementApi;
  /** Resource config, idempotent-producer records, consumer-group offsets (placement.v1.BrokerMetaService). */
  readonly brokerMeta: BrokerMetaApi;
  /** The etcd v3 KV service (byte keys, ranges, old revisions, Txn, Compact). */
  readonly etcd: EtcdKvApi;
  /** Administration of the etcd Auth service: auth on/off, users, roles, permissions. */
  readonly authAdmin: AuthAdminApi;
  /** Identity sent with every write for de-duplication. */
  readonly clientId: string;

  private readonly seeds: string[];
  private learned: string[] = [];
  private readonly channels = new Map<string, Endpoint>();
  private readonly credentials: grpc.ChannelCredentials;
  private readonly auth: ClientAuth | undefined;
  private readonly channelOptions: grpc.ChannelOptions;
  private readonly defaultDeadlineMs: number;
  private readonly attemptTimeoutMs: number;
  private readonly backoff: ResolvedBackoff;
  private readonly random: () => number;
  private readonly discover: boolean;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private readonly refusedGiveUpMs: number;
  private nextSeq: number;
  private preferred: string | undefined;
  private leader: LeaderHint | undefined;
  private discovered = false;
  private refreshing: Promise<void> | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly active = new Set<Cancellable>();
  private readonly useSession: boolean;
  private readonly sleepers = new Set<() => void>();
  private readonly watches = new Set<Watch>();

  constructor(options: PlacementClientOptions) {
    const list = typeof options.endpoints === 'string' ? options.endpoints.split(',') : [...options.endpoints];
    this.seeds = [...new Set(list.map(normalizeEndpoint).filter((e) => e !== ''))];
    if (this.seeds.length === 0) throw new InvalidArgumentError('PlacementClient needs at least one endpoint');
    for (const e of this.seeds) {
      if (!/^\S+:\d+$/.test(e)) throw new InvalidArgumentError(`endpoint "${e}" is not host:port`);
    }
    this.defaultDeadlineMs = options.deadlineMs ?? DEFAULT_DEADLINE_MS;
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    if (!(this.defaultDeadlineMs > 0)) throw new InvalidArgumentError(`deadlineMs must be > 0, got ${this.defaultDeadlineMs}`);
    if (!(this.attemptTimeoutMs > 0)) {
      throw new InvalidArgumentError(`attemptTimeoutMs must be > 0, got ${this.attemptTimeoutMs}`);
    }
    // 128 random bits: two clients sharing an id would see each other's writes refused as reused
    // (FAILED_PRECONDITION), so an id must never be derived from anything guessable (a pid, a host).
    this.clientId = options.clientId ?? randomBytes(16).toString('hex');
    this.nextSeq = options.initialSeq ?? 1;
    this.backoff = resolveBackoff(options.backoff);
    this.random = options.random ?? Math.random;
    this.discover = options.discoverMembers ?? true;
    this.onRetry = options.onRetry;
    this.refusedGiveUpMs = options.refusedGiveUpMs ?? DEFAULT_REFUSED_GIVE_UP_MS;
    if (!(this.refusedGiveUpMs >= 0)) throw new InvalidArgumentError(`refusedGiveUpMs must be >= 0, got ${this.refusedGiveUpMs}`);
    const transport = options.transport ?? 'session';
    if (transport !== 'session' && transport !== 'unary') throw new InvalidArgumentError(`transport must be "session" or "unary", got ${String(transport)}`);
    this.useSession = transport === 'session';
    if (options.tls && options.credentials) throw new InvalidArgumentError('give either tls or credentials, not both');
    this.credentials = options.credentials ?? (options.tls ? tlsCredentials(options.tls) : grpc.credentials.createInsecure());
    this.auth = options.auth ? new ClientAuth(options.auth) : undefined;
    this.channelOptions = {
      ...(options.tls?.serverName ? { 'grpc.ssl_target_name_override': options.tls.serverName, 'grpc.default_authority': options.tls.serverName } : {}),
      // Reconnect to a restarted member quickly instead of after grpc-js's default 1 s → 120 s back-off.
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      // Own subchannels, so close() really closes the connections.
      'grpc.use_local_subchannel_pool': 1,
      'grpc.enable_retries': 0,
      // Results of a List or of many batched reads can exceed grpc-js's 4 MiB default.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
      ...options.channelOptions,
    };
    this.kv = new KvApi(this);
    this.cluster = new ClusterApi(this);
    this.lease = new LeaseApi(this);
    this.registry = new RegistryApi(this);
    this.placement = new PlacementApi(this);
    this.brokerMeta = new BrokerMetaApi(this);
    this.etcd = new EtcdKvApi({
      call: <Req, Res>(method: 'range' | 'put' | 'deleteRange' | 'txn' | 'compact', req: Req, mutation: boolean, options: CallOptions) =>
        this.invoke<Res>(
          `etcdserverpb.KV/${method}`,
          mutation ? 'write' : 'read',
          (s, md, o, cb) => (s.etcdKv[method] as unknown as EtcdUnary).call(s.etcdKv, req, md, o, cb as (e: grpc.ServiceError | null, r: unknown) => void),
          { ...options, mutation },
        ),
    });
    this.authAdmin = new AuthAdminApi(<Res>(method: AuthMethod, req: unknown, mutation: boolean, o: CallOptions) =>
      this.invoke<Res>(
        `etcdserverpb.Auth/${method}`,
        mutation ? 'write' : 'read',
        (s, md, co, cb) => (s.etcdAuth[method] as unknown as AuthUnary).call(s.etcdAuth, req, md, co, cb as (e: grpc.ServiceError | null, r: unknown) => void),
        { ...o, mutation },
      ),
    );
    const every = options.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
    if (this.discover && every > 0) {
      this.refreshTimer = setInterval(() => this.scheduleRefresh(), every);
      this.refreshTimer.unref();
    }
  }

  /**
   * Contacts the cluster, learns its members and returns them. Optional (every call connects on
   * demand), but a cheap way to fail fast at start-up when no endpoint is reachable.
   */
  async connect(options: CallOptions = {}): Promise<MembersResult> {
    return this.cluster.members(options);
  }

  /**
   * A ZooKeeper-style session: a lease kept alive in the background (session.ts has the states).
   * Resolves once the lease is granted.
   */
  session(options: SessionOptions): Promise<Session> {
    return Session.open(this, options);
  }

  /** A Txn on the etcd KV service: `client.txn().if(cmp…).then(op…).else(op…).commit()`. */
  txn(): TxnBuilder {
    return this.etcd.txn();
  }

  /** Endpoints the client currently knows: the given ones, then the learned members. */
  get endpoints(): readonly string[] {
    return [...new Set([...this.seeds, ...this.learned])];
  }

  /** The leader as last learned from a status, member list or leader hint. */
  get leaderHint(): LeaderHint | undefined {
    return this.leader;
  }

  /** Sequence number the next write will carry. */
  get nextSequence(): number {
    return this.nextSeq;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Watches `key` (or every key starting with it, `prefix: true`): an async iterable of event
   * batches, one per revision, in revision order. The watch moves to another member when its
   * stream breaks and resumes after the last revision received, so no batch is missed or
   * repeated; it ends with WatchCompactedError when the revisions it needs were compacted.
   * `close()` (or breaking out of the loop) cancels it on the server.
   */
  watch(key: string, options: WatchOptions = {}): Watch {
    this.ensureOpen();
    const w = new Watch(this, key, options);
    this.watches.add(w);
    return w;
  }

  /** @internal Watch: members in the order a watch tries them. */
  watchEndpoints(): string[] {
    return this.order('read');
  }

  /** @internal Watch: it ended. */
  watchEnded(w: Watch): void {
    this.watches.delete(w);
  }

  /** @internal Watch: the channel to one member. */
  watchChannel(address: string): grpc.Client {
    return this.endpoint(address).generic;
  }

  /** The token every watch stream carries (authenticating first when none is at hand); undefined without auth. */
  watchMetadata(address: string): Promise<grpc.Metadata> | undefined {
    const auth = this.auth;
    if (!auth) return undefined;
    return auth.ready(address, this.credentials, this.endpoint(address).channel, Date.now() + this.attemptTimeoutMs).then(() => auth.metadata());
  }

  /** @internal Watch: a stream was created on, or broke off, `address`. */
  watchContact(address: string, ok: boolean): void {
    const ep = this.channels.get(address);
    if (ep) ep.failedAt = ok ? 0 : Date.now();
    if (!ok || !this.discovered) this.scheduleRefresh();
  }

  watchAuthExpired(code: grpc.status, message: string): boolean {
    return this.auth?.expired({ code, details: message } as grpc.ServiceError) ?? false;
  }

  /** Releases every channel and timer; in-flight calls reject with ClientClosedError. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of [...this.watches]) w.close();
    this.watches.clear();
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    for (const call of [...this.active]) call.cancel();
    for (const wake of [...this.sleepers]) wake();
    for (const ep of this.channels.values()) ep.close();
    this.channels.clear();
  }

  // ---- internals used by KvApi / ClusterApi -------------------------------------------------

  /** @internal */
  takeSeq(): number {
    return this.nextSeq++;
  }

  /** @internal */
  noteMembers(leaderId: number, members: readonly Member[], leaderAddress = ''): void {
    const addrs = members.map((m) => normalizeEndpoint(m.address)).filter((a) => a !== '');
    if (addrs.length > 0) this.learned = [...new Set(addrs)];
    this.discovered = true;
    const lm = members.find((m) => m.isLeader) ?? members.find((m) => leaderId !== 0 && m.id === leaderId);
    if (lm && lm.address !== '') this.leader = { id: lm.id, address: normalizeEndpoint(lm.address) };
    else if (leaderAddress !== '') this.leader = { id: leaderId, address: normalizeEndpoint(leaderAddress) };
    else if (leaderId === 0) this.leader = undefined;
  }

  /** @internal */
  async invoke<Res>(method: string, kind: Kind, call: Invoker<Res>, options: InvokeOptions = {}): Promise<Res> {
    this.ensureOpen();
    const deadlineMs = options.deadlineMs ?? this.defaultDeadlineMs;
    if (!(deadlineMs > 0)) throw new InvalidArgumentError(`deadlineMs must be > 0, got ${deadlineMs}`);
    const signal = options.signal;
    const startedAt = Date.now();
    const deadlineAt = startedAt + deadlineMs;
    // Nothing listens anywhere (every endpoint refused every connection): give up at this time
    // instead of at the deadline. Any other failure (a timeout, "no leader") keeps the deadline.
    const refusedGiveUpAt = startedAt + this.refusedGiveUpMs;
    const pinned = options.endpoint === undefined ? undefined : normalizeEndpoint(options.endpoint);
    const failures: AttemptFailure[] = [];
    const tried: string[] = [];
    let round = new Set<string>();
    let hint: LeaderHint | undefined;
    let retry = 0;
    let rounds = 0;
    let next = pinned ?? this.first(kind);
    let reauthenticated = false;

    for (;;) {
      this.checkAborted(signal);
      const remaining = deadlineAt - Date.now();
      if (remaining <= 0) throw this.exhausted(method, deadlineMs, failures, tried, hint);
      const attemptMs = Math.min(remaining, this.attemptTimeoutMs);
      if (!tried.includes(next)) tried.push(next);
      round.add(next);
      const ep = this.endpoint(next);
      let err: grpc.ServiceError;
      try {
        if (this.auth) await this.auth.ready(next, this.credentials, ep.channel, Date.now() + attemptMs);
        const res = await this.attempt(ep, call, attemptMs, signal);
        ep.failedAt = 0;
        this.preferred = next;
        if (failures.length > 0 || !this.discovered) this.scheduleRefresh();
        return res;
      } catch (e) {
        if (e instanceof PlacementClientError) throw e;
        err = e as grpc.ServiceError;
      }
      this.ensureOpen();
      this.checkAborted(signal);
      const message = err.details ?? err.message;
      const failure: AttemptFailure = { endpoint: next, code: err.code, codeName: grpcCodeName(err.code), message };
      const h = leaderHintFrom(err.metadata);
      if (h) {
        hint = h;
        if (h.address !== '') this.leader = { id: h.id, address: normalizeEndpoint(h.address) };
      }
      if (this.auth && !reauthenticated && this.auth.expired(err)) {
        // The token ended (TTL, or the user's roles changed): authenticate again, retry once.
        reauthenticated = true;
        ep.resetSession();
        continue;
      }
      const timedOut = err.code === grpc.status.DEADLINE_EXCEEDED;
      const retryable = options.mutation
        ? isRefused(err.code, message) || isNotConnectedTimeout(err.code, message) || isLearnerRefusal(err.code, message)
        : err.code === grpc.status.UNAVAILABLE ||
        err.code === grpc.status.CANCELLED ||
        (timedOut && Date.now() < deadlineAt) ||
        (err.code === grpc.status.INTERNAL && /RST_STREAM|Connection dropped|session/i.test(message));
      if (timedOut && !retryable) {
        failures.push(failure);
        throw this.exhausted(method, deadlineMs, failures, tried, hint);
      }
      if (!retryable) {
        throw errorFromStatus(err.code, message, { endpoint: next, attempts: [...failures, failure], leaderHint: hint });
      }
      failures.push(failure);
      ep.failedAt = Date.now();
      if (this.leader && this.leader.address === next && (!h || normalizeEndpoint(h.address) === next)) {
        // The leader we knew is gone or no longer leads.
        this.leader = undefined;
      }
      if (pinned !== undefined) throw this.exhausted(method, deadlineMs, failures, tried, hint);
      this.scheduleRefresh();

      // Where next: a fresh leader hint first, then members not yet tried in this round.
      const order = this.order(kind);
      const hinted = h && h.address !== '' ? normalizeEndpoint(h.address) : undefined;
      // Moving on to a member not yet tried in this round happens at once; once every member
      // has failed, the next round starts after an exponential back-off with jitter.
      let candidate = hinted !== undefined && !round.has(hinted) ? hinted : order.find((a) => !round.has(a));
      let delayMs = 0;
      if (candidate === undefined) {
        round = new Set();
        candidate = order.find((a) => a !== next) ?? next;
        delayMs = backoffDelay(rounds, this.backoff, this.random);
        rounds++;
      }
      retry++;
      if (this.everyEndpointRefused(failures, pinned)) {
        if (Date.now() >= refusedGiveUpAt) throw this.exhausted(method, deadlineMs, failures, tried, hint);
        delayMs = Math.min(delayMs, refusedGiveUpAt - Date.now());
      }
      if (Date.now() + delayMs >= deadlineAt) throw this.exhausted(method, deadlineMs, failures, tried, hint);
      this.onRetry?.({ method, retry, failure, nextEndpoint: candidate, delayMs, leaderHint: hint });
      await this.sleep(delayMs, signal);
      next = candidate;
    }
  }

  /** True when every endpoint this call may use has been tried and every attempt was refused. */
  private everyEndpointRefused(failures: readonly AttemptFailure[], pinned: string | undefined): boolean {
    if (failures.length === 0 || !failures.every((f) => isRefused(f.code, f.message))) return false;
    const failed = new Set(failures.map((f) => f.endpoint));
    return (pinned !== undefined ? [pinned] : this.endpoints).every((e) => failed.has(e));
  }

  private ensureOpen(): void {
    if (this.closed) throw new ClientClosedError();
  }

  private checkAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted) {
      const reason: unknown = signal.reason;
      const text = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
      throw new PlacementClientError(grpc.status.CANCELLED, `call aborted: ${text}`, { cause: reason });
    }
  }

  /** order(kind)[0] without building the whole list: the common case on every call. */
  private first(kind: Kind): string {
    const now = Date.now();
    if (kind === 'write' && this.leader && this.leader.address !== '' && !this.suspect(this.leader.address, now)) return this.leader.address;
    if (this.preferred !== undefined && !this.suspect(this.preferred, now)) return this.preferred;
    return this.order(kind)[0]!;
  }

  /** An endpoint that failed within SUSPECT_MS is tried after the others. */
  private suspect(address: string, now: number): boolean {
    return now - (this.channels.get(address)?.failedAt ?? 0) < SUSPECT_MS;
  }

  /** Endpoints in the order a call tries them. */
  private order(kind: Kind): string[] {
    const now = Date.now();
    const all = this.endpoints;
    const head: string[] = [];
    if (kind === 'write' && this.leader && this.leader.address !== '') head.push(this.leader.address);
    if (this.preferred !== undefined) head.push(this.preferred);
    const list = [...new Set([...head, ...all])];
    const healthy = list.filter((a) => !this.suspect(a, now));
    const suspect = list.filter((a) => this.suspect(a, now));
    suspect.sort((a, b) => (this.channels.get(a)?.failedAt ?? 0) - (this.channels.get(b)?.failedAt ?? 0));
    return [...healthy, ...suspect];
  }

  private endpoint(address: string): Endpoint {
    let ep = this.channels.get(address);
    if (!ep) {
      ep = new Endpoint(address, this.credentials, this.channelOptions, this.useSession, this.auth);
      this.channels.set(address, ep);
    }
    return ep;
  }

  private attempt<Res>(ep: Endpoint, call: Invoker<Res>, timeoutMs: number, signal: AbortSignal | undefined): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      let handle: Cancellable | undefined;
      const onAbort = (): void => handle?.cancel();
      handle = call(ep, this.auth ? this.auth.metadata() : new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (handle) this.active.delete(handle);
        signal?.removeEventListener('abort', onAbort);
        if (this.closed) reject(new ClientClosedError('the Placement Center client was closed during the call'));
        else if (err) reject(err);
        else resolve(res);
      });
      this.active.add(handle);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Back-off sleep. Ref'd on purpose (a call is in flight); close() and aborts cut it short. */
  private sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.sleepers.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.sleepers.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private exhausted(
    method: string,
    deadlineMs: number,
    failures: readonly AttemptFailure[],
    tried: readonly string[],
    hint: LeaderHint | undefined,
  ): PlacementClientError {
    const last = failures[failures.length - 1];
    const common = { attempts: failures, leaderHint: hint ?? this.leader, triedEndpoints: tried, endpoint: last?.endpoint };
    if (!last) {
      return new DeadlineExceededError(`${method}: deadline of ${deadlineMs} ms exceeded before any attempt`, {
        ...common,
        deadlineMs,
      });
    }
    // The last reason seen per endpoint, in the order endpoints were first tried.
    const reasons = new Map<string, { reason: string; transport: boolean }>();
    for (const f of failures) {
      reasons.set(f.endpoint, {
        reason: describeFailure(f.code, f.message),
        transport: isConnectionFailure({ code: f.code, details: f.message } as grpc.ServiceError),
      });
    }
    const leaderPart = hint && hint.address !== '' ? ` (last leader hint: ${hint.id || '?'} at ${hint.address})` : '';
    // A request that was sent and got no answer: its outcome is unknown.
    const unanswered = failures.some((f) => f.code === grpc.status.DEADLINE_EXCEEDED && !isNotConnectedTimeout(f.code, f.message));
    if (unanswered) {
      const detail = [...reasons].map(([ep, r]) => `${ep}: ${r.reason}`).join('; ');
      return new DeadlineExceededError(
        `${method}: no answer within the ${deadlineMs} ms deadline after ${failures.length} attempt(s): ${detail}${leaderPart}`,
        { ...common, deadlineMs, serverMessage: last.message },
      );
    }
    const all = [...reasons.values()];
    const uniq = [...new Set(all.map((r) => r.reason))];
    if (all.every((r) => r.transport)) {
      return new UnavailableError(`cannot reach any of ${[...reasons.keys()].join(', ')}: ${uniq.join('; ')}${leaderPart}`, {
        ...common,
        serverMessage: last.message,
      });
    }
    const detail =
      uniq.length === 1
        ? `${[...reasons.keys()].join(', ')}: ${uniq[0]}`
        : [...reasons].map(([ep, r]) => `${ep}: ${r.reason}`).join('; ');
    return new UnavailableError(`cluster unavailable (tried ${detail})${leaderPart}`, {
      ...common,
      serverMessage: last.message,
    });
  }

  /** Refreshes the member list in the background (coalesced; failures ignored). */
  private scheduleRefresh(): void {
    if (!this.discover || this.closed || this.refreshing) return;
    this.refreshing = this.cluster
      .members({ deadlineMs: Math.min(this.defaultDeadlineMs, 3000) })
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => {
        this.refreshing = undefined;
      });
  }
}

/** Key-value operations (`client.kv`). */
export class KvApi {
  /** @internal */
  constructor(private readonly c: PlacementClient) {}

  /** Writes `value` under `key`. Retries reuse the write's sequence number: applied once. */
  async set(key: string, value: ValueInput, options: SetOptions = {}): Promise<SetResult> {
    const req = {
      key: checkKey(key),
      value: toBuffer(value),
      clientId: this.c.clientId,
      seq: this.c.takeSeq(),
      lease: options.lease ?? 0,
      prevKv: options.prevKv ?? false,
    };
    const r = await this.c.invoke<SetReply>('KvService/Set', 'write', (s, md, o, cb) => s.kvCall('set', req, md, o, cb), options);
    const header = toHeader(r.header);
    return { header, revision: header.revision, prevKv: r.prevKv ? toKeyValue(r.prevKv) : undefined };
  }

  /** Alias of `set`. */
  put(key: string, value: ValueInput, options: SetOptions = {}): Promise<SetResult> {
    return this.set(key, value, options);
  }

  /** The key with its metadata, or `undefined` when it does not exist. */
  async get(key: string, options: ReadOptions = {}): Promise<KeyValue | undefined> {
    if (options.revision !== undefined && options.revision !== 0) {
      const r = await this.c.etcd.range(checkKey(key), { revision: options.revision, serializable: options.serializable, deadlineMs: options.deadlineMs, signal: options.signal });
      const kv = r.kvs[0];
      if (!kv) return undefined;
      return { key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease };
    }
    // kvMetadataOnly: the value comes once, in r.value; kv brings the revisions.
    const req = { key: checkKey(key), serializable: options.serializable ?? false, kvMetadataOnly: true };
    const r = await this.c.invoke<GetReply>('KvService/Get', 'read', (s, md, o, cb) => s.kvCall('get', req, md, o, cb), options);
    if (!r.found) return undefined;
    if (r.kv) return toKeyValue({ ...r.kv, key: r.kv.key === '' ? key : r.kv.key, value: r.kv.value.length > 0 ? r.kv.value : r.value });
    return { key, value: r.value, createRevision: 0, modRevision: 0, version: 0, lease: 0 };
  }

  /** Like `get`, but a missing key throws NotFoundError. */
  async getOrThrow(key: string, options: ReadOptions = {}): Promise<KeyValue> {
    const kv = await this.get(key, options);
    if (!kv) throw new NotFoundError(`key "${key}" not found`);
    return kv;
  }

  /** The value as UTF-8 text, or `undefined` when the key does not exist. */
  async getString(key: string, options: ReadOptions = {}): Promise<string | undefined> {
    return (await this.get(key, options))?.value.toString('utf8');
  }

  async exists(key: string, options: ReadOptions = {}): Promise<boolean> {
    const req = { key: checkKey(key), serializable: options.serializable ?? false };
    const r = await this.c.invoke<ExistsReply>('KvService/Exists', 'read', (s, md, o, cb) => s.kvCall('exists', req, md, o, cb), options);
    return r.exists;
  }

  /** Deletes `key`; `deleted` is false when it did not exist. */
  async delete(key: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const req = { key: checkKey(key), clientId: this.c.clientId, seq: this.c.takeSeq(), prevKv: options.prevKv ?? false };
    const r = await this.c.invoke<DeleteReply>('KvService/Delete', 'write', (s, md, o, cb) => s.kvCall('delete', req, md, o, cb), options);
    const header = toHeader(r.header);
    return { header, deleted: r.deleted, revision: header.revision, prevKv: r.prevKv ? toKeyValue(r.prevKv) : undefined };
  }

  /** One page of the keys starting with `prefix`, in key order. */
  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    const limit = options.limit ?? 0;
    if (!Number.isInteger(limit) || limit < 0 || limit > 0xffffffff) {
      throw new InvalidArgumentError(`limit must be a non-negative integer, got ${limit}`);
    }
    const req = {
      prefix: checkKey(prefix, 'prefix'),
      limit,
      startAfter: options.startAfter ?? '',
      serializable: options.serializable ?? false,
      keysOnly: options.keysOnly ?? false,
    };
    const r = await this.c.invoke<ListReply>('KvService/List', 'read', (s, md, o, cb) => s.kvCall('list', req, md, o, cb), options);
    return { header: toHeader(r.header), kvs: r.kvs.map(toKeyValue), more: r.more, nextKey: r.nextKey };
  }

  /** Every key starting with `prefix` (paging as needed), up to `limit` keys. */
  async *listAll(prefix: string, options: ListAllOptions = {}): AsyncGenerator<KeyValue, void, undefined> {
    const max = options.limit ?? Infinity;
    let startAfter = '';
    let count = 0;
    let serverDefaultPages = false;
    while (count < max) {
      const want = options.pageSize ?? 0;
      const left = max - count;
      // Ask for no more than needed, but never for more than a typical server maximum
      // (--max-list-limit, 1000 by default): 0 asks for the server's default page instead.
      let limit = Number.isFinite(left) ? (want > 0 ? Math.min(want, left) : left) : want;
      if (limit > LIST_PAGE_MAX || serverDefaultPages) limit = 0;
      let page: ListResult;
      try {
        page = await this.list(prefix, { ...options, limit, startAfter });
      } catch (e) {
        // A server configured with a smaller maximum page: fall back to its default page.
        if (!(e instanceof InvalidArgumentError) || limit === 0 || !/limit/i.test(e.message)) throw e;
        serverDefaultPages = true;
        continue;
      }
      for (const kv of page.kvs) {
        if (count >= max) return;
        count++;
        yield kv;
      }
      if (!page.more || page.kvs.length === 0) return;
      startAfter = page.nextKey !== '' ? page.nextKey : page.kvs[page.kvs.length - 1]!.key;
    }
  }

  /**
   * Atomically writes `value` if the expectation holds. A retry after a lost reply returns the
   * original outcome (the server de-duplicates by client id and sequence number).
   */
  async compareAndSwap(key: string, expect: CasExpectation, value: ValueInput, options: CasOptions = {}): Promise<CasResult> {
    let e: CompareAndSwapRequest['expect'];
    if ('modRevision' in expect) e = { $case: 'expectedModRevision', value: expect.modRevision };
    else if ('value' in expect) e = { $case: 'expectedValue', value: toBuffer(expect.value) };
    else if ('absent' in expect && expect.absent === true) e = { $case: 'expectAbsent', value: true };
    else throw new InvalidArgumentError('compareAndSwap needs exactly one of modRevision, value or absent');
    const req: CompareAndSwapRequest = {
      key: checkKey(key),
      expect: e,
      value: toBuffer(value),
      clientId: this.c.clientId,
      seq: this.c.takeSeq(),
      lease: options.lease ?? 0,
    };
    const r = await this.c.invoke<CompareAndSwapReply>(
      'KvService/CompareAndSwap',
      'write',
      (s, md, o, cb) => s.kvCall('compareAndSwap', req, md, o, cb),
      options,
    );
    const header = toHeader(r.header);
    return { header, succeeded: r.succeeded, revision: header.revision, prevKv: r.prevKv ? toKeyValue(r.prevKv) : undefined };
  }
}

/** Cluster introspection (`client.cluster`). */
export class ClusterApi {
  /** @internal */
  constructor(private readonly c: PlacementClient) {}

  /** The answering node's view of the cluster (with `endpoint`: that node's, one attempt). */
  async status(options: StatusOptions = {}): Promise<ClusterStatus> {
    const r = await this.c.invoke<StatusReply>(
      'ClusterService/Status',
      'read',
      (s, md, o, cb) => s.cluster.status({}, md, o, cb),
      options,
    );
    const st = toStatus(r);
    if (st.members.length > 0) this.c.noteMembers(st.leaderId, st.members, st.leaderAddress);
    return st;
  }

  /** The members with their addresses and the current leader; also refreshes the client's list. */
  async members(options: StatusOptions = {}): Promise<MembersResult> {
    const r = await this.c.invoke<MembersReply>(
      'ClusterService/Members',
      'read',
      (s, md, o, cb) => s.cluster.members({}, md, o, cb),
      options,
    );
    const members = r.members.map(toMember);
    this.c.noteMembers(r.leaderId, members);
    return { clusterId: r.clusterId, leaderId: r.leaderId, members };
  }

  /**
   * Adds a member at `address` (its gRPC host:port), as a learner with `isLearner`; resolves with
   * its id (assigned by the leader unless `id` is given). Start it with `--id <id> --join`.
   * Not retried after an ambiguous failure: a second add of the same address is refused.
   */
  memberAdd(address: string, opts: { isLearner?: boolean; id?: number } & CallOptions = {}): Promise<MembershipChangeResult> {
    const req = { address, isLearner: opts.isLearner ?? false, id: opts.id ?? 0 };
    return this.change('ClusterService/MemberAdd', (s, md, o, cb) => s.cluster.memberAdd(req, md, o, cb), opts);
  }

  /** Removes member `id` (the leader too); the removed member shuts down. */
  memberRemove(id: number, options: CallOptions = {}): Promise<MembershipChangeResult> {
    return this.change('ClusterService/MemberRemove', (s, md, o, cb) => s.cluster.memberRemove({ id }, md, o, cb), options);
  }

  /** Promotes learner `id` to voter; refused (FAILED_PRECONDITION) until it has caught up. */
  memberPromote(id: number, options: CallOptions = {}): Promise<MembershipChangeResult> {
    return this.change('ClusterService/MemberPromote', (s, md, o, cb) => s.cluster.memberPromote({ id }, md, o, cb), options);
  }

  /** Moves member `id` to a new gRPC address (etcd's member update); restart the member listening there. */
  memberUpdate(id: number, address: string, options: CallOptions = {}): Promise<MembershipChangeResult> {
    return this.change('ClusterService/MemberUpdate', (s, md, o, cb) => s.cluster.memberUpdate({ id, address }, md, o, cb), options);
  }

  /** Hands leadership to voter `targetId`; resolves once it leads. */
  moveLeader(targetId: number, options: CallOptions = {}): Promise<MembershipChangeResult> {
    return this.change('ClusterService/MoveLeader', (s, md, o, cb) => s.cluster.moveLeader({ targetId }, md, o, cb), options);
  }

  private async change(method: string, call: Invoker<MembershipChangeReply>, options: CallOptions): Promise<MembershipChangeResult> {
    const r = await this.c.invoke<MembershipChangeReply>(method, 'write', call, options);
    const members = r.members.map(toMember);
    this.c.noteMembers(r.leaderId, members);
    return { clusterId: r.clusterId, leaderId: r.leaderId, memberId: r.memberId, members };
  }
}
