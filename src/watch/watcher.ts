// One watcher: the key range it watches, where it stands in the revision sequence, how much it
// has handed to its stream that has not left the process yet, and its options.

import type { Ranged } from './group.js';
import type { HubStream } from './hub.js';

/** What a client asks for (etcd's WatchCreateRequest, keys as binary strings). */
export interface WatchSpec {
  /** First key (binary string). */
  from: string;
  /** End of the range, exclusive (undefined: the end of the keyspace); ignored when `single`. */
  to: string | undefined;
  single: boolean;
  /** First revision to deliver; 0 = the revision after the current one. */
  startRevision: number;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
  progressNotify: boolean;
  fragment: boolean;
}

export type WatcherState = 'synced' | 'unsynced' | 'canceled';

export class Watcher implements Ranged {
  readonly from: string;
  readonly to: string | undefined;
  readonly single: boolean;
  readonly prevKv: boolean;
  readonly noPut: boolean;
  readonly noDelete: boolean;
  readonly progressNotify: boolean;
  readonly fragment: boolean;
  /**
   * The first revision not yet handed to the stream. Kept exact while the watcher catches up;
   * while synced it is a lower bound (events below it are never delivered twice at the seam),
   * the exact position being the hub's revision + 1.
   */
  minRev: number;
  state: WatcherState;
  /** Events and bytes handed to the stream that have not left the process yet. */
  pendingEvents = 0;
  pendingBytes = 0;
  /** Events were sent since the last periodic progress notification (which is then skipped). */
  sentSinceProgress = false;

  constructor(
    readonly id: number,
    readonly stream: HubStream,
    spec: WatchSpec,
    minRev: number,
    state: WatcherState,
  ) {
    this.from = spec.from;
    this.to = spec.to;
    this.single = spec.single;
    this.prevKv = spec.prevKv;
    this.noPut = spec.noPut;
    this.noDelete = spec.noDelete;
    this.progressNotify = spec.progressNotify;
    this.fragment = spec.fragment;
    this.minRev = minRev;
    this.state = state;
  }

  /** Whether `key` (binary string) is in the watched range. */
  watches(key: string): boolean {
    if (this.single) return key === this.from;
    return key >= this.from && (this.to === undefined || key < this.to);
  }

  /** Whether the filters let an event of this kind through. */
  wants(isDelete: boolean): boolean {
    return isDelete ? !this.noDelete : !this.noPut;
  }
}
