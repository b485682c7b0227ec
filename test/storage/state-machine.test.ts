import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SnapshotStore, StateMachine, type ApplyEntry } from '../../storage/index.js';
import { Command, ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { rng, seedFromEnv, tempDir } from './helpers.js';

type Op = NonNullable<Command['op']>;
const enc = (op: Op, extra: { clientId?: string; seq?: number; leaderTimeMs?: number } = {}): Uint8Array =>
  Command.encode(Command.fromPartial({ op, clientId: extra.clientId ?? '', seq: extra.seq ?? 0, leaderTimeMs: extra.leaderTimeMs ?? 0 })).finish();
// prev_kv on: most tests check the previous key-value in results.
const put = (key: string, value: string, lease = 0, prevKv = true): Op => ({ $case: 'put', value: { key, value: Buffer.from(value), lease, prevKv } });
const del = (key: string, prevKv = true): Op => ({ $case: 'delete', value: { key, prevKv } });

/** Test harness: a state machine plus a running log index. */
class Harness {
  index = 0;
  constructor(readonly sm: StateMachine) {}
  static async open(dir: string, opts = {}): Promise<Harness> {
    const h = new Harness(await StateMachine.open(dir, opts));
    h.index = h.sm.appliedIndex;
    return h;
  }
  entry(data: Uint8Array, type = 0): ApplyEntry {
    return { index: ++this.index, term: 1, type, data };
  }
  async run(op: Op, extra: { clientId?: string; seq?: number; leaderTimeMs?: number } = {}): Promise<CommandResult> {
    const [r] = await this.sm.apply([this.entry(enc(op, extra))]);
    return r;
  }
}

describe('StateMachine: KV semantics', () => {
  // A new store is at revision 1, as in etcd: the first write makes revision 2.
  it('put/get tracks create/mod revision and version; delete and re-create', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    assert.equal(h.sm.revision, 1);
    let r = await h.run(put('a', '1'));
    assert.equal(r.code, ResultCode.RESULT_OK);
    assert.equal(r.revision, 2);
    assert.equal(r.prevKv, undefined);
    r = await h.run(put('a', '2'));
    assert.equal(r.revision, 3);
    assert.equal(r.prevKv?.value.toString(), '1');
    await h.run(put('b', 'x'));
    assert.deepEqual(await h.sm.get('a'), { key: 'a', value: Buffer.from('2'), createRevision: 2, modRevision: 3, version: 2, lease: 0 });
    r = await h.run(del('a'));
    assert.equal(r.succeeded, true);
    assert.equal(r.revision, 5);
    assert.equal(r.prevKv?.version, 2);
    r = await h.run(del('a'));
    assert.equal(r.succeeded, false);
    assert.equal(r.code, ResultCode.RESULT_OK);
    assert.equal(r.revision, 5, 'no write, no new revision');
    assert.equal(await h.sm.exists('a'), false);
    r = await h.run(put('a', '3'));
    assert.deepEqual(await h.sm.get('a'), { key: 'a', value: Buffer.from('3'), createRevision: 6, modRevision: 6, version: 1, lease: 0 });
    assert.equal((await h.run(put('', 'x'))).code, ResultCode.RESULT_INVALID);
    assert.equal(h.sm.revision, 6);
    assert.equal(h.sm.appliedIndex, h.index);
  });

  it('compare-and-swap by mod revision, value and absence', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    const cas = (key: string, expect: NonNullable<Extract<Op, { $case: 'cas' }>['value']['expect']>, value: string): Op => ({
      $case: 'cas',
      value: { key, expect, value: Buffer.from(value), lease: 0 },
    });
    let r = await h.run(cas('k', { $case: 'expectAbsent', value: true }, 'v1'));
    assert.equal(r.succeeded, true);
    assert.equal(r.revision, 2);
    r = await h.run(cas('k', { $case: 'expectAbsent', value: true }, 'v2'));
    assert.deepEqual([r.code, r.succeeded, r.revision, r.prevKv?.value.toString()], [ResultCode.RESULT_COMPARE_FAILED, false, 2, 'v1']);
    r = await h.run(cas('k', { $case: 'expectedModRevision', value: 7 }, 'v2'));
    assert.equal(r.code, ResultCode.RESULT_COMPARE_FAILED);
    r = await h.run(cas('k', { $case: 'expectedModRevision', value: 2 }, 'v2'));
    assert.equal(r.succeeded, true);
    r = await h.run(cas('k', { $case: 'expectedValue', value: Buffer.from('nope') }, 'v3'));
    assert.equal(r.code, ResultCode.RESULT_COMPARE_FAILED);
    r = await h.run(cas('k', { $case: 'expectedValue', value: Buffer.from('v2') }, 'v3'));
    assert.equal(r.succeeded, true);
    r = await h.run(cas('new', { $case: 'expectedModRevision', value: 0 }, 'n'));
    assert.equal(r.succeeded, true, 'mod revision 0 means absent');
    r = await h.run({ $case: 'cas', value: { key: 'k', expect: undefined, value: Buffer.alloc(0), lease: 0 } });
    assert.equal(r.code, ResultCode.RESULT_INVALID);
    assert.deepEqual(await h.sm.get('k'), { key: 'k', value: Buffer.from('v3'), createRevision: 2, modRevision: 4, version: 3, lease: 0 });
  });

  it('a batch sees its own writes and is atomic with the applied index', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    const rs = await h.sm.apply([
      h.entry(enc(put('x', '1'))),
      h.entry(new Uint8Array(0)), // no-op
      h.entry(new Uint8Array([1, 2, 3]), 1), // ConfChange: only advances the index
      h.entry(enc({ $case: 'cas', value: { key: 'x', expect: { $case: 'expectedModRevision', value: 2 }, value: Buffer.from('2'), lease: 0 } })),
      h.entry(enc(del('x'))),
      h.entry(enc(put('x', '3'))),
      h.entry(new Uint8Array([0xff, 0xff, 0xff])), // undecodable
    ]);
    assert.deepEqual(rs.map((r) => r.code), [0, 0, 0, 0, 0, 0, ResultCode.RESULT_INVALID]);
    assert.equal(rs[3].succeeded, true);
    assert.deepEqual(await h.sm.get('x'), { key: 'x', value: Buffer.from('3'), createRevision: 5, modRevision: 5, version: 1, lease: 0 });
    assert.equal(h.sm.appliedIndex, 7);
    assert.equal(h.sm.revision, 5);
    // Re-delivered entries are skipped; a gap is refused.
    const again = await h.sm.apply([{ index: 6, term: 1, data: enc(put('x', 'again')) }]);
    assert.equal(again[0].message, 'already applied');
    assert.equal((await h.sm.get('x'))?.value.toString(), '3');
    await assert.rejects(h.sm.apply([{ index: 9, term: 1, data: enc(put('y', '1')) }]), /gap/);
    assert.equal(await h.sm.exists('y'), false);
  });

  it('onExecuted hands over the results before the batch is written; reads see it only once apply() resolves', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    await h.run(put('k', 'old'));
    let early: { results: CommandResult[]; seen: string | undefined; applied: number } | undefined;
    const p = h.sm.apply([h.entry(enc(put('k', 'new'))), h.entry(enc(put('k2', 'x')))], {
      onExecuted: (results) => {
        early = { results, seen: h.sm.getSync('k')?.value.toString(), applied: h.sm.appliedIndex };
      },
    });
    const rs = await p;
    assert.ok(early, 'onExecuted was called');
    assert.deepEqual(early.results, rs, 'the early results are the final ones');
    assert.equal(early.seen, 'old', 'while the batch is being written, reads still see the previous batch');
    assert.equal(early.applied, 1);
    assert.equal(h.sm.getSync('k')?.value.toString(), 'new');
    assert.equal(h.sm.appliedIndex, 3);
  });

  it('list: prefix, startAfter paging, limit, keysOnly, non-ASCII keys', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    const keys = ['a/1', 'a/2', 'a/3', 'a/\u00e9', 'a/\u{1f600}', 'a0', 'b/1', '/x'];
    await h.sm.apply(keys.map((k) => h.entry(enc(put(k, `v-${k}`)))));
    const all = await h.sm.list('a/');
    assert.deepEqual(all.kvs.map((k) => k.key), ['a/1', 'a/2', 'a/3', 'a/\u00e9', 'a/\u{1f600}']);
    assert.equal(all.more, false);
    const p1 = await h.sm.list('a/', { limit: 2 });
    assert.deepEqual([p1.kvs.map((k) => k.key), p1.more, p1.nextKey], [['a/1', 'a/2'], true, 'a/2']);
    const p2 = await h.sm.list('a/', { limit: 2, startAfter: p1.nextKey, keysOnly: true });
    assert.deepEqual(p2.kvs.map((k) => [k.key, k.value.length, k.version]), [['a/3', 0, 1], ['a/\u00e9', 0, 1]]);
    const p3 = await h.sm.list('a/', { limit: 2, startAfter: p2.nextKey });
    assert.deepEqual([p3.kvs.map((k) => k.key), p3.more], [['a/\u{1f600}'], false]);
    assert.equal((await h.sm.list('')).kvs.length, keys.length);
    assert.deepEqual((await h.sm.list('', { startAfter: 'a0' })).kvs.map((k) => k.key), ['b/1']);
    assert.deepEqual((await h.sm.list('zz')).kvs, []);
  });
});

