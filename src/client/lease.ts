// Leases (`client.lease`) and sessions (`client.session()`), over the members' etcd Lease API.
//
// TTLs are milliseconds here and whole seconds on the wire (rounded up); the cluster raises a TTL
// below its minimum (1.5 × its longest election timeout) and refuses one above --max-lease-ttl-ms.
// A keep-alive resolves only once the renewal is committed (src/lease/README.md): an answer means
// the cluster holds the lease until at least then + TTL.
//
// A grant is not de-duplicated by the server: a grant retried after a lost answer may create a
// second lease, which nobody keeps alive and which therefore expires after its TTL.
import { EventEmitter } from 'node:events';
import type {
  LeaseGrantResponse,
  LeaseKeepAliveResponse,
  LeaseLeasesResponse,
  LeaseRevokeResponse,
  LeaseTimeToLiveResponse,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { PlacementClient } from './client.js';
import { ClientClosedError, FailedPreconditionError, InvalidArgumentError, NotFoundError, PlacementClientError } from './errors.js';
import type { CallOptions, SetOptions, SetResult, ValueInput } from './types.js';

export interface LeaseGrantOptions extends CallOptions {
  /** Ask for this id (1 … 2^53-1); 0 / absent: the cluster chooses. */
  id?: number;
}

export interface GrantedLease {
  readonly id: number;
  /** The TTL granted (the request raised to the cluster's minimum, whole seconds). */
  readonly ttlMs: number;
}

export interface LeaseTimeToLive {
  readonly id: number;
  /** Time left, whole seconds rounded down, in milliseconds. */
  readonly remainingMs: number;
  readonly grantedTtlMs: number;
  /** Attached keys (only when asked for with `keys: true`). */
  readonly keys: string[];
}

export interface TimeToLiveOptions extends CallOptions {
  keys?: boolean;
  /** Ask this member only (one attempt, no fail-over): its own view of the lease. */
  endpoint?: string;
}

function checkTtl(ttlMs: number): number {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new InvalidArgumentError(`ttlMs must be a positive number of milliseconds, got ${ttlMs}`);
  return Math.ceil(ttlMs / 1000);
}

function checkId(id: number): number {
  if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`lease id must be an integer in 1..2^53-1, got ${id}`);
  return id;
}

/** `client.lease`. */
export class LeaseApi {
  /** @internal */
  constructor(private readonly c: PlacementClient) {}

  async grant(ttlMs: number, options: LeaseGrantOptions = {}): Promise<GrantedLease> {
    const req = { TTL: checkTtl(ttlMs), ID: options.id === undefined || options.id === 0 ? 0 : checkId(options.id) };
    const r = await this.c.invoke<LeaseGrantResponse>('Lease/LeaseGrant', 'write', (s, md, o, cb) => s.lease.leaseGrant(req, md, o, cb), options);
    return { id: r.ID, ttlMs: r.TTL * 1000 };
  }

  /** Ends the lease and deletes every key attached to it (one revision). NotFoundError when it does not exist. */
  async revoke(id: number, options: CallOptions = {}): Promise<{ revision: number }> {
    const req = { ID: checkId(id) };
    const r = await this.c.invoke<LeaseRevokeResponse>('Lease/LeaseRevoke', 'write', (s, md, o, cb) => s.lease.leaseRevoke(req, md, o, cb), options);
    return { revision: r.header?.revision ?? 0 };
  }

  /** One renewal, answered once committed; NotFoundError when the lease does not exist (any more). */
  async keepAlive(id: number, options: CallOptions = {}): Promise<GrantedLease> {
    checkId(id);
    const r = await this.c.invoke<LeaseKeepAliveResponse>(
      'Lease/LeaseKeepAlive',
      'write',
      (s, _md, o, cb) => s.keepAliveStream.keepAlive(id, Math.max(1, o.deadline - Date.now()), (err, rep) => cb(err, rep!)),
      options,
    );
    if (r.TTL <= 0) throw new NotFoundError(`lease ${id} not found (expired or revoked)`, { serverMessage: 'etcdserver: requested lease not found' });
    return { id, ttlMs: r.TTL * 1000 };
  }

  /** The lease's time left, or undefined when it does not exist. */
  async timeToLive(id: number, options: TimeToLiveOptions = {}): Promise<LeaseTimeToLive | undefined> {
    const req = { ID: checkId(id), keys: options.keys ?? false };
    const r = await this.c.invoke<LeaseTimeToLiveResponse>('Lease/LeaseTimeToLive', 'read', (s, md, o, cb) => s.lease.leaseTimeToLive(req, md, o, cb), options);
    if (r.TTL < 0) return undefined;
    return { id: r.ID, remainingMs: r.TTL * 1000, grantedTtlMs: r.grantedTTL * 1000, keys: r.keys.map((k) => Buffer.from(k).toString('utf8')) };
  }

  /** Every lease id the cluster holds. */
  async list(options: CallOptions = {}): Promise<number[]> {
    const r = await this.c.invoke<LeaseLeasesResponse>('Lease/LeaseLeases', 'read', (s, md, o, cb) => s.lease.leaseLeases({}, md, o, cb), options);
    return r.leases.map((l) => l.ID);
  }
}

// ---- sessions -----------------------------------------------------------------------------

