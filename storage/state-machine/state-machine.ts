// The replicated state machine on classic-level (LevelDB).
//
// Every apply() writes its data AND the applied index/term and revision in ONE LevelDB batch, so
// after any crash the data and the applied index agree: nothing is applied twice or skipped.
// Nothing here reads a clock: time comes from Command.leaderTimeMs.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { AbstractSublevel } from 'abstract-level';
import type { ConfState } from '../../raft/types.js';
import {
  Command,
  CommandResult,
  ConfigEntry,
  Lease,
  ResultCode,
  User,
  type CompareAndSwapOp,
} from '../../proto/gen/placement/v1/command.js';
import { KeyValue } from '../../proto/gen/placement/v1/kv.js';
import { StorageError } from '../errors.js';
import { fsyncDir, mkdirDurable, writeFileAtomic } from '../util/fs.js';
import type { SnapshotInfo, SnapshotStore } from '../snapshot/store.js';
import { MAX_RECORD_BODY, readU64, writeU64 } from '../wal/record.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';

/** An entry handed to apply(): the fields of raft's Entry that matter here. */
export interface ApplyEntry {
  index: number;
  term: number;
  /** raft EntryType: 0 = Normal (a Command, or a no-op when data is empty), 1 = ConfChange (only advances the applied index). */
  type?: number;
  data: Uint8Array;
}

export interface StateMachineOptions {
  /** Results remembered per client for de-duplication (default 1024). */
  dedupWindow?: number;
}

export interface ListOptions {
  /** Only keys strictly greater than this one. */
  startAfter?: string;
  /** Maximum keys to return; 0 or undefined = no limit. */
  limit?: number;
  /** Return key metadata with empty values. */
  keysOnly?: boolean;
}

export interface ListResult {
  kvs: KeyValue[];
  /** More keys match; continue with startAfter = nextKey. */
  more: boolean;
  nextKey: string;
}

/** Anything that yields verified snapshot content (SnapshotReader from SnapshotStore.openReader). */
export interface SnapshotContentSource {
  readonly meta: { index: number; term: number; confState?: ConfState };
  content(): AsyncIterable<Uint8Array>;
}

type Ns = 'kv' | 'leases' | 'leasekeys' | 'nodes' | 'users' | 'config' | 'meta' | 'dedup';
const NAMESPACES: Ns[] = ['kv', 'leases', 'leasekeys', 'nodes', 'users', 'config', 'meta', 'dedup'];
/** abstract-level's sublevel key prefix for each namespace. */
const NS_PREFIX = Object.fromEntries(NAMESPACES.map((ns) => [ns, Buffer.from(`!${ns}!`)])) as Record<Ns, Buffer>;
const NS_PREFIX_TEXT = Object.fromEntries(NAMESPACES.map((ns) => [ns, `!${ns}!`])) as Record<Ns, string>;

/** The root-level LevelDB key of `key` in namespace `ns` (the sublevel layout `!ns!key`), in one allocation. */
function rawKey(ns: Ns, key: string): Buffer {
  return Buffer.from(NS_PREFIX_TEXT[ns] + key, 'utf8');
}
type Db = ClassicLevel<Buffer, Buffer>;
type Sub = AbstractSublevel<Db, string | Buffer | Uint8Array, string, Buffer>;

const CURRENT = 'CURRENT_DB';
/**
 * On-disk format of the replicated state (`!meta!format`, u64). Bump it on any change to how keys
 * or values are laid out or interpreted. 1 (no marker): one de-dup window blob per client under
 * `!dedup!<client>`; 2: one record per (client, seq) and an 8-byte floor under `!dedup!<client>`.
 * A database or snapshot in another format is refused: read with the wrong layout it would be
 * applied differently than on the other replicas (format 1 read as 2 turns every blob into a huge
 * floor and every later command into a silent "older than the de-duplication window" no-op).
 */
const FORMAT = 2;
const FORMAT_KEY = Buffer.from('!meta!format');
/** installSnapshot writes the loaded content in batches of at most ~this many bytes. */
const INSTALL_BATCH_BYTES = 8 * 1024 * 1024;
const ENTRY_CONF_CHANGE = 1;
const hex16 = (n: number): string => n.toString(16).padStart(16, '0');
/** Upper bound for utf8 keys starting with `prefix` (0xff never occurs in UTF-8). */
const prefixEnd = (prefix: string): Buffer => Buffer.concat([Buffer.from(prefix, 'utf8'), Buffer.from([0xff])]);

function result(code: ResultCode, revision: number, extra: Partial<CommandResult> = {}): CommandResult {
  return { code, message: '', revision, prevKv: undefined, succeeded: code === ResultCode.RESULT_OK, lease: undefined, ...extra };
}

/**
 * De-dup records live one per (client, seq) so a command touches only its own record and the one
 * leaving the window: a single per-client blob would be rewritten whole on every write.
 * Key `client` alone holds the floor: the highest seq whose result was forgotten.
 */