describe('StateMachine: leases, users, config', () => {
  it('lease grant/keep-alive/revoke with leader time; revoke deletes attached keys', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    let r = await h.run({ $case: 'leaseGrant', value: { id: 42, ttlMs: 5000 } }, { leaderTimeMs: 1_000_000 });
    assert.deepEqual(r.lease, { id: 42, ttlMs: 5000, expiresAtMs: 1_005_000, keys: 0 });
    assert.equal((await h.run({ $case: 'leaseGrant', value: { id: 42, ttlMs: 1 } })).code, ResultCode.RESULT_ALREADY_EXISTS);
    assert.equal((await h.run({ $case: 'leaseGrant', value: { id: 1, ttlMs: 0 } })).code, ResultCode.RESULT_INVALID);
    assert.equal((await h.run(put('k0', 'v', 99))).code, ResultCode.RESULT_NOT_FOUND);
    await h.run(put('k1', 'v', 42));
    await h.run(put('k2', 'v', 42));
    await h.run(put('k3', 'v', 42));
    await h.run(put('k3', 'v')); // detached again
    assert.deepEqual(await h.sm.leaseKeys(42), ['k1', 'k2']);
    r = await h.run({ $case: 'leaseKeepAlive', value: { id: 42 } }, { leaderTimeMs: 2_000_000 });
    assert.equal(r.lease?.expiresAtMs, 2_005_000);
    assert.deepEqual(await h.sm.getLease(42), { id: 42, ttlMs: 5000, expiresAtMs: 2_005_000, keys: 2 });
    assert.equal((await h.run({ $case: 'leaseKeepAlive', value: { id: 7 } })).code, ResultCode.RESULT_NOT_FOUND);
    // Revoke in the same batch as a put attaching another key: the batch's own write is revoked too.
    const before = h.sm.revision;
    const rs = await h.sm.apply([h.entry(enc(put('k4', 'v', 42))), h.entry(enc({ $case: 'leaseRevoke', value: { id: 42 } }))]);
    assert.equal(rs[1].code, ResultCode.RESULT_OK);
    assert.equal(h.sm.revision, before + 2);
    for (const k of ['k1', 'k2', 'k4']) assert.equal(await h.sm.exists(k), false, k);
    assert.equal(await h.sm.exists('k3'), true);
    assert.equal(await h.sm.getLease(42), undefined);
    assert.deepEqual(await h.sm.leaseKeys(42), []);
    assert.deepEqual(await h.sm.listLeases(), []);
    assert.equal((await h.run({ $case: 'leaseRevoke', value: { id: 42 } })).code, ResultCode.RESULT_NOT_FOUND);
  });

  it('users: create_only / update_only, timestamps from the leader; config set/delete', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    const user = (name: string, perm = '') => ({
      name,
      passwordHash: Buffer.from('h'),
      salt: Buffer.from('s'),
      permissions: [{ prefix: perm, read: true, write: false }],
      createdAtMs: 0,
      updatedAtMs: 0,
    });
    const up = (u: ReturnType<typeof user>, createOnly = false, updateOnly = false): Op => ({ $case: 'userPut', value: { user: u, createOnly, updateOnly } });
    assert.equal((await h.run(up(user('ann'), false, true))).code, ResultCode.RESULT_NOT_FOUND);
    assert.equal((await h.run(up(user('ann'), true), { leaderTimeMs: 100 })).code, ResultCode.RESULT_OK);
    assert.equal((await h.run(up(user('ann'), true))).code, ResultCode.RESULT_ALREADY_EXISTS);
    assert.equal((await h.run(up(user('ann', '/x'), false, true), { leaderTimeMs: 200 })).code, ResultCode.RESULT_OK);
    assert.equal((await h.run(up(user('bob')), { leaderTimeMs: 300 })).code, ResultCode.RESULT_OK);
    assert.equal((await h.run(up(user('x'), true, true))).code, ResultCode.RESULT_INVALID);
    const ann = await h.sm.getUser('ann');
    assert.deepEqual([ann?.createdAtMs, ann?.updatedAtMs, ann?.permissions[0].prefix], [100, 200, '/x']);
    assert.deepEqual((await h.sm.listUsers()).map((u) => u.name), ['ann', 'bob']);
    assert.equal((await h.run({ $case: 'userDelete', value: { name: 'ann' } })).code, ResultCode.RESULT_OK);
    assert.equal((await h.run({ $case: 'userDelete', value: { name: 'ann' } })).code, ResultCode.RESULT_NOT_FOUND);
    assert.equal(await h.sm.getUser('ann'), undefined);

    // Users and config change no key: the keyspace revision stays; a config entry's mod revision
    // is the Raft index of the command that set it.
    const before = h.sm.revision;
    const r = await h.run({ $case: 'configSet', value: { name: 'retention', value: Buffer.from('7d') } }, { leaderTimeMs: 555 });
    assert.equal(r.revision, before);
    assert.equal(before, 1, 'nothing above changed a key');
    assert.deepEqual(await h.sm.getConfig('retention'), { name: 'retention', value: Buffer.from('7d'), modRevision: h.index, updatedAtMs: 555 });
    await h.run({ $case: 'configSet', value: { name: 'a', value: Buffer.from('1') } });
    assert.deepEqual((await h.sm.listConfig()).map((c) => c.name), ['a', 'retention']);
    assert.equal((await h.run({ $case: 'configDelete', value: { name: 'a' } })).code, ResultCode.RESULT_OK);
    assert.equal((await h.run({ $case: 'configDelete', value: { name: 'a' } })).code, ResultCode.RESULT_NOT_FOUND);
    assert.equal((await h.run({ $case: 'configSet', value: { name: '', value: Buffer.alloc(0) } })).code, ResultCode.RESULT_INVALID);
  });
});

