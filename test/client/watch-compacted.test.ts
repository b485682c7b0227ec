// client.watch against the etcd Watch service in-process (a hub over an in-memory history): a
// start revision below the compacted one ends the iteration with WatchCompactedError carrying
// the compact revision, after every batch that could be delivered; a refused create is an error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { EventRecordsPage, EventRecordsRequest, KeyEvent } from '../../storage/index.js';
import { WatchHub, type EventSource } from '../../src/watch/hub.js';
import { LeaderMonitor } from '../../src/api/etcd/require-leader.js';
import { registerWatch } from '../../src/api/etcd/watch.js';
import { PlacementClient, WatchCompactedError, InvalidArgumentError } from '../../src/client/index.js';

class Source implements EventSource {
  revision = 1;
  compactRevision = -1;
  readonly log: KeyEvent[] = [];
  write(key: string): KeyEvent[] {
    this.revision++;
    const kv = Buffer.from(KeyValue.encode({ key: Buffer.from(key), createRevision: this.revision, modRevision: this.revision, version: 1, value: Buffer.from(`v${this.revision}`), lease: 0 }).finish());
    const e: KeyEvent = { rev: this.revision, sub: 0, key, kv, isDelete: false, isCreate: true, prevMain: -1, prevSub: -1 };
    this.log.push(e);
    return [e];
  }
  async eventRecords(req: EventRecordsRequest): Promise<EventRecordsPage> {
    const events = this.log.filter((e) => e.rev >= req.fromRevision && (!req.match || req.match(e.key)));
    return { events, nextRevision: this.revision + 1, more: false, revision: this.revision, compactRevision: this.compactRevision };
  }
  eventRecordSync(): Buffer | undefined {
    return undefined;
  }
}

test('a compacted start revision ends the watch with WatchCompactedError; a live one delivers', async () => {
  const src = new Source();
  const hub = new WatchHub(src, { progressNotifyMs: 0 });
  for (let i = 0; i < 6; i++) hub.applied(src.write('k'), src.revision);
  src.compactRevision = 5;
  const server = new grpc.Server();
  const leaderMonitor = new LeaderMonitor(() => 1, 1000);
  const svc = registerWatch(server, { hub, node: { accepting: () => true, leaderId: () => 1 }, header: (revision) => ({ clusterId: 1, memberId: 1, revision: revision ?? src.revision, raftTerm: 1 }), leaderMonitor });
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const client = new PlacementClient({ endpoints: [`127.0.0.1:${port}`], discoverMembers: false });
  try {
    const w = client.watch('k', { startRevision: 2 });
    await assert.rejects(
      (async () => {
        for await (const _ of w) assert.fail('nothing below the compact revision can be delivered');
      })(),
      (err: unknown) => err instanceof WatchCompactedError && err.compactRevision === 5 && err.codeName === 'OUT_OF_RANGE',
    );

    const ok = client.watch('k', { startRevision: 5 });
    const revs: number[] = [];
    for await (const b of ok) {
      revs.push(b.revision);
      if (b.revision === 7) break;
    }
    assert.deepEqual(revs, [5, 6, 7]);

    assert.throws(() => client.watch('k', { startRevision: -1 }), InvalidArgumentError);
    assert.throws(() => client.watch(''), InvalidArgumentError);
  } finally {
    client.close();
    svc.closeAll();
    leaderMonitor.close();
    hub.close();
    server.forceShutdown();
  }
});
