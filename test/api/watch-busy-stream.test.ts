// A Watch stream whose client stops reading while writes go on (the stream backs up): each
// watcher's later batches wait on the node and go out merged into one response (several
// revisions in it), and still every watcher gets every revision once, in order, with its previous
// values, and a progress notification asked for meanwhile arrives only after every watcher was
// sent everything up to its revision.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { WatchRequest, WatchResponse, WatchCreateRequest_FilterType } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster } from '../support/cluster.js';
import { PlacementClient } from '../../src/client/index.js';

const PLAIN = 30;
const WITH_PREV = 5;
const NO_DELETE = 5;
const WRITES = 400;
const WRITERS = 8;
const VALUE = 'v'.repeat(200);

test('a backed-up Watch stream merges each watcher\'s waiting batches, keeping every watcher\'s sequence exact and progress after the events', { timeout: 180_000 }, async () => {
  const c = await startCluster({ nodes: 1 });
  const n = c.node(1);
  const client = new PlacementClient({ endpoints: [n.grpcAddress] });
  const raw = new grpc.Client(n.grpcAddress, grpc.credentials.createInsecure());
  const call = raw.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', (r: WatchRequest) => Buffer.from(WatchRequest.encode(r).finish()), (b: Buffer) => WatchResponse.decode(b), new grpc.Metadata());
  try {
    const total = PLAIN + WITH_PREV + NO_DELETE;
    const created: number[] = [];
    const revs = new Map<number, number[]>();
    const prevs = new Map<number, string[]>();
    let maxRevsPerResponse = 0;
    let progress: { revision: number; missing: number } | null = null;
    let wantedLast = Infinity;
    let onAll: () => void = () => {};
    const all = new Promise<void>((r) => (onAll = r));
    const check = (): void => {
      if (progress && created.length === total && [...revs.values()].every((l) => l.length > 0 && l[l.length - 1]! >= wantedLast)) onAll();
    };
    call.on('data', (r: WatchResponse) => {
      if (r.created) {
        created.push(r.watchId);
        revs.set(r.watchId, []);
        prevs.set(r.watchId, []);
        return;
      }
      if (r.watchId === -1 && r.events.length === 0) {
        // Everything up to this revision must already have reached every watcher.
        const rev = Number(r.header!.revision);
        progress = { revision: rev, missing: [...revs.values()].filter((l) => (l[l.length - 1] ?? 0) < rev).length };
        check();
        return;
      }
      const seen = new Set(r.events.map((e) => Number(e.kv!.modRevision)));
      maxRevsPerResponse = Math.max(maxRevsPerResponse, seen.size);
      for (const e of r.events) {
        revs.get(r.watchId)!.push(Number(e.kv!.modRevision));
        prevs.get(r.watchId)!.push(e.prevKv ? Buffer.from(e.prevKv.value).toString() : '-');
      }
      check();
    });
    call.on('error', () => {});
    const create = (prevKv: boolean, filters: WatchCreateRequest_FilterType[]): void =>
      void call.write({ requestUnion: { $case: 'createRequest', value: { key: Buffer.from('m/'), rangeEnd: Buffer.from('m0'), startRevision: 0, progressNotify: false, filters, prevKv, watchId: 0, fragment: false } } });
    for (let i = 0; i < PLAIN; i++) create(false, []);
    for (let i = 0; i < WITH_PREV; i++) create(true, []);
    for (let i = 0; i < NO_DELETE; i++) create(false, [WatchCreateRequest_FilterType.NODELETE]);
    const until = Date.now() + 30_000;
    while (created.length < total && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(created.length, total);
    const first = (await client.kv.set('m/first', 'x')).revision;

    // Stop reading: the node's writes to the stream back up while the writes go on.
    call.pause();
    let next = 0;
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < WRITES) {
          const i = next++;
          await client.kv.set(`m/${i % 20}`, `${VALUE}${i}`);
        }
      }),
    );
    const last = (await client.kv.set('m/last', 'y')).revision;
    wantedLast = last;
    call.write({ requestUnion: { $case: 'progressRequest', value: {} } });
    call.resume();
    await all;

    const expected = Array.from({ length: last - first + 1 }, (_, i) => first + i);
    for (const id of created) assert.deepEqual(revs.get(id), expected, `watcher ${id}: every revision once, in order`);
    // With prev_kv, a key's previous value is what the write before it set (m/first, m/last and
    // the first write of each key create it: no previous value).
    const ids = [...created];
    const withPrev = ids.slice(PLAIN, PLAIN + WITH_PREV);
    for (const id of withPrev) {
      const p = prevs.get(id)!;
      assert.equal(p[0], '-');
      for (let k = 1; k <= 20; k++) assert.equal(p[k], '-', `first write of m/${k - 1} creates it`);
      for (let k = 21; k <= WRITES; k++) assert.match(p[k]!, /^v+\d+$/);
    }
    for (const id of ids.slice(0, PLAIN)) assert.ok(prevs.get(id)!.every((v) => v === '-'), 'no prev_kv when not asked');
    const p = progress as { revision: number; missing: number } | null;
    assert.ok(p, 'the progress notification arrived');
    assert.ok(p.revision >= last, `progress at ${p.revision}, after the last write ${last}`);
    assert.equal(p.missing, 0, 'the progress notification came after every watcher had its revision');
    // At most WRITERS revisions are applied together: more in one response means waiting batches were merged.
    assert.ok(maxRevsPerResponse > WRITERS, `at most ${maxRevsPerResponse} revisions per response`);
  } finally {
    call.cancel();
    raw.close();
    client.close();
    await c.stop();
  }
});
