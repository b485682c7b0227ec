// The differential harness itself, against two independent real etcd clusters: one session run on
// both gives identical normalized transcripts (so normalization removes everything that
// legitimately differs between clusters: ids, terms, lease ids, timestamps), and a session that
// differs in one value is reported at that step (so it hides nothing else).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { Normalizer, firstDifference, runSession, type Step } from '../support/etcdctl.js';

const session: Step[] = [
  { args: ['put', 'a', '1'] },
  { args: ['put', 'a', '2', '--prev-kv', '-w', 'json'] },
  { args: ['get', 'a', '-w', 'json'] },
  { args: ['lease', 'grant', '60'] },
  { args: ['lease', 'list', '-w', 'json'] },
  { args: ['put', '', 'x'], note: 'error path: empty key' },
  { args: ['get', 'a', '--rev', '100'], note: 'error path: future revision' },
];

test('the same etcdctl session against two etcd clusters normalizes to the same transcript; a changed value is reported', { timeout: 120_000 }, async () => {
  let a: EtcdCluster | undefined;
  let b: EtcdCluster | undefined;
  try {
    [a, b] = await Promise.all([startEtcdCluster(), startEtcdCluster()]);
    const ta = await runSession(a.endpoints, session);
    const tb = await runSession(b.endpoints, session);
    assert.equal(firstDifference(ta, tb), null);
    // The transcript holds what must be compared: revisions, error strings, gRPC codes.
    const getJson = ta.steps[2]!.result.stdout;
    assert.match(getJson, /"revision":3/);
    assert.match(getJson, /"cluster_id":"<cluster>"/);
    assert.match(ta.steps[5]!.result.stderr, /Error: etcdserver: key is not provided/);
    assert.match(ta.steps[5]!.result.stderr, /code = InvalidArgument/);
    assert.equal(ta.steps[5]!.result.code, 1);
    assert.match(ta.steps[3]!.result.stdout, /^lease L1 granted with TTL\(60s\)/);
    assert.match(ta.steps[4]!.result.stdout, /"id":"L1"/);

    const changed = session.map((s, i) => (i === 1 ? { args: ['put', 'a', '3', '--prev-kv', '-w', 'json'] } : s));
    const tc = await runSession(b.endpoints, changed);
    const diff = firstDifference(ta, tc);
    assert.ok(diff && diff.startsWith('step 1:'), `expected a difference at step 1, got: ${diff}`);
  } finally {
    await Promise.all([a?.stop(), b?.stop()]);
  }
});

test('normalization maps lease ids consistently between hex (text) and decimal (json) forms', () => {
  const n = new Normalizer();
  assert.equal(n.text('lease 694da23859d8470a granted with TTL(10s)'), 'lease L1 granted with TTL(10s)');
  assert.equal(n.text(`{"ID":${BigInt('0x694da23859d8470a').toString()},"TTL":10}`), '{"ID":"L1","TTL":10}');
  assert.equal(n.text('lease 0000000000000002 keepalived with TTL(5)'), 'lease L2 keepalived with TTL(5)');
});