describe('StateMachine: de-duplication', () => {
  it('the previous key-value is returned, and kept in the de-dup record, only when asked for', async () => {
    const h = await Harness.open(tempDir(after));
    after(() => h.sm.close());
    await h.run(put('p', 'old'));
    const quiet = await h.run(put('p', 'new', 0, false), { clientId: 'cli', seq: 1 });
    assert.equal(quiet.code, ResultCode.RESULT_OK);
    assert.equal(quiet.prevKv, undefined, 'no prev_kv asked, none returned');
    assert.deepEqual(await h.run(put('p', 'new', 0, false), { clientId: 'cli', seq: 1 }), quiet, 'the retry gets the same (small) result');
    const loud = await h.run(put('p', 'newer', 0, true), { clientId: 'cli', seq: 2 });
    assert.equal(loud.prevKv?.value.toString(), 'new');
    assert.equal((await h.run(put('p', 'newer', 0, true), { clientId: 'cli', seq: 2 })).prevKv?.value.toString(), 'new');
    const gone = await h.run(del('p', false), { clientId: 'cli', seq: 3 });
    assert.equal(gone.succeeded, true);
    assert.equal(gone.prevKv, undefined);
    assert.equal(await h.sm.exists('p'), false);
  });

  it('a repeated (client, seq) returns the stored result without applying; too-old seqs are refused', async () => {
    const h = await Harness.open(tempDir(after), { dedupWindow: 4 });
    after(() => h.sm.close());
    const r1 = await h.run(put('c', '1'), { clientId: 'cli', seq: 1 });
    const r2 = await h.run(put('c', '2'), { clientId: 'cli', seq: 2 });
    const again = await h.run(put('c', '1'), { clientId: 'cli', seq: 1 });
    assert.deepEqual(again, r1);
    assert.equal((await h.sm.get('c'))?.value.toString(), '2', 'the retry did not overwrite');
    assert.equal(h.sm.revision, 3);
    // Same seq from another client is independent.
    assert.equal((await h.run(put('d', '1'), { clientId: 'other', seq: 1 })).revision, 4);
    // Failed results are remembered too.
    const f = await h.run(del('missing'), { clientId: 'cli', seq: 3 });
    await h.run(put('missing', 'now'));
    assert.deepEqual(await h.run(del('missing'), { clientId: 'cli', seq: 3 }), f);
    assert.equal(await h.sm.exists('missing'), true);
    const bySeq = new Map<number, CommandResult>();
    for (let s = 4; s <= 8; s++) bySeq.set(s, await h.run(put('c', `s${s}`), { clientId: 'cli', seq: s }));
    // Window is 4: seqs 5..8 remembered; seq 2 is older than the window.
    const old = await h.run(put('c', 'stale'), { clientId: 'cli', seq: 2 });
    assert.equal(old.code, ResultCode.RESULT_OUTCOME_UNKNOWN);
    assert.match(old.message, /outcome unknown: seq 2 of client cli is older than the de-duplication window of 4/);
    assert.equal((await h.sm.get('c'))?.value.toString(), 's8');
    assert.deepEqual(await h.run(put('c', 's5'), { clientId: 'cli', seq: 5 }), bySeq.get(5));
    assert.equal(r2.revision, 3);
    // Survives a restart (it is replicated state, in the same batches).
    const dir = h.sm.dir;
    await h.sm.close();
    const h2 = await Harness.open(dir, { dedupWindow: 4 });
    after(() => h2.sm.close());
    const rev = h2.sm.revision;
    const rep = await h2.run(put('c', 's8'), { clientId: 'cli', seq: 8 });
    assert.equal(rep.code, ResultCode.RESULT_OK);
    assert.equal(h2.sm.revision, rev);
    assert.equal((await h2.sm.get('c'))?.value.toString(), 's8');
  });
});

