// Log compaction and InstallSnapshot (§7), and restart from durable state.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfChangeType, MessageType, ProgressState, Role, type Message } from '../../raft/index.js';
import { newNode, msg, ent, drain, ofType } from './helpers.js';
import { Network, enc } from './network.js';

function laggingCluster(): Network {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.isolate(3);
  for (let i = 0; i < 10; i++) net.node(1).propose(enc('v' + i));
  net.deliverAll();
  net.compact(1);
  net.compact(2);
  return net;
}

test('Snapshot: compaction drops entries up to the snapshot index', () => {
  const net = laggingCluster();
  const st = net.node(1).status();
  assert.equal(st.firstIndex, 12);
  assert.equal(st.lastIndex, 11);
  assert.equal(net.node(1).snapshotMetaAt(11).term, 1);
});

test('Snapshot: a follower behind the first retained index gets a snapshot and installing it resets its log', () => {
  const net = laggingCluster();
  net.heal();
  net.tickAll(3);
  const snaps = net.sent.filter((m) => m.type === MessageType.Snapshot);
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0]!.to, 3);
  assert.equal(snaps[0]!.snapshot!.meta.index, 11);
  const f = net.members.get(3)!;
  assert.deepEqual(f.state, Array.from({ length: 10 }, (_, i) => 'v' + i));
  const st = f.node.status();
  assert.equal(st.firstIndex, 12);
  assert.equal(st.lastIndex, 11);
  assert.equal(st.applied, 11);
  assert.equal(f.disk.snapshot?.meta.index, 11);
  // Replication continues after the snapshot.
  net.node(1).propose(enc('after'));
  net.deliverAll();
  assert.equal(f.state[f.state.length - 1], 'after');
  assert.equal(net.node(1).status().progress.find((p) => p.id === 3)!.state, ProgressState.Replicate);
});

test('Snapshot: a follower ignores a snapshot that is not newer than its commit index', () => {
  const n = newNode(2);
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 1, entries: [ent(1, 1), ent(2, 1)], commit: 2 }));
  drain(n);
  n.step(msg({
    type: MessageType.Snapshot, from: 1, to: 2, term: 1,
    snapshot: { meta: { index: 1, term: 1, confState: { voters: [1, 2, 3], learners: [] } }, data: new Uint8Array(0) },
  }));
  const rd = drain(n);
  assert.equal(rd.snapshot, undefined);
  assert.equal(ofType(rd.messages, MessageType.AppendResponse)[0]!.index, 2);
  assert.equal(n.status().lastIndex, 2);
});

test('Snapshot: installing a snapshot replaces a conflicting log and adopts its membership', () => {
  const n = newNode(2, [1, 2, 3], {}, { hardState: { term: 1, vote: 0, commit: 1 }, entries: [ent(1, 1), ent(2, 1), ent(3, 1)] });
  const meta = { index: 5, term: 2, confState: { voters: [1, 2], learners: [3] } };
  n.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: { meta, data: enc('S') } }));
  const rd = n.ready();
  assert.deepEqual(rd.snapshot?.meta, meta);
  assert.equal(rd.mustSync, true);
  assert.equal(ofType(rd.messages, MessageType.AppendResponse)[0]!.index, 5);
  n.advance(rd);
  const st = n.status();
  assert.equal(st.firstIndex, 6);
  assert.equal(st.lastIndex, 5);
  assert.equal(st.hardState.commit, 5);
  assert.equal(st.applied, 5);
  assert.deepEqual(st.confState, meta.confState);
});

test('Snapshot: on a failed report the leader probes again and resends the snapshot', () => {
  const net = laggingCluster();
  net.heal();
  net.filters.push((m) => m.type !== MessageType.Snapshot); // the snapshot is lost in transit
  net.tickAll(2);
  const l = net.node(1);
  assert.equal(l.status().progress.find((p) => p.id === 3)!.state, ProgressState.Snapshot);
  l.reportSnapshot(3, false);
  net.heal();
  net.tickAll(3);
  assert.equal(net.members.get(3)!.state.length, 10);
});

test('Snapshot: without any report, the leader retries after a timeout', () => {
  const net = laggingCluster();
  net.heal();
  let dropped = 0;
  net.filters.push((m) => (m.type === MessageType.Snapshot && dropped++ === 0 ? false : true));
  net.tickAll(40);
  assert.equal(dropped >= 2, true);
  assert.equal(net.members.get(3)!.state.length, 10);
});

/** Heals the lagging cluster but holds back every Snapshot message (the app is "still streaming" it). */
function streamingSnapshot(): { net: Network; held: Message[] } {
  const net = laggingCluster();
  net.heal();
  const held: Message[] = [];
  net.filters.push((m) => {
    if (m.type !== MessageType.Snapshot) return true;
    held.push(m);
    return false;
  });
  net.tickAll(2);
  return { net, held };
}

test('Snapshot: while the app reports the stream in progress the leader waits past the fallback, and keeps the log after the snapshot', () => {
  const { net, held } = streamingSnapshot();
  const l = net.node(1);
  const pr3 = () => l.status().progress.find((p) => p.id === 3)!;
  assert.equal(held.length, 1);
  assert.equal(pr3().state, ProgressState.Snapshot);
  assert.equal(l.compactionFloor(), 11);
  // Six election timeouts of streaming (the fallback gives up after two) while writes go on.
  for (let t = 0; t < 60; t++) {
    l.reportSnapshotProgress(3);
    if (t % 10 === 0) l.propose(enc('w' + t));
    net.tickAll(1);
  }
  assert.equal(held.length, 1, 'a second snapshot was sent while the first was still streaming');
  assert.equal(pr3().state, ProgressState.Snapshot);
  assert.equal(l.compactionFloor(), 11);
  // The stream lands: the member installs it and catches up from the log, no second snapshot.
  net.heal();
  net.queue.push(held[0]!);
  net.deliverAll();
  l.reportSnapshot(3, true);
  net.tickAll(3);
  const f = net.members.get(3)!;
  assert.equal(f.state.length, 16);
  assert.equal(f.state[15], 'w50');
  assert.equal(net.sent.filter((m) => m.type === MessageType.Snapshot).length, 1);
  assert.equal(pr3().state, ProgressState.Replicate);
  assert.equal(l.compactionFloor(), Infinity);
});

