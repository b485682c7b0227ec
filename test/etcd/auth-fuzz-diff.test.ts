// Who may read and write what, against a real 3-member etcd 3.4: the same seeded random roles
// (READ, WRITE and READWRITE grants on keys, ranges, prefixes and everything from a key on) and
// users holding some of them (one none), auth on, then 400 requests as those users and as nobody
// — Range, Put (with prev_kv), DeleteRange (with prev_kv), Txn with compares and ops in both
// branches — each answered the same: the same refusals with etcd's code and message, the same
// replies byte for byte without the header.
//
// Ranges here are well formed (an end after the key, "\0" or none). For an empty or inverted
// range ([c, c), [d, b)) etcd 3.4's answer depends on the shape of its interval tree (adt's
// Contains prunes by the range's end), so it refuses most and lets a few through; we let every
// one through (it reads and deletes nothing) — a known difference, in the README.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import {
  AuthenticateRequest,
  AuthenticateResponse,
  AuthEnableRequest,
  AuthRoleAddRequest,
  AuthRoleGrantPermissionRequest,
  AuthUserAddRequest,
  AuthUserGrantRoleRequest,
  DeleteRangeRequest,
  PutRequest,
  RangeRequest,
  TxnRequest,
  type RequestOp,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { Permission_Type, type Permission } from '../../proto/gen/etcd/authpb/auth.js';
import { decodeClamped } from '../../proto/codec.js';
import { etcdAndOurs, onBoth } from '../support/differential.js';
import { RawEtcd, outcome, replyWithoutHeader, showRequest } from '../support/raw-etcd.js';
import { rng } from '../support/rng.js';

