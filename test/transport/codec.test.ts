// Received Raft entries must not pin grpc-js's receive buffers: a follower keeps them in its
// in-memory log until the next snapshot, so each message's entries are copied into one buffer of
// exactly their size, and stay intact when the receive buffer is reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RaftMessage } from '../../proto/gen/placement/v1/peer.js';
import { messageFromWire, messageToWire } from '../../src/transport/codec.js';
import { MessageType, EntryType, type Message } from '../../raft/types.js';

function append(datas: Buffer[]): Message {
  return {
    type: MessageType.Append,
    from: 1,
    to: 2,
    term: 3,
    logTerm: 3,
    index: 10,
    entries: datas.map((data, i) => ({ term: 3, index: 11 + i, type: EntryType.Normal, data })),
    commit: 10,
    reject: false,
    rejectHint: 0,
    context: Buffer.alloc(0),
    readSeq: 0,
  } as Message;
}

test('entries decoded from a peer message are copied into one exact-size buffer', () => {
  const datas = [Buffer.from('first entry'), Buffer.alloc(0), Buffer.alloc(300, 7), Buffer.from('last')];
  // The wire bytes sit inside a bigger buffer, as a message inside a receive chunk does.
  const wire = Buffer.from(RaftMessage.encode(messageToWire(append(datas))).finish());
  const chunk = Buffer.alloc(wire.length + 8192, 0xee);
  wire.copy(chunk, 4096);
  const got = messageFromWire(RaftMessage.decode(chunk.subarray(4096, 4096 + wire.length)));
  assert.equal(got.entries.length, datas.length);
  const total = datas.reduce((n, d) => n + d.length, 0);
  for (let i = 0; i < datas.length; i++) {
    const e = got.entries[i]!;
    assert.equal(e.index, 11 + i);
    assert.deepEqual(Buffer.from(e.data), datas[i]);
    if (e.data.byteLength > 0) assert.equal(e.data.buffer.byteLength, total, `entry ${i} is a view into a ${e.data.buffer.byteLength}-byte buffer`);
  }
  chunk.fill(0);
  for (let i = 0; i < datas.length; i++) assert.deepEqual(Buffer.from(got.entries[i]!.data), datas[i], 'reusing the receive buffer changed an entry');
});
