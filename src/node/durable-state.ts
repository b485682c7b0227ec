// Opening one member's durable state (WAL, snapshot files, state machine) and checking that it
// is a state a correctly working member can have left behind, before the Raft core sees it.
// Everything it cannot make consistent without losing acknowledged state is a StartupRefusal
// naming what is wrong and the way back; what it can repair safely (a damaged state machine
// with a snapshot and log to rebuild it from) it repairs, deleting nothing.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LostLogError, checkRestartState, initialLastIndex } from '../../raft/index.js';
import type { ConfState, RaftInitialState, SnapshotMeta } from '../../raft/index.js';
import { SnapshotStore, StateMachine, StateMachineCorruptionError, StorageError, Wal, WalCorruptionError } from '../../storage/index.js';
import type { SnapshotInfo, WalObserver } from '../../storage/index.js';
import { writeFileAtomic } from '../../storage/util/fs.js';
import type { Logger } from '../log.js';
import { StartupRefusal } from './refusal.js';

export const REJOIN_MARKER = 'REJOINING';

const REJOIN_HOW =
  'start this member again with --rejoin: it keeps this data, catches up from the leader and neither votes nor counts towards any quorum until it has ' +
  '(the other voters must form a quorum meanwhile). If you restored this data directory, or part of it, from an old copy, putting the current copy back is better still.';

export interface DurableState {
  wal: Wal;
  store: SnapshotStore;
  sm: StateMachine;
  /** For the Raft core. */
  initial: RaftInitialState;
  /** The newest snapshot the log refers to has no file: take a new one before a follower needs it. */
  snapshotFileMissing: boolean;
}

export interface OpenOptions {
  dataDir: string;
  /** Membership of a brand-new cluster (--peers). */
  bootstrap: ConfState;
  /** --rejoin given, or the marker left by an unfinished rejoin. */
  rejoin: boolean;
  log: Logger;
  walObserver?: WalObserver;
  /** The WAL's preallocation (--wal-preallocate-bytes). */
  walPreallocateBytes?: number;
  /** Replace the state machine's database (it was found damaged) and rebuild it: the reason. */
  rebuildStateMachine?: string;
}

export function rejoinMarkerPath(dataDir: string): string {
  return join(dataDir, REJOIN_MARKER);
}

/** Remembers --rejoin in the data directory before the member answers anything. */
export async function markRejoining(dataDir: string): Promise<void> {
  if (!existsSync(rejoinMarkerPath(dataDir))) await writeFileAtomic(rejoinMarkerPath(dataDir), `${new Date().toISOString()}\n`);
}

export async function openDurableState(o: OpenOptions): Promise<DurableState> {
  const { dataDir, log } = o;
  let opened: { wal: Wal; recovered: import('../../storage/index.js').WalRecovered };
  try {
    opened = await Wal.open(join(dataDir, 'wal'), { observer: o.walObserver, preallocateBytes: o.walPreallocateBytes });
  } catch (e) {
    if (e instanceof WalCorruptionError) {
      throw new StartupRefusal(e.message, `restore this member's data directory from a consistent copy, or move it aside and start this member on an empty one with --rejoin`);
    }
    throw e;
  }
  const { wal, recovered } = opened;
  const store = await SnapshotStore.open(join(dataDir, 'snap'), { retain: 3 });
  const sm = await openStateMachine(join(dataDir, 'sm'), log, o.rebuildStateMachine);

  const marker = recovered.snapshot;
  const lastIndex = recovered.entries.length > 0 ? recovered.entries[recovered.entries.length - 1]!.index : (marker?.index ?? 0);
  let snapshotFileMissing = false;
  if (marker && !store.find(marker)) {
    snapshotFileMissing = true;
    log.error(
      { index: marker.index, term: marker.term, dir: store.dir, present: store.list().map((s) => `${s.meta.index}/${s.meta.term}`) },
      'the snapshot the log starts from has no file: a new one will be taken at once (followers that need a snapshot get that one)',
    );
  }
  if (marker && sm.appliedIndex < marker.index) {
    // Behind the log's start: only a snapshot file can bring the state machine up to it.
    const source = await usableSnapshot(store, marker, lastIndex, log);
    if (!source) {
      throw new StartupRefusal(
        `the state machine (applied ${sm.appliedIndex}) is behind the log, which starts after the snapshot at ${marker.index}/${marker.term}, ` +
          `and no snapshot file from ${marker.index} to ${lastIndex} in ${store.dir} is usable (${describeSnapshots(store)}): the entries in between exist nowhere here`,
        `restore ${store.dir} from a copy of this member's data directory, or move the data directory aside and start this member on an empty one with --rejoin (it gets a snapshot from the leader)`,
      );
    }
    log.info({ index: source.meta.index, applied: sm.appliedIndex }, 'state machine behind the log: installing a snapshot');
    await sm.installSnapshot(store.openReader(source.meta));
  }

  const initial: RaftInitialState = {
    hardState: recovered.hardState,
    snapshot: marker,
    entries: recovered.entries,
    confState: o.bootstrap,
    applied: sm.appliedIndex,
    rejoin: o.rejoin,
  };
  const lost = checkRestartState(initial);
  if (lost) {
    if (!o.rejoin) {
      throw new StartupRefusal(
        `${lost.message} (data directory ${dataDir}: the log in wal/ ends at ${initialLastIndex(initial)}, ` +
          (lost.what === 'commit' ? `its hard state says ${lost.index} is committed)` : `the state machine in sm/ has applied up to ${lost.index})`) +
          '. Starting would forget what this member acknowledged: entries committed with its acknowledgement may now be on fewer than a quorum, and its vote could elect a leader without them',
        REJOIN_HOW,
      );
    }
    if (lost.what === 'applied') {
      // The state machine holds committed entries the log lost: rebase the log onto it.
      const hardState = { ...recovered.hardState, commit: Math.max(recovered.hardState.commit, sm.appliedIndex) };
      const info = await rebaseLogOnStateMachine(sm, store, wal, hardState, o.bootstrap);
      log.warn({ index: info.meta.index, term: info.meta.term }, 'rejoin: the log lost entries the state machine applied; the log now starts at its state');
      initial.snapshot = info.meta;
      initial.entries = [];
      initial.hardState = hardState;
    } else {
      log.warn({ commit: lost.index, lastIndex: lost.lastIndex }, 'rejoin: the log lost committed entries; catching up from the leader');
    }
  }
  return { wal, store, sm, initial, snapshotFileMissing };
}

