// Public surface of storage/: durable Raft log, snapshot files and the replicated state machine.
// Nothing here imports from src/. See storage/README.md for the on-disk layout.
//
// Typical node wiring (order matters for crash safety):
//   const { wal, recovered } = await Wal.open(`${data}/wal`);        // throws WalCorruptionError → refuse to start
//   const snaps = await SnapshotStore.open(`${data}/snap`);
//   const sm = await StateMachine.open(`${data}/sm`);
//   // Startup: if recovered.snapshot.index > sm.appliedIndex (crash between WAL save and install),
//   //   await sm.installSnapshot(snaps.openReader(recovered.snapshot)) first.
//   //   RaftInitialState = { hardState, snapshot, entries } from `recovered`, applied = sm.appliedIndex.
//   // Ready loop: await wal.save({ snapshot?, entries, hardState }) → send messages →
//   //   sm.apply(committedEntries, { confState if it changed }) → advance.
//   // Local snapshot + compaction: const info = await sm.createSnapshot(snaps, { confState });
//   //   await wal.save({ snapshot: info.meta }); await wal.compact(info.meta.index);
//   // Sending a snapshot: for await (const chunk of snaps.openReader(meta).chunks()) send(chunk).
//   // Receiving: rx = await snaps.beginReceive(meta); await rx.write(chunk)...; await rx.commit();
//   //   then (via Ready.snapshot) await wal.save({ snapshot: meta, ... }); await sm.installSnapshot(snaps.openReader(meta)).

export { Wal, segmentName } from './wal/wal.js';
export type { WalBatch, WalObserver, WalOptions, WalRecovered, WalStats } from './wal/wal.js';
export { SnapshotStore, snapshotFileName, verifySnapshotFile } from './snapshot/store.js';
export { backupSize, backupTrailer, verifyBackupFile } from './snapshot/backup.js';
export type { BackupInfo } from './snapshot/backup.js';
export { NO_SPACE_MESSAGE } from './alarms/alarms.js';
export type { Alarm } from './alarms/alarms.js';
export type { HashKvResult } from './keyspace/hash-kv.js';
export type { SnapshotInfo, SnapshotReader, SnapshotReceiver, SnapshotStoreOptions } from './snapshot/store.js';
export { StateMachine } from './state-machine/state-machine.js';
export type {
  AppliedBatch,
  ApplyEntry,
  EventRecordsPage,
  EventRecordsRequest,
  KeyEvent,
  EventsPage,
  EventsRequest,
  ListOptions,
  ListResult,
  RangeOptions,
  RangeResult,
  SnapshotContentSource,
  StateMachineOptions,
  TxnReadResult,
} from './state-machine/state-machine.js';
export { isReadOnlyTxn } from './keyspace/read.js';
// The etcd KV API's checks and errors, shared by the gRPC layer and the applier.
export { KeyspaceError, GRPC } from './keyspace/errors.js';
export type { KeyspaceErrorKind } from './keyspace/errors.js';
export {
  checkDeleteRange,
  checkPut,
  checkRange,
  checkRequestSize,
  checkTxn,
  DEFAULT_MAX_REQUEST_BYTES,
  DEFAULT_MAX_TXN_OPS,
  MAX_TXN_DEPTH,
  MAX_TXN_OPS_CEILING,
} from './keyspace/validate.js';
export { StorageError, WalCorruptionError, SnapshotCorruptionError, StateMachineCorruptionError } from './errors.js';
export { verifyLevelDb } from './state-machine/leveldb-verify.js';
export type { LevelDbProblem } from './state-machine/leveldb-verify.js';
// etcd's auth model (users, roles, the auth revision) and the permission check shared with src/.
export { AUTH_ERR, AuthError, codeOfAuthMessage } from './auth/errors.js';
export { callerRefusal, snapshotView, type AuthView } from './auth/recheck.js';
export { commandNeed, covers, hasRootRole, permitted, prefixEnd, ROOT, txnNeeds } from './auth/perms.js';
export type { Access, KeyNeed, Need } from './auth/perms.js';
export { tokenCurrent, EMPTY_AUTH } from './auth/store.js';
export type { AuthSnapshot } from './auth/store.js';
