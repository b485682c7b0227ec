// What a command needs from its caller, and whether a user's grants cover it. One answer for the
// node that checks a request before proposing it and for the applier that re-checks it at apply
// time (recheck.ts), so the two can never disagree.
//
// Ranges follow etcd: an empty range_end is the single key, "\0" is every key from `key` on, and
// anything else is [key, range_end). A user's grants of one kind are merged, so a request is
// allowed when the union of its grants covers the whole range (etcd's range permission cache).

import { Permission_Type, type Permission } from '../../proto/gen/etcd/authpb/auth.js';
import type { Command, User, AuthRole } from '../../proto/gen/placement/v1/command.js';
import type { RequestOp, TxnRequest } from '../../proto/gen/etcd/etcdserverpb/rpc.js';

export const ROOT = 'root';

export type Access = 'read' | 'write';

export interface KeyNeed {
  key: Uint8Array;
  /** etcd's range_end (empty: the single key). */
  rangeEnd: Uint8Array;
  access: Access;
}

export type Need =
  /** Any caller, even anonymous (reads of nothing secret). */
  | { kind: 'none' }
  /** An authenticated user. */
  | { kind: 'user' }
  /** The root role. */
  | { kind: 'root' }
  | { kind: 'keys'; keys: KeyNeed[] };

const EMPTY = new Uint8Array(0);
const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** What a replicated command needs from the caller that asked for it. */
export function commandNeed(cmd: Command): Need {
  const op = cmd.op;
  if (!op) return { kind: 'root' };
  switch (op.$case) {
    case 'put':
      return keys({ key: utf8(op.value.key), rangeEnd: EMPTY, access: 'write' }, op.value.prevKv ? { key: utf8(op.value.key), rangeEnd: EMPTY, access: 'read' } : undefined);
    case 'delete':
      return keys({ key: utf8(op.value.key), rangeEnd: EMPTY, access: 'write' }, op.value.prevKv ? { key: utf8(op.value.key), rangeEnd: EMPTY, access: 'read' } : undefined);
    case 'cas':
      // A CAS reveals whether the key held a value: it reads as well as writes.
      return keys({ key: utf8(op.value.key), rangeEnd: EMPTY, access: 'write' }, { key: utf8(op.value.key), rangeEnd: EMPTY, access: 'read' });
    case 'leaseGrant':
    case 'leaseKeepAlive':
    case 'leaseRenew':
    case 'leaseRevoke':
      return { kind: 'user' };
    case 'etcdPut':
      return keys({ key: op.value.key, rangeEnd: EMPTY, access: 'write' }, op.value.prevKv ? { key: op.value.key, rangeEnd: EMPTY, access: 'read' } : undefined);
    case 'etcdDeleteRange':
      return keys({ key: op.value.key, rangeEnd: op.value.rangeEnd, access: 'write' }, op.value.prevKv ? { key: op.value.key, rangeEnd: op.value.rangeEnd, access: 'read' } : undefined);
    case 'etcdTxn':
      return { kind: 'keys', keys: txnNeeds(op.value, 0) };
    default:
      // Users, config, compaction and every auth operation.
      return { kind: 'root' };
  }
}

function keys(...ks: (KeyNeed | undefined)[]): Need {
  return { kind: 'keys', keys: ks.filter((k): k is KeyNeed => k !== undefined) };
}

