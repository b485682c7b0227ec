// Range's options and Txn's shapes in every combination, against a real 3-member etcd 3.4. Range:
// the same 40 writes on each (so revisions agree), then every sort order × sort target ×
// keys_only × limit over two ranges, and seeded random requests adding revisions, the four
// revision filters, count_only and serializable reads. Txn: seeded random transactions — compares
// of every target and result, over one key or a range; puts with prev_kv, ignore_value,
// ignore_lease; deletes with prev_kv; ranges; nested transactions — applied in the same order on
// both. Every reply without its header must be byte for byte etcd's, every error etcd's code and
// message. Found: with sort order NONE, another target and a limit, etcd sorts only the first
// limit+1 keys (storage/keyspace/range.ts sortsFirstKeysOnly), and sorts by value before it
// drops the values of keys_only.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DeleteRangeRequest, PutRequest, RangeRequest, TxnRequest, type Compare, type RequestOp } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { etcdAndOurs, onBoth } from '../support/differential.js';
import { RawEtcd, outcome, showRequest } from '../support/raw-etcd.js';
import { rng } from '../support/rng.js';

const SEED = Number(process.env.KV_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

const KEYS = 'abcdefghij'.split('');
const B = (s: string): Buffer => Buffer.from(s, 'latin1');

type Write = { put: string; value: string } | { del: string; end: string };

function scenario(seed: number): { writes: Write[]; ranges: Partial<RangeRequest>[] } {
  const rnd = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const writes: Write[] = [];
  for (let i = 0; i < 40; i++) writes.push(rnd() < 0.8 ? { put: pick(KEYS), value: `v${Math.floor(rnd() * 1000)}` } : { del: pick(KEYS), end: rnd() < 0.3 ? pick(KEYS) : '' });
  const ranges: Partial<RangeRequest>[] = [];
  for (const sortOrder of [0, 1, 2]) {
    for (const sortTarget of [0, 1, 2, 3, 4]) {
      for (const keysOnly of [false, true]) {
        for (const limit of [0, 2, 3]) for (const rangeEnd of ['\0', 'g']) ranges.push({ key: B('\0'), rangeEnd: B(rangeEnd), sortOrder, sortTarget, keysOnly, limit });
      }
    }
  }
  for (let i = 0; i < 400; i++) {
    const shape = rnd();
    ranges.push({
      key: B(shape < 0.1 ? '\0' : pick(KEYS)),
      rangeEnd: shape < 0.1 ? B('\0') : shape < 0.4 ? B(pick(KEYS)) : shape < 0.6 ? B('\0') : Buffer.alloc(0),
      limit: pick([0, 0, 1, 2, 3, 5]),
      revision: pick([0, 0, 0, 5, 10, 20, 30, 41]),
      sortOrder: pick([0, 0, 1, 2]),
      sortTarget: pick([0, 1, 2, 3, 4]),
      keysOnly: rnd() < 0.2,
      countOnly: rnd() < 0.15,
      minModRevision: pick([0, 0, 0, 10, 25]),
      maxModRevision: pick([0, 0, 0, 15, 30]),
      minCreateRevision: pick([0, 0, 0, 5, 20]),
      maxCreateRevision: pick([0, 0, 0, 10, 35]),
      serializable: rnd() < 0.3,
    });
  }
  return { writes, ranges };
}

/** Random transactions: up to two compares, one to three success ops, up to two failure ops; nesting two deep. */
function transactions(seed: number, n: number): TxnRequest[] {
  const rnd = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const keys = 'abcdef'.split('');
  const end = (): Buffer => (rnd() < 0.3 ? B(pick([...keys, '\0'])) : Buffer.alloc(0));
  const op = (depth: number): RequestOp => {
    const r = rnd();
    if (r < 0.4) {
      const value = rnd() < 0.2 ? Buffer.alloc(0) : B(`v${Math.floor(rnd() * 50)}`);
      return { request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B(pick(keys)), value, prevKv: rnd() < 0.4, ignoreValue: rnd() < 0.1, ignoreLease: rnd() < 0.1 }) } };
    }
    if (r < 0.6) return { request: { $case: 'requestDeleteRange', value: DeleteRangeRequest.fromPartial({ key: B(pick(keys)), rangeEnd: end(), prevKv: rnd() < 0.5 }) } };
    if (r < 0.85 || depth > 1) return { request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: B(pick(keys)), rangeEnd: end(), limit: pick([0, 0, 2]), keysOnly: rnd() < 0.2, countOnly: rnd() < 0.1 }) } };
    return { request: { $case: 'requestTxn', value: txn(depth + 1) } };
  };
  const compare = (): Compare => {
    const target = pick([0, 1, 2, 3, 4]); // VERSION, CREATE, MOD, VALUE, LEASE
    const targetUnion: Compare['targetUnion'] =
      target === 0
        ? { $case: 'version', value: pick([0, 1, 2, 3]) }
        : target === 1
          ? { $case: 'createRevision', value: pick([0, 2, 5, 10, 20]) }
          : target === 2
            ? { $case: 'modRevision', value: pick([0, 3, 8, 15, 30]) }
            : target === 3
              ? { $case: 'value', value: B(pick(['', 'v1', 'v10', 'v25', 'v9'])) }
              : { $case: 'lease', value: 0 };
    return { result: pick([0, 1, 2, 3]), target, key: B(pick(keys)), targetUnion, rangeEnd: rnd() < 0.25 ? B(pick([...keys, '\0'])) : Buffer.alloc(0) };
  };
  const count = (): number => Math.floor(rnd() * 3);
  const txn = (depth: number): TxnRequest => ({
    compare: Array.from({ length: count() }, compare),
    success: Array.from({ length: count() + (depth === 0 ? 1 : 0) }, () => op(depth)),
    failure: Array.from({ length: count() }, () => op(depth)),
  });
  return Array.from({ length: n }, () => txn(0));
}

