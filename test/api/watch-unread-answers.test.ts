// A Watch client that sends requests and does not read the answers: the member stops reading it
// once WATCH_READ_PAUSE_AT answers wait, so HTTP/2 flow control holds the client's later requests
// instead of this member queueing an answer for each (etcd's stream stops reading when its control
// channel is full). Once the client reads again, every request is answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WatchRequest, WatchResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { startCluster } from '../support/cluster.js';
import { rawStream } from '../support/raw-grpc-stream.js';

const REQUESTS = 30_000;

test('a Watch client that does not read its answers is not read either, and gets every answer once it reads', { timeout: 120_000 }, async () => {
  const c = await startCluster({ nodes: 1 });
  let answers = 0;
  let onAll: () => void = () => {};
  const all = new Promise<void>((r) => (onAll = r));
  const call = rawStream(c.node(1).grpcAddress, '/etcdserverpb.Watch/Watch', (m) => {
    const r = WatchResponse.decode(m);
    // A progress notification of the whole stream: watch id -1, no events.
    assert.ok(r.watchId === -1 && r.events.length === 0 && !r.created && !r.canceled, `only progress answers: ${JSON.stringify(r)}`);
    if (++answers === REQUESTS) onAll();
  });
  try {
    const { heldAt, finish } = await call.sendUnread(WatchRequest.encode({ requestUnion: { $case: 'progressRequest', value: {} } }).finish(), REQUESTS, 30_000);
    // What the flow-control window and a few hundred waiting answers hold, not all of them.
    assert.ok(heldAt < REQUESTS / 2, `the member kept reading a client that reads nothing: ${heldAt} of ${REQUESTS} requests left the client`);
    console.log(`# ${heldAt} of ${REQUESTS} requests left the client while it read nothing`);

    await finish();
    await all;
    assert.equal(answers, REQUESTS, 'every request answered once');
  } finally {
    call.close();
    await c.stop();
  }
});