const dedupKey = (clientId: string, seq: number): string => `${clientId}\u0000${hex16(seq)}`;

/** Pending writes of one apply() batch; reads inside the batch see them first. */
class Tx {
  readonly overlay = new Map<Ns, Map<string, Buffer | null>>();
  /** Values read from the database before the batch started (prefetched with getMany). */
  readonly cache = new Map<Ns, Map<string, Buffer | undefined>>();
  constructor(
    private readonly sm: StateMachine,
    public revision: number,
    public applied: number,
    public appliedTerm: number,
  ) {}
  /**
   * Synchronous: the overlay, then the prefetched values, then LevelDB on this thread (getSync).
   * Executing a command therefore needs no promise unless it iterates (keysInRange,
   * keysWithPrefix), and a batch of plain puts runs without a microtask per command.
   */
  get(ns: Ns, key: string): Buffer | undefined {
    const o = this.overlay.get(ns);
    if (o?.has(key)) return o.get(key) ?? undefined;
    const c = this.cache.get(ns);
    if (c?.has(key)) return c.get(key);
    return this.sm.rawDb.getSync(rawKey(ns, key));
  }
  /**
   * Reads every key the batch will look at before it executes, so that execution never waits on
   * LevelDB. On the calling thread (getSync: memtable and block cache, the disk only on a miss):
   * a thread-pool round trip (getMany) cost ~0.1 ms idle and far more under load, per batch.
   */
  prefetch(wanted: Map<Ns, Set<string>>): void {
    const db = this.sm.rawDb;
    for (const [ns, keys] of wanted) {
      const c = new Map<string, Buffer | undefined>();
      for (const k of keys) c.set(k, db.getSync(rawKey(ns, k)));
      this.cache.set(ns, c);
    }
  }
  put(ns: Ns, key: string, value: Buffer): void {
    let o = this.overlay.get(ns);
    if (!o) this.overlay.set(ns, (o = new Map()));
    o.set(key, value);
  }
  del(ns: Ns, key: string): void {
    let o = this.overlay.get(ns);
    if (!o) this.overlay.set(ns, (o = new Map()));
    o.set(key, null);
  }
  /**
   * Keys k in `ns` with gt < k <= lte, as stored plus this batch's changes. Only for bounds that
   * share a prefix and differ in ASCII (UTF-16 and UTF-8 order agree there).
   */
  async keysInRange(ns: Ns, gt: string, lte: string): Promise<string[]> {
    const set = new Set<string>();
    for await (const k of this.sm.sub(ns).keys({ gt, lte })) set.add(k as string);
    for (const [k, v] of this.overlay.get(ns) ?? []) {
      if (k <= gt || k > lte) continue;
      if (v === null) set.delete(k);
      else set.add(k);
    }
    return [...set];
  }

  /** Keys in `ns` starting with `prefix`, as stored plus this batch's changes, sorted. */
  async keysWithPrefix(ns: Ns, prefix: string): Promise<string[]> {
    const set = new Set<string>();
    for await (const k of this.sm.sub(ns).keys({ keyEncoding: 'buffer', gte: Buffer.from(prefix, 'utf8'), lt: prefixEnd(prefix) })) {
      set.add((k as Buffer).toString('utf8'));
    }
    for (const [k, v] of this.overlay.get(ns) ?? []) {
      if (!k.startsWith(prefix)) continue;
      if (v === null) set.delete(k);
      else set.add(k);
    }
    return [...set].sort();
  }
}

/**
 * The replicated state machine. See storage/README.md for the on-disk layout.
 *
 * Namespaces (sublevels of one LevelDB): kv (key → KeyValue), leases (hex id → Lease),
 * leasekeys (hex id + "/" + key → ""), nodes (broker registry, reserved), users (name → User),
 * config (name → ConfigEntry), meta (applied index/term, revision, confState), dedup (client+seq → result, client → floor).
 *
 * Semantics:
 * - The cluster revision grows by exactly 1 for every command that changes state (put, delete of
 *   an existing key, successful CAS, lease grant/revoke/keep-alive, user put/delete, config
 *   set/delete). Failed or no-op commands leave it unchanged.
 * - De-duplication: a Command with a non-empty clientId is remembered by (clientId, seq) in a
 *   window of `dedupWindow` seqs below the client's newest. A repeat inside the window returns the
 *   stored result without applying. A seq at or below the window's floor is rejected with
 *   RESULT_INVALID and not applied: we can no longer tell whether it ran. Client records are kept
 *   until a future GC command removes them.
 * - Only one apply()/installSnapshot() runs at a time (they queue). Reads see the last completed batch.
 */
export class StateMachine {
  private db!: Db;
  private subs = new Map<Ns, Sub>();
  private dbName!: string;
  private _applied = 0;
  private _appliedTerm = 0;
  private _revision = 0;
  private _confState: ConfState | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly dedupWindow: number;

  private constructor(
    readonly dir: string,
    opts: StateMachineOptions,
  ) {
    this.dedupWindow = Math.max(1, opts.dedupWindow ?? 1024);
  }