const SEED = Number(process.env.AUTH_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const KEYS = ['a', 'a/1', 'a/2', 'ab', 'b', 'b/x', 'c', 'd'];
const ENDS = ['', '', 'b', 'a0', 'c', '\0', 'd', 'e'];
const USERS = 4;
const ROLES = 4;
const B = (s: string): Buffer => Buffer.from(s, 'latin1');

interface Call {
  /** Index of the user making it; USERS: no token. */
  user: number;
  path: string;
  encoder: { encode(m: never): { finish(): Uint8Array } };
  request: unknown;
}

function scenario(seed: number): { grants: Permission[][]; roles: number[][]; calls: Call[] } {
  const rnd = rng(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  /** A range end for `key` that makes a well-formed range (see the header). */
  const endFor = (key: string): string => {
    for (;;) {
      const e = pick(ENDS);
      if (e === '' || e === '\0' || e > key) return e;
    }
  };
  const grants = Array.from({ length: ROLES }, () =>
    Array.from({ length: 1 + Math.floor(rnd() * 3) }, (): Permission => {
      const key = pick(KEYS);
      return { permType: pick([Permission_Type.READ, Permission_Type.WRITE, Permission_Type.READWRITE]), key: B(key), rangeEnd: B(endFor(key)) };
    }),
  );
  const roles = Array.from({ length: USERS }, (_, u) => (u === 0 ? [] : [...new Set(Array.from({ length: 1 + Math.floor(rnd() * 2) }, () => Math.floor(rnd() * ROLES)))]));
  const op = (): RequestOp => {
    const r = rnd();
    const key = pick(KEYS);
    if (r < 0.4) return { request: { $case: 'requestRange', value: RangeRequest.fromPartial({ key: B(key), rangeEnd: B(endFor(key)) }) } };
    if (r < 0.7) return { request: { $case: 'requestPut', value: PutRequest.fromPartial({ key: B(key), value: B('t') }) } };
    return { request: { $case: 'requestDeleteRange', value: DeleteRangeRequest.fromPartial({ key: B(key), rangeEnd: B(endFor(key)) }) } };
  };
  const calls = Array.from({ length: 400 }, (): Call => {
    const user = Math.floor(rnd() * (USERS + 1));
    const key = pick(KEYS);
    const r = rnd();
    if (r < 0.4) return { user, path: '/etcdserverpb.KV/Range', encoder: RangeRequest as never, request: RangeRequest.fromPartial({ key: B(key), rangeEnd: B(endFor(key)), serializable: rnd() < 0.3 }) };
    if (r < 0.6) return { user, path: '/etcdserverpb.KV/Put', encoder: PutRequest as never, request: PutRequest.fromPartial({ key: B(key), value: B('x'), prevKv: rnd() < 0.3 }) };
    if (r < 0.75) return { user, path: '/etcdserverpb.KV/DeleteRange', encoder: DeleteRangeRequest as never, request: DeleteRangeRequest.fromPartial({ key: B(key), rangeEnd: B(endFor(key)), prevKv: rnd() < 0.3 }) };
    const compare = rnd() < 0.5 ? [{ key: B('a'), rangeEnd: B(pick(['', 'c', '\0'])), target: 0, result: 1, targetUnion: { $case: 'version' as const, value: 0 } }] : [];
    return { user, path: '/etcdserverpb.KV/Txn', encoder: TxnRequest as never, request: TxnRequest.fromPartial({ compare, success: [op()], failure: rnd() < 0.5 ? [op()] : [] }) };
  });
  return { grants, roles, calls };
}

const withToken = (token?: string): grpc.Metadata => {
  const md = new grpc.Metadata();
  if (token) md.set('token', token);
  return md;
};

async function answers(at: string, sc: ReturnType<typeof scenario>): Promise<string[]> {
  const c = new RawEtcd(at);
  try {
    const must = async (path: string, encoder: unknown, request: unknown, token?: string): Promise<Buffer> => {
      const r = await c.unary(path, encoder as never, request as never, withToken(token));
      assert.equal(r.err, null, `${path}: ${outcome(r.err)}`);
      return r.rep!;
    };
    await must('/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: 'root', password: 'rootpw' }));
    await must('/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: 'root', role: 'root' });
    for (let r = 0; r < ROLES; r++) {
      await must('/etcdserverpb.Auth/RoleAdd', AuthRoleAddRequest, { name: `r${r}` });
      for (const perm of sc.grants[r]!) await must('/etcdserverpb.Auth/RoleGrantPermission', AuthRoleGrantPermissionRequest, { name: `r${r}`, perm });
    }
    for (let u = 0; u < USERS; u++) {
      await must('/etcdserverpb.Auth/UserAdd', AuthUserAddRequest, AuthUserAddRequest.fromPartial({ name: `u${u}`, password: `pw${u}` }));
      for (const r of sc.roles[u]!) await must('/etcdserverpb.Auth/UserGrantRole', AuthUserGrantRoleRequest, { user: `u${u}`, role: `r${r}` });
    }
    for (const k of KEYS) await must('/etcdserverpb.KV/Put', PutRequest, PutRequest.fromPartial({ key: B(k), value: B('init') }));
    await must('/etcdserverpb.Auth/AuthEnable', AuthEnableRequest, {});
    const tokens: (string | undefined)[] = [];
    for (let u = 0; u < USERS; u++) tokens.push(decodeClamped(AuthenticateResponse, await must('/etcdserverpb.Auth/Authenticate', AuthenticateRequest, { name: `u${u}`, password: `pw${u}` })).token);
    tokens.push(undefined);
    const out: string[] = [];
    for (const call of sc.calls) {
      const r = await c.unary(call.path, call.encoder, call.request as never, withToken(tokens[call.user]));
      out.push(r.err ? outcome(r.err) : `ok ${replyWithoutHeader(r.rep!)}`);
    }
    return out;
  } finally {
    c.close();
  }
}

describe('etcd auth: who may read and write what, against etcd 3.4', () => {
  const pair = etcdAndOurs();

  test(`seeded random roles, users and requests (seed ${SEED}; AUTH_FUZZ_SEED replays)`, { timeout: 120_000 }, async () => {
    console.log(`# auth-fuzz-diff seed ${SEED}`);
    const sc = scenario(SEED);
    const [theirs, mine] = await onBoth(pair, (at) => answers(at, sc));
    const denied = theirs.filter((t) => /permission denied/.test(t)).length;
    assert.ok(denied > 40 && denied < sc.calls.length - 40, `etcd refused some requests and allowed others (${denied} of ${sc.calls.length} refused)`);
    // Each answer depends on the writes before it: the first difference is the one to read.
    const first = theirs.findIndex((t, i) => t !== mine[i]);
    assert.equal(
      first,
      -1,
      first < 0 ? '' : `call ${first} differs (seed ${SEED}): user u${sc.calls[first]!.user} roles ${showRequest(sc.roles[sc.calls[first]!.user])} grants ${showRequest(sc.grants)} ${sc.calls[first]!.path} ${showRequest(sc.calls[first]!.request)}\n  etcd: ${theirs[first]}\n  ours: ${mine[first]}`,
    );
  });
});
