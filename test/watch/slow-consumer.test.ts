// A client that stops reading a Watch stream with many watchers, on a real node, under a flood
// of writes: another client's watch keeps getting every revision, the node's unsent watch bytes
// stay within the configured bounds (and its RSS bounded), the stalled watchers move to catch-up,
// and once the client reads again each of them gets exactly the history it missed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { WatchRequest, WatchResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster } from '../support/cluster.js';
import { PlacementClient, type WatchBatch } from '../../src/client/index.js';

const WATCHERS = 100;
const WRITES = 1500;
const VALUE = 'v'.repeat(2048);
const TOTAL_BOUND = 1 << 20;

async function metrics(httpAddress: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://${httpAddress}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const name = line.slice(0, line.search(/[ {]/));
    m.set(name, (m.get(name) ?? 0) + Number(line.split(' ').pop()));
  }
  return m;
}

test('a stream that stops reading does not hold up other watchers or grow the node; its watchers catch up afterwards', { timeout: 240_000 }, async () => {
  const c = await startCluster({
    nodes: 1,
    env: {
      PLACEMENT_WATCH_MAX_PENDING_BYTES: String(64 << 10),
      PLACEMENT_WATCH_STREAM_MAX_PENDING_BYTES: String(256 << 10),
      PLACEMENT_WATCH_TOTAL_MAX_PENDING_BYTES: String(TOTAL_BOUND),
    },
  });
  const n = c.node(1);
  const client = new PlacementClient({ endpoints: [n.grpcAddress] });
  const raw = new grpc.Client(n.grpcAddress, grpc.credentials.createInsecure());
  try {
    const start = (await client.kv.set('s/start', '0')).revision + 1;
    // The slow client: one stream, WATCHERS watchers on the prefix.
    const call = raw.makeBidiStreamRequest(
      '/etcdserverpb.Watch/Watch',
      (r: WatchRequest) => Buffer.from(WatchRequest.encode(r).finish()),
      (b: Buffer) => WatchResponse.decode(b),
      new grpc.Metadata(),
    );
    const seen = new Map<number, number[]>();
    let created = 0;
    call.on('data', (r: WatchResponse) => {
      if (r.created) created++;
      const list = seen.get(r.watchId) ?? [];
      for (const e of r.events) list.push(e.kv!.modRevision);
      seen.set(r.watchId, list);
    });
    call.on('error', () => {});
    for (let i = 0; i < WATCHERS; i++) {
      call.write({ requestUnion: { $case: 'createRequest', value: { key: Buffer.from('s/'), rangeEnd: Buffer.from('s0'), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false } } });
    }
    await c.waitFor(async () => created === WATCHERS, { what: 'the slow stream\'s watchers created' });
    call.pause();

    const fast = client.watch('s/', { prefix: true, startRevision: start });
    const got: WatchBatch[] = [];
    const reading = (async () => {
      for await (const b of fast) got.push(b);
    })();

    let peakPending = 0;
    let peakRss = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const m = await metrics(n.httpAddress);
        peakPending = Math.max(peakPending, m.get('placement_watch_pending_bytes') ?? 0);
        peakRss = Math.max(peakRss, m.get('process_resident_memory_bytes') ?? 0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    let next = 0;
    let last = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < WRITES) {
          const i = next++;
          last = Math.max(last, (await client.kv.set(`s/${i % 50}`, VALUE)).revision);
        }
      }),
    );
    // The other watcher got every revision while the slow stream was not read.
    await c.waitFor(async () => got.at(-1)?.revision === last, { timeoutMs: 60_000, what: 'the fast watcher reaching the last write' });
    assert.equal(got.length, last - start + 1);
    assert.deepEqual(got.map((b) => b.revision), Array.from({ length: last - start + 1 }, (_, k) => start + k));
    sampling = false;
    await sampler;
    const m = await metrics(n.httpAddress);
    assert.ok(peakPending <= TOTAL_BOUND + 64 * 1024, `unsent watch bytes peaked at ${peakPending}, bound ${TOTAL_BOUND}`);
    assert.ok((m.get('placement_watch_slow_total') ?? 0) > 0, 'stalled watchers moved to catch-up');
    // Unbounded, the stalled stream alone would hold WATCHERS × WRITES × 2 KiB ≈ 300 MB.
    assert.ok(peakRss < 400 * 1024 * 1024, `node RSS peaked at ${Math.round(peakRss / 2 ** 20)} MiB`);
    console.log(`# slow consumer: peak unsent ${peakPending} B, peak RSS ${Math.round(peakRss / 2 ** 20)} MiB, moved to catch-up ${m.get('placement_watch_slow_total')}`);

    // The slow client reads again: every watcher gets exactly what it missed, in order.
    call.resume();
    const want = Array.from({ length: last - start + 1 }, (_, k) => start + k);
    await c.waitFor(async () => [...seen.values()].every((l) => l.at(-1) === last) && seen.size === WATCHERS, { timeoutMs: 120_000, what: 'the slow watchers caught up' });
    for (const [id, revs] of seen) assert.deepEqual(revs, want, `slow watcher ${id}`);
    call.cancel();
    fast.close();
    await reading;
  } finally {
    client.close();
    raw.close();
    await c.stop();
  }
});
