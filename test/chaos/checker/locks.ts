// The lock check of a chaos run. Lockers take a mutex (etcd's concurrency layout: one key per
// contender under the lock's prefix; the owner is the existing key with the lowest create
// revision) and, holding it, make a fenced write: a Txn that writes the protected key only if
// their lock key still exists with the create revision they were given as fencing token.
//
// From the committed history alone (read afterwards by a watch) the checker replays the lock
// keys and verifies that every write to the protected key was made by the owner of the lock at
// that revision, with that owner's token — so no two holders ever both wrote, whatever the
// faults did to their sessions — and that the tokens never go backwards.

export interface LockHistoryEvent {
  revision: number;
  type: 'put' | 'delete';
  key: string;
  /** The key's create revision (for a put). */
  createRevision: number;
  /** The value written (for a put). */
  value: string;
}

export interface FencingResult {
  ok: boolean;
  message: string;
  /** Writes to the protected key found in the history. */
  fencedWrites: number;
}

/** `fencedValue(token, who)` is what a locker writes; the checker reads the token back from it. */
export const fencedValue = (token: number, who: string): string => `${token} ${who}`;

function tokenOf(value: string): number {
  const t = Number(value.split(' ', 1)[0]);
  return Number.isSafeInteger(t) && t > 0 ? t : NaN;
}

/**
 * Checks `events` (in revision order, every event under `lockPrefix` and of `fencedKey` from a
 * revision at which no lock key existed yet).
 */
export function checkFencing(lockPrefix: string, fencedKey: string, events: readonly LockHistoryEvent[]): FencingResult {
  const contenders = new Map<string, number>();
  let writes = 0;
  let lastToken = 0;
  let i = 0;
  while (i < events.length) {
    const revision = events[i]!.revision;
    let end = i;
    while (end < events.length && events[end]!.revision === revision) end++;
    if (i > 0 && revision < events[i - 1]!.revision) return { ok: false, message: `history out of order at revision ${revision}`, fencedWrites: writes };
    // A fenced Txn compares the lock key before it writes: the owner is the one before this revision's events.
    let owner = Infinity;
    for (const rev of contenders.values()) owner = Math.min(owner, rev);
    for (let j = i; j < end; j++) {
      const e = events[j]!;
      if (e.key !== fencedKey || e.type !== 'put') continue;
      writes++;
      const token = tokenOf(e.value);
      if (owner === Infinity) return { ok: false, message: `revision ${revision}: ${fencedKey} written with token ${e.value.split(' ', 1)[0]} while nobody held the lock`, fencedWrites: writes };
      if (token !== owner) return { ok: false, message: `revision ${revision}: ${fencedKey} written with token ${token} (${e.value}) while the lock belonged to the key created at ${owner}`, fencedWrites: writes };
      if (token < lastToken) return { ok: false, message: `revision ${revision}: token ${token} after token ${lastToken} (fencing tokens went backwards)`, fencedWrites: writes };
      lastToken = token;
    }
    for (let j = i; j < end; j++) {
      const e = events[j]!;
      if (!e.key.startsWith(lockPrefix)) continue;
      if (e.type === 'put') {
        // A re-put keeps the key's create revision; a different one means a new contender under an old name.
        contenders.set(e.key, e.createRevision);
      } else contenders.delete(e.key);
    }
    i = end;
  }
  return { ok: true, message: `${writes} fenced writes, each by the lock's owner at its revision, tokens never decreasing`, fencedWrites: writes };
}
