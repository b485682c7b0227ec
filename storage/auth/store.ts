// etcd's auth model, replicated: users (the `users` namespace, shared with the admin API), roles
// (`roles`: name → AuthRole) and `auth/enabled`, `auth/revision`. Every change bumps the auth
// revision (etcd's), which tokens carry: a user or role changed after a token was issued no longer
// honours it (tokenCurrent). The rules and errors are etcd 3.4's auth/store.go, in our words.
// Passwords arrive already hashed (scrypt, by the proposer): replicas never see them.

import { AuthRole, ResultCode, User, type AuthUserAddOp, type AuthUserChangePasswordOp, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import type {
  AuthRoleGrantPermissionRequest,
  AuthRoleRevokePermissionRequest,
  AuthUserGrantRoleRequest,
  AuthUserRevokeRoleRequest,
} from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { rawBounds, rawKey, type Db } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';
import { utf8ToBin } from '../keyspace/keys.js';
import { readU64, writeU64 } from '../wal/record.js';
import { AUTH_ERR } from './errors.js';
import { hasRootRole, ROOT } from './perms.js';

const ENABLED = 'enabled';
const REVISION = 'revision';

function fail(tx: Tx, message: string): CommandResult {
  return result(ResultCode.RESULT_INVALID, tx.revision, { message });
}

function ok(tx: Tx): CommandResult {
  return result(ResultCode.RESULT_OK, tx.revision);
}

export function authRevisionIn(tx: Tx): number {
  const v = tx.get('auth', REVISION);
  return v ? readU64(v, 0) : 0;
}

export function authEnabledIn(tx: Tx): boolean {
  const v = tx.get('auth', ENABLED);
  return v !== undefined && v[0] === 1;
}

/** Bumps the auth revision and returns the new one. */
export function bumpAuthRevision(tx: Tx): number {
  const rev = authRevisionIn(tx) + 1;
  const b = Buffer.allocUnsafe(8);
  writeU64(b, rev, 0);
  tx.put('auth', REVISION, b);
  return rev;
}

export function userIn(tx: Tx, name: string): User | undefined {
  const raw = tx.get('users', utf8ToBin(name));
  return raw ? decodeMessage(User, raw) : undefined;
}

export function roleIn(tx: Tx, name: string): AuthRole | undefined {
  const raw = tx.get('roles', utf8ToBin(name));
  return raw ? decodeMessage(AuthRole, raw) : undefined;
}

function putUserRecord(tx: Tx, user: User): void {
  tx.put('users', utf8ToBin(user.name), encodeMessage(User, user));
}

function putRoleRecord(tx: Tx, role: AuthRole): void {
  tx.put('roles', utf8ToBin(role.name), encodeMessage(AuthRole, role));
}

export function authEnable(tx: Tx): CommandResult {
  if (authEnabledIn(tx)) return ok(tx);
  const root = userIn(tx, ROOT);
  if (!root) return fail(tx, AUTH_ERR.rootUserNotExist);
  if (!hasRootRole(root)) return fail(tx, AUTH_ERR.rootRoleNotExist);
  tx.put('auth', ENABLED, Buffer.of(1));
  bumpAuthRevision(tx);
  return ok(tx);
}

export function authDisable(tx: Tx): CommandResult {
  if (!authEnabledIn(tx)) return ok(tx);
  tx.put('auth', ENABLED, Buffer.of(0));
  bumpAuthRevision(tx);
  return ok(tx);
}

export function userAdd(tx: Tx, op: AuthUserAddOp, now: number): CommandResult {
  if (!op.name) return fail(tx, AUTH_ERR.userEmpty);
  if (userIn(tx, op.name)) return fail(tx, AUTH_ERR.userAlreadyExist);
  const revision = bumpAuthRevision(tx);
  putUserRecord(tx, {
    name: op.name,
    passwordHash: op.noPassword ? Buffer.alloc(0) : op.passwordHash,
    salt: op.noPassword ? Buffer.alloc(0) : op.salt,
    permissions: [],
    createdAtMs: now,
    updatedAtMs: now,
    auth: { roles: [], revision, noPassword: op.noPassword },
  });
  return ok(tx);
}

export function userDelete(tx: Tx, name: string): CommandResult {
  if (authEnabledIn(tx) && name === ROOT) return fail(tx, AUTH_ERR.invalidAuthMgmt);
  if (!userIn(tx, name)) return fail(tx, AUTH_ERR.userNotFound);
  tx.del('users', utf8ToBin(name));
  bumpAuthRevision(tx);
  return ok(tx);
}

export function userChangePassword(tx: Tx, op: AuthUserChangePasswordOp, now: number): CommandResult {
  if (!op.name) return fail(tx, AUTH_ERR.userEmpty);
  const user = userIn(tx, op.name);
  if (!user) return fail(tx, AUTH_ERR.userNotFound);
  const revision = bumpAuthRevision(tx);
  putUserRecord(tx, { ...user, passwordHash: op.passwordHash, salt: op.salt, updatedAtMs: now, auth: { roles: user.auth?.roles ?? [], noPassword: false, revision } });
  return ok(tx);
}

export function userGrantRole(tx: Tx, op: AuthUserGrantRoleRequest, now: number): CommandResult {
  const user = userIn(tx, op.user);
  if (!user) return fail(tx, AUTH_ERR.userNotFound);
  // The root role need not exist as a record (etcd: granting it is what makes a root user).
  if (op.role !== ROOT && !roleIn(tx, op.role)) return fail(tx, AUTH_ERR.roleNotFound);
  const roles = user.auth?.roles ?? [];
  if (roles.includes(op.role)) return ok(tx);
  const revision = bumpAuthRevision(tx);
  putUserRecord(tx, { ...user, updatedAtMs: now, auth: { roles: [...roles, op.role].sort(), noPassword: user.auth?.noPassword ?? false, revision } });
  return ok(tx);
}

export function userRevokeRole(tx: Tx, op: AuthUserRevokeRoleRequest, now: number): CommandResult {
  if (authEnabledIn(tx) && op.name === ROOT && op.role === ROOT) return fail(tx, AUTH_ERR.invalidAuthMgmt);
  const user = userIn(tx, op.name);
  if (!user) return fail(tx, AUTH_ERR.userNotFound);
  const roles = user.auth?.roles ?? [];
  if (!roles.includes(op.role)) return fail(tx, AUTH_ERR.roleNotGranted);
  const revision = bumpAuthRevision(tx);
  putUserRecord(tx, { ...user, updatedAtMs: now, auth: { roles: roles.filter((r) => r !== op.role), noPassword: user.auth?.noPassword ?? false, revision } });
  return ok(tx);
}

export function roleAdd(tx: Tx, name: string): CommandResult {
  if (!name) return fail(tx, AUTH_ERR.roleEmpty);
  if (roleIn(tx, name)) return fail(tx, AUTH_ERR.roleAlreadyExist);
  const revision = bumpAuthRevision(tx);
  putRoleRecord(tx, { name, permissions: [], revision });
  return ok(tx);
}

/** Deletes the role and takes it from every user holding it (iterates the users: a promise). */
export async function roleDelete(tx: Tx, name: string, now: number): Promise<CommandResult> {
  if (authEnabledIn(tx) && name === ROOT) return fail(tx, AUTH_ERR.invalidAuthMgmt);
  if (!roleIn(tx, name)) return fail(tx, AUTH_ERR.roleNotFound);
  const revision = bumpAuthRevision(tx);
  tx.del('roles', utf8ToBin(name));
  for (const k of await tx.keysIn('users', '', undefined)) {
    const raw = tx.get('users', k);
    if (!raw) continue;
    const u = decodeMessage(User, raw);
    const roles = u.auth?.roles ?? [];
    if (!roles.includes(name)) continue;
    putUserRecord(tx, { ...u, updatedAtMs: now, auth: { roles: roles.filter((r) => r !== name), noPassword: u.auth?.noPassword ?? false, revision } });
  }
  return ok(tx);
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

export function roleGrantPermission(tx: Tx, op: AuthRoleGrantPermissionRequest): CommandResult {
  const role = roleIn(tx, op.name);
  if (!role) return fail(tx, AUTH_ERR.roleNotFound);
  const perm = op.perm ?? { permType: 0, key: Buffer.alloc(0), rangeEnd: Buffer.alloc(0) };
  const perms = role.permissions.filter((p) => !(sameBytes(p.key, perm.key) && sameBytes(p.rangeEnd, perm.rangeEnd)));
  perms.push({ permType: perm.permType, key: perm.key, rangeEnd: perm.rangeEnd });
  perms.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)));
  putRoleRecord(tx, { name: role.name, permissions: perms, revision: bumpAuthRevision(tx) });
  return ok(tx);
}

