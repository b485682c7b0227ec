// Unit tests of the SDK's mutex and election recipes against an in-memory model of the etcd calls
// they make (support/fake-recipe-store.ts): deterministic, no cluster, no timers. They check the
// key layout etcdctl shares, the queue order by create revision, that a waiter watches only the key
// just ahead of it and reads nothing while it waits, and what happens when a holder's or a
// waiter's lease ends or a wait is aborted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeRecipeStore, FakeSession } from './support/fake-recipe-store.js';
import { Election, Mutex, NotLeaderError, FailedPreconditionError, op } from '../../src/client/index.js';

/** Lets every promise continuation that is already due run (no timers involved). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { done: boolean; value?: T; error?: unknown; p: Promise<T> } {
  const t: { done: boolean; value?: T; error?: unknown; p: Promise<T> } = { done: false, p };
  p.then(
    (v) => Object.assign(t, { done: true, value: v }),
    (e) => Object.assign(t, { done: true, error: e }),
  );
  return t;
}

describe('Mutex (recipes, in-memory store)', () => {
  it('writes etcd concurrency layout: <name>/<lease hex>, empty value, on the lease; the token is its create revision', async () => {
    const s = new FakeRecipeStore();
    const session = new FakeSession(s, 0x94d7a4b0c1e2f);
    const m = new Mutex(s, 'locks/orders', session);
    const token = await m.lock();
    assert.equal(m.key, 'locks/orders/94d7a4b0c1e2f');
    const kv = s.get('locks/orders/94d7a4b0c1e2f')!;
    assert.equal(kv.value.length, 0);
    assert.equal(kv.lease, 0x94d7a4b0c1e2f);
    assert.equal(token, kv.createRevision);
    assert.equal(m.fencingToken, token);
    // Uncontended: one Txn, no Range, no watch.
    assert.equal(s.watchLog.length, 0);
    await m.unlock();
    assert.equal(s.get('locks/orders/94d7a4b0c1e2f'), undefined);
    assert.equal(m.key, undefined);
    await m.unlock(); // idempotent
  });

  it('a waiter watches the key ahead of it, reads nothing while waiting, and gets the lock when it is released', async () => {
    const s = new FakeRecipeStore();
    const a = new Mutex(s, 'L', new FakeSession(s, 0xa));
    const b = new Mutex(s, 'L', new FakeSession(s, 0xb));
    const ta = await a.lock();
    const pb = track(b.lock());
    await s.watched('L/a');
    const rangesWhileWaiting = s.ranges;
    // Unrelated traffic, including on other keys under other names: the waiter must not re-read.
    for (let i = 0; i < 50; i++) s.put(`other/${i}`, 'x');
    s.put('Lx/a', 'y');
    await settle();
    assert.equal(pb.done, false);
    assert.equal(s.ranges, rangesWhileWaiting, 'the waiter re-read while nothing it waits on changed');
    await a.unlock();
    const tb = await pb.p;
    assert.ok(tb > ta, `token ${tb} after ${ta}`);
    assert.equal(b.fencingToken, tb);
    assert.deepEqual(s.watchLog, ['L/a']);
  });

  it('queues by create revision: each waiter watches only its predecessor, and they get the lock in order', async () => {
    const s = new FakeRecipeStore();
    const ms = [1, 2, 3, 4].map((id) => new Mutex(s, 'q', new FakeSession(s, id)));
    const t0 = await ms[0]!.lock();
    const waits = [];
    for (const [i, m] of ms.slice(1).entries()) {
      waits.push(track(m.lock()));
      await s.watched(`q/${i + 1}`);
    }
    assert.deepEqual(s.watching.sort(), ['q/1', 'q/2', 'q/3']);
    const tokens = [t0];
    for (let i = 0; i < 3; i++) {
      await ms[i]!.unlock();
      tokens.push(await waits[i]!.p);
      await settle();
      for (const w of waits.slice(i + 1)) assert.equal(w.done, false, 'a later waiter got the lock early');
    }
    assert.deepEqual(tokens, [...tokens].sort((x, y) => x - y));
    assert.equal(new Set(tokens).size, 4);
  });

  it('a waiter whose predecessor leaves the queue waits on the one before it, not on nobody', async () => {
    const s = new FakeRecipeStore();
    const [a, b, c] = [1, 2, 3].map((id) => new FakeSession(s, id));
    const ma = new Mutex(s, 'q', a!);
    await ma.lock();
    const pb = track(new Mutex(s, 'q', b!).lock());
    await s.watched('q/1');
    const pc = track(new Mutex(s, 'q', c!).lock());
    await s.watched('q/2');
    b!.expire(); // the middle waiter's lease ends
    assert.equal(await pb.p.catch((e: unknown) => e instanceof FailedPreconditionError), true);
    await s.watched('q/1');
    await settle();
    assert.equal(pc.done, false, 'c took the lock while a holds it');
    await ma.unlock();
    await pc.p;
  });

  it("the holder's lease ends: the waiter gets the lock, and the old holder's fenced write is refused", async () => {
    const s = new FakeRecipeStore();
    const sa = new FakeSession(s, 0xa);
    const a = new Mutex(s, 'L', sa);
    const b = new Mutex(s, 'L', new FakeSession(s, 0xb));
    await a.lock();
    const guard = a.isOwner();
    const pb = track(b.lock());
    await s.watched('L/a');
    sa.expire();
    const tb = await pb.p;
    assert.equal(tb, s.get('L/b')!.createRevision);
    const stale = await s.txn().if(guard).then(op.put('data', 'from a')).commit();
    assert.equal(stale.succeeded, false);
    const fresh = await s.txn().if(b.isOwner()).then(op.put('data', 'from b')).commit();
    assert.equal(fresh.succeeded, true);
  });

  it("a waiter's own lease ending while it waits fails lock() with FailedPreconditionError", async () => {
    const s = new FakeRecipeStore();
    await new Mutex(s, 'L', new FakeSession(s, 1)).lock();
    const sb = new FakeSession(s, 2);
    const pb = track(new Mutex(s, 'L', sb).lock());
    await s.watched('L/1');
    sb.expire();
    await assert.rejects(pb.p, FailedPreconditionError);
    assert.equal(s.watching.length, 0, 'the watch was left open');
  });

  it("a waiter whose lease ended unnoticed (session still 'connected') does not take the lock when its turn comes", async () => {
    const s = new FakeRecipeStore();
    const a = new Mutex(s, 'L', new FakeSession(s, 1));
    await a.lock();
    const sb = new FakeSession(s, 2);
    const pb = track(new Mutex(s, 'L', sb).lock());
    await s.watched('L/1');
    s.revokeLease(2); // the cluster expired B's lease; B's session has not heard yet
    await a.unlock();
    await assert.rejects(pb.p, (e: unknown) => e instanceof FailedPreconditionError && /is gone/.test((e as Error).message));
    assert.equal(sb.state, 'connected');
  });

  it('an aborted wait rejects, deletes the queued key and frees the place for the next waiter', async () => {
    const s = new FakeRecipeStore();
    const a = new Mutex(s, 'L', new FakeSession(s, 1));
    await a.lock();
    const ac = new AbortController();
    const pb = track(new Mutex(s, 'L', new FakeSession(s, 2)).lock({ signal: ac.signal }));
    await s.watched('L/1');
    const pc = track(new Mutex(s, 'L', new FakeSession(s, 3)).lock());
    await s.watched('L/2');
    ac.abort(new Error('gave up'));
    await assert.rejects(pb.p, /gave up/);
    assert.equal(s.get('L/2'), undefined);
    await s.watched('L/1'); // c now waits on a directly
    await a.unlock();
    await pc.p;
  });

  it('lock() on a session that already holds the name keeps its place and token', async () => {
    const s = new FakeRecipeStore();
    const session = new FakeSession(s, 7);
    const t1 = await new Mutex(s, 'L', session).lock();
    const t2 = await new Mutex(s, 'L', session).lock();
    assert.equal(t2, t1);
  });

  it('withLock runs fn with the token and unlocks even when fn throws', async () => {
    const s = new FakeRecipeStore();
    const m = new Mutex(s, 'L', new FakeSession(s, 5));
    const seen: number[] = [];
    await assert.rejects(
      m.withLock((t) => {
        seen.push(t);
        assert.ok(s.get('L/5'));
        throw new Error('boom');
      }),
      /boom/,
    );
    assert.equal(s.get('L/5'), undefined);
    const t2 = await m.withLock(async (t) => {
      assert.equal(m.fencingToken, t);
      return t;
    });
    assert.ok(t2 > seen[0]!, `a new lock key after the release: ${t2} > ${seen[0]}`);
    assert.equal(s.get('L/5'), undefined);
  });

  it('refuses a lock on a session that is already gone, writing nothing', async () => {
    const s = new FakeRecipeStore();
    const session = new FakeSession(s, 5);
    session.expire();
    const before = s.revision;
    await assert.rejects(new Mutex(s, 'L', session).lock(), FailedPreconditionError);
    assert.equal(s.revision, before);
    assert.throws(() => new Mutex(s, '', session), /non-empty/);
  });
});

describe('Election (recipes, in-memory store)', () => {
  it('campaign: the first candidate leads at once; the second waits on the first key and leads after resign', async () => {
    const s = new FakeRecipeStore();
    const e1 = new Election(s, 'el', new FakeSession(s, 0x1f));
    const e2 = new Election(s, 'el', new FakeSession(s, 0x2f));
    const t1 = await e1.campaign('one');
    assert.equal(e1.isLeader, true);
    assert.equal(s.get('el/1f')!.value.toString(), 'one');
    assert.equal(s.get('el/1f')!.lease, 0x1f);
    const p2 = track(e2.campaign('two'));
    await s.watched('el/1f');
    const l = await e2.leader();
    assert.deepEqual({ key: l!.key, value: l!.value.toString(), token: l!.fencingToken }, { key: 'el/1f', value: 'one', token: t1 });
    assert.equal(p2.done, false);
    await e1.resign();
    assert.equal(e1.isLeader, false);
    const t2 = await p2.p;
    assert.ok(t2 > t1);
    assert.equal((await e1.leader())!.value.toString(), 'two');
  });

  it('proclaim changes the value only while leading; a lost leadership gives NotLeaderError', async () => {
    const s = new FakeRecipeStore();
    const session = new FakeSession(s, 3);
    const e = new Election(s, 'el', session);
    await assert.rejects(e.proclaim('x'), NotLeaderError);
    await e.campaign('v1');
    await e.proclaim('v2');
    assert.equal(s.get('el/3')!.value.toString(), 'v2');
    s.revokeLease(3);
    await assert.rejects(e.proclaim('v3'), NotLeaderError);
    assert.equal(s.get('el/3'), undefined, 'a proclaim re-created the deleted key');
    assert.equal(e.isLeader, false);
  });

  it('a second campaign of the same session keeps its place and proclaims the new proposal', async () => {
    const s = new FakeRecipeStore();
    const session = new FakeSession(s, 9);
    const t1 = await new Election(s, 'el', session).campaign('a');
    const t2 = await new Election(s, 'el', session).campaign('b');
    assert.equal(t2, t1);
    assert.equal(s.get('el/9')!.value.toString(), 'b');
  });

  it('observe yields the current leader, its proclaims, then each next leader; no leader: waits for the first', async () => {
    const s = new FakeRecipeStore();
    const watcher = new Election(s, 'el');
    assert.equal(await watcher.leader(), undefined);
    const ac = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const l of watcher.observe({ signal: ac.signal })) seen.push(`${l.key}=${l.value.toString()}@${l.fencingToken}`);
    })();
    await s.watched('el/*');
    const sa = new FakeSession(s, 0xa);
    const ea = new Election(s, 'el', sa);
    const ta = await ea.campaign('A');
    const eb = new Election(s, 'el', new FakeSession(s, 0xb));
    const pb = track(eb.campaign('B'));
    await s.watched('el/a');
    await ea.proclaim('A2');
    sa.expire();
    const tb = await pb.p;
    await settle();
    ac.abort();
    await done;
    assert.deepEqual(seen, [`el/a=A@${ta}`, `el/a=A2@${ta}`, `el/b=B@${tb}`]);
  });

  it('an aborted campaign rejects and removes the candidate key', async () => {
    const s = new FakeRecipeStore();
    await new Election(s, 'el', new FakeSession(s, 1)).campaign('one');
    const ac = new AbortController();
    const e2 = new Election(s, 'el', new FakeSession(s, 2));
    const p = track(e2.campaign('two', { signal: ac.signal }));
    await s.watched('el/1');
    ac.abort(new Error('stop'));
    await assert.rejects(p.p, /stop/);
    assert.equal(s.get('el/2'), undefined);
    assert.equal(e2.key, undefined);
  });

  it('campaign without a session is refused', async () => {
    const s = new FakeRecipeStore();
    await assert.rejects(new Election(s, 'el').campaign('x'), /needs a session/);
  });
});