/** Applies n random commands in batches of `batch`; returns every entry's result, in log order. */
async function randomOps(h: Harness, rand: () => number, n: number, batch: number): Promise<CommandResult[]> {
  const results: CommandResult[] = [];
  const keys = Array.from({ length: 40 }, (_, i) => `key/${i}`);
  for (let i = 0; i < n; i += batch) {
    const es: ApplyEntry[] = [];
    for (let j = 0; j < batch; j++) {
      const r = rand();
      const k = keys[Math.floor(rand() * keys.length)];
      let op: Op;
      if (r < 0.5) op = put(k, `v${Math.floor(rand() * 1000)}`, rand() < 0.2 ? 1 + Math.floor(rand() * 3) : 0);
      else if (r < 0.6) op = del(k);
      else if (r < 0.7) op = { $case: 'cas', value: { key: k, expect: { $case: 'expectedModRevision', value: Math.floor(rand() * 50) }, value: Buffer.from('c'), lease: 0 } };
      else if (r < 0.8) op = { $case: 'leaseGrant', value: { id: 1 + Math.floor(rand() * 3), ttlMs: 1000 } };
      else if (r < 0.85) op = { $case: 'leaseRevoke', value: { id: 1 + Math.floor(rand() * 3) } };
      else if (r < 0.9) op = { $case: 'configSet', value: { name: `c${Math.floor(rand() * 5)}`, value: Buffer.from('x') } };
      else op = put(k, 'dedup', 0);
      const t = (i + j) * 10;
      const client = rand() < 0.3 ? { clientId: `cl${Math.floor(rand() * 3)}`, seq: Math.floor(rand() * 20), leaderTimeMs: t } : { leaderTimeMs: t };
      es.push(h.entry(enc(op, client)));
    }
    results.push(...(await h.sm.apply(es)));
  }
  return results;
}

