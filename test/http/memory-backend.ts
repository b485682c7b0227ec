// An in-memory AdminBackend for route tests: a single-process, map-based state machine that
// applies the same Command objects the real node replicates. It is NOT Raft and has no
// durability; it exists so the HTTP layer can be tested without a cluster. "No leader" is
// simulated with `setLeader(0)`: proposals and linearizable reads then fail with UNAVAILABLE,
// serializable reads still answer, as on a real node.
import { createHash } from 'node:crypto';
import type {
  AdminBackend,
  ClusterStatus,
  HealthCheck,
  ListOptions,
  ListPage,
  MemberInfo,
  ReadOptions,
} from '../../src/http/backend.js';
import { PlacementError } from '../../src/errors.js';
import { answerResult } from '../../src/results.js';
import {
  ResultCode,
  type Command,
  type CommandResult,
  type ConfigEntry,
  type Lease,
  type User,
} from '../../proto/gen/placement/v1/command.js';
import type { KeyValue } from '../../proto/gen/placement/v1/kv.js';

function result(partial: Partial<CommandResult> & { revision: number }): CommandResult {
  return { code: ResultCode.RESULT_OK, message: '', prevKv: undefined, succeeded: true, lease: undefined, leases: [], response: undefined, ...partial };
}

export class MemoryBackend implements AdminBackend {
  readonly kv = new Map<string, KeyValue>();
  readonly users = new Map<string, User>();
  readonly config = new Map<string, ConfigEntry>();
  readonly leases = new Map<number, Lease>();
  /** Every command proposed, in order (what the node would replicate). */
  readonly proposed: Command[] = [];
  revision = 0;
  compactRevision = -1;
  index = 0;
  term = 3;
  leaderId = 1;
  livenessChecks: HealthCheck[] = [{ name: 'event_loop', ok: true }];
  storageWritable = true;
  /** Reads seen, with their options: tests check linearizable is the default. */
  readonly reads: Array<{ op: string; serializable: boolean }> = [];

  /** `id`: this node's id among members 1..3 (the leader is 1 unless setLeader says otherwise). */
  constructor(readonly id = 1) {}

  setLeader(id: number): void {
    this.leaderId = id;
  }

  private requireLeader(): void {
    if (this.leaderId === 0) throw new PlacementError('UNAVAILABLE', 'no leader: the cluster has no quorum');
  }

  private read(op: string, opts?: ReadOptions): void {
    const serializable = opts?.serializable ?? false;
    this.reads.push({ op, serializable });
    if (!serializable) this.requireLeader();
  }

  private members_(): MemberInfo[] {
    return [1, 2, 3].map((id) => ({
      id,
      address: `127.0.0.1:${1218 + id * 10}`,
      httpAddress: `127.0.0.1:${1217 + id * 10}`,
      role: 'voter' as const,
      isLeader: id === this.leaderId,
      matchIndex: this.leaderId === this.id ? this.index : null,
      lag: this.leaderId === this.id ? 0 : null,
    }));
  }

  async status(): Promise<ClusterStatus> {
    return {
      clusterId: 'memory',
      id: this.id,
      leaderId: this.leaderId,
      term: this.term,
      role: this.leaderId === this.id ? 'leader' : 'follower',
      commitIndex: this.index,
      appliedIndex: this.index,
      lastIndex: this.index,
      snapshotIndex: 0,
      revision: this.revision,
      members: this.members_(),
    };
  }

  async members(): Promise<MemberInfo[]> {
    this.requireLeader();
    return this.members_();
  }

  async propose(command: Command): Promise<CommandResult> {
    this.requireLeader();
    this.proposed.push(command);
    this.index++;
    return this.apply(command);
  }

