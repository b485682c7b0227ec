// The replicated state machine on classic-level (LevelDB): opening, the on-disk format, snapshots
// and the state hash live here; applying commands is the applier's job (applier.ts), which hands
// each one to its domain module (storage/keyspace, storage/leases, storage/users,
// storage/config, storage/dedup). The public API below is what the node uses.
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
import type { CommandResult, ConfigEntry, Lease, LeaseLimits, User } from '../../proto/gen/placement/v1/command.js';
import type { KeyValue } from '../../proto/gen/placement/v1/kv.js';
import type { RangeRequest, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { KeyValue as EtcdKeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { StateMachineCorruptionError, StorageError } from '../errors.js';
import { verifyLevelDb } from './leveldb-verify.js';
import { Pacer } from '../util/pace.js';
import { fsyncDir, mkdirDurable, writeFileAtomic } from '../util/fs.js';
import type { SnapshotInfo, SnapshotStore } from '../snapshot/store.js';
import { MAX_RECORD_BODY, readU64, writeU64 } from '../wal/record.js';
import { NAMESPACES, NS_PREFIX, rawKey, type Db, type Ns } from './layout.js';
import { applyBatch, type ApplyEntry } from './applier.js';
import { scanAll } from './scan.js';
import { Compactor } from '../keyspace/compactor.js';
import { RevisionIndex } from '../keyspace/revision-index.js';
import { CurrentIndex } from '../keyspace/current-index.js';
import { PastLists } from '../keyspace/past-lists.js';
import type { RangeOptions, RangeResult } from '../keyspace/range.js';
import {
  nativeGet,
  nativeGetSync,
  nativeList,
  rangeOneKeySync,
  rangeRead,
  readEvents,
  readTxn,
  valueAt,
  type EventsPage,
  type EventsRequest,
  type ListOptions,
  type ListResult,
  type TxnReadResult,
  type DbIndexes,
} from '../keyspace/read.js';
import { getLease, leaseKeys, listLeases, type LeaseChange } from '../leases/leases.js';
import { readLimits } from '../leases/limits.js';
import { getUser, listUsers } from '../users/users.js';
import { EMPTY_AUTH, loadAuth, patchAuth, type AuthSnapshot } from '../auth/store.js';
import { getConfig, listConfig } from '../config/config.js';
import { changedUnder, readEventRecords, type EventRecordsPage, type EventRecordsRequest, type KeyEvent } from '../keyspace/events.js';
import { logKey, utf8ToBin } from '../keyspace/keys.js';
import { hashKv, type HashKvResult } from '../keyspace/hash-kv.js';
import { listAlarms, type Alarm } from '../alarms/alarms.js';

export type { ApplyEntry } from './applier.js';
export type { KeyEvent, EventRecordsPage, EventRecordsRequest } from '../keyspace/events.js';

/** What applyWithEvents() resolves with. */
export interface AppliedBatch {
  results: CommandResult[];
  /** The keyspace events the batch made, in order; null when they were not collected. */
  events: KeyEvent[] | null;
  /** The keyspace revision after the batch. */
  revision: number;
}
export type { ListOptions, ListResult, EventsPage, EventsRequest, TxnReadResult } from '../keyspace/read.js';
export type { RangeOptions, RangeResult } from '../keyspace/range.js';

export interface StateMachineOptions {
  /** Results remembered per client for de-duplication (default 1024). */
  dedupWindow?: number;
  /** Check every LevelDB file's checksums before opening (default true; see leveldb-verify.ts). */
  verify?: boolean;
  /** Told about each leftover directory open() removes or moves aside. */
  onCleanup?: (what: string) => void;
}

/** Anything that yields verified snapshot content (SnapshotReader from SnapshotStore.openReader). */
export interface SnapshotContentSource {
  readonly meta: { index: number; term: number; confState?: ConfState };
  content(): AsyncIterable<Uint8Array>;
}

type Sub = AbstractSublevel<Db, string | Buffer | Uint8Array, string, Buffer>;

const CURRENT = 'CURRENT_DB';
const DB_RE = /^db-(\d+)$/;
/** In a db-* directory: written (synced) once a snapshot install into it is complete. */
const INSTALLED = 'PLACEMENT_INSTALLED';
/** In a db-* directory: it was found damaged and replaced; it is moved aside, never deleted. */
const QUARANTINED = 'PLACEMENT_QUARANTINED';
const dbNumber = (name: string): number => parseInt(name.slice(3), 10);
const dbName = (n: number): string => `db-${String(n).padStart(6, '0')}`;

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.stat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
/**
 * On-disk format of the replicated state (`!meta!format`, u64). Bump it on any change to how keys
 * or values are laid out or interpreted. 1 (no marker): one de-dup window blob per client under
 * `!dedup!<client>`; 2: one record per (client, seq) and an 8-byte floor under `!dedup!<client>`.
 * A database or snapshot in another format is refused: read with the wrong layout it would be
 * applied differently than on the other replicas (format 1 read as 2 turns every blob into a huge
 * floor and every later command into a silent "older than the de-duplication window" no-op).
 * 3: the multi-version keyspace (storage/keyspace: the `log` of mvccpb.KeyValue events by
 * revision, the `hist` index by key and revision, `kv` pointing at each key's current event; keys
 * are bytes; keyspace revisions start at 1 and count key changes only; de-dup records start with
 * the request's fingerprint).
 */
const FORMAT = 3;
const FORMAT_KEY = Buffer.from('!meta!format');
/** installSnapshot writes the loaded content in batches of at most ~this many bytes. */
const INSTALL_BATCH_BYTES = 8 * 1024 * 1024;
/** A snapshot's content is handed to the store in chunks of about this size. */
const SNAPSHOT_CHUNK_BYTES = 256 * 1024;
/**
 * The replicated state machine. See storage/README.md for the on-disk layout (namespaces in
 * layout.ts).
 *
 * Semantics:
 * - The keyspace revision is etcd's: 1 for a new store, +1 for each Put, each DeleteRange that
 *   deletes something, each Txn that writes, each lease revoke that deletes keys (all the writes
 *   of one command share it). Lease grants and keep-alives, users and config leave it unchanged.
 * - De-duplication (storage/dedup): a Command with a non-empty clientId is remembered by
 *   (clientId, seq) in a window of `dedupWindow` seqs below the client's newest. A repeat of the
 *   same request inside the window returns the stored result without applying; a different
 *   request under the same (clientId, seq) is refused (RESULT_CLIENT_ID_REUSED). A seq at or below
 *   the window's floor is answered RESULT_OUTCOME_UNKNOWN and not applied.
 * - Only one apply()/installSnapshot() runs at a time (they queue). Reads see the last completed batch.
 */
export class StateMachine {
  private db!: Db;
  private subs = new Map<Ns, Sub>();
  private dbName!: string;
  private _applied = 0;
  private _appliedTerm = 0;
  private _revision = 1;
  private _compactRevision = -1;
  private readonly compactor = new Compactor();
  /** Which revisions each key's history holds, for one key at a past revision on this thread. */
  private readonly revisions = new RevisionIndex();
  /** Which keys exist, in order: ranges count and page them in memory. */
  private readonly currentKeys = new CurrentIndex();
  /** The keys ranges held at past revisions, for the pages that follow (keyspace/past-lists.ts). */
  private readonly pastLists = new PastLists();
  /** All three, for reads that take them with a snapshot while `settled`. */
  private readonly indexes: DbIndexes = { current: this.currentKeys, revisions: this.revisions, pastLists: this.pastLists };
  private _confState: ConfState | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly dedupWindow: number;
  /** Told the leases each apply() changed, as soon as they are final (src/lease/ keeps its table by it). */
  leaseObserver: ((changes: LeaseChange[]) => void) | undefined;

  private constructor(
    readonly dir: string,
    opts: StateMachineOptions,
  ) {
    this.dedupWindow = Math.max(1, opts.dedupWindow ?? 1024);
  }

  /**
   * Open (or create) the state machine in `dir`. The database CURRENT_DB names must exist:
   * anything else (a partial copy or restore of the directory) is refused with SM_INVALID, never
   * rebuilt over. Its LevelDB files are checked against their checksums first (SM_CORRUPT with
   * the damaged files; the way back is quarantine() and a snapshot install). Leftovers: a db-*
   * below the named one was superseded by a completed install and is deleted (moved aside as
   * quarantine-* if it was quarantined); one above it without the install marker is an install
   * that never finished and is deleted; a complete one above it is refused (CURRENT_DB older
   * than the data?).
   */
  static async open(dir: string, opts: StateMachineOptions = {}): Promise<StateMachine> {
    await mkdirDurable(dir);
    const sm = new StateMachine(dir, opts);
    const entries = await fsp.readdir(dir);
    const dbs = entries.filter((n) => DB_RE.test(n)).sort();
    let name: string;
    let fresh = false;
    try {
      name = (await fsp.readFile(join(dir, CURRENT), 'utf8')).trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      name = dbName(1);
      // Without the pointer only a first open (crashed before writing it) is unambiguous: never
      // guess and delete a database that may hold the live state.
      if (dbs.some((n) => n !== name)) {
        throw new StorageError('SM_INVALID', `${CURRENT} is missing in ${dir} but it holds ${dbs.join(', ')}; refusing to guess which is live`);
      }
      fresh = true;
    }
    if (!/^db-\d{6,}$/.test(name)) throw new StorageError('SM_INVALID', `bad ${CURRENT} file in ${dir}: ${JSON.stringify(name)}`);
    if (!fresh && !dbs.includes(name)) {
      throw new StorageError(
        'SM_INVALID',
        `${join(dir, CURRENT)} names ${name}, which does not exist` +
          (dbs.length > 0 ? ` (${dir} holds ${dbs.join(', ')})` : ` (${dir} holds no database)`) +
          ': the pointer and the databases disagree (a partial copy or restore of the directory?). ' +
          'Refusing to start rather than guess or rebuild over it. Way back: restore the whole data directory from a consistent copy, ' +
          'or rebuild this member from its peers (move the data directory aside and start it again with --rejoin).',
      );
    }
    for (const n of dbs) {
      if (n === name) continue;
      const path = join(dir, n);
      if (dbNumber(n) < dbNumber(name)) {
        if (await exists(join(path, QUARANTINED))) {
          await fsp.rename(path, join(dir, `quarantine-${n}`));
          opts.onCleanup?.(`moved the damaged ${n} aside as quarantine-${n}`);
        } else {
          await fsp.rm(path, { recursive: true, force: true });
          opts.onCleanup?.(`deleted ${n}, superseded by ${name}`);
        }
      } else {
        // An install that never became live: unfinished, or finished but the pointer never moved
        // off the database it was to replace (its marker names that one). Anything else is a
        // complete database the pointer no longer knows about: refuse.
        const marker = await fsp.readFile(join(path, INSTALLED), 'utf8').catch(() => null);
        const from = marker === null ? null : (/ from (db-\d+)/.exec(marker)?.[1] ?? '');
        if (from !== null && from !== name) {
          throw new StorageError(
            'SM_INVALID',
            `${dir} holds ${n}, a complete database installed over ${from || 'an unknown one'}, newer than the ${name} that ${CURRENT} names: ` +
              `${CURRENT} is older than the data (restored from an old copy?). Refusing to guess which is live.`,
          );
        }
        await fsp.rm(path, { recursive: true, force: true });
        opts.onCleanup?.(`deleted ${n}, a snapshot install that never became live`);
      }
    }
    for (const n of entries) if (n.startsWith('.') && n.endsWith('.tmp')) await fsp.rm(join(dir, n), { force: true });
    await fsyncDir(dir);
    const path = join(dir, name);
    if (!fresh && opts.verify !== false) {
      const problems = await verifyLevelDb(path);
      if (problems.length > 0) throw new StateMachineCorruptionError(path, problems);
    }
    const db = await StateMachine.openDb(path, fresh);
    try {
      await StateMachine.checkFormat(db, `state machine in ${path}`, 'SM_INVALID');
    } catch (e) {
      await db.close();
      throw e;
    }
    try {
      await sm.attach(name, db);
    } catch (e) {
      await db.close().catch(() => undefined);
      // Attaching reads the whole history (the revision index): damage the check above was not
      // asked to find surfaces there, as damage rather than as LevelDB's bare error.
      if ((e as { code?: string }).code === 'LEVEL_CORRUPTION') throw new StateMachineCorruptionError(path, [{ file: path, reason: `LevelDB: ${(e as Error).message}` }]);
      throw e;
    }
    if (fresh) await writeFileAtomic(join(dir, CURRENT), name);
    return sm;
  }

  /**
   * Replaces the live database of the state machine in `dir` (which must not be open) with an
   * empty one, keeping the old one as `quarantine-db-*`: nothing is deleted. The caller then
   * installs a snapshot and replays the log into it. Crash-safe at every step: the old database
   * is marked first, so that open() moves it aside instead of deleting it as superseded.
   */
  static async quarantine(dir: string, reason: string): Promise<{ quarantined: string; fresh: string }> {
    const name = (await fsp.readFile(join(dir, CURRENT), 'utf8')).trim();
    if (!DB_RE.test(name) || !(await exists(join(dir, name)))) throw new StorageError('SM_INVALID', `${CURRENT} in ${dir} does not name a database (${JSON.stringify(name)})`);
    await writeFileAtomic(join(dir, name, QUARANTINED), `${new Date().toISOString()} ${reason}\n`);
    const next = Math.max(...(await fsp.readdir(dir)).filter((n) => DB_RE.test(n)).map(dbNumber)) + 1;
    const fresh = dbName(next);
    const db = await StateMachine.openDb(join(dir, fresh), true);
    await db.close();
    await fsyncDir(dir);
    await writeFileAtomic(join(dir, CURRENT), fresh);
    await fsp.rename(join(dir, name), join(dir, `quarantine-${name}`));
    await fsyncDir(dir);
    return { quarantined: join(dir, `quarantine-${name}`), fresh };
  }

  /** Path of the live LevelDB directory. */
  get dbPath(): string {
    return join(this.dir, this.dbName);
  }

  /**
   * Checks the live database's table files against their checksums, pausing between blocks
   * (see leveldb-verify.ts). Files written in the last `settledMs` are skipped (LevelDB may be
   * writing them). Resolves with the problems found (empty when all hold).
   */
  async verifyTables(settledMs = 60_000): Promise<{ file: string; offset?: number; reason: string }[]> {
    return verifyLevelDb(this.dbPath, { logs: false, settledMs });
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
    // Format 2 was written before the marker too: any data without a marker is not this format.
    for await (const k of db.keys({ limit: 1 })) {
      throw new StorageError(code, `${what} has no format marker but holds data (${JSON.stringify(k.toString('latin1'))}): on-disk format 2 or older; this build reads format ${FORMAT} only`);
    }
    const b = Buffer.alloc(8);
    writeU64(b, FORMAT, 0);
    await db.put(FORMAT_KEY, b, { sync: true } as never);
  }

  /** `create`: only a brand-new database may be created; a missing existing one is an error, never silently empty. */
  private static async openDb(path: string, create: boolean): Promise<Db> {
    const db = new ClassicLevel<Buffer, Buffer>(path, { keyEncoding: 'buffer', valueEncoding: 'buffer', writeBufferSize: 16 * 1024 * 1024 });
    try {
      await db.open({ createIfMissing: create } as never);
    } catch (e) {
      // classic-level says only "Database failed to open"; LevelDB's reason is the cause.
      const cause = (e as { cause?: { message?: string } }).cause?.message ?? (e as Error).message;
      throw new StateMachineCorruptionError(path, [{ file: path, reason: `LevelDB cannot open it: ${cause}` }]);
    }
    return db;
  }

  private _auth: AuthSnapshot = EMPTY_AUTH;

  private async attach(name: string, db: Db): Promise<void> {
    this.settled = false;
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
    this._auth = await loadAuth(db);
    const rev = await this.sub('meta').get('revision');
    this._revision = rev ? readU64(rev, 0) : 1;
    const compact = await this.sub('meta').get('compact');
    this._compactRevision = compact ? readU64(compact, 0) : -1;
    const cs = await this.sub('meta').get('confState');
    this._confState = cs ? (JSON.parse(cs.toString('utf8')) as ConfState) : undefined;
    await this.revisions.load(db);
    this.revisions.compact(this._compactRevision);
    await this.currentKeys.load(db);
    this.pastLists.clear();
    await this.compactor.attach(db, this._compactRevision);
    this.settled = true;
  }

  /**
   * Whether the database holds exactly the state the fields above describe: no batch is being
   * written and none was written without them following. Then a read that runs to completion on
   * this thread (getSync only) sees one state without a LevelDB snapshot: no batch can start
   * writing before it ends. Cleared just before a batch is handed to LevelDB, set once the fields
   * caught up; a batch that fails leaves it cleared (reads keep taking snapshots).
   */
  private settled = false;

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
  /** Keyspace revision of the applied state (etcd's current revision: 1 for a new store). */
  get revision(): number {
    return this._revision;
  }
  /** Highest compacted revision (-1 before the first compaction, as etcd); reads below it fail. */
  get compactRevision(): number {
    return this._compactRevision;
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
    return this.applyWithEvents(entries, opts).then((r) => r.results);
  }

  /**
   * apply() that also returns the keyspace events the batch made, in revision order (a Txn's in
   * the order it made them), when `collectEvents()` — asked as the batch starts executing —
   * says someone watches; `events` is null otherwise (collecting costs a small object per write).
   * `revision` is the keyspace revision after the batch (what the events lead up to).
   */
  applyWithEvents(
    entries: readonly ApplyEntry[],
    opts: { confState?: ConfState; onExecuted?: (results: CommandResult[]) => void; collectEvents?: () => boolean } = {},
  ): Promise<AppliedBatch> {
    return this.exclusive(() => this.applyNow(entries, opts.confState, opts.onExecuted, opts.collectEvents));
  }

  private async applyNow(
    entries: readonly ApplyEntry[],
    confState: ConfState | undefined,
    onExecuted?: (results: CommandResult[]) => void,
    collectEvents?: () => boolean,
  ): Promise<AppliedBatch> {
    const start = {
      db: this.db,
      revision: this._revision,
      compactRevision: this._compactRevision,
      applied: this._applied,
      appliedTerm: this._appliedTerm,
      dedupWindow: this.dedupWindow,
      onLeaseChanges: this.leaseObserver,
    };
    // The auth state moves with the results: a caller told its grant was applied is checked
    // against it from then on, even before the batch is on disk.
    const collect = collectEvents?.() ?? false;
    const { results, tx } = await applyBatch(
      start,
      entries,
      confState,
      (res, t) => {
        this.settled = false;
        this._auth = patchAuth(this._auth, t.overlay);
        onExecuted?.(res);
      },
      collect,
    );
    if (!tx) return { results, events: collect ? [] : null, revision: this._revision };
    this._applied = tx.applied;
    this._appliedTerm = tx.appliedTerm;
    this._revision = tx.revision;
    this._compactRevision = tx.compactRevision;
    if (confState) this._confState = { voters: [...confState.voters], learners: [...confState.learners] };
    this.revisions.record(tx.revisionWrites);
    this.currentKeys.record(tx.revisionWrites);
    this.settled = true;
    if (tx.compacted) {
      this.compactor.kick(this._compactRevision);
      this.revisions.compact(this._compactRevision);
      this.pastLists.dropBelow(this._compactRevision);
    }
    return { results, events: tx.events, revision: this._revision };
  }

  // ---- reads (serve the last written batch) ----

  /** etcd's Range (storage/keyspace/range.ts): throws KeyspaceError with etcd's code and message. */
  range(req: RangeRequest, opts: RangeOptions = {}): Promise<RangeResult> {
    if (!this.settled) return rangeRead(this.db, req, opts);
    // The common read, one key at the current revision, without a snapshot (see `settled`).
    try {
      const r = rangeOneKeySync(this.db, req, this._revision, this._compactRevision, this.revisions);
      if (r) return Promise.resolve(r);
    } catch (err) {
      return Promise.reject(err);
    }
    // Nothing is being written: the in-memory indexes match the snapshot rangeRead takes now.
    return rangeRead(this.db, req, opts, this.indexes);
  }

  /** A txn of Range operations only, served from the last written batch (etcd serves those without Raft). */
  readTxn(req: TxnRequest, opts: RangeOptions = {}): Promise<TxnReadResult> {
    // As range(): with nothing being written, the in-memory indexes match the snapshot taken now.
    return readTxn(this.db, req, opts, this.settled ? this.indexes : undefined);
  }

  /** A key's value as of `revision` (undefined if it did not exist then): prev_kv for watch events. */
  valueAt(key: Uint8Array, revision: number): Promise<EtcdKeyValue | undefined> {
    return valueAt(this.db, key, revision);
  }

  /** The events of a revision interval on a key range, in revision order (watch catch-up). */
  events(req: EventsRequest): Promise<EventsPage> {
    return readEvents(this.db, req);
  }

  /**
   * Watch catch-up: the events of a revision interval as stored records (storage/keyspace/events.ts),
   * optionally filtered by key and with their previous key-values. COMPACTED below the compact revision.
   */
  eventRecords(req: EventRecordsRequest): Promise<EventRecordsPage> {
    return readEventRecords(this.db, req);
  }

  /**
   * Whether a key under one of `prefixes` (UTF-8 strings) changed after `afterRevision`, from the
   * stored history; true also when that would mean looking at more than `max` revisions or events,
   * or the start is compacted (storage/keyspace/events.ts). `revision`: the one the answer holds at.
   */
  changedUnder(prefixes: readonly string[], afterRevision: number, max: number): Promise<{ changed: boolean; revision: number }> {
    return changedUnder(this.db, prefixes.map(utf8ToBin), afterRevision, max);
  }

  /**
   * The stored record of the event at (main, sub), read on the calling thread (a live event's
   * prev_kv); undefined when it is gone (physically compacted) or the database is being swapped.
   */
  eventRecordSync(main: number, sub: number): Buffer | undefined {
    try {
      return this.db.getSync(rawKey('log', logKey(main, sub)));
    } catch (err) {
      if ((err as { code?: string }).code === 'LEVEL_DATABASE_NOT_OPEN') return undefined;
      throw err;
    }
  }

  /** Resolves once the history below `revision` is physically removed (etcd's Compact physical=true). */
  waitCompaction(revision: number): Promise<void> {
    return this.compactor.wait(revision);
  }

  /** Keys and entries held by the revision index (keyspace/revision-index.ts): metrics and tests. */
  get revisionIndexSize(): { keys: number; entries: number } {
    return this.revisions.size;
  }

  /** Lists of keys at past revisions kept for paging, the keys they hold, pages answered from them (keyspace/past-lists.ts). */
  get pastListStats(): { lists: number; keys: number; hits: number } {
    return this.pastLists.stats;
  }

  /** Keys that exist at the last applied revision (keyspace/current-index.ts): metrics. */
  get currentKeyCount(): number {
    return this.currentKeys.size;
  }

  /** @internal Physical compaction progress (tests, benchmarks). */
  get compaction(): { progress: number; steps: number; lastError: Error | undefined } {
    return { progress: this.compactor.progress, steps: this.compactor.steps, lastError: this.compactor.lastError };
  }

  /** The native API's view of a key (string keys, UTF-8). */
  async get(key: string): Promise<KeyValue | undefined> {
    return nativeGet(this.db, key);
  }

  /**
   * get() without the thread-pool round trip: LevelDB's memtable/block cache is read on the
   * calling thread (classic-level getSync). Same view as get(): the last completed batch.
   */
  getSync(key: string): KeyValue | undefined {
    return nativeGetSync(this.db, key);
  }

  async exists(key: string): Promise<boolean> {
    return (await nativeGet(this.db, key)) !== undefined;
  }

  /** Keys starting with `prefix` in byte order, after `startAfter`, at most `limit` and `maxBytes`. */
  list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    return nativeList(this.db, prefix, opts);
  }

  /** Users, roles and the auth flag and revision as of the last applied batch (storage/auth). */
  get auth(): AuthSnapshot {
    return this._auth;
  }

  getUser(name: string): Promise<User | undefined> {
    return getUser(this.db, name);
  }

  listUsers(): Promise<User[]> {
    return listUsers(this.db);
  }

  getConfig(name: string): Promise<ConfigEntry | undefined> {
    return getConfig(this.db, name);
  }

  listConfig(): Promise<ConfigEntry[]> {
    return listConfig(this.db);
  }

  getLease(id: number): Promise<Lease | undefined> {
    return getLease(this.db, id);
  }

  /** All leases in id order (the leader revokes those with expiresAtMs < its clock). */
  listLeases(): Promise<Lease[]> {
    return listLeases(this.db);
  }

  /** The replicated lease bounds (storage/leases/limits.ts). */
  leaseLimits(): Promise<LeaseLimits> {
    return readLimits(this.db);
  }

  /** Keys attached to a lease, as stored (bytes: the etcd API's keys need not be UTF-8). */
  async leaseKeysRaw(id: number): Promise<Buffer[]> {
    return (await leaseKeys(this.db, id)).map((k) => Buffer.from(k, 'latin1'));
  }

  /** Keys attached to a lease (UTF-8 strings). */
  async leaseKeys(id: number): Promise<string[]> {
    return (await leaseKeys(this.db, id)).map((k) => Buffer.from(k, 'latin1').toString('utf8'));
  }

  /**
   * SHA-256 (hex) over every replicated key and value in every namespace, except the applied
   * index/term and confState, the local namespace (physical compaction progress) and the history
   * at or below the compact revision (which each replica removes at its own pace). Two replicas
   * that applied the same log prefix have the same hash.
   */
  async hash(): Promise<string> {
    return (await this.digest()).hash;
  }

  /**
   * hash() with the applied index and revision it is the hash of: all three read from one
   * snapshot of the database (an applied batch and its applied index are written together), so
   * no caller has to retry while entries keep being applied.
   */
  async digest(): Promise<{ appliedIndex: number; revision: number; hash: string }> {
    const snap = this.db.snapshot();
    try {
      const meta = async (name: string): Promise<Buffer | undefined> => (await this.db.get(Buffer.from(`!meta!${name}`), { snapshot: snap })) ?? undefined;
      const appliedRaw = await meta('applied');
      const revisionRaw = await meta('revision');
      const h = createHash('sha256');
      const len = Buffer.allocUnsafe(4);
      const skip = new Set(['!meta!applied', '!meta!confState', '!meta!format']);
      const compactRaw = await meta('compact');
      const compacted = compactRaw ? readU64(compactRaw, 0) : -1;
      const pacer = new Pacer();
      for await (const batch of scanAll(this.db, snap)) {
        for (const [k, v] of batch) {
          if (skip.has(k.toString('latin1')) || isLocal(k) || historyAtOrBelow(k, compacted)) continue;
          len.writeUInt32LE(k.length, 0);
          h.update(len);
          h.update(k);
          len.writeUInt32LE(v.length, 0);
          h.update(len);
          h.update(v);
          const p = pacer.pace();
          if (p) await p;
        }
      }
      return { appliedIndex: appliedRaw ? readU64(appliedRaw, 0) : 0, revision: revisionRaw ? readU64(revisionRaw, 0) : 1, hash: h.digest('hex') };
    } finally {
      await snap.close();
    }
  }

  /** etcd's HashKV: the keyspace's events up to `revision` (0: the current one), storage/keyspace/hash-kv.ts. */
  hashKv(revision: number): Promise<HashKvResult> {
    return hashKv(this.db, revision);
  }

  /** The alarms raised (storage/alarms/alarms.ts), as of the last applied batch. */
  alarms(): Promise<Alarm[]> {
    return listAlarms(this.db);
  }

  /** Bytes the live database's files take on disk. */
  async dbSize(): Promise<number> {
    let total = 0;
    for (const f of await fsp.readdir(this.dbPath)) {
      const st = await fsp.stat(join(this.dbPath, f)).catch(() => null);
      if (st?.isFile()) total += st.size;
    }
    return total;
  }

  /** etcd's Defragment: LevelDB compacts every table, dropping deleted and overwritten records. */
  async defragment(): Promise<void> {
    await this.db.compactRange(Buffer.alloc(0), Buffer.from([0xff, 0xff, 0xff, 0xff]));
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
        const pacer = new Pacer();
        // Records are framed straight into one chunk (key length, key, value length, value, each
        // length u32 LE). A chunk is handed on when the next record does not fit (a record larger
        // than SNAPSHOT_CHUNK_BYTES gets a chunk of its own), and never written again: the store
        // may still be writing it out.
        let chunk = Buffer.allocUnsafe(SNAPSHOT_CHUNK_BYTES);
        let size = 0;
        for await (const batch of scanAll(db, snap)) {
          for (const [k, v] of batch) {
            const need = 8 + k.length + v.length;
            if (size + need > chunk.length) {
              if (size > 0) yield chunk.subarray(0, size);
              chunk = Buffer.allocUnsafe(Math.max(SNAPSHOT_CHUNK_BYTES, need));
              size = 0;
            }
            chunk.writeUInt32LE(k.length, size);
            k.copy(chunk, size + 4);
            chunk.writeUInt32LE(v.length, size + 4 + k.length);
            v.copy(chunk, size + 8 + k.length);
            size += need;
            const p = pacer.pace();
            if (p) await p;
          }
        }
        if (size > 0) yield chunk.subarray(0, size);
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
      // A name above every database here: an existing directory is never overwritten or removed.
      const n = Math.max(dbNumber(this.dbName), ...(await fsp.readdir(this.dir)).filter((x) => DB_RE.test(x)).map(dbNumber)) + 1;
      const name = dbName(n);
      const path = join(this.dir, name);
      if (await exists(path)) throw new StorageError('SM_INVALID', `snapshot install: ${path} already exists`);
      const fresh = await StateMachine.openDb(path, true);
      try {
        const pacer = new Pacer();
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
            const p = pacer.pace();
            if (p) await p;
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
        // Complete: open() must not take it for an unfinished install should the flip not happen.
        await writeFileAtomic(join(path, INSTALLED), `${source.meta.index}/${source.meta.term} from ${this.dbName}\n`);
      } catch (e) {
        await fresh.close();
        // Only the directory this install created (checked absent above).
        await fsp.rm(path, { recursive: true, force: true });
        throw e;
      }
      await writeFileAtomic(join(this.dir, CURRENT), name);
      const old = this.db;
      const oldName = this.dbName;
      await this.attach(name, fresh);
      await old.close();
      // Superseded by a durable replacement that CURRENT_DB now names.
      await fsp.rm(join(this.dir, oldName), { recursive: true, force: true });
      await fsyncDir(this.dir);
    });
  }

  /** Wait for queued applies, then close the database. */
  async close(): Promise<void> {
    await this.exclusive(async () => {
      await this.compactor.close();
      this.revisions.close();
      await this.db.close();
    });
  }
}

const LOCAL = NS_PREFIX.local;
const LOG = NS_PREFIX.log;
const HIST = NS_PREFIX.hist;

function isLocal(k: Buffer): boolean {
  return k.length >= LOCAL.length && k.compare(LOCAL, 0, LOCAL.length, 0, LOCAL.length) === 0;
}

/** A `log` or `hist` record whose main revision is at or below `rev`. */
function historyAtOrBelow(k: Buffer, rev: number): boolean {
  if (rev < 0) return false;
  if (k.length === LOG.length + 12 && k.compare(LOG, 0, LOG.length, 0, LOG.length) === 0) {
    return k.readUInt32BE(LOG.length) * 2 ** 32 + k.readUInt32BE(LOG.length + 4) <= rev;
  }
  if (k.length > HIST.length + 14 && k.compare(HIST, 0, HIST.length, 0, HIST.length) === 0) {
    const o = k.length - 12;
    return Number.MAX_SAFE_INTEGER - (k.readUInt32BE(o) * 2 ** 32 + k.readUInt32BE(o + 4)) <= rev;
  }
  return false;
}
