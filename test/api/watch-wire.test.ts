// The hand-written WatchResponse encoder against the generated decoder and encoder: every field,
// negative ids, large revisions, events with and without previous values, empty messages.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WatchResponse } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { KeyValue, Event_EventType } from '../../proto/gen/etcd/mvccpb/kv.js';
import { encodeEvents, encodeSplicedEvents, encodeWatchResponse, wireBaseSize, wireEventSize, type WireEvent, type WireHeader, type WireResponse } from '../../src/api/etcd/watch-wire.js';

const kv = (key: string, value: string, rev: number, version = 1): Buffer =>
  Buffer.from(KeyValue.encode({ key: Buffer.from(key), value: Buffer.from(value), createRevision: rev, modRevision: rev, version, lease: 0 }).finish());
const tomb = (key: string, rev: number): Buffer => Buffer.from(KeyValue.encode({ key: Buffer.from(key), value: Buffer.alloc(0), createRevision: 0, modRevision: rev, version: 0, lease: 0 }).finish());

describe('watch response wire encoding', () => {
  const cases: Array<[string, WireResponse]> = [
    ['created', { header: { clusterId: 2 ** 52 + 7, memberId: 99, revision: 12, raftTerm: 3 }, watchId: 0, created: true }],
    ['refused', { header: { clusterId: 1, memberId: 2, revision: 5, raftTerm: 1 }, watchId: -1, created: true, canceled: true, cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream' }],
    ['compacted', { header: { clusterId: 1, memberId: 2, revision: 0, raftTerm: 1 }, watchId: 7, canceled: true, compactRevision: 2 ** 40 }],
    ['compacted -1', { header: { clusterId: 1, memberId: 2, revision: 0, raftTerm: 1 }, watchId: 7, canceled: true, compactRevision: -1 }],
    ['progress', { header: { clusterId: 1, memberId: 2, revision: 300, raftTerm: 1 }, watchId: -1 }],
    ['empty', { header: { clusterId: 0, memberId: 0, revision: 0, raftTerm: 0 }, watchId: 0 }],
    [
      'events',
      {
        header: { clusterId: 1, memberId: 2, revision: 2 ** 33, raftTerm: 1 },
        watchId: 123456,
        fragment: true,
        events: [
          { isDelete: false, kv: kv('a', 'x'.repeat(300), 5) },
          { isDelete: false, kv: kv('b', 'y', 6, 2), prevKv: kv('b', 'old', 4) },
          { isDelete: true, kv: tomb('b', 7), prevKv: kv('b', 'y', 6, 2) },
          { isDelete: true, kv: tomb('c', 8), prevKv: null },
        ],
      },
    ],
  ];
  for (const [name, r] of cases) {
    it(`${name}: the generated decoder reads what was meant, byte for byte what it would write`, () => {
      const bytes = encodeWatchResponse(r);
      const d = WatchResponse.decode(bytes);
      assert.deepEqual(d.header, r.header, "a header always goes out, as etcd sends one on every response");
      assert.equal(d.watchId, r.watchId);
      assert.equal(d.created, !!r.created);
      assert.equal(d.canceled, !!r.canceled);
      assert.equal(d.compactRevision, r.compactRevision ?? 0);
      assert.equal(d.cancelReason, r.cancelReason ?? '');
      assert.equal(d.fragment, !!r.fragment);
      assert.equal(d.events.length, r.events?.length ?? 0);
      for (const [i, e] of (r.events ?? []).entries()) {
        const g = d.events[i]!;
        assert.equal(g.type, e.isDelete ? Event_EventType.DELETE : Event_EventType.PUT);
        assert.deepEqual(g.kv, KeyValue.decode(e.kv));
        assert.deepEqual(g.prevKv, e.prevKv ? KeyValue.decode(e.prevKv) : undefined);
      }
      assert.deepEqual(Buffer.from(WatchResponse.encode(d).finish()), bytes);
      const size = wireBaseSize(r) + (r.events ?? []).reduce((n, e) => n + wireEventSize(e), 0);
      assert.equal(size, bytes.length);
    });
  }
});

describe('watch response with spliced, shared event bytes', () => {
  const batches: WireEvent[][] = [
    [{ isDelete: false, kv: kv('a', 'x'.repeat(300), 5) }],
    [
      { isDelete: false, kv: kv('b', 'y', 6, 2), prevKv: kv('b', 'old', 4) },
      { isDelete: true, kv: tomb('b', 6), prevKv: kv('b', 'y', 6, 2) },
    ],
    [{ isDelete: true, kv: tomb('c', 2 ** 35), prevKv: null }],
  ];
  const headers: WireHeader[] = [
    { clusterId: 2 ** 52 + 7, memberId: 99, revision: 2 ** 35, raftTerm: 3 },
    { clusterId: 0, memberId: 0, revision: 0, raftTerm: 0 },
    { clusterId: 1, memberId: 2, revision: 127, raftTerm: 128 },
  ];
  for (const watchId of [0, 1, 127, 128, 2 ** 40, -1]) {
    for (const [hi, header] of headers.entries()) {
      it(`watch_id ${watchId}, header ${hi}: byte for byte what the generated encoder writes for the same response`, () => {
        for (let n = 0; n <= batches.length; n++) {
          const used = batches.slice(0, n);
          const spliced = encodeSplicedEvents(header, watchId, used.map((b) => encodeEvents(b)));
          const events = used.flat();
          assert.deepEqual(spliced, encodeWatchResponse({ header, watchId, events }));
          const generated = Buffer.from(
            WatchResponse.encode({
              header,
              watchId,
              created: false,
              canceled: false,
              compactRevision: 0,
              cancelReason: '',
              fragment: false,
              events: events.map((e) => ({ type: e.isDelete ? Event_EventType.DELETE : Event_EventType.PUT, kv: KeyValue.decode(e.kv), prevKv: e.prevKv ? KeyValue.decode(e.prevKv) : undefined })),
            }).finish(),
          );
          assert.deepEqual(spliced, generated, `${n} batches`);
        }
      });
    }
  }
});