async function openStateMachine(dir: string, log: Logger, rebuild: string | undefined): Promise<StateMachine> {
  const onCleanup = (what: string): void => log.info({ dir }, `state machine: ${what}`);
  if (rebuild !== undefined && existsSync(join(dir, 'CURRENT_DB'))) {
    const q = await StateMachine.quarantine(dir, rebuild);
    log.warn({ quarantined: q.quarantined, fresh: q.fresh, reason: rebuild }, 'state machine: damaged database moved aside; rebuilding from the snapshot and the log');
  }
  try {
    return await StateMachine.open(dir, { onCleanup });
  } catch (e) {
    if (e instanceof StateMachineCorruptionError) {
      // Safe to repair automatically: nothing is deleted, and the snapshot and log it is rebuilt
      // from are checked (a refusal follows below when they cannot cover it).
      log.error({ err: e.message }, 'state machine damaged: moving it aside and rebuilding it from the snapshot and the log');
      const q = await StateMachine.quarantine(dir, e.message);
      log.warn({ quarantined: q.quarantined, fresh: q.fresh }, 'state machine: damaged database kept aside for inspection');
      return StateMachine.open(dir, { onCleanup });
    }
    if (e instanceof StorageError && e.code === 'SM_INVALID') throw new StartupRefusal(e.message, REJOIN_HOW);
    throw e;
  }
}

/** The newest snapshot file from `from` to `upTo` that passes its checksum. */
async function usableSnapshot(store: SnapshotStore, from: SnapshotMeta, upTo: number, log: Logger): Promise<SnapshotInfo | undefined> {
  const candidates = store.list().filter((s) => s.meta.index >= from.index && s.meta.index <= upTo).reverse();
  for (const c of candidates) {
    try {
      await store.verify(c.meta);
      return c;
    } catch (e) {
      log.error({ file: c.path, err: (e as Error).message }, 'snapshot file unusable');
    }
  }
  return undefined;
}

function describeSnapshots(store: SnapshotStore): string {
  const l = store.list();
  return l.length === 0 ? 'there are none' : `present: ${l.map((s) => `${s.meta.index}/${s.meta.term}`).join(', ')}`;
}

/**
 * Rejoin, state machine ahead of the log: its state is a committed prefix (it applies only
 * committed entries), so it is written out as a snapshot and the log restarted from it, as
 * when a snapshot arrives from the leader. Nothing is deleted: the WAL's older records are
 * superseded by the marker and compacted later.
 */
async function rebaseLogOnStateMachine(
  sm: StateMachine,
  store: SnapshotStore,
  wal: Wal,
  hardState: RaftInitialState['hardState'],
  bootstrap: ConfState,
): Promise<SnapshotInfo> {
  // The membership the state machine last recorded, else --peers: the leader corrects it.
  const info = await sm.createSnapshot(store, { confState: sm.confState ?? bootstrap });
  await wal.save({ snapshot: info.meta, hardState });
  return info;
}

export { LostLogError };