describe('etcd Range options and Txn shapes against etcd 3.4', () => {
  const pair = etcdAndOurs();

  test(`Range: every sort order, target, keys_only and limit, and random requests with revisions and filters (seed ${SEED}; KV_FUZZ_SEED replays)`, { timeout: 120_000 }, async () => {
    console.log(`# kv-fuzz-diff seed ${SEED}`);
    const { writes, ranges } = scenario(SEED);
    const run = async (at: string): Promise<string[]> => {
      const c = new RawEtcd(at);
      try {
        for (const w of writes) {
          const r =
            'put' in w
              ? await c.unary('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: B(w.put), value: B(w.value) }))
              : await c.unary('/etcdserverpb.KV/DeleteRange', DeleteRangeRequest, DeleteRangeRequest.fromPartial({ key: B(w.del), rangeEnd: B(w.end) }));
          assert.equal(r.err, null, outcome(r.err));
        }
        return await c.answers('/etcdserverpb.KV/Range', RangeRequest, ranges.map((q) => RangeRequest.fromPartial(q)));
      } finally {
        c.close();
      }
    };
    const [theirs, mine] = await onBoth(pair, run);
    const differing = ranges.flatMap((q, i) => (theirs[i] === mine[i] ? [] : [`${showRequest(q)}\n  etcd: ${theirs[i]}\n  ours: ${mine[i]}`]));
    assert.ok(theirs.filter((t) => t.startsWith('error')).length < ranges.length / 2, 'most requests are answered with data, not errors');
    assert.deepEqual(differing.slice(0, 5), [], `${differing.length} of ${ranges.length} replies differ (seed ${SEED})`);
  });

  test(`Txn: random compares, puts, deletes, ranges and nested transactions in the same order on both (seed ${SEED})`, { timeout: 120_000 }, async () => {
    const txns = transactions(SEED, 300);
    const run = async (at: string): Promise<string[]> => {
      const c = new RawEtcd(at);
      try {
        return await c.answers('/etcdserverpb.KV/Txn', TxnRequest, txns);
      } finally {
        c.close();
      }
    };
    const [theirs, mine] = await onBoth(pair, run);
    const refused = theirs.filter((t) => t.startsWith('error')).length;
    assert.ok(refused > 0 && refused < txns.length / 2, `etcd refused some transactions and ran most (${refused} of ${txns.length})`);
    // Each reply depends on every write before it: the first difference is the one to read.
    const first = txns.findIndex((_t, i) => theirs[i] !== mine[i]);
    assert.equal(first, -1, first < 0 ? '' : `transaction ${first} of ${txns.length} differs (seed ${SEED}): ${showRequest(txns[first]!)}\n  etcd: ${theirs[first]}\n  ours: ${mine[first]}`);
  });
});