  /** Open (or create) the state machine in `dir`; removes leftovers of an interrupted snapshot install. */
  static async open(dir: string, opts: StateMachineOptions = {}): Promise<StateMachine> {
    await mkdirDurable(dir);
    const sm = new StateMachine(dir, opts);
    let name: string;
    try {
      name = (await fsp.readFile(join(dir, CURRENT), 'utf8')).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      name = 'db-000001';
      // Without the pointer only a first open (crashed before writing it) is unambiguous: never
      // guess and delete a database that may hold the live state.
      const dbs = (await fsp.readdir(dir)).filter((n) => /^db-\d+$/.test(n));
      if (dbs.some((n) => n !== name)) {
        throw new StorageError('SM_INVALID', `${CURRENT} is missing in ${dir} but it holds ${dbs.sort().join(', ')}; refusing to guess which is live`);
      }
    }
    if (!/^db-\d{6,}$/.test(name)) throw new StorageError('SM_INVALID', `bad ${CURRENT} file in ${dir}: ${JSON.stringify(name)}`);
    for (const n of await fsp.readdir(dir)) {
      if (n !== name && /^db-\d+$/.test(n)) await fsp.rm(join(dir, n), { recursive: true, force: true });
      if (n.startsWith('.') && n.endsWith('.tmp')) await fsp.rm(join(dir, n), { force: true });
    }
    const db = await StateMachine.openDb(join(dir, name));
    try {
      await StateMachine.checkFormat(db, `state machine in ${join(dir, name)}`, 'SM_INVALID');
    } catch (e) {
      await db.close();
      throw e;
    }
    await sm.attach(name, db);
    await writeFileAtomic(join(dir, CURRENT), name);
    return sm;
  }

  /**
   * Refuses a database in another on-disk format (see FORMAT); stamps the current format on one
   * without a marker that holds nothing in the old layout (new, or written before the marker).
   */
  private static async checkFormat(db: Db, what: string, code: 'SM_INVALID' | 'SNAPSHOT_CORRUPT'): Promise<void> {
    const raw = await db.get(FORMAT_KEY);
    if (raw) {
      const v = readU64(raw, 0);
      if (v !== FORMAT) throw new StorageError(code, `${what} has on-disk format ${v}; this build reads format ${FORMAT} only`);
      return;
    }
    // No marker: format 1 kept a window blob (never exactly 8 bytes) under `!dedup!<client>`,
    // where format 2 keeps the 8-byte floor (per-seq records have a NUL in their key).
    const p = NS_PREFIX.dedup;
    for await (const [k, v] of db.iterator({ gte: p, lt: Buffer.concat([p.subarray(0, p.length - 1), Buffer.from([p[p.length - 1]! + 1])]) })) {
      if (k.indexOf(0, p.length) < 0 && v.length !== 8) {
        throw new StorageError(code, `${what} has on-disk format 1 (per-client de-dup blobs); this build reads format ${FORMAT} only`);
      }
    }
    const b = Buffer.alloc(8);
    writeU64(b, FORMAT, 0);
    await db.put(FORMAT_KEY, b, { sync: true } as never);
  }

  private static async openDb(path: string): Promise<Db> {
    const db = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer', writeBufferSize: 16 * 1024 * 1024 });
    await db.open();
    return db;
  }

