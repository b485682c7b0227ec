// Watches of every shape, against a real 3-member etcd 3.4: the same seeded random writes (puts,
// deletes of a key or a range, multi-key txns) on each, a compaction, then 30 watches on one
// stream — one key, a range, every key; from now, from a past revision (below the compaction:
// canceled with its compact revision), from a future one; with prev_kv; leaving out puts or
// deletes — then more writes, then one last write per watch that it must see. Each watch's
// created answer, events (type, key, value, revisions, version, previous key-value) and
// cancellation must be etcd's, in etcd's order (replies are read event by event: how events are
// grouped into responses may differ).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  CompactionRequest,
  DeleteRangeRequest,
  PutRequest,
  PutResponse,
  TxnRequest,
  WatchCreateRequest,
  WatchCreateRequest_FilterType as Filter,
  WatchRequest,
  WatchResponse,
  type RequestOp,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Event_EventType as EventType, type KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import { decodeClamped } from '../../proto/codec.js';
import { etcdAndOurs, onBoth } from '../support/differential.js';
import { RawEtcd, outcome } from '../support/raw-etcd.js';
import { rng } from '../support/rng.js';

const SEED = Number(process.env.WATCH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const KEYS = 'abcdefgh'.split('');
const COMPACT_AT = 8;
const WATCHES = 30;
const B = (s: string): Buffer => Buffer.from(s, 'latin1');

type Write = { put: string; value: string } | { del: string; end: string } | { txn: RequestOp[] };
interface Spec {
  key: string;
  end: string;
  start: number;
  prevKv: boolean;
  noPut: boolean;
  noDelete: boolean;
}

function scenario(seed: number): { before: Write[]; after: Write[]; specs: Spec[] } {
  const rnd = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const write = (): Write => {
    const r = rnd();
    if (r < 0.6) return { put: pick(KEYS), value: `v${Math.floor(rnd() * 100)}` };
    if (r < 0.8) return { del: pick(KEYS), end: rnd() < 0.3 ? pick([...KEYS, '\0']) : '' };
    const keys = [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => pick(KEYS)))];
    return {
      txn: keys.map((k): RequestOp =>
        rnd() < 0.7
          ? { request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B(k), value: B(`t${Math.floor(rnd() * 100)}`) }) } }
          : { request: { $case: 'requestDeleteRange', value: DeleteRangeRequest.fromPartial({ key: B(k) }) } },
      ),
    };
  };
  const before = Array.from({ length: 30 }, write);
  const after = Array.from({ length: 60 }, write);
  const specs = Array.from({ length: WATCHES }, (): Spec => {
    const shape = rnd();
    const k = pick(KEYS);
    return {
      key: shape < 0.15 ? '\0' : k,
      end: shape < 0.15 ? '\0' : shape < 0.5 ? String.fromCharCode(k.charCodeAt(0) + 1 + Math.floor(rnd() * 3)) : '',
      start: pick([0, 0, 1, 5, 9, 12, 20, 29, 31, 34, 40]),
      prevKv: rnd() < 0.5,
      noPut: rnd() < 0.15,
      noDelete: rnd() < 0.15,
    };
  });
  return { before, after, specs };
}

const kvText = (kv?: KeyValue): string => (kv ? `${kv.key.toString('latin1')}=${kv.value.toString('latin1')} c${kv.createRevision} m${kv.modRevision} v${kv.version}` : '-');