export function roleRevokePermission(tx: Tx, op: AuthRoleRevokePermissionRequest): CommandResult {
  const role = roleIn(tx, op.role);
  if (!role) return fail(tx, AUTH_ERR.roleNotFound);
  const perms = role.permissions.filter((p) => !(sameBytes(p.key, op.key) && sameBytes(p.rangeEnd, op.rangeEnd)));
  if (perms.length === role.permissions.length) return fail(tx, AUTH_ERR.permissionNotGranted);
  putRoleRecord(tx, { name: role.name, permissions: perms, revision: bumpAuthRevision(tx) });
  return ok(tx);
}

/** The whole auth state as of the last applied batch, for the checks a node makes per request. */
export interface AuthSnapshot {
  enabled: boolean;
  revision: number;
  users: ReadonlyMap<string, User>;
  roles: ReadonlyMap<string, AuthRole>;
}

export const EMPTY_AUTH: AuthSnapshot = Object.freeze({ enabled: false, revision: 0, users: new Map(), roles: new Map() });

export async function loadAuth(db: Db): Promise<AuthSnapshot> {
  const enabled = await db.get(rawKey('auth', ENABLED));
  const rev = await db.get(rawKey('auth', REVISION));
  const users = new Map<string, User>();
  for await (const v of db.values(rawBounds('users', '', undefined))) {
    const u = decodeMessage(User, v);
    users.set(u.name, u);
  }
  const roles = new Map<string, AuthRole>();
  for await (const v of db.values(rawBounds('roles', '', undefined))) {
    const r = decodeMessage(AuthRole, v);
    roles.set(r.name, r);
  }
  return { enabled: enabled !== undefined && enabled[0] === 1, revision: rev ? readU64(rev, 0) : 0, users, roles };
}