describe('StateMachine: convergence, snapshots', () => {
  it('results and hash are the same for the same log regardless of batching', async () => {
    const seed = seedFromEnv('sm convergence');
    const a = await Harness.open(tempDir(after));
    const b = await Harness.open(tempDir(after));
    after(() => a.sm.close());
    after(() => b.sm.close());
    // Batches of 50 mix commands that execute synchronously with lease revokes and de-dup
    // window jumps, which iterate keys asynchronously in the middle of the batch.
    const one = await randomOps(a, rng(seed), 400, 1);
    const fifty = await randomOps(b, rng(seed), 400, 50);
    assert.equal(one.length, 400);
    assert.deepEqual(fifty, one);
    assert.ok(one.some((r) => r.lease !== undefined && r.code === ResultCode.RESULT_OK), 'the log revoked or granted leases');
    assert.equal(a.sm.revision, b.sm.revision);
    assert.equal(await a.sm.hash(), await b.sm.hash());
    await a.sm.apply([a.entry(enc(put('diverge', '1')))]);
    assert.notEqual(await a.sm.hash(), await b.sm.hash());
  });

  it('snapshot taken while writes continue reflects exactly its index; install replaces state atomically', async () => {
    const seed = seedFromEnv('sm snapshot');
    const dirA = tempDir(after);
    const a = await Harness.open(dirA);
    const ref = await Harness.open(tempDir(after));
    after(() => a.sm.close());
    after(() => ref.sm.close());
    const store = await SnapshotStore.open(tempDir(after));
    const rand = rng(seed);
    await randomOps(a, rand, 300, 20);
    await randomOps(ref, rng(seed), 300, 20);
    const refHash = await ref.sm.hash();
    const conf = { voters: [1, 2, 3], learners: [] };
    // Start the snapshot, then keep applying before awaiting it.
    const snapP = a.sm.createSnapshot(store, { confState: conf });
    await randomOps(a, rand, 100, 10);
    const info = await snapP;
    assert.deepEqual(info.meta, { index: 300, term: 1, confState: conf });
    assert.notEqual(await a.sm.hash(), refHash);

    // Install into a fresh state machine: identical to the reference at index 300.
    const cDir = tempDir(after);
    const c = await Harness.open(cDir);
    after(() => c.sm.close());
    await randomOps(c, rng(seed + 1), 50, 10); // some other, older state to be replaced
    await c.sm.installSnapshot(store.openReader(info.meta));
    assert.equal(c.sm.appliedIndex, 300);
    assert.equal(c.sm.revision, ref.sm.revision);
    assert.deepEqual(c.sm.confState, conf);
    assert.equal(await c.sm.hash(), refHash);
    assert.deepEqual(await c.sm.list('key/'), await ref.sm.list('key/'));
    assert.deepEqual(readdirSync(cDir).sort(), ['CURRENT_DB', readFileSync(join(cDir, 'CURRENT_DB'), 'utf8')].sort());
    // It keeps applying from there and survives a reopen.
    c.index = 300;
    await c.sm.apply([c.entry(enc(put('after', 'x')))]);
    await c.sm.close();
    const c2 = await Harness.open(cDir);
    after(() => c2.sm.close());
    assert.equal(c2.sm.appliedIndex, 301);
    assert.equal((await c2.sm.get('after'))?.value.toString(), 'x');
    // createSnapshot with an explicit index that does not match is refused.
    await assert.rejects(c2.sm.createSnapshot(store, { index: 5 }), /requested index 5/);
    // confStateAt is asked for the membership at the view's index; without options the stored one is used.
    const seen: number[] = [];
    const i2 = await c2.sm.createSnapshot(store, { confStateAt: (i) => (seen.push(i), { voters: [9], learners: [] }) });
    assert.deepEqual([seen, i2.meta.confState], [[301], { voters: [9], learners: [] }]);
    assert.deepEqual((await c2.sm.createSnapshot(store)).meta.confState, conf);
  });

  it('a snapshot whose records span many content chunks and reads, some larger than either, installs to the same state', async () => {
    // The content is read from LevelDB in batches (storage/state-machine/scan.ts, 256 KiB) and
    // framed into 256 KiB chunks: small records fill chunks across batch ends; a record larger than
    // a chunk gets one of its own; one larger than a batch comes in a batch alone.
    const seed = seedFromEnv('sm snapshot chunks');
    const rand = rng(seed);
    const a = await Harness.open(tempDir(after));
    after(() => a.sm.close());
    const sizes = [700 * 1024, 300 * 1024, 255 * 1024, 257 * 1024];
    for (let i = 0; i < 600; i++) sizes.push(1 + Math.floor(rand() * 2000));
    const expected = new Map<string, Buffer>();
    for (const [i, n] of sizes.entries()) {
      const key = `chunky/${String(Math.floor(rand() * 1e6)).padStart(6, '0')}/${i}`;
      const value = Buffer.alloc(n, (i % 251) + 1);
      expected.set(key, value);
      await a.run({ $case: 'put', value: { key, value, lease: 0, prevKv: false } });
    }
    const store = await SnapshotStore.open(tempDir(after));
    const info = await a.sm.createSnapshot(store, { confState: { voters: [1], learners: [] } });
    assert.ok(info.size > 4 * 256 * 1024, `content spans several chunks (${info.size} bytes)`);
    const b = await Harness.open(tempDir(after));
    after(() => b.sm.close());
    await b.sm.installSnapshot(store.openReader(info.meta));
    assert.equal(b.sm.appliedIndex, a.sm.appliedIndex);
    assert.equal(await b.sm.hash(), await a.sm.hash());
    const listed = await b.sm.list('chunky/', { limit: 10_000 });
    assert.equal(listed.more, false);
    assert.deepEqual(listed.kvs.map((kv) => kv.key), [...expected.keys()].sort());
    for (const kv of listed.kvs) assert.ok(Buffer.from(kv.value).equals(expected.get(kv.key)!), `value of ${kv.key}`);
  });

  it('a corrupt snapshot is not installed; leftovers of an interrupted install are removed on open', async () => {
    const dir = tempDir(after);
    const a = await Harness.open(dir);
    await a.sm.apply([a.entry(enc(put('keep', 'me')))]);
    const store = await SnapshotStore.open(tempDir(after));
    const info = await a.sm.createSnapshot(store);
    const file = readFileSync(info.path);
    file[file.length - 100] ^= 1;
    const bad = await SnapshotStore.open(tempDir(after));
    const rx = await bad.beginReceive(info.meta);
    await rx.write(file);
    await assert.rejects(rx.commit());
    // Feed corrupt content straight in (bypassing the store's verification at receive time).
    const corrupt = {
      meta: info.meta,
      async *content() {
        yield Buffer.from([1, 0, 0, 0, 0x41]); // a record cut short, then the stream fails its checksum
        throw new Error('checksum mismatch');
      },
    };
    await assert.rejects(a.sm.installSnapshot(corrupt), /checksum mismatch/);
    assert.equal((await a.sm.get('keep'))?.value.toString(), 'me');
    assert.deepEqual(readdirSync(dir).sort(), ['CURRENT_DB', 'db-000001']);
    await a.sm.close();
    mkdirSync(join(dir, 'db-000002')); // as if a crash happened mid-install
    const b = await StateMachine.open(dir);
    after(() => b.close());
    assert.deepEqual(readdirSync(dir).sort(), ['CURRENT_DB', 'db-000001']);
    assert.equal((await b.get('keep'))?.value.toString(), 'me');
  });
});