/** Runs the scenario against one cluster; each watch's transcript, in spec order. */
async function transcripts(system: string, at: string, sc: ReturnType<typeof scenario>): Promise<string[]> {
  const c = new RawEtcd(at);
  const apply = async (w: Write): Promise<number> => {
    const r =
      'put' in w
        ? await c.unary('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: B(w.put), value: B(w.value) }))
        : 'del' in w
          ? await c.unary('/etcdserverpb.KV/DeleteRange', DeleteRangeRequest, DeleteRangeRequest.fromPartial({ key: B(w.del), rangeEnd: B(w.end) }))
          : await c.unary('/etcdserverpb.KV/Txn', TxnRequest, TxnRequest.fromPartial({ success: w.txn }));
    assert.equal(r.err, null, outcome(r.err));
    // Every response's header is field 1: read it as a PutResponse's (clamped: etcd's ids are 64-bit).
    return decodeClamped(PutResponse, r.rep!).header!.revision;
  };
  const stream = c.stream('/etcdserverpb.Watch/Watch', WatchRequest, new grpc.Metadata());
  try {
    for (const w of sc.before) await apply(w);
    const compacted = await c.unary('/etcdserverpb.KV/Compact', CompactionRequest, CompactionRequest.fromPartial({ revision: COMPACT_AT }));
    assert.equal(compacted.err, null, outcome(compacted.err));

    const logs: string[][] = sc.specs.map(() => []);
    const byId = new Map<number, number>();
    /** The revision of each watch's last write (known once written), and whether it has seen it. */
    const lastRev: number[] = sc.specs.map(() => Infinity);
    const seen: boolean[] = sc.specs.map(() => false);
    let onCreated: ((id: number) => void) | undefined;
    let allSeen: () => void = () => {};
    const everyWatchDone = new Promise<void>((r) => (allSeen = r));
    const settle = (i: number, modRevision: number): void => {
      if (modRevision >= lastRev[i]!) seen[i] = true;
      if (seen.every(Boolean)) allSeen();
    };
    let failed: Error | undefined;
    stream.on('error', (e: Error) => (failed = e));
    stream.on('data', (b: Buffer) => {
      const r = decodeClamped(WatchResponse, b);
      if (r.created) onCreated?.(r.watchId);
      const i = byId.get(r.watchId);
      if (i === undefined) return;
      for (const e of r.events) {
        logs[i]!.push(`${e.type === EventType.PUT ? 'PUT' : 'DELETE'} ${kvText(e.kv)} prev ${kvText(e.prevKv)}`);
        settle(i, e.kv?.modRevision ?? 0);
      }
      if (r.canceled && !r.created) {
        logs[i]!.push(`canceled: compact revision ${r.compactRevision}, reason "${r.cancelReason}"`);
        settle(i, Infinity);
      }
    });
    for (let i = 0; i < sc.specs.length; i++) {
      const sp = sc.specs[i]!;
      const filters = [...(sp.noPut ? [Filter.NOPUT] : []), ...(sp.noDelete ? [Filter.NODELETE] : [])];
      const create = WatchCreateRequest.fromPartial({ key: B(sp.key), rangeEnd: B(sp.end), startRevision: sp.start, prevKv: sp.prevKv, filters });
      const id = await new Promise<number>((resolve) => {
        onCreated = resolve;
        stream.write({ requestUnion: { $case: 'createRequest', value: create } });
      });
      byId.set(id, i);
      logs[i]!.push(`created: id ${id}`);
    }
    for (const w of sc.after) await apply(w);
    // One last event for every watch: a put in its range, or a put and a delete when it leaves out puts.
    for (let i = 0; i < sc.specs.length; i++) {
      const sp = sc.specs[i]!;
      const key = sp.key === '\0' ? 'a' : sp.key;
      let rev = await apply({ put: key, value: `last-${i}` });
      if (sp.noPut) rev = await apply({ del: key, end: '' });
      lastRev[i] = rev;
      // A watch leaving out puts and deletes sees nothing, by design: nothing to wait for.
      if (sp.noPut && sp.noDelete) settle(i, Infinity);
      // Its event may have come already (or the watch was canceled long before).
      const mods = logs[i]!.map((l) => Number(/ m(\d+) /.exec(l)?.[1] ?? (l.startsWith('canceled') ? Infinity : 0)));
      settle(i, Math.max(0, ...mods));
    }
    const timedOut = await Promise.race([everyWatchDone.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 15_000).unref())]);
    assert.equal(failed, undefined, `the watch stream failed: ${failed?.message}`);
    assert.equal(timedOut, false, `${system}: watches that never saw their last write: ${seen.flatMap((s, i) => (s ? [] : [`${i} ${JSON.stringify(sc.specs[i])} (last write at ${lastRev[i]}; got ${logs[i]!.slice(-3).join(' | ')})`])).join(', ')}`);
    // Events after a watch's own last write (other watches' last writes) may not all have come yet.
    const upTo = (i: number) => (l: string): boolean => Number(/ m(\d+) /.exec(l)?.[1] ?? 0) <= lastRev[i]!;
    return logs.map((l, i) => l.filter(upTo(i)).join('\n'));
  } finally {
    stream.cancel();
    c.close();
  }
}

describe('etcd watches of every shape against etcd 3.4', () => {
  const pair = etcdAndOurs();

  test(`30 watches: ranges, past, compacted and future starts, prev_kv, filters (seed ${SEED}; WATCH_FUZZ_SEED replays)`, { timeout: 120_000 }, async () => {
    console.log(`# watch-fuzz-diff seed ${SEED}`);
    const sc = scenario(SEED);
    const [theirs, mine] = await onBoth(pair, (at, system) => transcripts(system, at, sc));
    const events = theirs.join('\n').split('\n').filter((l) => /^(PUT|DELETE) /.test(l)).length;
    assert.ok(events > 200, `the watches saw events (${events})`);
    assert.ok(theirs.some((t) => t.includes(`compact revision ${COMPACT_AT}`)), 'some watch started below the compaction and was canceled');
    const differing = sc.specs.flatMap((sp, i) => (theirs[i] === mine[i] ? [] : [`watch ${i} ${JSON.stringify(sp)}\n--- etcd\n${theirs[i]}\n--- ours\n${mine[i]}`]));
    assert.deepEqual(differing.slice(0, 2), [], `${differing.length} of ${sc.specs.length} watches differ (seed ${SEED})`);
  });
});
