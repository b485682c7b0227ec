// The expiry arithmetic (src/lease/timing.ts) and the leader's lease table (src/lease/table.ts)
// under a fake clock: no timers, no sleeps. The bound documented in src/lease/README.md is checked
// with leadership moving at every point of a lease's life, and under seeded random churn:
//   - a lease whose holder stopped renewing is due no later than lastAck + T + E while a leader
//     is in office, and never before its replicated expiry;
//   - a lease kept alive every T/3 (retrying while no leader answers) is never due, however
//     often leadership moves, as long as each election ends within E and each leader serves long
//     enough for one retry to reach it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaseTable } from '../../src/lease/table.js';
import { expiryDeadline, expiryMarginMs, grantedTtlMs, leaseTiming, renewalCover, renewalSlackMs } from '../../src/lease/timing.js';
import type { Lease } from '../../proto/gen/placement/v1/command.js';

const timing = leaseTiming({ tickMs: 50, electionTicks: 10 });
const E = timing.electionTimeoutMs;
/** The fake clock's step: a deadline between two steps is seen at the next one. */
const STEP = 5;
/** How often a holder retries a renewal that found no leader (the SDK's retry). */
const RETRY = 100;
/** Each leader serves at least this long (more than a retry: a holder can reach it). */
const MIN_TENURE = 2 * RETRY;
const G = timing.graceMs;

