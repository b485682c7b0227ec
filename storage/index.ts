// Public surface of storage/: durable Raft log, snapshot files and the replicated state machine.
// Nothing here imports from src/. See storage/README.md for the on-disk layout.
//
// Typical node wiring:
//   const { wal, recovered } = await Wal.open(`${data}/wal`);
//   const snaps = await SnapshotStore.open(`${data}/snap`);
//   const sm = await StateMachine.open(`${data}/sm`);
//   // Ready loop: await wal.save({ snapshot?, entries, hardState }) → send → sm.apply(committed)
//   // Compaction: const info = await sm.createSnapshot(snaps, { confState });
//   //             await wal.save({ snapshot: info.meta }); await wal.compact(info.meta.index);
//   // Received snapshot: rx = await snaps.beginReceive(meta); rx.write(...); info = await rx.commit();
//   //             await sm.installSnapshot(snaps.openReader(meta)); await wal.save({ snapshot: meta });

export { Wal, segmentName } from './wal/wal.js';
export type { WalBatch, WalObserver, WalOptions, WalRecovered, WalStats } from './wal/wal.js';
export { SnapshotStore, snapshotFileName, verifySnapshotFile } from './snapshot/store.js';
export type { SnapshotInfo, SnapshotReader, SnapshotReceiver, SnapshotStoreOptions } from './snapshot/store.js';
export { StateMachine } from './state-machine/state-machine.js';
export type { ApplyEntry, ListOptions, ListResult, SnapshotContentSource, StateMachineOptions } from './state-machine/state-machine.js';
export { StorageError, WalCorruptionError, SnapshotCorruptionError } from './errors.js';