  private async attach(name: string, db: Db): Promise<void> {
    this.db = db;
    this.dbName = name;
    this.subs = new Map();
    for (const ns of NAMESPACES) {
      const sub = db.sublevel<string, Buffer>(ns, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
      if (sub.prefix !== NS_PREFIX[ns].toString()) throw new Error(`unexpected sublevel prefix ${sub.prefix}`);
      this.subs.set(ns, sub);
    }
    const applied = await this.sub('meta').get('applied');
    this._applied = applied ? readU64(applied, 0) : 0;
    this._appliedTerm = applied ? readU64(applied, 8) : 0;
    const rev = await this.sub('meta').get('revision');
    this._revision = rev ? readU64(rev, 0) : 0;
    const cs = await this.sub('meta').get('confState');
    this._confState = cs ? (JSON.parse(cs.toString('utf8')) as ConfState) : undefined;
  }

  /** @internal The database under the sublevels (raw `!ns!key` keys). */
  get rawDb(): Db {
    return this.db;
  }

  /** @internal */
  sub(ns: Ns): Sub {
    return this.subs.get(ns)!;
  }

  /** Index of the last applied entry (durable together with the data it produced). */
  get appliedIndex(): number {
    return this._applied;
  }
  get appliedTerm(): number {
    return this._appliedTerm;
  }
  /** Cluster-wide revision of the applied state. */
  get revision(): number {
    return this._revision;
  }
  /** Membership last passed to apply() (or restored from a snapshot), if any. */
  get confState(): ConfState | undefined {
    return this._confState;
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /**
   * Apply committed entries, in order, in ONE atomic LevelDB batch together with the new applied
   * index/term, revision and (if given) the membership `confState` as of the last entry.
   * Returns one CommandResult per entry (no-op, ConfChange and already-applied entries get
   * RESULT_OK with the current revision). Entries at or below appliedIndex are skipped; a gap
   * (first new index > appliedIndex + 1) throws SM_INVALID.
   *
   * `onExecuted`, if given, receives the results as soon as they are computed, before the batch
   * is written: the entries are committed (durable in the Raft log), so their outcome is final
   * and a caller may answer them early. Reads of this state machine still see the previous
   * batch until the returned promise resolves.
   */
  apply(entries: readonly ApplyEntry[], opts: { confState?: ConfState; onExecuted?: (results: CommandResult[]) => void } = {}): Promise<CommandResult[]> {
    return this.exclusive(() => this.applyNow(entries, opts.confState, opts.onExecuted));
  }

  private async applyNow(entries: readonly ApplyEntry[], confState: ConfState | undefined, onExecuted?: (results: CommandResult[]) => void): Promise<CommandResult[]> {
    const tx = new Tx(this, this._revision, this._applied, this._appliedTerm);
    const results: CommandResult[] = [];
    // Pass 1: decode commands and prefetch every key they will read.
    const decoded = new Map<number, Command | Error>();
    const wanted = new Map<Ns, Set<string>>();
    const want = (ns: Ns, key: string): void => {
      let s = wanted.get(ns);
      if (!s) wanted.set(ns, (s = new Set()));
      s.add(key);
    };
    for (const e of entries) {
      if (e.index <= this._applied || e.type === ENTRY_CONF_CHANGE || e.data.length === 0) continue;
      let cmd: Command;
      try {
        cmd = decodeMessage(Command, e.data);
      } catch (err) {
        decoded.set(e.index, err as Error);
        continue;
      }
      decoded.set(e.index, cmd);
      if (cmd.clientId) {
        want('dedup', cmd.clientId);
        want('dedup', dedupKey(cmd.clientId, cmd.seq));
      }
      const op = cmd.op;
      switch (op?.$case) {
        case 'put':
        case 'cas':
          want('kv', op.value.key);
          if (op.value.lease) want('leases', hex16(op.value.lease));
          break;
        case 'delete':
          want('kv', op.value.key);
          break;
        case 'leaseGrant':
        case 'leaseRevoke':
        case 'leaseKeepAlive':
          want('leases', hex16(op.value.id));
          break;
        case 'userPut':
          if (op.value.user) want('users', op.value.user.name);
          break;
        case 'userDelete':
          want('users', op.value.name);
          break;
        case 'configDelete':
          want('config', op.value.name);
          break;
        default:
      }
    }
    if (wanted.size > 0) tx.prefetch(wanted);
    // Pass 2: execute in log order.
    for (const e of entries) {
      if (e.index <= tx.applied) {
        results.push(result(ResultCode.RESULT_OK, tx.revision, { message: 'already applied' }));
        continue;
      }
      if (e.index !== tx.applied + 1) {
        throw new StorageError('SM_INVALID', `apply gap: entry ${e.index} after applied index ${tx.applied}`);
      }
      if (e.type === ENTRY_CONF_CHANGE || e.data.length === 0) {
        results.push(result(ResultCode.RESULT_OK, tx.revision));
      } else {
        const r = this.applyCommand(tx, decoded.get(e.index)!);
        results.push(r instanceof Promise ? await r : r);
      }
      tx.applied = e.index;
      tx.appliedTerm = e.term;
    }
    if (tx.applied === this._applied && !confState) return results;
    const meta = Buffer.allocUnsafe(16);
    writeU64(meta, tx.applied, 0);
    writeU64(meta, tx.appliedTerm, 8);
    tx.put('meta', 'applied', meta);
    if (tx.revision !== this._revision) {
      const rev = Buffer.allocUnsafe(8);
      writeU64(rev, tx.revision, 0);
      tx.put('meta', 'revision', rev);
    }
    if (confState) tx.put('meta', 'confState', Buffer.from(JSON.stringify({ voters: confState.voters, learners: confState.learners })));
    // Raw root-level keys (`!ns!key`, the sublevel layout) in one batch: cheaper than per-op sublevel encoding.
    const batch = this.db.batch();
    for (const [ns, m] of tx.overlay) {
      for (const [k, v] of m) {
        const key = rawKey(ns, k);
        if (v === null) batch.del(key);
        else batch.put(key, v);
      }
    }
    onExecuted?.(results);
    await batch.write();
    this._applied = tx.applied;
    this._appliedTerm = tx.appliedTerm;
    this._revision = tx.revision;
    if (confState) this._confState = { voters: [...confState.voters], learners: [...confState.learners] };
    return results;
  }

  /** A promise only when the command has to iterate keys (see Tx.get). */
  private applyCommand(tx: Tx, cmd: Command | Error): CommandResult | Promise<CommandResult> {
    if (cmd instanceof Error) {
      return result(ResultCode.RESULT_INVALID, tx.revision, { message: `undecodable command: ${cmd.message}` });
    }
    if (!cmd.clientId) return this.execute(tx, cmd);
    const client = cmd.clientId;
    const seen = tx.get('dedup', dedupKey(client, cmd.seq));
    if (seen) return decodeMessage(CommandResult, seen);
    const floorRaw = tx.get('dedup', client);
    const floor = floorRaw ? readU64(floorRaw, 0) : 0;
    if (cmd.seq <= floor) {
      return result(ResultCode.RESULT_OUTCOME_UNKNOWN, tx.revision, {
        message: `outcome unknown: seq ${cmd.seq} of client ${client} is older than the de-duplication window of ${this.dedupWindow}; an earlier attempt with it may have been applied, this one was not`,
      });
    }
    const res = this.execute(tx, cmd);
    if (res instanceof Promise) return res.then((r) => this.remember(tx, client, cmd.seq, floor, r));
    return this.remember(tx, client, cmd.seq, floor, res);
  }

  /** Stores the de-dup record of (client, seq) and moves the client's window; returns `res`. */
  private remember(tx: Tx, client: string, seq: number, floor: number, res: CommandResult): CommandResult | Promise<CommandResult> {
    tx.put('dedup', dedupKey(client, seq), encodeMessage(CommandResult, res));
    const newFloor = seq - this.dedupWindow;
    if (newFloor <= floor) return res;
    const setFloor = (): CommandResult => {
      const b = Buffer.allocUnsafe(8);
      writeU64(b, newFloor, 0);
      tx.put('dedup', client, b);
      return res;
    };
    // Seqs normally advance one at a time, so this forgets one record. A jump reads just the
    // records in (floor, newFloor] instead of deleting every seq in it blindly (a client whose
    // seqs advance by 64 per command would otherwise cost 64 deletes per command).
    if (newFloor - floor <= 4) {
      for (let s = floor + 1; s <= newFloor; s++) tx.del('dedup', dedupKey(client, s));
      return setFloor();
    }
    return tx.keysInRange('dedup', dedupKey(client, floor), dedupKey(client, newFloor)).then((keys) => {
      for (const k of keys) tx.del('dedup', k);
      return setFloor();
    });
  }

  /** A promise only for a lease revoke (it iterates the lease's keys). */
  private execute(tx: Tx, cmd: Command): CommandResult | Promise<CommandResult> {
    const now = cmd.leaderTimeMs;
    const op = cmd.op;
    const invalid = (message: string): CommandResult => result(ResultCode.RESULT_INVALID, tx.revision, { message });
    switch (op?.$case) {
      case 'put': {
        const { key, value, lease } = op.value;
        if (!key) return invalid('empty key');
        if (lease && !(tx.get('leases', hex16(lease)))) {
          return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${lease} not found` });
        }
        const prev = this.readKv(tx, key);
        return this.writeKv(tx, key, value, lease, prev, op.value.prevKv);
      }
      case 'delete': {
        const { key } = op.value;
        if (!key) return invalid('empty key');
        const prev = this.readKv(tx, key);
        if (!prev) return result(ResultCode.RESULT_OK, tx.revision, { succeeded: false });
        tx.revision++;
        tx.del('kv', key);
        if (prev.lease) tx.del('leasekeys', `${hex16(prev.lease)}/${key}`);
        return result(ResultCode.RESULT_OK, tx.revision, { prevKv: op.value.prevKv ? prev : undefined, succeeded: true });
      }
      case 'cas': {
        const c = op.value;
        if (!c.key) return invalid('empty key');
        if (!c.expect) return invalid('compare-and-swap without an expectation');
        const prev = this.readKv(tx, c.key);
        if (!casHolds(c, prev)) {
          return result(ResultCode.RESULT_COMPARE_FAILED, tx.revision, { prevKv: prev, succeeded: false, message: 'compare failed' });
        }
        if (c.lease && !(tx.get('leases', hex16(c.lease)))) {
          return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { prevKv: prev, succeeded: false, message: `lease ${c.lease} not found` });
        }
        return this.writeKv(tx, c.key, c.value, c.lease, prev, true);
      }
      case 'leaseGrant': {
        const { id, ttlMs } = op.value;
        if (!id || ttlMs <= 0) return invalid('lease id must be non-zero and ttl positive');
        if (tx.get('leases', hex16(id))) return result(ResultCode.RESULT_ALREADY_EXISTS, tx.revision, { message: `lease ${id} exists` });
        const lease: Lease = { id, ttlMs, expiresAtMs: now + ttlMs };
        tx.revision++;
        tx.put('leases', hex16(id), encodeMessage(Lease, lease));
        return result(ResultCode.RESULT_OK, tx.revision, { lease });
      }
      case 'leaseKeepAlive': {
        const raw = tx.get('leases', hex16(op.value.id));
        if (!raw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${op.value.id} not found` });
        const lease = decodeMessage(Lease, raw);
        lease.expiresAtMs = now + lease.ttlMs;
        tx.revision++;
        tx.put('leases', hex16(lease.id), encodeMessage(Lease, lease));
        return result(ResultCode.RESULT_OK, tx.revision, { lease });
      }
      case 'leaseRevoke': {
        const id = op.value.id;
        const raw = tx.get('leases', hex16(id));
        if (!raw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `lease ${id} not found` });
        tx.revision++;
        const prefix = `${hex16(id)}/`;
        return tx.keysWithPrefix('leasekeys', prefix).then((keys) => {
          for (const lk of keys) {
            const key = lk.slice(prefix.length);
            const kv = this.readKv(tx, key);
            if (kv && kv.lease === id) tx.del('kv', key);
            tx.del('leasekeys', lk);
          }
          tx.del('leases', hex16(id));
          return result(ResultCode.RESULT_OK, tx.revision, { lease: decodeMessage(Lease, raw) });
        });
      }
      case 'userPut': {
        const { user, createOnly, updateOnly } = op.value;
        if (!user || !user.name) return invalid('user without a name');
        if (createOnly && updateOnly) return invalid('create_only and update_only are exclusive');
        const prevRaw = tx.get('users', user.name);
        if (createOnly && prevRaw) return result(ResultCode.RESULT_ALREADY_EXISTS, tx.revision, { message: `user ${user.name} exists` });
        if (updateOnly && !prevRaw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `user ${user.name} not found` });
        const prev = prevRaw ? decodeMessage(User, prevRaw) : undefined;
        const stored: User = { ...user, createdAtMs: prev ? prev.createdAtMs : now, updatedAtMs: now };
        tx.revision++;
        tx.put('users', user.name, encodeMessage(User, stored));
        return result(ResultCode.RESULT_OK, tx.revision);
      }
      case 'userDelete': {
        const { name } = op.value;
        if (!(tx.get('users', name))) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `user ${name} not found` });
        tx.revision++;
        tx.del('users', name);
        return result(ResultCode.RESULT_OK, tx.revision);
      }
      case 'configSet': {
        const { name, value } = op.value;
        if (!name) return invalid('empty config name');
        tx.revision++;
        const entry: ConfigEntry = { name, value, modRevision: tx.revision, updatedAtMs: now };
        tx.put('config', name, encodeMessage(ConfigEntry, entry));
        return result(ResultCode.RESULT_OK, tx.revision);
      }
      case 'configDelete': {
        const { name } = op.value;
        if (!(tx.get('config', name))) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `config ${name} not found` });
        tx.revision++;
        tx.del('config', name);
        return result(ResultCode.RESULT_OK, tx.revision);
      }
      default:
        return invalid('command without an operation');
    }
  }

  private readKv(tx: Tx, key: string): KeyValue | undefined {
    const raw = tx.get('kv', key);
    return raw ? decodeMessage(KeyValue, raw) : undefined;
  }

  /** `returnPrev`: put the previous key-value in the result (and so in the de-dup record). */
  private writeKv(tx: Tx, key: string, value: Buffer, lease: number, prev: KeyValue | undefined, returnPrev: boolean): CommandResult {
    tx.revision++;
    const kv: KeyValue = {
      key,
      value,
      createRevision: prev ? prev.createRevision : tx.revision,
      modRevision: tx.revision,
      version: prev ? prev.version + 1 : 1,
      lease,
    };
    tx.put('kv', key, encodeMessage(KeyValue, kv));
    if (prev?.lease && prev.lease !== lease) tx.del('leasekeys', `${hex16(prev.lease)}/${key}`);
    if (lease) tx.put('leasekeys', `${hex16(lease)}/${key}`, Buffer.alloc(0));
    return result(ResultCode.RESULT_OK, tx.revision, { prevKv: returnPrev ? prev : undefined, succeeded: true });
  }

  // ---- reads (serve the last completed batch) ----

  async get(key: string): Promise<KeyValue | undefined> {
    const raw = await this.sub('kv').get(key);
    return raw ? decodeMessage(KeyValue, raw) : undefined;
  }

  /**
   * get() without the thread-pool round trip: LevelDB's memtable/block cache is read on the
   * calling thread (classic-level getSync). Same view as get(): the last completed batch.
   */
  getSync(key: string): KeyValue | undefined {
    const raw = this.sub('kv').getSync(key);
    return raw ? decodeMessage(KeyValue, raw) : undefined;
  }

  async exists(key: string): Promise<boolean> {
    return (await this.sub('kv').get(key)) !== undefined;
  }

  /** Keys starting with `prefix` in byte order, after `startAfter`, at most `limit`. */
  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const range: { gte?: Buffer; gt?: Buffer; lt?: Buffer } = {};
    const p = Buffer.from(prefix, 'utf8');
    if (opts.startAfter !== undefined && Buffer.compare(Buffer.from(opts.startAfter, 'utf8'), p) >= 0) {
      range.gt = Buffer.from(opts.startAfter, 'utf8');
    } else {
      range.gte = p;
    }
    if (prefix) range.lt = prefixEnd(prefix);
    const kvs: KeyValue[] = [];
    let more = false;
    for await (const [, v] of this.sub('kv').iterator({ keyEncoding: 'buffer', ...range })) {
      if (kvs.length >= limit) {
        more = true;
        break;
      }
      const kv = decodeMessage(KeyValue, v as Buffer);
      if (opts.keysOnly) kv.value = Buffer.alloc(0);
      kvs.push(kv);
    }
    return { kvs, more, nextKey: more ? kvs[kvs.length - 1].key : '' };
  }

  async getUser(name: string): Promise<User | undefined> {
    const raw = await this.sub('users').get(name);
    return raw ? decodeMessage(User, raw) : undefined;
  }

  async listUsers(): Promise<User[]> {
    const out: User[] = [];
    for await (const v of this.sub('users').values()) out.push(decodeMessage(User, v as Buffer));
    return out;
  }

  async getConfig(name: string): Promise<ConfigEntry | undefined> {
    const raw = await this.sub('config').get(name);
    return raw ? decodeMessage(ConfigEntry, raw) : undefined;
  }

  async listConfig(): Promise<ConfigEntry[]> {
    const out: ConfigEntry[] = [];
    for await (const v of this.sub('config').values()) out.push(decodeMessage(ConfigEntry, v as Buffer));
    return out;
  }

  async getLease(id: number): Promise<Lease | undefined> {
    const raw = await this.sub('leases').get(hex16(id));
    return raw ? decodeMessage(Lease, raw) : undefined;
  }

  /** All leases in id order (the leader revokes those with expiresAtMs < its clock). */
  async listLeases(): Promise<Lease[]> {
    const out: Lease[] = [];
    for await (const v of this.sub('leases').values()) out.push(decodeMessage(Lease, v as Buffer));
    return out;
  }

  /** Keys attached to a lease. */
  async leaseKeys(id: number): Promise<string[]> {
    const prefix = `${hex16(id)}/`;
    const out: string[] = [];
    for await (const k of this.sub('leasekeys').keys({ gte: prefix, lt: `${hex16(id)}0` })) out.push((k as string).slice(prefix.length));
    return out;
  }

  /**
   * SHA-256 (hex) over every replicated key and value in every namespace, except the applied
   * index/term and confState. Two replicas that applied the same log prefix have the same hash.
   */
  async hash(): Promise<string> {
    const snap = this.db.snapshot();
    try {
      const h = createHash('sha256');
      const len = Buffer.allocUnsafe(4);
      const skip = new Set(['!meta!applied', '!meta!confState', '!meta!format']);
      for await (const [k, v] of this.db.iterator({ snapshot: snap })) {
        if (skip.has(k.toString('latin1'))) continue;
        len.writeUInt32LE(k.length, 0);
        h.update(len);
        h.update(k);
        len.writeUInt32LE(v.length, 0);
        h.update(len);
        h.update(v);
      }
      return h.digest('hex');
    } finally {
      await snap.close();
    }
  }

  /**
   * Write a snapshot of the state as of NOW (an explicit LevelDB snapshot is taken synchronously
   * when this is called; apply() may continue meanwhile). Every apply() is one atomic batch, so the
   * view is always at a batch boundary: meta.index/term are the applied index/term of that view.
   * Membership: `opts.confStateAt(index)` if given (recommended when applies may be in flight),
   * else `opts.confState`, else the one last given to apply(). If `opts.index` is given it must
   * equal the view's applied index (SM_INVALID otherwise).
   */
  async createSnapshot(
    store: SnapshotStore,
    opts: { confState?: ConfState; confStateAt?: (index: number) => ConfState; index?: number } = {},
  ): Promise<SnapshotInfo> {
    const snap = this.db.snapshot();
    try {
      const meta = this.sub('meta');
      const appliedRaw = await meta.get('applied', { snapshot: snap });
      const index = appliedRaw ? readU64(appliedRaw, 0) : 0;
      const term = appliedRaw ? readU64(appliedRaw, 8) : 0;
      if (opts.index !== undefined && opts.index !== index) {
        throw new StorageError('SM_INVALID', `createSnapshot: requested index ${opts.index} but the state is at ${index}`);
      }
      const csRaw = await meta.get('confState', { snapshot: snap });
      const confState =
        opts.confStateAt?.(index) ?? opts.confState ?? (csRaw ? (JSON.parse(csRaw.toString('utf8')) as ConfState) : { voters: [], learners: [] });
      const db = this.db;
      async function* content(): AsyncGenerator<Buffer> {
        let parts: Buffer[] = [];
        let size = 0;
        const hdr = (n: number): Buffer => {
          const b = Buffer.allocUnsafe(4);
          b.writeUInt32LE(n, 0);
          return b;
        };
        for await (const [k, v] of db.iterator({ snapshot: snap })) {
          parts.push(hdr(k.length), k, hdr(v.length), v);
          size += 8 + k.length + v.length;
          if (size >= 256 * 1024) {
            yield Buffer.concat(parts, size);
            parts = [];
            size = 0;
          }
        }
        if (size > 0) yield Buffer.concat(parts, size);
      }
      return await store.create({ index, term, confState }, content());
    } finally {
      await snap.close();
    }
  }

  /**
   * Replace the whole state with a snapshot's content, atomically: the content is loaded into a
   * fresh LevelDB directory (synced), then the CURRENT_DB pointer file is switched with an atomic
   * rename, then the old directory is deleted. A crash at any point leaves the old state or the new
   * one. The content's checksum is verified (by the source) before the switch.
   */
  installSnapshot(source: SnapshotContentSource): Promise<void> {
    return this.exclusive(async () => {
      const n = parseInt(this.dbName.slice(3), 10) + 1;
      const name = `db-${String(n).padStart(6, '0')}`;
      const path = join(this.dir, name);
      await fsp.rm(path, { recursive: true, force: true });
      const fresh = await StateMachine.openDb(path);
      try {
        let batch = fresh.batch();
        // Flush by count and by bytes: 10,000 records of 1 MiB values would be 10 GiB in one batch.
        let batchBytes = 0;
        let carry: Buffer = Buffer.alloc(0);
        for await (const chunk of source.content()) {
          let buf = carry.length ? Buffer.concat([carry, chunk]) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
          let o = 0;
          for (;;) {
            if (o + 4 > buf.length) break;
            const kl = buf.readUInt32LE(o);
            // No key or value outgrows one WAL record: a larger length field is damage, refused
            // before the rest of the content is buffered waiting for it (etcd CVE-2020-15106).
            if (kl > MAX_RECORD_BODY) throw new StorageError('SNAPSHOT_CORRUPT', `snapshot content: implausible key length ${kl}`);
            if (o + 8 + kl > buf.length) break;
            const vl = buf.readUInt32LE(o + 4 + kl);
            if (vl > MAX_RECORD_BODY) throw new StorageError('SNAPSHOT_CORRUPT', `snapshot content: implausible value length ${vl}`);
            if (o + 8 + kl + vl > buf.length) break;
            // classic-level copies key and value into the native WriteBatch right away.
            batch.put(buf.subarray(o + 4, o + 4 + kl), buf.subarray(o + 8 + kl, o + 8 + kl + vl));
            batchBytes += 8 + kl + vl;
            o += 8 + kl + vl;
          }
          carry = o < buf.length ? Buffer.from(buf.subarray(o)) : Buffer.alloc(0);
          buf = carry;
          if (batch.length >= 10000 || batchBytes >= INSTALL_BATCH_BYTES) {
            // sync every batch, not only the last: LevelDB's sync write fsyncs only the current log
            // file, and a batch that went to an older log (memtable switch, table not yet written)
            // would otherwise not be durable when the pointer flips.
            await batch.write({ sync: true } as never);
            batch = fresh.batch();
            batchBytes = 0;
          }
        }
        if (carry.length) throw new StorageError('SNAPSHOT_CORRUPT', 'snapshot content ends inside a record');
        // The membership in the snapshot's metadata is authoritative for the installed state.
        const cs = source.meta.confState;
        if (cs) batch.put(Buffer.from('!meta!confState'), Buffer.from(JSON.stringify({ voters: cs.voters, learners: cs.learners })));
        // sync: LevelDB fsyncs its log (and has synced every table file it wrote): the new
        // database is durable before the pointer flips.
        await batch.write({ sync: true } as never);
        const applied = await fresh.get(Buffer.from('!meta!applied'));
        const idx = applied ? readU64(applied, 0) : 0;
        const term = applied ? readU64(applied, 8) : 0;
        if (idx !== source.meta.index || term !== source.meta.term) {
          throw new StorageError('SNAPSHOT_CORRUPT', `snapshot content is at applied ${idx}/${term}, meta says ${source.meta.index}/${source.meta.term}`);
        }
        await StateMachine.checkFormat(fresh, `snapshot ${source.meta.index}/${source.meta.term}`, 'SNAPSHOT_CORRUPT');
      } catch (e) {
        await fresh.close();
        await fsp.rm(path, { recursive: true, force: true });
        throw e;
      }
      await writeFileAtomic(join(this.dir, CURRENT), name);
      const old = this.db;
      const oldName = this.dbName;
      await this.attach(name, fresh);
      await old.close();
      await fsp.rm(join(this.dir, oldName), { recursive: true, force: true });
      await fsyncDir(this.dir);
    });
  }

  /** Wait for queued applies, then close the database. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      await this.db.close();
    });
  }
}

function casHolds(c: CompareAndSwapOp, prev: KeyValue | undefined): boolean {
  switch (c.expect?.$case) {
    case 'expectedModRevision':
      return c.expect.value === 0 ? prev === undefined : prev !== undefined && prev.modRevision === c.expect.value;
    case 'expectedValue':
      return prev !== undefined && Buffer.compare(prev.value, c.expect.value) === 0;
    case 'expectAbsent':
      return c.expect.value ? prev === undefined : prev !== undefined;
    default:
      return false;
  }
}
