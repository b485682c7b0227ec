// Leases and the keys attached to them, against a real 3-member etcd 3.4: the same seeded random
// sequence on each — grants (ids chosen by the client, so both hold the same ones), puts under a
// lease, none, one that does not exist or with ignore_lease, txn puts under a lease, revokes
// (deleting the lease's keys at one revision), deletes of keys or ranges, TimeToLive with and
// without keys, LeaseLeases and ranges of every key — and every answer must be etcd's: errors,
// revisions, which lease each key is under, the keys of each lease (sorted: etcd lists them from
// a map), the granted TTL. The seconds left are only checked to be positive (the leases outlive
// the run), not compared.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DeleteRangeRequest,
  DeleteRangeResponse,
  LeaseGrantRequest,
  LeaseGrantResponse,
  LeaseLeasesRequest,
  LeaseLeasesResponse,
  LeaseRevokeRequest,
  LeaseTimeToLiveRequest,
  LeaseTimeToLiveResponse,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  TxnRequest,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { decodeClamped } from '../../proto/codec.js';
import { etcdAndOurs, onBoth } from '../support/differential.js';
import { RawEtcd, outcome } from '../support/raw-etcd.js';
import { rng } from '../support/rng.js';

const SEED = Number(process.env.LEASE_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const KEYS = 'abcdefgh'.split('');
/** Lease ids chosen by the client: FIRST_ID, FIRST_ID + 1, … */
const FIRST_ID = 1000;
/** An id no grant chooses. */
const MISSING = 424242;
const B = (s: string): Buffer => Buffer.from(s, 'latin1');

type LeaseRef = number | 'none' | 'missing';
type Op =
  | { op: 'grant'; ttl: number }
  | { op: 'put'; key: string; lease: LeaseRef; ignoreLease: boolean }
  | { op: 'txn-put'; key: string; lease: number }
  | { op: 'revoke'; lease: LeaseRef }
  | { op: 'ttl'; lease: LeaseRef; keys: boolean }
  | { op: 'leases' }
  | { op: 'range' }
  | { op: 'delete'; key: string; end: string };

function scenario(seed: number, n: number): Op[] {
  const rnd = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const ops: Op[] = [];
  let granted = 0;
  const lease = (): LeaseRef => (rnd() < 0.1 ? 'missing' : Math.floor(rnd() * granted));
  while (ops.length < n) {
    const r = rnd();
    if (r < 0.12 || granted === 0) {
      ops.push({ op: 'grant', ttl: pick([30, 60, 3600]) });
      granted++;
    } else if (r < 0.45) ops.push({ op: 'put', key: pick(KEYS), lease: rnd() < 0.15 ? 'none' : lease(), ignoreLease: rnd() < 0.1 });
    else if (r < 0.55) ops.push({ op: 'revoke', lease: lease() });
    else if (r < 0.7) ops.push({ op: 'ttl', lease: lease(), keys: rnd() < 0.7 });
    else if (r < 0.75) ops.push({ op: 'leases' });
    else if (r < 0.85) ops.push({ op: 'range' });
    else if (r < 0.93) ops.push({ op: 'delete', key: pick(KEYS), end: rnd() < 0.3 ? pick([...KEYS, '\0']) : '' });
    else ops.push({ op: 'txn-put', key: pick(KEYS), lease: Math.floor(rnd() * granted) });
  }
  return ops;
}

const idOf = (l: LeaseRef): number => (l === 'none' ? 0 : l === 'missing' ? MISSING : FIRST_ID + l);
const nameOf = (id: number): string => (id === 0 ? '-' : id >= FIRST_ID && id < MISSING ? `L${id - FIRST_ID}` : `?${id}`);

async function transcript(at: string, ops: Op[]): Promise<string[]> {
  const c = new RawEtcd(at);
  try {
    const out: string[] = [];
    let granted = 0;
    for (const o of ops) {
      let line: string;
      switch (o.op) {
        case 'grant': {
          const r = await c.unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequest, LeaseGrantRequest.fromPartial({ TTL: o.ttl, ID: FIRST_ID + granted++ }));
          const g = r.err ? undefined : decodeClamped(LeaseGrantResponse, r.rep!);
          line = g ? `grant ${nameOf(g.ID)} ttl ${g.TTL} rev ${g.header!.revision}` : `grant ${outcome(r.err)}`;
          break;
        }
        case 'put': {
          const r = await c.unary('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: B(o.key), value: B('v'), lease: idOf(o.lease), ignoreLease: o.ignoreLease, prevKv: true }));
          const p = r.err ? undefined : decodeClamped(PutResponse, r.rep!);
          line = `put ${o.key} under ${String(o.lease)}${o.ignoreLease ? ' ignore_lease' : ''}: ${p ? `rev ${p.header!.revision}, was under ${nameOf(p.prevKv?.lease ?? 0)}` : outcome(r.err)}`;
          break;
        }
        case 'txn-put': {
          const put = PutRequest.fromPartial({ key: B(o.key), value: B('t'), lease: idOf(o.lease) });
          const r = await c.unary('/etcdserverpb.KV/Txn', TxnRequest, TxnRequest.fromPartial({ success: [{ request: { $case: 'requestPut', value: put } }] }));
          line = `txn put ${o.key} under L${o.lease}: ${r.err ? outcome(r.err) : `rev ${decodeClamped(PutResponse, r.rep!).header!.revision}`}`;
          break;
        }
        case 'revoke': {
          const r = await c.unary('/etcdserverpb.Lease/LeaseRevoke', LeaseRevokeRequest, LeaseRevokeRequest.fromPartial({ ID: idOf(o.lease) }));
          line = `revoke ${String(o.lease)}: ${r.err ? outcome(r.err) : `rev ${decodeClamped(PutResponse, r.rep!).header!.revision}`}`;
          break;
        }
        case 'ttl': {
          const r = await c.unary('/etcdserverpb.Lease/LeaseTimeToLive', LeaseTimeToLiveRequest, LeaseTimeToLiveRequest.fromPartial({ ID: idOf(o.lease), keys: o.keys }));
          const t = r.err ? undefined : decodeClamped(LeaseTimeToLiveResponse, r.rep!);
          const keys = t?.keys.map((k) => k.toString('latin1')).sort().join(',');
          line = `ttl ${String(o.lease)}: ${t ? `${t.TTL > 0 ? 'alive' : t.TTL} granted ${t.grantedTTL} keys [${keys}] rev ${t.header!.revision}` : outcome(r.err)}`;
          break;
        }
        case 'leases': {
          const r = await c.unary('/etcdserverpb.Lease/LeaseLeases', LeaseLeasesRequest, {});
          line = `leases: ${r.err ? outcome(r.err) : decodeClamped(LeaseLeasesResponse, r.rep!).leases.map((l) => nameOf(l.ID)).sort().join(',')}`;
          break;
        }
        case 'range': {
          const r = await c.unary('/etcdserverpb.KV/Range', RangeRequest, RangeRequest.fromPartial({ key: B('\0'), rangeEnd: B('\0') }));
          const g = r.err ? undefined : decodeClamped(RangeResponse, r.rep!);
          line = `range: ${g ? `${g.kvs.map((kv) => `${kv.key.toString('latin1')}@${kv.modRevision}/v${kv.version}/${nameOf(kv.lease)}`).join(',')} rev ${g.header!.revision}` : outcome(r.err)}`;
          break;
        }
        case 'delete': {
          const r = await c.unary('/etcdserverpb.KV/DeleteRange', DeleteRangeRequest, DeleteRangeRequest.fromPartial({ key: B(o.key), rangeEnd: B(o.end), prevKv: true }));
          const d = r.err ? undefined : decodeClamped(DeleteRangeResponse, r.rep!);
          line = `delete [${o.key}, ${JSON.stringify(o.end)}): ${d ? `${d.deleted} under [${d.prevKvs.map((kv) => nameOf(kv.lease)).join(',')}] rev ${d.header!.revision}` : outcome(r.err)}`;
          break;
        }
      }
      out.push(line);
    }
    return out;
  } finally {
    c.close();
  }
}

describe('etcd leases and their keys against etcd 3.4', () => {
  const pair = etcdAndOurs();

  test(`a seeded random sequence of grants, attached puts, revokes, deletes and lease queries (seed ${SEED}; LEASE_FUZZ_SEED replays)`, { timeout: 120_000 }, async () => {
    console.log(`# lease-fuzz-diff seed ${SEED}`);
    const ops = scenario(SEED, 300);
    const [theirs, mine] = await onBoth(pair, (at) => transcript(at, ops));
    assert.ok(theirs.some((l) => /^revoke \d+: rev/.test(l)) && theirs.some((l) => /requested lease not found/.test(l)), 'the sequence revoked leases and met missing ones');
    // Each answer depends on what came before: the first difference is the one to read.
    const first = theirs.findIndex((t, i) => t !== mine[i]);
    assert.equal(first, -1, first < 0 ? '' : `answer ${first} differs (seed ${SEED}):\n${theirs.slice(Math.max(0, first - 3), first).join('\n')}\n  etcd: ${theirs[first]}\n  ours: ${mine[first]}`);
  });
});
