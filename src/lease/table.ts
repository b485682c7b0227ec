// The node's view of the replicated leases (id → TTL and replicated expiry), kept by the changes
// the state machine reports (storage/leases: tx.leaseChanges), so it is never read back from disk
// after start-up or a snapshot install. On the leader, once it has applied every entry before its
// own term, the table is "primary": it also orders the leases by the deadline it will end them at
// (timing.ts), in a binary heap with lazy deletion (a renewal pushes a new entry; the old one is
// skipped when it surfaces), so that a renewal costs O(log n) and finding what is due O(due).
//
// The leader also keeps, in memory only, a floor per lease: receipt + TTL of the last keep-alive it
// answered at once from the replicated expiry (keeper.renewNow). It never ends a lease before its
// floor, so while it stays in office a lease lives at least TTL past every keep-alive it answered,
// as if each had been renewed through Raft. A floor is never past the last acknowledged
// keep-alive + TTL, so the expiry bound is unchanged; a new leader does not know it and falls back
// on the replicated expiry, at most D older (the README states what that gives).
//
// Pure: the caller passes the time in, so the same code runs under a fake clock in tests.

import type { Lease } from '../../proto/gen/placement/v1/command.js';
import type { LeaseChange } from '../../storage/leases/leases.js';
import { expiryDeadline } from './timing.js';

export interface LeaseEntry {
  id: number;
  ttlMs: number;
  /** Replicated: leader time of the last committed renewal (or the grant) plus the TTL. */
  expiresAtMs: number;
}

/** An expiry the leader decided: the lease and the replicated expiry it saw. */
export interface DueLease {
  id: number;
  expiresAtMs: number;
}

interface HeapItem {
  at: number;
  id: number;
  expiresAtMs: number;
}

export class LeaseTable {
  private readonly leases = new Map<number, LeaseEntry>();
  private heap: HeapItem[] = [];
  private primary: { promotedAtMs: number; graceMs: number } | null = null;
  /** Expiries proposed and not settled yet: not proposed again meanwhile. */
  private readonly expiring = new Set<number>();
  /** Primary only: the earliest this leader may end each lease it answered a keep-alive for. */
  private readonly floors = new Map<number, number>();

  get size(): number {
    return this.leases.size;
  }

  get isPrimary(): boolean {
    return this.primary !== null;
  }

  get(id: number): LeaseEntry | undefined {
    return this.leases.get(id);
  }

  /** Replaces the whole table (start-up, snapshot install). */
  load(all: readonly Lease[]): void {
    this.leases.clear();
    this.expiring.clear();
    this.floors.clear();
    for (const l of all) this.leases.set(l.id, { id: l.id, ttlMs: l.ttlMs, expiresAtMs: l.expiresAtMs });
    this.rebuild();
  }

  /** The changes of one applied batch, in order. */
  apply(changes: readonly LeaseChange[]): void {
    for (const c of changes) {
      if (c.lease === null) {
        this.leases.delete(c.id);
        this.expiring.delete(c.id);
        this.floors.delete(c.id);
        continue;
      }
      const e: LeaseEntry = { id: c.id, ttlMs: c.lease.ttlMs, expiresAtMs: c.lease.expiresAtMs };
      const before = this.leases.get(c.id);
      this.leases.set(c.id, e);
      if (this.primary && before?.expiresAtMs !== e.expiresAtMs) this.push(e);
    }
  }

  /** The leader took office (and applied everything before its term) at `nowMs`. */
  promote(nowMs: number, graceMs: number): void {
    this.primary = { promotedAtMs: nowMs, graceMs };
    this.expiring.clear();
    this.floors.clear();
    this.rebuild();
  }

  demote(): void {
    this.primary = null;
    this.expiring.clear();
    this.floors.clear();
    this.heap = [];
  }

