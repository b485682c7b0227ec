// etcd's HashKV on the state machine (storage/keyspace/hash-kv.ts): replicas that applied the same
// commands agree at every revision whatever else they hold beyond it; a differing event changes
// the hash; a compacted or future revision is refused with etcd's errors; physical compaction
// progress does not change it.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KeyspaceError } from '../../storage/index.js';
import { EtcdHarness } from './etcd-harness.js';
import { tempDir } from './helpers.js';

async function replica(): Promise<EtcdHarness> {
  const h = await EtcdHarness.open(tempDir(after));
  after(() => h.sm.close());
  return h;
}

describe('hashKv', () => {
  it('is equal on replicas holding the same history, at each revision', async () => {
    const a = await replica();
    const b = await replica();
    for (let i = 0; i < 20; i++) {
      await a.put(`k${i % 7}`, `v${i}`);
      await b.put(`k${i % 7}`, `v${i}`);
    }
    await a.del('k3');
    await b.del('k3');
    const cur = await a.sm.hashKv(0);
    assert.equal(cur.revision, a.sm.revision);
    assert.equal(cur.compactRevision, -1, 'never compacted: -1, as etcd');
    assert.deepEqual(await b.sm.hashKv(0), cur);
    // b moves on: its hash at the earlier revision stays the same, its current one differs.
    await b.put('extra', 'x');
    assert.deepEqual(await b.sm.hashKv(cur.revision), cur);
    assert.notEqual((await b.sm.hashKv(0)).hash, cur.hash);
    for (let r = 1; r <= cur.revision; r++) assert.equal((await a.sm.hashKv(r)).hash, (await b.sm.hashKv(r)).hash, `revision ${r}`);
  });

  it('differs when one event differs', async () => {
    const a = await replica();
    const b = await replica();
    await a.put('k', 'same');
    await b.put('k', 'same');
    await a.put('k', 'one');
    await b.put('k', 'two');
    assert.equal((await a.sm.hashKv(2)).hash, (await b.sm.hashKv(2)).hash);
    assert.notEqual((await a.sm.hashKv(3)).hash, (await b.sm.hashKv(3)).hash);
  });

  it('refuses a compacted or a future revision with etcd errors; physical compaction does not change it', async () => {
    const a = await replica();
    const b = await replica();
    for (let i = 0; i < 600; i++) {
      await a.put(`k${i % 5}`, `v${i}`);
      await b.put(`k${i % 5}`, `v${i}`);
    }
    await a.compact(300);
    await b.compact(300);
    await a.sm.waitCompaction(300); // a removed the history at or below 300; b may not have yet
    const ha = await a.sm.hashKv(0);
    assert.equal(ha.compactRevision, 300);
    assert.deepEqual(await b.sm.hashKv(0), ha);
    await assert.rejects(a.sm.hashKv(300), (e: KeyspaceError) => e.kind === 'COMPACTED' && e.message === 'etcdserver: mvcc: required revision has been compacted');
    await assert.rejects(a.sm.hashKv(a.sm.revision + 1), (e: KeyspaceError) => e.kind === 'FUTURE_REV' && e.message === 'etcdserver: mvcc: required revision is a future revision');
    assert.equal((await a.sm.hashKv(301)).revision, 301);
  });
});
