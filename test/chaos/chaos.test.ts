// The real cluster under faults: a short chaos run across nemeses must pass, and the same
// harness must catch a planted server bug (linearizable reads answered from local state
// without ReadIndex) when the leader is partitioned away.
// Seeds: CHAOS_SEED (default: random, printed). Reports go to reports/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos } from './run.js';

const baseSeed = process.env.CHAOS_SEED !== undefined ? Number(process.env.CHAOS_SEED) : Math.floor(Math.random() * 2 ** 31);
console.log(`# chaos seed ${baseSeed} (replay with CHAOS_SEED=${baseSeed})`);
const log = process.env.CHAOS_VERBOSE ? (l: string) => console.log(`# ${l}`) : undefined;

test('short chaos run (pause, partition, kill) stays linearizable and converges, watchers on every member deliver the committed history, every fenced write under the mutex came from its owner, and crashed brokers never leave a shard with two leaders at one epoch', { timeout: 6 * 60_000 }, async () => {
  const out = await runChaos({
    timeSec: 45,
    nodes: 3,
    nemeses: ['pause', 'partition', 'kill'],
    seed: baseSeed,
    clients: 10,
    keys: 5,
    rate: 50,
    lockers: 3,
    brokers: 4,
    quietMs: [1000, 2000],
    holdMs: [2000, 3500],
    reportName: `test-chaos-seed${baseSeed}`,
    log,
  });
  const s = out.report.stats;
  console.log(`# ${out.verdict}: ${s.ops} ops (${s.ok} ok, ${s.info} indeterminate, ${s.fail} failed), ${s.faults} faults; report ${out.files.html}`);
  assert.equal(out.verdict, 'pass', `chaos run failed (seed ${baseSeed}, report ${out.files.html}):\n${out.reasons.join('\n')}`);
  assert.equal(out.report.linearizability.verdict, 'ok');
  assert.ok(out.report.convergence.ok);
  assert.ok(out.report.ackedWrites.ok);
  assert.ok(out.report.watches?.ok, out.report.watches?.message);
  const locks = out.report.locks;
  assert.ok(locks?.ok, locks?.message);
  console.log(`# locks: ${locks.message}`);
  const shards = out.report.shards;
  assert.ok(shards?.ok, shards?.message);
  console.log(`# brokers: ${shards.message}`);
  assert.ok(shards.crashes >= 1 && shards.claims >= 8, `the broker nemesis crashed brokers and leaders were handed out: ${shards.message}`);
  assert.ok(locks.acquired >= 10 && locks.fencedWrites >= locks.ackedWrites && locks.ackedWrites >= 10, `the lockers made real progress: ${locks.message}`);
  assert.ok(locks.acquiredViaService >= 3, `etcd's Lock service was held too: ${locks.message}`);
  assert.ok(s.ok > 200, `expected a real workload, got ${s.ok} ok ops`);
  // Every third client speaks the etcd API (Range, read-only Txn, Put, Txn, DeleteRange, CAS as a Txn).
  const etcdOk = out.report.history.filter((o) => o.client % 3 === 2 && o.status === 'ok');
  assert.ok(etcdOk.length > 50 && new Set(etcdOk.map((o) => o.call.kind)).size === 3, `etcd-API clients checked too: ${etcdOk.length} ok ops`);
  const kinds = new Set(out.report.faults.map((f) => f.nemesis));
  assert.ok(kinds.has('kill') && kinds.has('pause') && kinds.has('partition'), `every nemesis ran: ${[...kinds].join(',')}`);
});

test('short chaos run with TLS on every port and auth on (--secure): the same checks pass, every client holds its credentials through kills, partitions, pauses and token renewals, and auth and TLS are enforced at the end', { timeout: 5 * 60_000 }, async () => {
  const seed = baseSeed + 2;
  const out = await runChaos({
    timeSec: 30,
    nodes: 3,
    nemeses: ['kill', 'partition', 'pause'],
    seed,
    clients: 10,
    keys: 5,
    rate: 50,
    lockers: 2,
    brokers: 4,
    secure: true,
    quietMs: [1000, 2000],
    holdMs: [2000, 3500],
    reportName: `test-chaos-secure-seed${seed}`,
    log,
  });
  const s = out.report.stats;
  console.log(`# secure: ${out.verdict}: ${s.ops} ops (${s.ok} ok, ${s.info} indeterminate, ${s.fail} failed), ${s.faults} faults; report ${out.files.html}`);
  assert.equal(out.verdict, 'pass', `secure chaos run failed (seed ${seed}, report ${out.files.html}):\n${out.reasons.join('\n')}`);
  assert.equal(out.report.linearizability.verdict, 'ok');
  assert.ok(out.report.convergence.ok);
  assert.ok(out.report.ackedWrites.ok);
  assert.ok(out.report.watches?.ok, out.report.watches?.message);
  assert.ok(out.report.locks?.ok && out.report.locks.acquired >= 5 && out.report.locks.acquiredViaService >= 1, out.report.locks?.message);
  assert.ok(out.report.shards?.ok, out.report.shards?.message);
  assert.ok(s.ok > 150, `expected a real workload, got ${s.ok} ok ops`);
  const sec = out.report.security;
  assert.ok(sec?.ok, sec?.message);
  console.log(`# security: ${sec.message}`);
  for (const name of ['anonymous Set refused', "chaos user's Set outside its prefixes refused", 'the refused put changed nothing', 'plaintext gRPC to the client port fails', 'plaintext to the peer port fails', 'plain HTTP to the admin port fails']) {
    assert.ok(sec.checks.some((c) => c.name === name && c.ok), `check ran and held: ${name}`);
  }
  // A restarted member came back with its certificates (a kill round ended with a restart).
  assert.ok(out.report.faults.some((f) => f.nemesis === 'kill' && f.end !== undefined), `a kill round ran: ${out.report.faults.map((f) => f.what).join(', ')}`);
});