function seeded(name: string): () => number {
  let s = process.env.TEST_SEED ? Number(process.env.TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
  console.log(`# ${name}: seed ${s} (rerun with TEST_SEED=${s})`);
  // mulberry32
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One replicated lease and the leaders that come and go. Every member applies the same changes;
 * `leader` is the table of whoever is in office (a fresh one per term, loaded from the replicated
 * state as a new leader's is), or null while the office is vacant.
 */
class World {
  replicated = new Map<number, Lease>();
  leader: LeaseTable | null = null;
  terms = 0;
  electedAt = -Infinity;

  grant(id: number, ttlMs: number, now: number): void {
    this.apply({ id, ttlMs, expiresAtMs: now + ttlMs, keys: 0 });
  }
  /** A renewal committed with leader time `now` (only a leader in office commits anything). */
  renew(id: number, now: number): boolean {
    const l = this.replicated.get(id);
    if (!this.leader || !l) return false;
    this.apply({ ...l, expiresAtMs: now + l.ttlMs });
    return true;
  }
  /**
   * A keep-alive as the leader answers it (LeaseKeeper.renewNow), in the case least favourable to
   * the holder: at once while the replicated expiry covers it (the leader then holds the lease
   * until receipt + T, in memory), as if the renewal under way past D/2 were always lost; through a
   * committed renewal once it lags by more than D.
   */
  keepAlive(id: number, now: number): boolean {
    const l = this.replicated.get(id);
    if (!this.leader || !l) return false;
    if (renewalCover(l, now, timing) === 'no') return this.renew(id, now);
    this.leader.holdUntil(id, now + l.ttlMs);
    return true;
  }
  private apply(l: Lease): void {
    this.replicated.set(l.id, l);
    this.leader?.apply([{ id: l.id, lease: l }]);
  }
  elect(now: number): void {
    const t = new LeaseTable();
    t.load([...this.replicated.values()]);
    t.promote(now, G);
    this.leader = t;
    this.electedAt = now;
    this.terms++;
  }
  vacate(): void {
    this.leader?.demote();
    this.leader = null;
  }
  /** Due leases as the leader in office sees them at `now` (none when vacant). */
  due(now: number): number[] {
    return this.leader ? this.leader.due(now).map((d) => d.id) : [];
  }
}

describe('lease timing', () => {
  it('E, G, the minimum TTL and the margin follow the election timeout', () => {
    assert.equal(E, 1000, 'election timeouts are drawn from [10, 20) ticks of 50 ms');
    assert.equal(G, E);
    assert.equal(timing.minTtlMs, 1500);
    assert.equal(grantedTtlMs(1, timing), 1500, 'shorter requests are raised, as etcd');
    assert.equal(grantedTtlMs(60_000, timing), 60_000);
    assert.equal(expiryMarginMs(timing), E + timing.slackMs);
  });

  it('the deadline is never before the replicated expiry, never after it plus G, and at least G after promotion when that fits', () => {
    const X = 10_000;
    for (let p = 0; p <= 20_000; p += 50) {
      const d = expiryDeadline(X, p, G);
      assert.ok(d >= X, `promoted at ${p}: ${d} < expiry`);
      assert.ok(d <= X + G, `promoted at ${p}: ${d} past expiry + G`);
      if (p + G <= X + G) assert.ok(d >= p + G, `promoted at ${p}: holders get G to reach the new leader`);
    }
    assert.equal(expiryDeadline(X, 0, G), X, 'a long-serving leader ends the lease at its expiry');
    assert.equal(expiryDeadline(X, X - 100, G), X - 100 + G);
    assert.equal(expiryDeadline(X, X + 5 * G, G), X + G, 'a leader elected long after: due at once');
  });
});

describe('lease table: the bound through leader changes', () => {
  const T = 3000;

  it('a holder that stopped renewing: due by lastAck + T + E (and not before lastAck + T) wherever one leader change falls', () => {
    // The holder's last acknowledged renewal is at 1000; leadership moves once at `at`, with a
    // vacancy of `gap` (an election: at most E).
    const lastAck = 1000;
    for (const gap of [0, STEP, E / 2, E]) {
      for (let at = 0; at <= lastAck + T + G + 2 * E; at += 25) {
        const w = new World();
        w.elect(-10_000);
        w.grant(1, T, 0);
        let dueAt: number | undefined;
        for (let now = 0; now <= lastAck + T + 3 * E && dueAt === undefined; now += STEP) {
          if (now === at) w.vacate();
          if (now === at + gap && !w.leader) w.elect(now);
          if (now === lastAck) w.renew(1, now); // fails while the office is vacant: the grant stays the last ack
          if (w.due(now).includes(1)) dueAt = now;
        }
        const ack = w.replicated.get(1)!.expiresAtMs - T; // the renewal may have found the office vacant
        assert.ok(dueAt !== undefined, `gap ${gap}, change at ${at}: never due`);
        assert.ok(dueAt >= ack + T, `gap ${gap}, change at ${at}: due at ${dueAt}, before the replicated expiry ${ack + T}`);
        // A vacancy that spans the deadline delays the deletion until the next leader: it is due
        // the moment that leader takes office.
        const bound = Math.max(ack + T + G, at + gap <= ack + T + G ? 0 : at + gap) + STEP;
        assert.ok(dueAt <= bound, `gap ${gap}, change at ${at}: due at ${dueAt}, past ${bound}`);
      }
    }
  });

  it('a holder that stopped renewing, under seeded churn: due within lastAck + T + E whenever a leader is in office then', () => {
    const rnd = seeded('lease churn bound');
    for (let run = 0; run < 200; run++) {
      const w = new World();
      const ttl = timing.minTtlMs + Math.floor(rnd() * 5000);
      w.elect(0);
      w.grant(1, ttl, 0);
      const stopAt = Math.floor(rnd() * 3 * ttl);
      let nextChange = Math.floor(rnd() * 1000);
      let vacantUntil = -1;
      let lastAck = 0;
      let nextRenew = Math.floor(ttl / 3);
      let dueAt: number | undefined;
      for (let now = 0; dueAt === undefined && now < stopAt + 10 * ttl; now += STEP) {
        if (now >= nextChange && w.leader) {
          w.vacate();
          vacantUntil = now + Math.floor(rnd() * E);
          nextChange = vacantUntil + MIN_TENURE + Math.floor(rnd() * 1500);
        }
        if (!w.leader && now >= vacantUntil) w.elect(now);
        if (now < stopAt && now >= nextRenew) {
          if (w.renew(1, now)) {
            lastAck = now;
            nextRenew = now + Math.floor(ttl / 3);
          } else nextRenew = now + RETRY;
        }
        if (w.due(now).includes(1)) dueAt = now;
      }
      assert.ok(dueAt !== undefined, `run ${run}: never due`);
      assert.ok(dueAt >= lastAck + ttl, `run ${run}: due at ${dueAt} before ${lastAck + ttl}`);
      // Due by lastAck + T + G if a leader was in office then; else the moment the next one took
      // office (each vacancy here is shorter than E).
      const bound = Math.max(lastAck + ttl + G, w.electedAt) + STEP;
      assert.ok(dueAt <= bound, `run ${run}: due at ${dueAt}, past ${bound} (lastAck ${lastAck}, T ${ttl})`);
      assert.ok(dueAt <= lastAck + ttl + G + E + STEP, `run ${run}: due at ${dueAt}, past lastAck + T + G + E`);
    }
  });

  it('a lease kept alive every T/3 is never due, with leadership moving at every point of its life, even when holders need most of G to find the new leader', () => {
    const ttl = timing.minTtlMs; // the tightest case
    // `reach`: how long after an election the holder's retries first get through (it must notice
    // the old leader is gone and find the new one). The grace G is what covers it.
    for (const reach of [0, G / 2, G - 2 * RETRY]) {
      for (const gap of [0, E / 2, E]) {
        for (let at = 0; at <= 2 * ttl; at += 10) {
          const w = new World();
          w.elect(-5000);
          w.grant(1, ttl, 0);
          let nextRenew = Math.floor(ttl / 3);
          let changed = false;
          for (let now = 0; now <= 4 * ttl; now += STEP) {
            if (now === at) {
              w.vacate();
              changed = true;
            }
            if (now === at + gap && !w.leader) w.elect(now);
            const reachable = !changed || now >= w.electedAt + reach;
            if (now >= nextRenew) nextRenew = reachable && w.renew(1, now) ? now + Math.floor(ttl / 3) : now + RETRY;
            assert.deepEqual(w.due(now), [], `reach ${reach}, gap ${gap}, change at ${at}: a kept-alive lease became due at ${now}`);
          }
        }
      }
    }
  });

  it('a lease kept alive every T/3 is never due under seeded churn of many leaders', () => {
    const rnd = seeded('lease churn keep-alive');
    let changes = 0;
    for (let run = 0; run < 100; run++) {
      const w = new World();
      const ttl = timing.minTtlMs + Math.floor(rnd() * 3000);
      w.elect(0);
      w.grant(1, ttl, 0);
      let nextRenew = Math.floor(ttl / 3);
      let nextChange = Math.floor(rnd() * 1000);
      let vacantUntil = -1;
      for (let now = 0; now <= 30_000; now += STEP) {
        if (now >= nextChange && w.leader) {
          w.vacate();
          vacantUntil = now + Math.floor(rnd() * E);
          nextChange = vacantUntil + MIN_TENURE + Math.floor(rnd() * 1000);
          changes++;
        }
        if (!w.leader && now >= vacantUntil) w.elect(now);
        if (now >= nextRenew) nextRenew = w.renew(1, now) ? now + Math.floor(ttl / 3) : now + RETRY;
        assert.deepEqual(w.due(now), [], `run ${run}: a kept-alive lease became due at ${now}`);
      }
    }
    assert.ok(changes > 1000, `${changes} leader changes exercised`);
  });
});

describe('lease table: keep-alives answered at once from the replicated expiry', () => {
  it('D is 0 up to 1.5 × E, then at most half of the margin 2T/3 - E, a tenth of T and 5 s', () => {
    assert.equal(renewalSlackMs(timing.minTtlMs, timing), 0);
    assert.equal(renewalSlackMs(2000, timing), 166);
    assert.equal(renewalSlackMs(4500, timing), 450);
    assert.equal(renewalSlackMs(60_000, timing), 5000);
    for (let ttl = 0; ttl <= 100_000; ttl += 7) {
      const d = renewalSlackMs(ttl, timing);
      assert.ok(d >= 0 && d <= 5000 && d <= ttl / 10 && d <= Math.max(0, ((2 * ttl) / 3 - E) / 2), `T ${ttl}: D ${d}`);
    }
    const e = { ttlMs: 60_000, expiresAtMs: 100_000 }; // renewed at 40,000
    assert.equal(renewalCover(e, 42_500, timing), 'covered');
    assert.equal(renewalCover(e, 42_501, timing), 'soon');
    assert.equal(renewalCover(e, 45_000, timing), 'soon');
    assert.equal(renewalCover(e, 45_001, timing), 'no');
    assert.equal(renewalCover({ ttlMs: timing.minTtlMs, expiresAtMs: 100_000 }, 100_000 - timing.minTtlMs, timing), 'no', 'D = 0: always a renewal');
  });

  it('a holder that stopped renewing, its keep-alives answered at once: never due before lastAck + T while that leader serves, nor before lastAck + T - D after a change; due by lastAck + T + E', () => {
    const rnd = seeded('lease fast-path bound');
    for (let run = 0; run < 300; run++) {
      const w = new World();
      const ttl = 4000 + Math.floor(rnd() * 6000);
      const D = renewalSlackMs(ttl, timing);
      const every = STEP + Math.floor(rnd() * (D / 2)); // often enough to be answered at once
      w.elect(0);
      w.grant(1, ttl, 0);
      const stopAt = Math.floor(rnd() * 3 * ttl);
      let nextChange = Math.floor(rnd() * 3000);
      let vacantUntil = -1;
      let lastAck = 0;
      let changedSinceAck = false;
      let next = every;
      let dueAt: number | undefined;
      for (let now = 0; dueAt === undefined && now < stopAt + 10 * ttl; now += STEP) {
        if (now >= nextChange && w.leader) {
          w.vacate();
          changedSinceAck = true;
          vacantUntil = now + Math.floor(rnd() * E);
          nextChange = vacantUntil + MIN_TENURE + Math.floor(rnd() * 3000);
        }
        if (!w.leader && now >= vacantUntil) w.elect(now);
        if (now < stopAt && now >= next) {
          if (w.keepAlive(1, now)) {
            lastAck = now;
            changedSinceAck = false;
            next = now + every;
          } else next = now + RETRY;
        }
        if (w.due(now).includes(1)) dueAt = now;
      }
      assert.ok(dueAt !== undefined, `run ${run}: never due`);
      const floor = changedSinceAck ? lastAck + ttl - D : lastAck + ttl;
      assert.ok(dueAt >= floor, `run ${run}: due at ${dueAt}, before ${floor} (lastAck ${lastAck}, T ${ttl}, D ${D}, leader changed since: ${changedSinceAck})`);
      const bound = Math.max(lastAck + ttl + G, w.electedAt) + STEP;
      assert.ok(dueAt <= bound, `run ${run}: due at ${dueAt}, past ${bound} (lastAck ${lastAck}, T ${ttl})`);
    }
  });

  it('one leader in office: a lease whose keep-alives were answered at once lives T past the last one, and is due within a step of it', () => {
    for (const ttl of [2000, 4500, 60_000]) {
      const D = renewalSlackMs(ttl, timing);
      for (let stopAt = 0; stopAt <= 3 * D + 100; stopAt += Math.max(35, Math.floor(D / 20))) {
        const w = new World();
        w.elect(-10_000);
        w.grant(1, ttl, 0);
        let lastAck = 0;
        let atOnce = 0;
        let dueAt: number | undefined;
        for (let now = 0; dueAt === undefined && now <= stopAt + 2 * ttl; now += STEP) {
          if (now <= stopAt && now % 50 === 0) {
            const before = w.replicated.get(1)!.expiresAtMs;
            assert.ok(w.keepAlive(1, now));
            if (w.replicated.get(1)!.expiresAtMs === before) atOnce++;
            lastAck = now;
          }
          if (w.due(now).includes(1)) dueAt = now;
        }
        assert.ok(D === 0 ? atOnce === 0 : atOnce > 0 || stopAt === 0, `T ${ttl}, stop at ${stopAt}: ${atOnce} answered at once`);
        assert.ok(dueAt !== undefined && dueAt >= lastAck + ttl && dueAt <= lastAck + ttl + STEP, `T ${ttl}, stop at ${stopAt}: due at ${dueAt}, lastAck + T ${lastAck + ttl}`);
      }
    }
  });

  it('a lease kept alive every T/3 (or every D/2), its keep-alives answered at once when covered, is never due with leadership moving at every point of its life', () => {
    for (const ttl of [2500, 4500, 9000]) {
      const D = renewalSlackMs(ttl, timing);
      for (const every of [Math.floor(ttl / 3), Math.max(STEP, Math.floor(D / 2))]) {
        for (const reach of [0, G - 2 * RETRY]) {
          for (let at = 0; at <= 2 * ttl; at += 25) {
            const w = new World();
            w.elect(-5000);
            w.grant(1, ttl, 0);
            let next = every;
            let changed = false;
            for (let now = 0; now <= 4 * ttl; now += STEP) {
              if (now === at) {
                w.vacate();
                changed = true;
              }
              if (now === at + E && !w.leader) w.elect(now);
              const reachable = !changed || now >= w.electedAt + reach;
              if (now >= next) next = reachable && w.keepAlive(1, now) ? now + every : now + RETRY;
              assert.deepEqual(w.due(now), [], `T ${ttl}, every ${every}, reach ${reach}, change at ${at}: a kept-alive lease became due at ${now}`);
            }
          }
        }
      }
    }
  });

  it('a lease kept alive (every T/3 or much more often, mostly answered at once) is never due under seeded churn', () => {
    const rnd = seeded('lease fast-path keep-alive');
    let changes = 0;
    let answeredAtOnce = 0;
    for (let run = 0; run < 100; run++) {
      const w = new World();
      const ttl = timing.minTtlMs + Math.floor(rnd() * 8000);
      const D = renewalSlackMs(ttl, timing);
      // Half the holders renew often enough to be answered at once (when D > 0).
      const every = STEP + Math.floor(rnd() * (run % 2 === 0 && D > 2 * STEP ? D / 2 - STEP : ttl / 3 - STEP));
      w.elect(0);
      w.grant(1, ttl, 0);
      let next = every;
      let nextChange = Math.floor(rnd() * 1000);
      let vacantUntil = -1;
      for (let now = 0; now <= 30_000; now += STEP) {
        if (now >= nextChange && w.leader) {
          w.vacate();
          vacantUntil = now + Math.floor(rnd() * E);
          nextChange = vacantUntil + MIN_TENURE + Math.floor(rnd() * 1000);
          changes++;
        }
        if (!w.leader && now >= vacantUntil) w.elect(now);
        if (now >= next) {
          const before = w.replicated.get(1)!.expiresAtMs;
          const ok = w.keepAlive(1, now);
          if (ok && w.replicated.get(1)!.expiresAtMs === before) answeredAtOnce++;
          next = ok ? now + every : now + RETRY;
        }
        assert.deepEqual(w.due(now), [], `run ${run}: a kept-alive lease (T ${ttl}, every ${every}) became due at ${now}`);
      }
    }
    assert.ok(changes > 1000, `${changes} leader changes exercised`);
    assert.ok(answeredAtOnce > 1000, `${answeredAtOnce} keep-alives answered at once`);
  });
});

describe('lease table: the heap', () => {
  it('renewals supersede older deadlines; due() hands each lease out once until settled; a void expiry is retried', () => {
    const t = new LeaseTable();
    t.load([
      { id: 1, ttlMs: 2000, expiresAtMs: 2000, keys: 0 },
      { id: 2, ttlMs: 2000, expiresAtMs: 3000, keys: 0 },
    ]);
    assert.deepEqual(t.due(10_000), [], 'a table that is not primary decides nothing');
    t.promote(0, 1000);
    assert.equal(t.nextDeadline(), 2000);
    t.apply([{ id: 1, lease: { id: 1, ttlMs: 2000, expiresAtMs: 5000, keys: 0 } }]);
    assert.equal(t.nextDeadline(), 3000, 'the renewed lease no longer heads the heap');
    const d = t.due(3000);
    assert.deepEqual(d, [{ id: 2, expiresAtMs: 3000 }]);
    assert.deepEqual(t.due(3000), [], 'not handed out twice while its expiry is in flight');
    t.settle(d[0]!, 3100); // the proposal came back void and the lease is unchanged
    assert.deepEqual(t.due(3099), []);
    assert.deepEqual(t.due(3100), [{ id: 2, expiresAtMs: 3000 }]);
    t.apply([{ id: 2, lease: null }]);
    t.settle({ id: 2, expiresAtMs: 3000 }, 3200);
    assert.equal(t.nextDeadline(), 5000, 'a deleted lease is not retried');
    assert.deepEqual(
      t.list().map((e) => e.id),
      [1],
    );
    t.demote();
    assert.equal(t.nextDeadline(), undefined);
  });

  it('orders thousands of leases by deadline (lazy deletion keeps every pop in order)', () => {
    const rnd = seeded('lease heap');
    const t = new LeaseTable();
    t.promote(0, 0);
    const expiry = new Map<number, number>();
    for (let i = 1; i <= 5000; i++) {
      const at = Math.floor(rnd() * 100_000);
      expiry.set(i, at);
      t.apply([{ id: i, lease: { id: i, ttlMs: 1, expiresAtMs: at, keys: 0 } }]);
    }
    for (let i = 1; i <= 5000; i += 3) {
      const at = Math.floor(rnd() * 100_000);
      expiry.set(i, at);
      t.apply([{ id: i, lease: { id: i, ttlMs: 1, expiresAtMs: at, keys: 0 } }]);
    }
    const got = t.due(100_000);
    assert.equal(got.length, 5000);
    for (let i = 1; i < got.length; i++) assert.ok(got[i - 1]!.expiresAtMs <= got[i]!.expiresAtMs);
    for (const g of got) assert.equal(g.expiresAtMs, expiry.get(g.id));
  });
});
