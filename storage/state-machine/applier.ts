// The applier: turns a run of committed entries into ONE LevelDB batch. It decodes the commands,
// reads every key they will look at up front (synchronously), then hands each command, in log
// order, to the domain module that owns it — keyspace (storage/keyspace), leases, users, config —
// behind the de-duplication check (storage/dedup). Commands that must iterate (a range delete, a
// Txn with range reads, a lease revoke, a de-dup window jump) finish before the next one starts;
// everything else runs without a promise.

import { ALARMS_KEY, applyAlarm, refusedForSpace } from '../alarms/alarms.js';
import type { ConfState } from '../../raft/types.js';
import { Command, ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import type { RequestOp, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { decodeMessage } from '../../proto/codec.js';
import { StorageError } from '../errors.js';
import { writeU64 } from '../wal/record.js';
import { etcdCompaction, etcdDeleteRange, etcdPut, etcdTxn } from '../keyspace/apply.js';
import { KeyspaceError, GRPC } from '../keyspace/errors.js';
import { bin, utf8ToBin } from '../keyspace/keys.js';
import { nativeCas, nativeDelete, nativePut } from '../keyspace/native.js';
import { expire, grant, keepAlive, leaseExistsIn, limits, renew, revoke, type LeaseChange } from '../leases/leases.js';
import { deleteUser, putUser } from '../users/users.js';
import { deleteConfig, setConfig } from '../config/config.js';
import * as auth from '../auth/store.js';
import { leaseKeyWriteCheck, recheck } from '../auth/recheck.js';
import { dedupKey, lookup, remember } from '../dedup/dedup.js';
import { hex16, rawKey, type Db, type Ns } from './layout.js';
import { result } from './result.js';
import { Tx } from './tx.js';

/** An entry handed to apply(): the fields of raft's Entry that matter here. */
export interface ApplyEntry {
  index: number;
  term: number;
  /** raft EntryType: 0 = Normal (a Command, or a no-op when data is empty), 1 = ConfChange (only advances the applied index). */
  type?: number;
  data: Uint8Array;
}

const ENTRY_CONF_CHANGE = 1;

/** The replicated state an apply() starts from. */
export interface ApplyStart {
  db: Db;
  revision: number;
  compactRevision: number;
  applied: number;
  appliedTerm: number;
  dedupWindow: number;
  /** Told the leases a batch changed, once they are final (before the batch is written). */
  onLeaseChanges?: (changes: LeaseChange[]) => void;
}

/**
 * Executes `entries` against `start` and writes them as one batch. `onExecuted` gets the results
 * before the batch is written (the entries are committed: their outcome is final). Returns the
 * results and the Tx (the state after the batch), or no Tx when nothing needed writing.
 */
export async function applyBatch(
  start: ApplyStart,
  entries: readonly ApplyEntry[],
  confState: ConfState | undefined,
  onExecuted?: (results: CommandResult[], tx: Tx) => void,
  collectEvents = false,
): Promise<{ results: CommandResult[]; tx?: Tx }> {
  const tx = new Tx(start.db, start.revision, start.compactRevision, start.applied, start.appliedTerm);
  if (collectEvents) tx.events = [];
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
    if (e.index <= start.applied || e.type === ENTRY_CONF_CHANGE || e.data.length === 0) continue;
    let cmd: Command;
    try {
      cmd = decodeMessage(Command, e.data);
    } catch (err) {
      decoded.set(e.index, err as Error);
      continue;
    }
    decoded.set(e.index, cmd);
    if (cmd.clientId) {
      const client = utf8ToBin(cmd.clientId);
      want('dedup', client);
      want('dedup', dedupKey(client, cmd.seq));
    }
    prefetchKeys(cmd, want);
    if (cmd.caller) want('auth', 'revision'); // the apply-time re-check reads it (storage/auth/recheck.ts)
    want('meta', ALARMS_KEY); // the space check (storage/alarms): one read per batch, not per write
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
    tx.index = e.index;
    tx.term = e.term;
    if (e.type === ENTRY_CONF_CHANGE || e.data.length === 0) {
      results.push(result(ResultCode.RESULT_OK, tx.revision));
    } else {
      const r = applyCommand(tx, decoded.get(e.index)!, e.data, start.dedupWindow);
      results.push(r instanceof Promise ? await r : r);
    }
    tx.applied = e.index;
    tx.appliedTerm = e.term;
  }
  if (tx.applied === start.applied && !confState) return { results };
  const meta = Buffer.allocUnsafe(16);
  writeU64(meta, tx.applied, 0);
  writeU64(meta, tx.appliedTerm, 8);
  tx.put('meta', 'applied', meta);
  if (tx.revision !== start.revision) {
    const rev = Buffer.allocUnsafe(8);
    writeU64(rev, tx.revision, 0);
    tx.put('meta', 'revision', rev);
  }
  if (confState) tx.put('meta', 'confState', Buffer.from(JSON.stringify({ voters: confState.voters, learners: confState.learners })));
  // Raw root-level keys (`!ns!key`, the sublevel layout) in one batch: cheaper than per-op sublevel encoding.
  const batch = start.db.batch();
  for (const [ns, m] of tx.overlay) {
    for (const [k, v] of m) {
      const key = rawKey(ns, k);
      if (v === null) batch.del(key);
      else batch.put(key, v);
    }
  }
  if (tx.leaseChanges) start.onLeaseChanges?.(tx.leaseChanges);
  onExecuted?.(results, tx);
  await batch.write();
  return { results, tx };
}

/** The keys a command reads, for the prefetch (a miss there costs only a later getSync). */
function prefetchKeys(cmd: Command, want: (ns: Ns, key: string) => void): void {
  const op = cmd.op;
  switch (op?.$case) {
    case 'put':
    case 'cas':
      want('kv', utf8ToBin(op.value.key));
      if (op.value.lease) want('leases', hex16(op.value.lease));
      break;
    case 'delete':
      want('kv', utf8ToBin(op.value.key));
      break;
    case 'leaseGrant':
    case 'leaseRevoke':
    case 'leaseKeepAlive':
    case 'leaseExpire':
      want('leases', hex16(op.value.id));
      break;
    case 'leaseRenew':
      for (const id of op.value.ids) want('leases', hex16(id));
      break;
    case 'userPut':
      if (op.value.user) want('users', utf8ToBin(op.value.user.name));
      break;
    case 'userDelete':
      want('users', utf8ToBin(op.value.name));
      break;
    case 'configDelete':
      want('config', utf8ToBin(op.value.name));
      break;
    case 'etcdPut':
      want('kv', bin(op.value.key));
      if (op.value.lease) want('leases', hex16(op.value.lease));
      break;
    case 'etcdDeleteRange':
      if (op.value.rangeEnd.length === 0) want('kv', bin(op.value.key));
      break;
    case 'etcdTxn':
      txnKeys(op.value, want, 0);
      break;
    default:
  }
}

function txnKeys(t: TxnRequest, want: (ns: Ns, key: string) => void, depth: number): void {
  if (depth > 64) return;
  for (const c of t.compare) if (c.rangeEnd.length === 0) want('kv', bin(c.key));
  const ops = (list: RequestOp[]): void => {
    for (const o of list) {
      const q = o.request;
      if (q?.$case === 'requestPut') {
        want('kv', bin(q.value.key));
        if (q.value.lease) want('leases', hex16(q.value.lease));
      } else if ((q?.$case === 'requestRange' || q?.$case === 'requestDeleteRange') && q.value.rangeEnd.length === 0) want('kv', bin(q.value.key));
      else if (q?.$case === 'requestTxn') txnKeys(q.value, want, depth + 1);
    }
  };
  ops(t.success);
  ops(t.failure);
}

/** A promise only when the command has to iterate keys (see Tx.get). */
function applyCommand(tx: Tx, cmd: Command | Error, data: Uint8Array, window: number): CommandResult | Promise<CommandResult> {
  if (cmd instanceof Error) {
    return result(ResultCode.RESULT_INVALID, tx.revision, { message: `undecodable command: ${cmd.message}` });
  }
  if (!cmd.clientId) return execute(tx, cmd);
  const d = lookup(tx, cmd.clientId, cmd.seq, data, window);
  if (!('print' in d)) return d;
  const res = execute(tx, cmd);
  if (res instanceof Promise) return res.then((r) => remember(tx, d, r, window));
  return remember(tx, d, res, window);
}

/** Dispatches to the owning module. A promise only when the command iterates. */
function execute(tx: Tx, cmd: Command): CommandResult | Promise<CommandResult> {
  const now = cmd.leaderTimeMs;
  const op = cmd.op;
  const refused = recheck(tx, cmd);
  if (refused !== undefined) return result(ResultCode.RESULT_INVALID, tx.revision, { message: refused });
  const noSpace = refusedForSpace(tx, cmd);
  if (noSpace) return noSpace;
  switch (op?.$case) {
    case 'put':
      return nativePut(tx, op.value, leaseExistsIn(tx));
    case 'delete':
      return nativeDelete(tx, op.value);
    case 'cas':
      return nativeCas(tx, op.value, leaseExistsIn(tx));
    case 'leaseGrant':
      return grant(tx, op.value, now);
    case 'leaseKeepAlive':
      return keepAlive(tx, op.value, now);
    case 'leaseRevoke':
      return revoke(tx, op.value, leaseKeyWriteCheck(tx, cmd));
    case 'leaseRenew':
      return renew(tx, op.value, now);
    case 'leaseExpire':
      return expire(tx, op.value, now);
    case 'leaseLimits':
      return limits(tx, op.value);
    case 'userPut':
      return putUser(tx, op.value, now);
    case 'userDelete':
      return deleteUser(tx, op.value);
    case 'configSet':
      return setConfig(tx, op.value, now);
    case 'configDelete':
      return deleteConfig(tx, op.value);
    case 'etcdPut':
      return etcd(tx, () => ({ $case: 'etcdPut', value: etcdPut(tx, op.value, leaseExistsIn(tx)) }));
    case 'etcdDeleteRange':
      return etcd(tx, () => then(etcdDeleteRange(tx, op.value), (value) => ({ $case: 'etcdDeleteRange', value })));
    case 'etcdTxn':
      return etcd(tx, () => then(etcdTxn(tx, op.value, leaseExistsIn(tx)), (value) => ({ $case: 'etcdTxn', value })));
    case 'etcdCompaction':
      return etcd(tx, () => ({ $case: 'etcdCompaction', value: etcdCompaction(tx, op.value) }));
    case 'authEnable':
      return auth.authEnable(tx);
    case 'authDisable':
      return auth.authDisable(tx);
    case 'authUserAdd':
      return auth.userAdd(tx, op.value, now);
    case 'authUserDelete':
      return auth.userDelete(tx, op.value.name);
    case 'authUserChangePassword':
      return auth.userChangePassword(tx, op.value, now);
    case 'authUserGrantRole':
      return auth.userGrantRole(tx, op.value, now);
    case 'authUserRevokeRole':
      return auth.userRevokeRole(tx, op.value, now);
    case 'authRoleAdd':
      return auth.roleAdd(tx, op.value.name);
    case 'authRoleDelete':
      return auth.roleDelete(tx, op.value.role, now);
    case 'authRoleGrantPermission':
      return auth.roleGrantPermission(tx, op.value);
    case 'authRoleRevokePermission':
      return auth.roleRevokePermission(tx, op.value);
    case 'etcdAlarm':
      return applyAlarm(tx, op.value);
    default:
      return result(ResultCode.RESULT_INVALID, tx.revision, { message: 'command without an operation' });
  }
}

type EtcdResponse = NonNullable<CommandResult['response']>;

function then<T, U>(v: T | Promise<T>, f: (v: T) => U): U | Promise<U> {
  return v instanceof Promise ? v.then(f) : f(v);
}

/** Runs an etcd command; its KeyspaceError becomes the result (code and etcd's message), with nothing applied. */
function etcd(tx: Tx, run: () => EtcdResponse | Promise<EtcdResponse>): CommandResult | Promise<CommandResult> {
  // No closures of its own on the synchronous path (a Put's): a result lives until the batch is answered.
  let r: EtcdResponse | Promise<EtcdResponse>;
  try {
    r = run();
  } catch (e) {
    return etcdFailure(tx, e);
  }
  return r instanceof Promise ? r.then((response) => etcdSuccess(tx, response), (e: unknown) => etcdFailure(tx, e)) : etcdSuccess(tx, r);
}

function etcdSuccess(tx: Tx, response: EtcdResponse): CommandResult {
  return result(ResultCode.RESULT_OK, tx.revision, { response });
}

/** A KeyspaceError becomes the result (code and etcd's message); anything else is no answer but a failure. */
function etcdFailure(tx: Tx, e: unknown): CommandResult {
  if (!(e instanceof KeyspaceError)) throw e;
  const code =
    e.grpcCode === GRPC.OUT_OF_RANGE
      ? ResultCode.RESULT_OUT_OF_RANGE
      : e.grpcCode === GRPC.NOT_FOUND
        ? ResultCode.RESULT_NOT_FOUND
        : e.grpcCode === GRPC.RESOURCE_EXHAUSTED
          ? ResultCode.RESULT_LIMIT_EXCEEDED
          : ResultCode.RESULT_INVALID;
  return result(code, tx.revision, { message: e.message });
}
