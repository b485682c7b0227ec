// Whether this member's state machine can be trusted. Damage is found by the checksum check at
// open (storage), by the background check of its table files (--sm-check-interval-ms, pausing
// between blocks) and by LevelDB failing a read or a write. Once damaged, the node is
// not ready, refuses reads and applies nothing until the state machine is rebuilt. (A full pass
// over 500 MiB of tables costs about a second of CPU, spread out in slices.)

import { StateMachineCorruptionError } from '../../storage/index.js';
import type { HealthCheck } from '../http/backend.js';
import { PlacementError } from '../errors.js';

/** LevelDB's way of saying its files are damaged (a read that fails a block's structure, a bad open). */
export function isStateMachineDamage(err: unknown): boolean {
  if (err instanceof StateMachineCorruptionError) return true;
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } } | null;
  if (!e) return false;
  return e.code === 'LEVEL_CORRUPTION' || e.cause?.code === 'LEVEL_CORRUPTION' || /corrupt/i.test(e.message ?? '') || /corrupt/i.test(e.cause?.message ?? '');
}

export class StateMachineHealth {
  /** Why the state machine is not trusted (null: it is). */
  fault: string | null = null;
  /** Rebuilding: set while the node replaces it. */
  rebuilding = false;
  /** The last rebuild could not be done (the reason and the way back). */
  stuck: string | null = null;
  rebuilds = 0;
  /** Where applying last failed ("<applied>: <error>"), to tell damage from a deterministic bug. */
  lastApplyFailure: string | null = null;
  lastCheck = 'checksums verified at open';

  /** Throws the error reads get while the state machine is not trusted. */
  guardRead(): void {
    if (this.fault !== null) {
      throw new PlacementError('UNAVAILABLE', `this member's state machine is damaged and is being rebuilt (${this.fault}); read from another member`);
    }
  }

  readyCheck(): HealthCheck {
    if (this.fault === null) return { name: 'state-machine', ok: true, detail: this.lastCheck };
    const what = this.stuck ? `cannot rebuild: ${this.stuck}` : this.rebuilding ? 'rebuilding from the snapshot and the log' : 'rebuild pending';
    return { name: 'state-machine', ok: false, detail: `damaged (${this.fault}); ${what}` };
  }
}