/**
 * - `connected`: the last keep-alive was acknowledged within a third of the TTL.
 * - `suspended`: keep-alives fail (no member answers); the lease may still be alive. Keep-alives
 *   go on, on every member the client knows, until one is acknowledged (back to `connected`) or
 *   the lease is surely gone.
 * - `expired`: the cluster answered that the lease does not exist, or the time since the last
 *   acknowledged keep-alive passed TTL + `expiryMarginMs` (by then the cluster has deleted the
 *   lease and its keys: src/lease/README.md states the bound). Final.
 * - `closed`: close() was called (the lease was revoked if the cluster could be reached). Final.
 */
export type SessionState = 'connected' | 'suspended' | 'expired' | 'closed';

export interface SessionOptions {
  /** The lease's TTL (raised by the cluster to its minimum). */
  ttlMs: number;
  /**
   * How long past TTL after its last acknowledged keep-alive a session that cannot reach the
   * cluster declares itself expired: at least the cluster's bound beyond the TTL (its longest
   * election timeout plus the expiry slack, 1.25 s with the default timing) plus the clocks'
   * skew. Default 2000.
   */
  expiryMarginMs?: number;
  /** Use this existing lease instead of granting one. */
  leaseId?: number;
}

/** How often a failed keep-alive is retried while suspended. */
const RETRY_MS = 200;

export class Session extends EventEmitter<{ state: [state: SessionState, previous: SessionState] }> {
  private state_: SessionState = 'connected';
  /** performance.now() of the last acknowledged keep-alive (or of the grant). */
  private lastAck: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly marginMs: number;
  private stopped = false;
  private readonly abort = new AbortController();

  private constructor(
    private readonly c: PlacementClient,
    readonly leaseId: number,
    readonly ttlMs: number,
    ackedAt: number,
    options: SessionOptions,
  ) {
    super();
    this.marginMs = options.expiryMarginMs ?? 2000;
    this.lastAck = ackedAt;
    this.schedule(this.ttlMs / 3);
  }

  /** @internal */
  static async open(c: PlacementClient, options: SessionOptions): Promise<Session> {
    if (options.expiryMarginMs !== undefined && !(options.expiryMarginMs >= 0)) throw new InvalidArgumentError(`expiryMarginMs must be >= 0, got ${options.expiryMarginMs}`);
    // The cluster stamps the grant (or renewal) before answering: timing from the answer is on
    // the safe side for `expired`.
    const l = options.leaseId !== undefined ? await c.lease.keepAlive(options.leaseId) : await c.lease.grant(options.ttlMs);
    return new Session(c, l.id, l.ttlMs, performance.now(), options);
  }

  get state(): SessionState {
    return this.state_;
  }

  /** performance.now() of the last acknowledged keep-alive (or of the grant). */
  get acknowledgedAt(): number {
    return this.lastAck;
  }

  /** Writes `key` attached to the session's lease: it is deleted when the session expires or closes. */
  put(key: string, value: ValueInput, options: SetOptions = {}): Promise<SetResult> {
    if (this.state_ === 'expired' || this.state_ === 'closed') {
      return Promise.reject(new FailedPreconditionError(`session ${this.state_}: lease ${this.leaseId} is gone`));
    }
    return this.c.kv.set(key, value, { ...options, lease: this.leaseId });
  }

  /** Resolves when the session is expired or closed. */
  ended(): Promise<SessionState> {
    if (this.state_ === 'expired' || this.state_ === 'closed') return Promise.resolve(this.state_);
    return new Promise((resolve) => {
      const on = (s: SessionState): void => {
        if (s !== 'expired' && s !== 'closed') return;
        this.off('state', on);
        resolve(s);
      };
      this.on('state', on);
    });
  }

  /** Stops keeping the lease alive and revokes it (its keys are deleted). Idempotent. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stop();
    const wasAlive = this.state_ !== 'expired';
    this.set('closed');
    if (!wasAlive || this.c.isClosed) return;
    try {
      await this.c.lease.revoke(this.leaseId);
    } catch (err) {
      // Gone already, or the cluster is unreachable: the lease then expires by itself.
      if (!(err instanceof PlacementClientError)) throw err;
    }
  }

  private stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort.abort();
  }

  private set(s: SessionState): void {
    if (s === this.state_) return;
    const prev = this.state_;
    this.state_ = s;
    this.emit('state', s, prev);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.beat(), Math.max(0, ms));
  }

  /** Past this (performance.now()), the cluster has surely deleted the lease. */
  private get goneAt(): number {
    return this.lastAck + this.ttlMs + this.marginMs;
  }

  private async beat(): Promise<void> {
    this.timer = undefined;
    if (this.stopped) return;
    const now = performance.now();
    if (now >= this.goneAt) return this.expire();
    // A keep-alive may take until the lease would be gone; suspended is reported once a third of
    // the TTL passed without an answer.
    const deadlineMs = Math.max(1, Math.min(this.goneAt - now, this.ttlMs / 3));
    try {
      await this.c.lease.keepAlive(this.leaseId, { deadlineMs, signal: this.abort.signal });
      if (this.stopped) return;
      this.lastAck = performance.now();
      this.set('connected');
      this.schedule(this.ttlMs / 3);
    } catch (err) {
      if (this.stopped) return;
      if (err instanceof NotFoundError) return this.expire();
      if (err instanceof ClientClosedError) {
        this.stop();
        this.set('closed');
        return;
      }
      this.set('suspended');
      const left = this.goneAt - performance.now();
      if (left <= 0) return this.expire();
      this.schedule(Math.min(RETRY_MS, left));
    }
  }

  private expire(): void {
    this.stop();
    this.set('expired');
  }
}
