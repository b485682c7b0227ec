// Issue 18's memory bound: a node with 10,000 watchers on one prefix and a flood of writes keeps
// its RSS bounded. 9,900 of the watchers sit on streams whose client stopped reading (unbounded,
// they would hold 9,900 × WRITES × 1 KiB ≈ 3 GB of unsent events); 100 are read, and get every
// revision while the flood runs. The bound asserted is generous (the point is "not gigabytes");
// the measured peak is printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { WatchRequest, WatchResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster } from '../support/cluster.js';
import { PlacementClient } from '../../src/client/index.js';

const STALLED_STREAMS = 9;
const STALLED_PER_STREAM = 1100;
const READ_WATCHERS = 100;
const WRITES = 300;
const VALUE = 'v'.repeat(1024);
const RSS_BOUND = 768 * 1024 * 1024;

const create = (): WatchRequest => ({
  requestUnion: { $case: 'createRequest', value: { key: Buffer.from('m/'), rangeEnd: Buffer.from('m0'), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false } },
});

async function rssOf(httpAddress: string): Promise<number> {
  const text = await (await fetch(`http://${httpAddress}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const line = text.split('\n').find((l) => l.startsWith('process_resident_memory_bytes '));
  return line ? Number(line.split(' ')[1]) : 0;
}

test('10,000 watchers and a flood of writes: node RSS stays bounded, the read watchers get every revision', { timeout: 300_000 }, async () => {
  const c = await startCluster({ nodes: 1 });
  const n = c.node(1);
  const client = new PlacementClient({ endpoints: [n.grpcAddress] });
  const raws: grpc.Client[] = [];
  const calls: grpc.ClientDuplexStream<WatchRequest, WatchResponse>[] = [];
  try {
    const rss0 = await rssOf(n.httpAddress);
    const open = (onData: (r: WatchResponse) => void): grpc.ClientDuplexStream<WatchRequest, WatchResponse> => {
      const raw = new grpc.Client(n.grpcAddress, grpc.credentials.createInsecure());
      raws.push(raw);
      const call = raw.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', (r: WatchRequest) => Buffer.from(WatchRequest.encode(r).finish()), (b: Buffer) => WatchResponse.decode(b), new grpc.Metadata());
      call.on('data', onData);
      call.on('error', () => {});
      calls.push(call);
      return call;
    };
    let created = 0;
    const stalled = Array.from({ length: STALLED_STREAMS }, () => open((r) => void (r.created && created++)));
    for (const s of stalled) for (let i = 0; i < STALLED_PER_STREAM; i++) s.write(create());
    // The read stream: the last revision each of its watchers has seen.
    const lastSeen = new Map<number, number>();
    const reader = open((r) => {
      if (r.created) created++;
      for (const e of r.events) lastSeen.set(r.watchId, e.kv!.modRevision);
    });
    for (let i = 0; i < READ_WATCHERS; i++) reader.write(create());
    const total = STALLED_STREAMS * STALLED_PER_STREAM + READ_WATCHERS;
    assert.ok(total >= 10_000);
    await c.waitFor(async () => created === total, { timeoutMs: 120_000, what: `${total} watchers created` });
    for (const s of stalled) s.pause();
    console.log(`# ${total} watchers created`);
    const rssWatching = await rssOf(n.httpAddress);

    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await rssOf(n.httpAddress));
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    let next = 0;
    let last = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < WRITES) {
          const i = next++;
          last = Math.max(last, (await client.kv.set(`m/${i % 50}`, VALUE)).revision);
        }
      }),
    );
    console.log(`# ${WRITES} writes done at revision ${last}`);
    try {
      await c.waitFor(async () => lastSeen.size === READ_WATCHERS && [...lastSeen.values()].every((r) => r === last), { timeoutMs: 120_000, what: 'the read watchers reaching the last write' });
    } catch (err) {
      const text = await (await fetch(`http://${n.httpAddress}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      console.log(`# read watchers: ${lastSeen.size}, lowest revision seen ${Math.min(...lastSeen.values())}, last ${last}\n${text.split('\n').filter((l) => l.startsWith('placement_watch')).join('\n')}`);
      throw err;
    }
    sampling = false;
    await sampler;
    console.log(`# ${total} watchers: RSS ${Math.round(rss0 / 2 ** 20)} MiB idle, ${Math.round(rssWatching / 2 ** 20)} MiB watching, peak ${Math.round(peak / 2 ** 20)} MiB during ${WRITES} writes of 1 KiB`);
    assert.ok(peak > 0, 'RSS was sampled');
    assert.ok(peak < RSS_BOUND, `node RSS peaked at ${Math.round(peak / 2 ** 20)} MiB (bound ${RSS_BOUND / 2 ** 20} MiB)`);
    // The node still serves.
    assert.equal((await client.kv.get('m/0'))?.value.toString(), VALUE);
  } catch (err) {
    console.log(`# node log (tail):\n${c.logs(1).split('\n').slice(-40).join('\n')}`);
    throw err;
  } finally {
    for (const call of calls) call.cancel();
    for (const r of raws) r.close();
    client.close();
    await c.stop();
  }
});
