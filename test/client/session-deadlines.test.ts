// ClientSession keeps one timer per stream (src/client/session.ts): every operation must still
// fail with DEADLINE_EXCEEDED at its own deadline, in deadline order whatever the send order, and
// an answered or cancelled operation must never fail later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { ClientSession } from '../../src/client/session.js';
import type { KvServiceClient, SessionReply, SessionRequest } from '../../proto/gen/placement/v1/kv.js';

/** A session stream that records what is sent and answers only when told to. */
class FakeStream extends EventEmitter {
  readonly sent: SessionRequest[] = [];
  write(req: SessionRequest): boolean {
    this.sent.push(req);
    this.emit('metadata', new grpc.Metadata());
    return true;
  }
  cancel(): void {}
  end(): void {}
  answer(xid: number): void {
    const reply: SessionReply = { results: [{ xid, code: 0, error: '', leaderId: 0, leaderAddress: '', reply: { $case: 'get', value: { header: undefined, found: false, value: Buffer.alloc(0), kv: undefined } } }] };
    this.emit('data', reply);
  }
}

function setup(): { session: ClientSession; stream: () => FakeStream } {
  let current: FakeStream | undefined;
  const kv = { session: () => (current = new FakeStream()) } as unknown as KvServiceClient;
  const channel = { getConnectivityState: () => grpc.connectivityState.READY };
  return { session: new ClientSession(kv, channel), stream: () => current! };
}

test('each session operation times out at its own deadline, in deadline order', { timeout: 5000 }, async () => {
  const { session, stream } = setup();
  const failures: string[] = [];
  const handles = new Map<string, { cancel(): void }>();
  const outcome = (name: string) =>
    new Promise<void>((resolve) => {
      const timeouts: Record<string, number> = { slow: 400, fast: 60, answered: 80, mid: 200, cancelled: 100 };
      const h = session.call('get', { key: name, serializable: false, kvMetadataOnly: false }, timeouts[name]!, (err) => {
        failures.push(err ? `${name}: ${grpc.status[err.code]} ${err.details}` : `${name}: ok`);
        resolve();
      });
      handles.set(name, h);
    });
  // Sent longest deadline first, so the stream's timer has to be pulled earlier for later ones.
  const all = ['slow', 'mid', 'fast', 'answered', 'cancelled'].map(outcome);
  await new Promise((r) => setImmediate(r));
  const xidOf = (key: string): number => stream().sent.flatMap((m) => m.ops).find((o) => (o.op?.value as { key: string }).key === key)!.xid;
  stream().answer(xidOf('answered'));
  handles.get('cancelled')!.cancel();
  await Promise.all(all);
  assert.deepEqual(failures, [
    'answered: ok',
    'cancelled: CANCELLED Cancelled on client',
    'fast: DEADLINE_EXCEEDED Deadline exceeded after 60 ms',
    'mid: DEADLINE_EXCEEDED Deadline exceeded after 200 ms',
    'slow: DEADLINE_EXCEEDED Deadline exceeded after 400 ms',
  ]);
  session.close();
});

test('a late answer after the deadline is ignored, and nothing fails twice', { timeout: 5000 }, async () => {
  const { session, stream } = setup();
  const seen: string[] = [];
  await new Promise<void>((resolve) => {
    session.call('get', { key: 'k', serializable: false, kvMetadataOnly: false }, 30, (err) => {
      seen.push(err ? grpc.status[err.code]! : 'ok');
      resolve();
    });
  });
  stream().answer(stream().sent[0]!.ops[0]!.xid);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(seen, ['DEADLINE_EXCEEDED']);
  session.close();
});
