// A Watch client that closes its sending side after creating its watchers (grpcurl does: it sends
// the request from stdin, then half-closes) keeps receiving events, on etcd 3.4 and on us, with
// the same responses. Ours then ends a half-closed stream once no watcher is left (a cancel
// before the half-close, which is how our SDK hangs up); etcd would hold it until the client
// cancels, which nothing can observe but the open stream.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { WatchRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { walkFields, type WireField } from '../../proto/fields.js';
import { etcdAndOurs } from '../support/differential.js';
import { etcdctl } from '../support/etcdctl.js';

const WATCH = '/etcdserverpb.Watch/Watch';
const encode = (m: WatchRequest): Buffer => Buffer.from(WatchRequest.encode(m).finish());
const raw = (b: Buffer): Buffer => b;

/** The payload of a length-delimited field: after its tag and its length, up to its end. */
function payload(data: Buffer, f: WireField): Buffer {
  let o = f.start;
  for (let i = 0; i < 2; i++) while (data[o++]! & 0x80);
  return data.subarray(o, f.end);
}

/** What a response says, without ids and terms: created/canceled and each event's key, value and version. */
function summary(bytes: Buffer): string {
  const parts: string[] = [];
  walkFields(bytes, (f) => {
    if (f.field === 3 && f.wireType === 0 && f.value) parts.push('created');
    if (f.field === 4 && f.wireType === 0 && f.value) parts.push('canceled');
    if (f.field === 11 && f.wireType === 2) {
      // mvccpb.Event: type 1, kv 2 (key 1, version 4, value 5).
      let type = 'PUT';
      const kv: string[] = [];
      const event = payload(bytes, f);
      walkFields(event, (e) => {
        if (e.field === 1 && e.wireType === 0 && e.value === 1) type = 'DELETE';
        if (e.field === 2 && e.wireType === 2) {
          const kvBytes = payload(event, e);
          walkFields(kvBytes, (k) => {
            if (k.field === 1 && k.wireType === 2) kv.push(`key=${payload(kvBytes, k).toString()}`);
            if (k.field === 4 && k.wireType === 0) kv.push(`version=${k.value}`);
            if (k.field === 5 && k.wireType === 2) kv.push(`value=${payload(kvBytes, k).toString()}`);
          });
        }
      });
      parts.push(`${type}(${kv.join(',')})`);
    }
  });
  return parts.join(' ');
}

interface Opened {
  responses: string[];
  status: Promise<grpc.StatusObject>;
  call: grpc.ClientDuplexStream<Buffer, Buffer>;
  client: grpc.Client;
}

function open(address: string): Opened {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(WATCH, raw, raw, new grpc.Metadata(), {});
  const responses: string[] = [];
  call.on('data', (b: Buffer) => responses.push(summary(b)));
  call.on('error', () => undefined);
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  return { responses, status, call, client };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const create = (key: string): WatchRequest => ({ requestUnion: { $case: 'createRequest', value: { key: Buffer.from(key), rangeEnd: Buffer.alloc(0), startRevision: 0, progressNotify: false, filters: [], prevKv: false, watchId: 0, fragment: false } } });

describe('Watch after the client half-closes, against etcd 3.4', () => {
  const pair = etcdAndOurs();

  test('a created watcher keeps streaming events after the half-close', async () => {
    const run = async (address: string, endpoints: string[]): Promise<string[]> => {
      const w = open(address);
      try {
        w.call.write(encode(create('hc/a')));
        await until('created', () => w.responses.length >= 1);
        w.call.end();
        // The stream stays: writes after the half-close arrive.
        for (const v of ['1', '2']) assert.equal((await etcdctl(endpoints, ['put', 'hc/a', v])).code, 0);
        assert.equal((await etcdctl(endpoints, ['del', 'hc/a'])).code, 0);
        await until('three events', () => w.responses.length >= 4);
        return w.responses;
      } finally {
        w.call.cancel();
        w.client.close();
      }
    };
    const theirs = await run(pair.etcd.endpoints[0]!, pair.etcd.endpoints);
    const ours = await run(pair.ours.nodes[1]!.grpcAddress, [pair.ours.nodes[0]!.grpcAddress]);
    assert.deepEqual(theirs, ['created', 'PUT(key=hc/a,version=1,value=1)', 'PUT(key=hc/a,version=2,value=2)', 'DELETE(key=hc/a)']);
    assert.deepEqual(ours, theirs);
  });

  test('ours ends a half-closed stream once its last watcher is cancelled, after answering the cancel', async () => {
    const w = open(pair.ours.nodes[0]!.grpcAddress);
    try {
      w.call.write(encode(create('hc/b')));
      await until('created', () => w.responses.length >= 1);
      w.call.write(encode({ requestUnion: { $case: 'cancelRequest', value: { watchId: 0 } } }));
      w.call.end();
      const status = await Promise.race([w.status, new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
      assert.ok(status, 'the stream ended by itself');
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual(w.responses, ['created', 'canceled']);
    } finally {
      w.call.cancel();
      w.client.close();
    }
  });
});