/** etcd's txn check: every compare is a read, both branches' operations are checked. */
export function txnNeeds(t: TxnRequest, depth: number): KeyNeed[] {
  const out: KeyNeed[] = [];
  if (depth > 64) return out;
  for (const c of t.compare) out.push({ key: c.key, rangeEnd: c.rangeEnd, access: 'read' });
  const ops = (list: RequestOp[]): void => {
    for (const o of list) {
      const q = o.request;
      if (!q) continue;
      if (q.$case === 'requestRange') out.push({ key: q.value.key, rangeEnd: q.value.rangeEnd, access: 'read' });
      else if (q.$case === 'requestPut') {
        out.push({ key: q.value.key, rangeEnd: EMPTY, access: 'write' });
        if (q.value.prevKv) out.push({ key: q.value.key, rangeEnd: EMPTY, access: 'read' });
      } else if (q.$case === 'requestDeleteRange') {
        out.push({ key: q.value.key, rangeEnd: q.value.rangeEnd, access: 'write' });
        if (q.value.prevKv) out.push({ key: q.value.key, rangeEnd: q.value.rangeEnd, access: 'read' });
      } else out.push(...txnNeeds(q.value, depth + 1));
    }
  };
  ops(t.success);
  ops(t.failure);
  return out;
}

/** [start, end) with `end` null for "to the end of the keyspace". */
interface Interval {
  start: Buffer;
  end: Buffer | null;
}

function interval(key: Uint8Array, rangeEnd: Uint8Array): Interval {
  const start = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (rangeEnd.length === 0) return { start, end: Buffer.concat([start, Buffer.from([0])]) };
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start, end: null };
  return { start, end: Buffer.from(rangeEnd.buffer, rangeEnd.byteOffset, rangeEnd.byteLength) };
}

/** The range end of a prefix, etcd's way ("" → every key). */
export function prefixEnd(prefix: Uint8Array): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = b.subarray(0, i + 1);
      out[i]! += 1;
      return out;
    }
  }
  return Buffer.of(0);
}

function grants(p: Permission, access: Access): boolean {
  if (p.permType === Permission_Type.READWRITE) return true;
  return access === 'read' ? p.permType === Permission_Type.READ : p.permType === Permission_Type.WRITE;
}

/** Every grant a user holds, its admin-API permissions (a prefix each) included. */
export function userPermissions(user: User, roleOf: (name: string) => AuthRole | undefined): Permission[] {
  const out: Permission[] = [];
  for (const p of user.permissions) {
    if (!p.read && !p.write) continue;
    const permType = p.read && p.write ? Permission_Type.READWRITE : p.read ? Permission_Type.READ : Permission_Type.WRITE;
    const key = utf8(p.prefix);
    out.push({ permType, key, rangeEnd: prefixEnd(key) });
  }
  for (const r of user.auth?.roles ?? []) {
    const role = roleOf(r);
    if (role) out.push(...role.permissions);
  }
  return out;
}

export function hasRootRole(user: User): boolean {
  return (user.auth?.roles ?? []).includes(ROOT);
}

/** True when the union of `perms` granting `access` covers the whole of [key, rangeEnd). */
export function covers(perms: readonly Permission[], need: KeyNeed): boolean {
  const want = interval(need.key, need.rangeEnd);
  const have = perms.filter((p) => grants(p, need.access)).map((p) => interval(p.key, p.rangeEnd));
  have.sort((a, b) => Buffer.compare(a.start, b.start));
  let at = want.start;
  for (const h of have) {
    if (Buffer.compare(h.start, at) > 0) break; // a gap before this grant
    if (h.end === null) return true;
    if (Buffer.compare(h.end, at) > 0) at = h.end;
    if (want.end !== null && Buffer.compare(at, want.end) >= 0) return true;
  }
  return want.end !== null && Buffer.compare(at, want.end) >= 0;
}

/**
 * Whether `user` may do what `need` asks. Undefined `user` is a user that does not exist (denied).
 * Auth being off is the caller's business: this is only asked when it is on.
 */
export function permitted(user: User | undefined, need: Need, roleOf: (name: string) => AuthRole | undefined): boolean {
  if (need.kind === 'none') return true;
  if (!user) return false;
  if (hasRootRole(user)) return true;
  if (need.kind === 'user') return true;
  if (need.kind === 'root') return false;
  const perms = userPermissions(user, roleOf);
  return need.keys.every((k) => covers(perms, k));
}
