// etcd Watch against the real etcd 3.4: the same `etcdctl watch` sessions (prefix, --rev into
// history, --prev-kv, a live watch, json and text output) against a 3-member etcd and a 3-member
// Placement Center give the same normalized output. Our watches run on a follower while the
// writes go through the leader only, so every event a follower sends came through replication.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startEtcdCluster, type EtcdCluster } from '../support/etcd.js';
import { startCluster, type Cluster } from '../support/cluster.js';
import { Normalizer, etcdctl, etcdctlWatch } from '../support/etcdctl.js';
import { PlacementClient } from '../../src/client/index.js';

interface Side {
  /** Where etcdctl watch connects. */
  watchAt: string[];
  put(key: string, value: string): Promise<void>;
  del(key: string): Promise<void>;
}

let etcd: EtcdCluster | undefined;
let ours: Cluster | undefined;
let client: PlacementClient | undefined;
const sides: Record<'etcd' | 'ours', Side> = {} as Record<'etcd' | 'ours', Side>;

/** The writes of the session, made the same way on both sides. */
async function history(s: Side): Promise<void> {
  await s.put('a', '1'); // 2
  await s.put('ab', '2'); // 3
  await s.put('b', '3'); // 4
  await s.del('a'); // 5
  await s.put('a', '4'); // 6
  await s.put('ab', '5'); // 7
}

/** Runs one watch on both sides and returns the normalized outputs. */
async function both(args: string[], done: (out: string) => boolean, whileRunning?: (s: Side) => Promise<void>): Promise<{ etcd: string; ours: string }> {
  const out: Record<string, string> = {};
  for (const name of ['etcd', 'ours'] as const) {
    const s = sides[name];
    const r = await etcdctlWatch(s.watchAt, args, done, { whileRunning: whileRunning ? () => whileRunning(s) : undefined });
    out[name] = new Normalizer().text(r.stdout);
  }
  return { etcd: out.etcd!, ours: out.ours! };
}

const count = (s: string, what: string): number => s.split(what).length - 1;
/** Events in etcdctl's json output (a prev_kv is not one). */
const events = (s: string): number => count(s, '"kv":{');
/** Every event of etcdctl's json output, in order, as JSON text. */
const flat = (s: string): string[] =>
  s
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => (JSON.parse(l) as { Events: unknown[] | null }).Events ?? [])
    .map((e) => JSON.stringify(e));

