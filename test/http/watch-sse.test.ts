// GET /v1/watch (Server-Sent Events) on a real node: one event per revision with id = revision,
// history from startRevision, live writes, prevKv, Last-Event-ID resumes after that revision,
// bad parameters answered 400 before any stream starts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { PlacementClient } from '../../src/client/index.js';

interface SseEvent {
  id?: string;
  event?: string;
  data?: string;
}

/** Reads SSE events from `url` until `enough(events)`; then aborts the request. */
async function sse(url: string, enough: (evs: SseEvent[]) => boolean, headers: Record<string, string> = {}): Promise<SseEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 20_000);
  const res = await fetch(url, { headers, signal: ac.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const evs: SseEvent[] = [];
  let buf = '';
  const dec = new TextDecoder();
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += dec.decode(chunk, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const ev: SseEvent = {};
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const [f, ...rest] = line.split(': ');
          (ev as Record<string, string>)[f!] = rest.join(': ');
        }
        if (ev.event) evs.push(ev);
      }
      if (enough(evs)) break;
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return evs;
}

describe('GET /v1/watch (SSE)', { timeout: 120_000 }, () => {
  let c: Cluster;
  let client: PlacementClient;
  before(async () => {
    c = await startCluster({ nodes: 1 });
    client = new PlacementClient({ endpoints: [c.node(1).grpcAddress] });
  });
  after(async () => {
    client?.close();
    await c?.stop();
  });

  it('sends history then live writes, one event per revision; Last-Event-ID resumes after it', async () => {
    const base = `http://${c.node(1).httpAddress}/v1/watch`;
    const r1 = (await client.kv.set('sse/a', '1')).revision;
    await client.kv.set('other', 'x');
    await client.kv.set('sse/a', '2');
    const pending = sse(`${base}?prefix=sse/&startRevision=${r1}&prevKv=true`, (e) => e.length >= 3);
    const d = (await client.kv.delete('sse/a')).revision;
    const evs = await pending;
    assert.deepEqual(evs.map((e) => [e.id, e.event]), [
      [String(r1), 'change'],
      [String(r1 + 2), 'change'],
      [String(d), 'change'],
    ]);
    const second = JSON.parse(evs[1]!.data!) as { revision: number; events: Array<{ type: string; kv: { key: string; value: string }; prevKv?: { value: string } }> };
    assert.equal(second.revision, r1 + 2);
    assert.deepEqual(second.events.map((e) => [e.type, e.kv.key, e.kv.value, e.prevKv?.value]), [['PUT', 'sse/a', '2', '1']]);
    assert.equal((JSON.parse(evs[2]!.data!) as { events: Array<{ type: string }> }).events[0]!.type, 'DELETE');

    // Reconnect as EventSource does: everything after the last id it saw, and nothing before.
    const again = await sse(`${base}?prefix=sse/&startRevision=${r1}`, (e) => e.length >= 1, { 'Last-Event-ID': String(r1) });
    assert.equal(again[0]!.id, String(r1 + 2));
  });

  it('bad parameters are refused with 400 before a stream starts', async () => {
    const base = `http://${c.node(1).httpAddress}/v1/watch`;
    for (const q of ['', '?key=a&prefix=b', '?key=', '?prefix=a&startRevision=-1', '?prefix=a&prevKv=yes']) {
      const res = await fetch(base + q);
      assert.equal(res.status, 400, q);
      const body = (await res.json()) as { code: number; error: string };
      assert.equal(body.code, 3, q);
    }
  });
});