  /** The state machine: applies one command, deterministically. */
  private apply(c: Command): CommandResult {
    const op = c.op;
    if (!op) return result({ code: ResultCode.RESULT_INVALID, message: 'empty command', revision: this.revision });
    switch (op.$case) {
      case 'put': {
        const { key, value, lease } = op.value;
        const prev = this.kv.get(key);
        this.revision++;
        this.kv.set(key, {
          key,
          value: Buffer.from(value),
          createRevision: prev?.createRevision ?? this.revision,
          modRevision: this.revision,
          version: (prev?.version ?? 0) + 1,
          lease,
        });
        return result({ revision: this.revision, prevKv: prev });
      }
      case 'cas': {
        const { key, expect, value, lease } = op.value;
        const prev = this.kv.get(key);
        const holds =
          expect?.$case === 'expectedModRevision' &&
          (expect.value === 0 ? prev === undefined : prev !== undefined && prev.modRevision === expect.value);
        if (!holds) return result({ code: ResultCode.RESULT_COMPARE_FAILED, message: 'compare failed', revision: this.revision, prevKv: prev, succeeded: false });
        return this.apply({ ...c, op: { $case: 'put', value: { key, value, lease, prevKv: true } } });
      }
      case 'delete': {
        const prev = this.kv.get(op.value.key);
        if (!prev) return result({ revision: this.revision, succeeded: false });
        this.kv.delete(op.value.key);
        this.revision++;
        return result({ revision: this.revision, prevKv: prev });
      }
      case 'userPut': {
        const { user, createOnly, updateOnly } = op.value;
        if (!user) return result({ code: ResultCode.RESULT_INVALID, message: 'user missing', revision: this.revision });
        const exists = this.users.has(user.name);
        if (createOnly && exists) {
          return result({ code: ResultCode.RESULT_ALREADY_EXISTS, message: `user ${user.name} already exists`, revision: this.revision });
        }
        if (updateOnly && !exists) {
          return result({ code: ResultCode.RESULT_NOT_FOUND, message: `user ${user.name} not found`, revision: this.revision });
        }
        this.revision++;
        this.users.set(user.name, { ...user, permissions: user.permissions.map((p) => ({ ...p })) });
        return result({ revision: this.revision });
      }
      case 'userDelete': {
        if (!this.users.delete(op.value.name)) {
          return result({ code: ResultCode.RESULT_NOT_FOUND, message: `user ${op.value.name} not found`, revision: this.revision });
        }
        this.revision++;
        return result({ revision: this.revision });
      }
      case 'configSet': {
        this.revision++;
        this.config.set(op.value.name, {
          name: op.value.name,
          value: Buffer.from(op.value.value),
          modRevision: this.revision,
          updatedAtMs: c.leaderTimeMs,
        });
        return result({ revision: this.revision });
      }
      case 'configDelete': {
        if (!this.config.delete(op.value.name)) {
          return result({ code: ResultCode.RESULT_NOT_FOUND, message: `config entry ${op.value.name} not found`, revision: this.revision });
        }
        this.revision++;
        return result({ revision: this.revision });
      }
      case 'leaseRevoke': {
        if (!this.leases.delete(op.value.id)) {
          return result({ code: ResultCode.RESULT_NOT_FOUND, message: `lease ${op.value.id} not found`, revision: this.revision });
        }
        const attached = [...this.kv.values()].filter((kv) => kv.lease === op.value.id);
        if (attached.length > 0) this.revision++;
        for (const kv of attached) this.kv.delete(kv.key);
        return result({ revision: this.revision });
      }
      case 'leaseGrant': {
        this.leases.set(op.value.id, { id: op.value.id, ttlMs: op.value.ttlMs, expiresAtMs: c.leaderTimeMs + op.value.ttlMs, keys: 0 });
        return result({ revision: this.revision });
      }
      default:
        return result({ code: ResultCode.RESULT_INVALID, message: `unsupported op ${op.$case}`, revision: this.revision });
    }
  }

  async get(key: string, opts?: ReadOptions): Promise<KeyValue | null> {
    this.read('get', opts);
    return this.kv.get(key) ?? null;
  }

  async list(opts: ListOptions, read?: ReadOptions): Promise<ListPage> {
    this.read('list', read);
    // Byte order of the UTF-8 keys, as LevelDB sorts them (JavaScript's < compares UTF-16 units).
    const after = Buffer.from(opts.startAfter);
    const keys = [...this.kv.keys()]
      .filter((k) => k.startsWith(opts.prefix) && Buffer.compare(Buffer.from(k), after) > 0)
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const page = keys.slice(0, opts.limit);
    const kvs = page.map((k) => {
      const kv = this.kv.get(k)!;
      return opts.keysOnly ? { ...kv, value: Buffer.alloc(0) } : kv;
    });
    const more = keys.length > page.length;
    return { kvs, more, nextKey: more ? page[page.length - 1]! : '' };
  }

  async getUser(name: string, opts?: ReadOptions): Promise<User | null> {
    this.read('getUser', opts);
    return this.users.get(name) ?? null;
  }

  async listUsers(opts?: ReadOptions): Promise<User[]> {
    this.read('listUsers', opts);
    return [...this.users.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async getConfig(name: string, opts?: ReadOptions): Promise<ConfigEntry | null> {
    this.read('getConfig', opts);
    return this.config.get(name) ?? null;
  }

  async listConfig(opts?: ReadOptions): Promise<ConfigEntry[]> {
    this.read('listConfig', opts);
    return [...this.config.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  async revokeLease(id: number): Promise<CommandResult> {
    return answerResult(await this.propose({ clientId: '', seq: 0, leaderTimeMs: 0, op: { $case: 'leaseRevoke', value: { id } } }), { what: `lease ${id}` });
  }

  async listLeases(opts?: ReadOptions): Promise<Lease[]> {
    this.read('listLeases', opts);
    return [...this.leases.values()];
  }

  /** Compactions asked for, with their physical flag. */
  readonly compactions: Array<{ revision: number; physical: boolean }> = [];

  async compact(revision: number, physical: boolean): Promise<{ revision: number; compactRevision: number }> {
    this.requireLeader();
    if (revision <= this.compactRevision) throw new PlacementError('OUT_OF_RANGE', 'etcdserver: mvcc: required revision has been compacted');
    if (revision > this.revision) throw new PlacementError('OUT_OF_RANGE', 'etcdserver: mvcc: required revision is a future revision');
    this.compactRevision = revision;
    this.compactions.push({ revision, physical });
    return { revision: this.revision, compactRevision: revision };
  }

  async stateHash(): Promise<{ appliedIndex: number; revision: number; hash: string }> {
    const h = createHash('sha256');
    for (const k of [...this.kv.keys()].sort()) h.update(k).update('\0').update(this.kv.get(k)!.value);
    return { appliedIndex: this.index, revision: this.revision, hash: h.digest('hex') };
  }

  async livez(): Promise<HealthCheck[]> {
    return this.livenessChecks;
  }

  async readyz(): Promise<HealthCheck[]> {
    return [
      { name: 'has_leader', ok: this.leaderId !== 0, ...(this.leaderId === 0 ? { detail: 'no leader known' } : {}) },
      { name: 'applied_committed', ok: true },
      { name: 'storage_writable', ok: this.storageWritable },
    ];
  }
}