describe('etcd Watch: the same etcdctl watch sessions against etcd 3.4 and us', { timeout: 240_000 }, () => {
  before(async () => {
    [etcd, ours] = await Promise.all([startEtcdCluster(), startCluster({ nodes: 3 })]);
    const leader = await ours.waitForLeader();
    const follower = ours.nodes.find((n) => n.id !== leader)!;
    client = new PlacementClient({ endpoints: [ours.node(leader).grpcAddress] });
    const e = etcd;
    sides.etcd = {
      watchAt: [e.endpoints[1]!],
      put: async (k, v) => assert.equal((await etcdctl([e.endpoints[0]!], ['put', k, v])).code, 0),
      del: async (k) => assert.equal((await etcdctl([e.endpoints[0]!], ['del', k])).code, 0),
    };
    const c = client;
    sides.ours = {
      watchAt: [follower.grpcAddress],
      put: async (k, v) => void (await c.kv.set(k, v)),
      del: async (k) => void (await c.kv.delete(k)),
    };
    await history(sides.etcd);
    await history(sides.ours);
  });

  after(async () => {
    client?.close();
    await Promise.all([etcd?.stop(), ours?.stop()]);
  });

  it('--prefix --rev 1 -w json: the prefix history from the first revision, caught up in one response whose header is at the current revision', async () => {
    const r = await both(['--prefix', 'a', '--rev', '1', '-w', 'json'], (o) => events(o) >= 5);
    assert.equal(r.ours, r.etcd);
    assert.equal(events(r.etcd), 5);
  });

  it('one key from --rev 3 with --prev-kv (text): a delete carries the previous value, a re-create none', async () => {
    const r = await both(['a', '--rev', '3', '--prev-kv'], (o) => o.includes('\n4\n'));
    assert.equal(r.ours, r.etcd);
    assert.match(r.etcd, /^DELETE\na\n1\na\n\nPUT\na\n4\n/);
  });

  it('a live prefix watch with --prev-kv -w json sees the writes made after it started', async () => {
    const r = await both(['--prefix', 'b', '--rev', '8', '--prev-kv', '-w', 'json'], (o) => events(o) >= 3, async (s) => {
      await s.put('b', '6'); // 8
      await s.put('ba', '7'); // 9
      await s.del('b'); // 10
    });
    // Whether writes arrive one response each or together depends on when the watch was set up:
    // the events, in order, must be the same.
    assert.deepEqual(flat(r.ours), flat(r.etcd));
    assert.equal(flat(r.etcd).length, 3);
  });

  it('the SDK\'s client.watch reads the same batches from etcd 3.4 (64-bit ids in its headers) and from us', async () => {
    const got: Record<string, string[]> = {};
    for (const [name, endpoints] of [['etcd', etcd!.endpoints], ['ours', ours!.nodes.map((n) => n.grpcAddress)]] as const) {
      const cl = new PlacementClient({ endpoints: [...endpoints], discoverMembers: false });
      try {
        const lines: string[] = [];
        for await (const b of cl.watch('a', { prefix: true, startRevision: 1, prevKv: true })) {
          lines.push(...b.events.map((e) => `${b.revision} ${e.type} ${e.kv.key}=${e.kv.value.toString()} prev=${e.prevKv?.value.toString() ?? '-'}`));
          if (b.revision >= 7) break;
        }
        got[name] = lines;
      } finally {
        cl.close();
      }
    }
    assert.deepEqual(got.ours, got.etcd);
    assert.deepEqual(got.etcd, ['2 put a=1 prev=-', '3 put ab=2 prev=-', '5 delete a= prev=1', '6 put a=4 prev=-', '7 put ab=5 prev=2']);
  });

  // Last: it compacts both sides' history.
  it('a watch from a compacted revision: canceled with the same output and exit code; from the compaction revision itself it runs', async () => {
    for (const name of ['etcd', 'ours'] as const) {
      const at = name === 'etcd' ? [etcd!.endpoints[0]!] : [ours!.node(await ours!.waitForLeader()).grpcAddress];
      const r = await etcdctl(at, ['compaction', '6']);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      // Our watch runs on a follower: wait until it applied the compaction (a read below it fails).
      for (let i = 0; name === 'ours' && (await etcdctl(sides.ours.watchAt, ['get', 'a', '--rev', '3', '--consistency', 's'])).code === 0; i++) {
        assert.ok(i < 100, 'the follower applies the compaction');
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    const out: Record<string, string> = {};
    for (const name of ['etcd', 'ours'] as const) {
      const r = await etcdctlWatch(sides[name].watchAt, ['a', '--prefix', '--rev', '3'], () => false);
      out[name] = `exit ${r.code}\n${r.stdout}--- stderr\n${new Normalizer().text(r.stderr)}`;
    }
    assert.equal(out.ours, out.etcd);
    assert.match(out.etcd!, /watch was canceled \(etcdserver: mvcc: required revision has been compacted\)/);
    // Stop after the last event of the history (rev 7): stopping at the first one raced with how
    // the two events were split across stdout reads.
    const atCompaction = await both(['a', '--prefix', '--rev', '6'], (o) => o.includes('\nab\n5\n'));
    assert.equal(atCompaction.ours, atCompaction.etcd);
    assert.equal(atCompaction.etcd, 'PUT\na\n4\nPUT\nab\n5\n');
  });
});