  /**
   * This leader answered a keep-alive for `id` without a renewal: it does not end the lease before
   * `untilMs` (receipt + TTL). Ignored when not primary.
   */
  holdUntil(id: number, untilMs: number): void {
    if (!this.primary) return;
    const f = this.floors.get(id);
    if (f === undefined || f < untilMs) this.floors.set(id, untilMs);
  }

  /** When this leader ends the lease (undefined when not primary). */
  deadlineOf(e: LeaseEntry): number | undefined {
    if (!this.primary) return undefined;
    const d = expiryDeadline(e.expiresAtMs, this.primary.promotedAtMs, this.primary.graceMs);
    const f = this.floors.get(e.id);
    return f !== undefined && f > d ? f : d;
  }

  /**
   * Leases whose deadline is at or before `nowMs`, at most `max` of them, each marked as being
   * expired until settle() (so a slow commit does not propose it twice).
   */
  due(nowMs: number, max = Infinity): DueLease[] {
    const out: DueLease[] = [];
    while (out.length < max) {
      const top = this.peek();
      if (!top || top.at > nowMs) break;
      this.pop();
      const floor = this.floors.get(top.id);
      if (floor !== undefined && floor > top.at) {
        // Held by a keep-alive answered at once: due at its floor instead.
        this.heap.push({ at: floor, id: top.id, expiresAtMs: top.expiresAtMs });
        this.up(this.heap.length - 1);
        continue;
      }
      this.expiring.add(top.id);
      out.push({ id: top.id, expiresAtMs: top.expiresAtMs });
    }
    return out;
  }

  /**
   * An expiry proposal finished (whatever its outcome). If the lease is still there with the
   * expiry that was seen (the proposal was lost or came back void), it is due again at `retryAtMs`.
   */
  settle(d: DueLease, retryAtMs: number): void {
    if (!this.expiring.delete(d.id) || !this.primary) return;
    const e = this.leases.get(d.id);
    if (!e || e.expiresAtMs !== d.expiresAtMs) return;
    this.heap.push({ at: retryAtMs, id: e.id, expiresAtMs: e.expiresAtMs });
    this.up(this.heap.length - 1);
  }

  /** The earliest deadline still to act on (undefined when none, or not primary). */
  nextDeadline(): number | undefined {
    return this.peek()?.at;
  }

  /** The earliest replicated expiry (undefined when there is no lease). O(n): for scrapes. */
  earliestExpiry(): number | undefined {
    let min: number | undefined;
    for (const e of this.leases.values()) if (min === undefined || e.expiresAtMs < min) min = e.expiresAtMs;
    return min;
  }

  /** Every lease, in the order etcd lists them: by expiry, then id. */
  list(): LeaseEntry[] {
    return [...this.leases.values()].sort((a, b) => a.expiresAtMs - b.expiresAtMs || a.id - b.id);
  }

  // ---- heap ------------------------------------------------------------------------------

  private rebuild(): void {
    this.heap = [];
    if (!this.primary) return;
    for (const e of this.leases.values()) this.heap.push({ at: this.deadlineOf(e)!, id: e.id, expiresAtMs: e.expiresAtMs });
    for (let i = (this.heap.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  private push(e: LeaseEntry): void {
    this.heap.push({ at: this.deadlineOf(e)!, id: e.id, expiresAtMs: e.expiresAtMs });
    this.up(this.heap.length - 1);
  }

  /** The top after dropping stale entries (renewed, gone, or already being expired). */
  private peek(): HeapItem | undefined {
    for (;;) {
      const top = this.heap[0];
      if (!top) return undefined;
      const e = this.leases.get(top.id);
      if (e && e.expiresAtMs === top.expiresAtMs && !this.expiring.has(top.id)) return top;
      this.pop();
    }
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.down(0);
  }

  private up(i: number): void {
    const h = this.heap;
    const item = h[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]!.at <= item.at) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = item;
  }

  private down(i: number): void {
    const h = this.heap;
    const n = h.length;
    const item = h[i]!;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && h[c + 1]!.at < h[c]!.at) c++;
      if (h[c]!.at >= item.at) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = item;
  }
}
