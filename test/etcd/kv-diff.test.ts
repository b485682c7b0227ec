// Differential test of the etcd KV API: one scripted etcdctl session (Debian's etcdctl 3.4) run
// against a real 3-member etcd 3.4 and against a 3-node Placement Center, compared step by step
// after normalization (test/support/etcdctl.ts: ids, terms and timestamps only). Revisions,
// versions, values, counts, error messages, gRPC codes and exit codes must all be the same.
//
// The session covers put (prev-kv, ignore-value, leases that do not exist), get (prefix,
// from-key, range ends, rev, limit, sort-by/order, keys-only, count-only, print-value-only,
// serializable, -w json/fields), del (prev-kv, prefix, from-key), txn from stdin (compares on
// value, version, create, mod; success and failure branches; read-only and writing; json),
// compaction (plain and physical), reads below the compacted revision, and every bad input etcd
// refuses: an empty key, a range end below the key, a request over --max-request-bytes, a txn
// with a duplicate key or more than --max-txn-ops operations, a future or compacted revision.
// After each bad input the next steps show that nothing changed (the revision did not move).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, type Cluster } from '../support/cluster.js';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { runSession, type Transcript } from '../support/etcdctl.js';
import { SESSION } from './kv-session.js';

/** Every step whose normalized result differs, for the assertion message. */
function differences(a: Transcript, b: Transcript): string[] {
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.steps.length, b.steps.length); i++) {
    const x = a.steps[i];
    const y = b.steps[i];
    if (!x || !y) {
      out.push(`step ${i}: only one transcript has it`);
      continue;
    }
    for (const f of ['code', 'stdout', 'stderr'] as const) {
      if (x.result[f] !== y.result[f]) {
        out.push(`step ${i}: etcdctl ${x.args.join(' ').slice(0, 80)} (${SESSION[i]?.note ?? ''}): ${f}\n--- etcd:\n${String(x.result[f]).slice(0, 600)}\n--- ours:\n${String(y.result[f]).slice(0, 600)}`);
      }
    }
  }
  return out;
}

test('etcdctl session: real etcd 3.4 and Placement Center give the same normalized transcript', { timeout: 300_000 }, async () => {
  let etcd: EtcdCluster | undefined;
  let ours: Cluster | undefined;
  try {
    [etcd, ours] = await Promise.all([startEtcdCluster(), startCluster({ nodes: 3 })]);
    const expected = await runSession(etcd.endpoints, SESSION);
    const actual = await runSession(
      ours.nodes.map((n) => n.grpcAddress),
      SESSION,
    );
    const diffs = differences(expected, actual);
    assert.equal(diffs.length, 0, `${diffs.length} step(s) differ:\n\n${diffs.join('\n\n')}`);
    // The session exercised what it claims to (guards against a session that errors everywhere).
    const out = (i: number): string => expected.steps[i]!.result.stdout + expected.steps[i]!.result.stderr;
    const find = (re: RegExp): number => SESSION.findIndex((_, i) => re.test(out(i)));
    for (const re of [
      /key is not provided/,
      /request is too large/,
      /duplicate key given in txn request/,
      /too many operations in txn request/,
      /required revision is a future revision/,
      /required revision has been compacted/,
      /requested lease not found/,
      /etcdserver: key not found/,
      /compacted revision 5/,
      /SUCCESS/,
      /FAILURE/,
    ]) {
      assert.ok(find(re) >= 0, `no step of the session answered ${re}`);
    }
  } finally {
    await Promise.all([etcd?.stop(), ours?.stop()]);
  }
});