test('member-replace: members whose disk was lost are removed and replaced by new learners (caught up, promoted) under load and kills; linearizable, nothing acknowledged lost, the remaining members converge', { timeout: 5 * 60_000 }, async () => {
  const seed = baseSeed + 3;
  const out = await runChaos({
    timeSec: 30,
    nodes: 3,
    nemeses: ['member-replace', 'kill'],
    seed,
    clients: 10,
    keys: 5,
    rate: 50,
    lockers: 2,
    quietMs: [1000, 2000],
    holdMs: [2000, 3000],
    reportName: `test-chaos-member-replace-seed${seed}`,
    log,
  });
  const s = out.report.stats;
  console.log(`# member-replace run: ${out.verdict}: ${s.ops} ops (${s.ok} ok, ${s.info} indeterminate, ${s.fail} failed), ${s.faults} faults; report ${out.files.html}`);
  assert.equal(out.verdict, 'pass', `chaos run failed (seed ${seed}, report ${out.files.html}):\n${out.reasons.join('\n')}`);
  assert.equal(out.report.linearizability.verdict, 'ok');
  assert.ok(out.report.convergence.ok, out.report.convergence.message);
  assert.ok(out.report.ackedWrites.ok, out.report.ackedWrites.message);
  assert.ok(out.report.watches?.ok, out.report.watches?.message);
  assert.ok(out.report.locks?.ok, out.report.locks?.message);
  // At least one replacement completed: the member removed, a new id added as a learner and promoted.
  const replaced = out.report.faults.filter((f) => f.nemesis === 'member-replace' && /promoted$/.test(f.what));
  assert.ok(replaced.length >= 1, `a member was replaced: ${out.report.faults.map((f) => f.what).join('; ')}`);
  const changes = out.report.membership ?? [];
  console.log(`# membership: ${changes.map((c) => `${c.op} ${c.id}`).join(', ')}`);
  for (const f of replaced) {
    const [gone, added] = f.nodes as [number, number];
    assert.ok(added !== gone && !(added >= 1 && added <= 3), `the new member has a new id (${added})`);
    const ops = changes.filter((c) => c.id === gone || c.id === added).map((c) => `${c.op} ${c.id}`);
    assert.deepEqual(ops.slice(ops.indexOf(`remove ${gone}`), ops.indexOf(`remove ${gone}`) + 3), [`remove ${gone}`, `add-learner ${added}`, `promote ${added}`]);
  }
  // The cluster kept its size; the remaining members are the ones checked for convergence.
  assert.equal(out.report.convergence.nodes.length, 3);
  assert.ok(out.report.convergence.nodes.some((n) => n.id > 3), `a new member is among the converged ones: ${out.report.convergence.nodes.map((n) => n.id).join(',')}`);
  assert.ok(s.ok > 150, `expected a real workload, got ${s.ok} ok ops`);
});

test('planted bug (local reads, no ReadIndex) under a leader partition is reported as not linearizable', { timeout: 4 * 60_000 }, async () => {
  const seed = baseSeed + 1;
  const out = await runChaos({
    timeSec: 15,
    nodes: 3,
    nemeses: ['partition-leader'],
    seed,
    clients: 10,
    keys: 5,
    rate: 50,
    plantedBug: 'local-reads',
    quietMs: [1000, 2000],
    holdMs: [3000, 4500],
    reportName: `test-chaos-planted-bug-seed${seed}`,
    log,
  });
  console.log(`# planted bug run: ${out.verdict}; ${out.reasons.length} reasons; report ${out.files.html}`);
  assert.equal(out.verdict, 'fail');
  const lin = out.report.linearizability;
  assert.equal(lin.verdict, 'illegal', `the checker must find the stale reads (got ${lin.verdict}): ${out.reasons.join('\n')}`);
  // The anomaly is what the bug produces: a read served by a node cut off from the majority.
  const byId = new Map(out.report.history.map((o) => [o.id, o]));
  const blamed = lin.keys.flatMap((k) => k.blamed ?? []).map((id) => byId.get(id)!);
  const isolatedRead = blamed.some(
    (o) =>
      o.call.kind === 'read' &&
      out.report.faults.some((f) => o.node !== undefined && f.nodes.includes(o.node) && f.start <= o.complete && (f.end ?? Infinity) >= o.invoke),
  );
  assert.ok(isolatedRead, `a blamed op is a read served by the isolated node: ${JSON.stringify(blamed)}`);
});