test('Snapshot: the log after a sent snapshot is freed when the send fails or the member never acknowledges it', () => {
  {
    const { net } = streamingSnapshot();
    net.node(1).reportSnapshot(3, false);
    assert.equal(net.node(1).compactionFloor(), Infinity);
  }
  {
    const { net } = streamingSnapshot();
    const l = net.node(1);
    net.isolate(3);
    l.reportSnapshot(3, true); // sent, but the member is gone before it answers
    net.tickAll(1);
    assert.equal(l.compactionFloor(), 11);
    net.tickAll(20);
    assert.equal(l.compactionFloor(), Infinity);
  }
  {
    // Without progress reports (and the member gone) the fallback gives the snapshot up and
    // frees the log. (A member still answering would be sent a new snapshot, pinning it again.)
    const { net } = streamingSnapshot();
    net.isolate(3);
    net.tickAll(21);
    assert.equal(net.node(1).compactionFloor(), Infinity);
  }
});

test('Snapshot: snapshotMetaAt reports the membership as of that index', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).propose(enc('a'));
  net.deliverAll();
  const before = net.node(1).status().lastIndex;
  net.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array(0) });
  net.deliverAll();
  assert.deepEqual(net.node(1).snapshotMetaAt(before).confState, { voters: [1, 2, 3], learners: [] });
  assert.deepEqual(net.node(1).snapshotMetaAt(before + 1).confState, { voters: [1, 2, 3], learners: [4] });
  assert.throws(() => net.node(1).snapshotMetaAt(before + 5));
});

test('Restart: term, vote, log, commit and applied index are restored from durable state', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 5; i++) net.node(1).propose(enc('x' + i));
  net.deliverAll();
  const before = net.node(2).status();
  const m = net.restart(2);
  const after = m.node.status();
  assert.deepEqual(after.hardState, before.hardState);
  assert.equal(after.lastIndex, before.lastIndex);
  assert.equal(after.applied, before.applied);
  assert.equal(after.softState.role, Role.Follower);
  assert.equal(m.node.hasReady(), false, 'nothing is re-applied below the applied index');
  assert.deepEqual(m.state, ['x0', 'x1', 'x2', 'x3', 'x4']);
});

test('Restart: committed entries after the applied index are delivered again', () => {
  const n = newNode(2, [1, 2, 3], {}, {
    hardState: { term: 1, vote: 1, commit: 3 },
    entries: [ent(1, 1), ent(2, 1, 'a'), ent(3, 1, 'b'), ent(4, 1, 'c')],
    applied: 1,
  });
  const rd = drain(n);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [2, 3]);
  assert.equal(rd.entries.length, 0, 'entries from storage are already durable');
});

test('Restart: membership is rebuilt from the snapshot meta and the ConfChange entries in the log', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  net.node(1).proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 4, context: new Uint8Array(0) });
  net.deliverAll();
  net.compact(2);
  net.node(1).proposeConfChange({ type: ConfChangeType.RemoveNode, nodeId: 3, context: new Uint8Array(0) });
  net.deliverAll();
  const m = net.restart(2);
  assert.deepEqual(m.node.status().confState, { voters: [1, 2], learners: [4] });
  assert.equal(m.node.status().firstIndex, 3);
});

test('Restart: a restarted cluster elects a leader and keeps every committed entry', () => {
  const net = new Network([1, 2, 3]);
  net.elect(1);
  for (let i = 0; i < 3; i++) net.node(1).propose(enc('k' + i));
  net.deliverAll();
  net.compact(1);
  for (const id of [1, 2, 3]) net.restart(id);
  for (let i = 0; i < 40 && net.leader() === 0; i++) net.tickAll();
  const l = net.leader();
  assert.notEqual(l, 0);
  net.node(l).propose(enc('k3'));
  net.deliverAll();
  for (const id of [1, 2, 3]) assert.deepEqual(net.members.get(id)!.state, ['k0', 'k1', 'k2', 'k3']);
});

test('Snapshot: entries appended right after a restored snapshot are all persisted with it', () => {
  const n = newNode(2, [1, 2, 3], {}, {
    hardState: { term: 1, vote: 0, commit: 0 },
    entries: [ent(1, 1), ent(2, 1), ent(3, 1), ent(4, 1), ent(5, 1)],
  });
  const meta = { index: 3, term: 2, confState: { voters: [1, 2, 3], learners: [] } };
  n.step(msg({ type: MessageType.Snapshot, from: 1, to: 2, term: 2, snapshot: { meta, data: enc('S') } }));
  n.step(msg({ type: MessageType.Append, from: 1, to: 2, term: 2, index: 3, logTerm: 2, entries: [ent(4, 2), ent(5, 2), ent(6, 2)], commit: 5 }));
  const rd = n.ready();
  assert.equal(rd.snapshot?.meta.index, 3);
  assert.deepEqual(rd.entries.map((e) => [e.index, e.term]), [[4, 2], [5, 2], [6, 2]]);
  assert.deepEqual(rd.committedEntries.map((e) => e.index), [4, 5]);
  n.advance(rd);
  assert.equal(n.hasReady(), false);
  assert.equal(n.status().applied, 5);
});
