// Replication flow control: batching, probe vs. replicate, the in-flight window (etcd design.md).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType, ProgressState } from '../../raft/index.js';
import { newNode, msg, drainMsgs, makeLeader, ackAll, ofType } from './helpers.js';
import { enc } from './network.js';

test('Batching: proposals made between two ready() calls go out in one Append per follower', () => {
  const n = newNode(1, [1, 2, 3], { preVote: false });
  makeLeader(n);
  ackAll(n, [2, 3]);
  for (let i = 0; i < 100; i++) assert.equal(n.propose(enc('p' + i)).ok, true);
  const apps = ofType(n.ready().messages, MessageType.Append);
  assert.deepEqual(apps.map((m) => m.to).sort(), [2, 3]);
  for (const a of apps) assert.equal(a.entries.length, 100);
});

test('Batching: an Append carries at most maxSizePerMsg bytes of entries (but at least one entry)', () => {
  const n = newNode(1, [1, 2], { preVote: false, maxSizePerMsg: 100 });
  makeLeader(n);
  ackAll(n, [2]);
  for (let i = 0; i < 10; i++) n.propose(new Uint8Array(30)); // 46 bytes each with overhead
  n.propose(new Uint8Array(500));
  const apps = ofType(n.ready().messages, MessageType.Append);
  assert.deepEqual(apps.map((m) => m.entries.length), [2, 2, 2, 2, 2, 1]);
  assert.ok(apps.every((m, i) => i === 0 || m.index === apps[i - 1]!.index + apps[i - 1]!.entries.length));
});

test('Probe: a follower in probe state gets one Append at a time until it answers', () => {
  const n = newNode(1, [1, 2], { preVote: false });
  makeLeader(n); // 2 is probed with the no-op
  n.propose(enc('a'));
  n.propose(enc('b'));
  assert.equal(ofType(drainMsgs(n), MessageType.Append).length, 0, 'still waiting for the probe answer');
  assert.equal(n.status().progress.find((p) => p.id === 2)!.state, ProgressState.Probe);
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 1 }));
  assert.equal(n.status().progress.find((p) => p.id === 2)!.state, ProgressState.Replicate);
  const apps = ofType(drainMsgs(n), MessageType.Append);
  assert.equal(apps.length, 1);
  assert.deepEqual(apps[0]!.entries.map((e) => e.index), [2, 3]);
});

test('Replicate: pipelining stops at maxInflightMsgs unacknowledged Appends', () => {
  const n = newNode(1, [1, 2], { preVote: false, maxInflightMsgs: 3 });
  makeLeader(n);
  ackAll(n, [2]);
  let sent = 0;
  for (let i = 0; i < 5; i++) {
    n.propose(enc('x' + i));
    sent += ofType(drainMsgs(n), MessageType.Append).length;
  }
  assert.equal(sent, 3);
  assert.equal(n.status().progress.find((p) => p.id === 2)!.inflight, 3);
  // One ack frees one slot; what queued up goes out in one message.
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 2 }));
  const apps = ofType(drainMsgs(n), MessageType.Append);
  assert.equal(apps.length, 1);
  assert.deepEqual(apps[0]!.entries.map((e) => e.index), [5, 6]);
});

test('Replicate: pipelining stops at maxInflightBytes', () => {
  const n = newNode(1, [1, 2], { preVote: false, maxInflightBytes: 100 });
  makeLeader(n);
  ackAll(n, [2]);
  let sent = 0;
  for (let i = 0; i < 5; i++) {
    n.propose(new Uint8Array(40));
    sent += ofType(drainMsgs(n), MessageType.Append).length;
  }
  assert.equal(sent, 2, '2 x 56 bytes reach the 100-byte budget');
});

test('Replicate: a rejection sends the follower back to probe at match+1', () => {
  const n = newNode(1, [1, 2], { preVote: false });
  makeLeader(n);
  ackAll(n, [2]);
  n.propose(enc('a'));
  n.propose(enc('b'));
  drainMsgs(n);
  n.step(msg({ type: MessageType.AppendResponse, from: 2, to: 1, term: 1, index: 2, reject: true, rejectHint: 1, logTerm: 1 }));
  const pr = n.status().progress.find((p) => p.id === 2)!;
  assert.equal(pr.state, ProgressState.Probe);
  const apps = ofType(drainMsgs(n), MessageType.Append);
  assert.equal(apps[0]!.index, 1);
});

test('reportUnreachable: a follower in replicate falls back to probe', () => {
  const n = newNode(1, [1, 2], { preVote: false });
  makeLeader(n);
  ackAll(n, [2]);
  n.reportUnreachable(2);
  assert.equal(n.status().progress.find((p) => p.id === 2)!.state, ProgressState.Probe);
});
