// Users (`users`: name → User). Changing a user changes no key: the keyspace revision stays.

import { ResultCode, User, type CommandResult, type UserDeleteOp, type UserPutOp } from '../../proto/gen/placement/v1/command.js';
import { decodeMessage, encodeMessage } from '../../proto/codec.js';
import { rawBounds, rawKey, type Db } from '../state-machine/layout.js';
import type { Tx } from '../state-machine/tx.js';
import { result } from '../state-machine/result.js';
import { utf8ToBin } from '../keyspace/keys.js';
import { authEnabledIn, bumpAuthRevision } from '../auth/store.js';
import { ROOT } from '../auth/perms.js';
import { AUTH_ERR } from '../auth/errors.js';

export function putUser(tx: Tx, op: UserPutOp, now: number): CommandResult {
  const { user, createOnly, updateOnly } = op;
  const invalid = (message: string): CommandResult => result(ResultCode.RESULT_INVALID, tx.revision, { message });
  if (!user || !user.name) return invalid('user without a name');
  if (createOnly && updateOnly) return invalid('create_only and update_only are exclusive');
  const k = utf8ToBin(user.name);
  const prevRaw = tx.get('users', k);
  if (createOnly && prevRaw) return result(ResultCode.RESULT_ALREADY_EXISTS, tx.revision, { message: `user ${user.name} exists` });
  if (updateOnly && !prevRaw) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `user ${user.name} not found` });
  const prev = prevRaw ? decodeMessage(User, prevRaw) : undefined;
  // The admin API's users are etcd's users (storage/auth): a change bumps the auth revision, so
  // tokens issued before it stop working; roles granted through the Auth API are kept.
  const revision = bumpAuthRevision(tx);
  const roles = user.auth?.roles ?? prev?.auth?.roles ?? [];
  const stored: User = { ...user, createdAtMs: prev ? prev.createdAtMs : now, updatedAtMs: now, auth: { roles, revision, noPassword: prev?.auth?.noPassword ?? false } };
  tx.put('users', k, encodeMessage(User, stored));
  return result(ResultCode.RESULT_OK, tx.revision);
}

export function deleteUser(tx: Tx, op: UserDeleteOp): CommandResult {
  const k = utf8ToBin(op.name);
  if (!tx.get('users', k)) return result(ResultCode.RESULT_NOT_FOUND, tx.revision, { message: `user ${op.name} not found` });
  if (op.name === ROOT && authEnabledIn(tx)) return result(ResultCode.RESULT_INVALID, tx.revision, { message: AUTH_ERR.invalidAuthMgmt });
  tx.del('users', k);
  bumpAuthRevision(tx);
  return result(ResultCode.RESULT_OK, tx.revision);
}

export async function getUser(db: Db, name: string): Promise<User | undefined> {
  const raw = await db.get(rawKey('users', utf8ToBin(name)));
  return raw ? decodeMessage(User, raw) : undefined;
}

export async function listUsers(db: Db): Promise<User[]> {
  const out: User[] = [];
  for await (const v of db.values(rawBounds('users', '', undefined))) out.push(decodeMessage(User, v));
  return out;
}