/**
 * Whether a token issued at auth revision `issuedAt` for `user` still stands: the user exists and
 * neither it nor any of its roles changed after the token was issued.
 */
export function tokenCurrent(auth: AuthSnapshot, user: string, issuedAt: number): boolean {
  const u = auth.users.get(user);
  if (!u) return false;
  if ((u.auth?.revision ?? 0) > issuedAt) return false;
  for (const r of u.auth?.roles ?? []) {
    const role = auth.roles.get(r);
    if (role && role.revision > issuedAt) return false;
  }
  return true;
}

/** The snapshot after a batch: `auth` with the batch's changes to users, roles and the flags (sync). */
export function patchAuth(auth: AuthSnapshot, overlay: ReadonlyMap<string, ReadonlyMap<string, Buffer | null>>): AuthSnapshot {
  const u = overlay.get('users');
  const r = overlay.get('roles');
  const a = overlay.get('auth');
  if (!u && !r && !a) return auth;
  const users = new Map(auth.users);
  const roles = new Map(auth.roles);
  for (const [k, v] of u ?? []) {
    const name = Buffer.from(k, 'latin1').toString('utf8');
    if (v === null) users.delete(name);
    else users.set(name, decodeMessage(User, v));
  }
  for (const [k, v] of r ?? []) {
    const name = Buffer.from(k, 'latin1').toString('utf8');
    if (v === null) roles.delete(name);
    else roles.set(name, decodeMessage(AuthRole, v));
  }
  const en = a?.get(ENABLED);
  const rev = a?.get(REVISION);
  return {
    enabled: en === undefined ? auth.enabled : en !== null && en[0] === 1,
    revision: rev ? readU64(rev, 0) : auth.revision,
    users,
    roles,
  };
}
