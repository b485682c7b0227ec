// A member's admin port may be one of the ports fetch() refuses ("bad port": 6000, 6665-6669,
// 10080, ...). The overview asks the other members with httpPeerGet, which must still reach them,
// answer their JSON and give up after its deadline with a TimeoutError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { httpPeerGet } from '../../src/http/overview.js';
import { FETCH_BLOCKED_PORTS } from '../support/cluster.js';

// Not 6000: test/scripts/start-cluster.test.ts gives its first cluster's node 1 that port.
const CANDIDATES = [...FETCH_BLOCKED_PORTS].filter((p) => p !== 6000);

/** An HTTP server on the first fetch-blocked port that is free, or null when none is. */
async function listenOnBlockedPort(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; port: number } | null> {
  for (const port of CANDIDATES) {
    const server = createServer(handler);
    const ok = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (ok) return { server, port };
  }
  return null;
}

test('httpPeerGet reaches an admin port that fetch() refuses, and times out when it does not answer', async () => {
  const seen: Array<string | undefined> = [];
  const got = await listenOnBlockedPort((req, res) => {
    seen.push(req.headers.authorization);
    if (req.url === '/slow') return; // never answers
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ data: { path: req.url } }));
  });
  assert.ok(got, `one of ${CANDIDATES.join(', ')} is free on this machine`);
  const { server, port } = got;
  try {
    await assert.rejects(fetch(`http://127.0.0.1:${port}/v1/cluster/status`), (e: Error) => /bad port/.test(String((e.cause as Error | undefined)?.message)));
    const answer = await httpPeerGet(`127.0.0.1:${port}`, '/v1/cluster/status', { timeoutMs: 2000, headers: { authorization: 'Bearer t' } });
    assert.deepEqual(answer, { status: 200, body: { data: { path: '/v1/cluster/status' } } });
    assert.deepEqual(seen, ['Bearer t']);
    const started = Date.now();
    await assert.rejects(httpPeerGet(`127.0.0.1:${port}`, '/slow', { timeoutMs: 200, headers: {} }), { name: 'TimeoutError' });
    assert.ok(Date.now() - started < 5000);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
