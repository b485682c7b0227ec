// storage/auth through the state machine: etcd's rules and messages, the auth revision, the
// apply-time re-check of a command's caller, and users made by the admin API (an existing data
// directory's users) keeping their passwords and per-prefix permissions in the same model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateMachine, AUTH_ERR, permitted, commandNeed, tokenCurrent } from '../../storage/index.js';
import { Command, ResultCode, type CommandResult } from '../../proto/gen/placement/v1/command.js';
import { Permission_Type } from '../../proto/gen/etcd/authpb/auth.js';

type Op = NonNullable<Command['op']>;

async function withSm(fn: (apply: (op: Op, caller?: Command['caller'], client?: { clientId: string; seq: number }) => Promise<CommandResult>, sm: StateMachine) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'auth-store-'));
  const sm = await StateMachine.open(dir);
  let index = 0;
  const apply = async (op: Op, caller?: Command['caller'], client?: { clientId: string; seq: number }): Promise<CommandResult> => {
    index++;
    const data = Command.encode(Command.fromPartial({ leaderTimeMs: 1000 + index, op, caller, ...client })).finish();
    const [r] = await sm.apply([{ index, term: 1, data }]);
    return r!;
  };
  try {
    await fn(apply, sm);
  } finally {
    await sm.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const hash = { passwordHash: Buffer.alloc(64, 1), salt: Buffer.alloc(16, 2) };
const b = (s: string): Buffer => Buffer.from(s);

test('etcd rules: root must exist with the root role; roles and grants; every change bumps the auth revision', async () => {
  await withSm(async (apply, sm) => {
    assert.equal((await apply({ $case: 'authEnable', value: {} })).message, AUTH_ERR.rootUserNotExist);
    assert.equal((await apply({ $case: 'authUserAdd', value: { name: 'root', ...hash, noPassword: false } })).code, ResultCode.RESULT_OK);
    assert.equal((await apply({ $case: 'authEnable', value: {} })).message, AUTH_ERR.rootRoleNotExist);
    assert.equal((await apply({ $case: 'authUserAdd', value: { name: '', ...hash, noPassword: false } })).message, AUTH_ERR.userEmpty);
    assert.equal((await apply({ $case: 'authUserAdd', value: { name: 'root', ...hash, noPassword: false } })).message, AUTH_ERR.userAlreadyExist);
    assert.equal((await apply({ $case: 'authUserGrantRole', value: { user: 'root', role: 'root' } })).code, ResultCode.RESULT_OK);
    assert.equal((await apply({ $case: 'authUserGrantRole', value: { user: 'root', role: 'nosuch' } })).message, AUTH_ERR.roleNotFound);
    const before = sm.auth.revision;
    assert.equal((await apply({ $case: 'authEnable', value: {} })).code, ResultCode.RESULT_OK);
    assert.equal(sm.auth.enabled, true);
    assert.equal(sm.auth.revision, before + 1);
    assert.equal((await apply({ $case: 'authUserDelete', value: { name: 'root' } })).message, AUTH_ERR.invalidAuthMgmt);
    assert.equal((await apply({ $case: 'authUserRevokeRole', value: { name: 'root', role: 'root' } })).message, AUTH_ERR.invalidAuthMgmt);
    await apply({ $case: 'authRoleAdd', value: { name: 'r' } });
    assert.equal((await apply({ $case: 'authRoleAdd', value: { name: 'r' } })).message, AUTH_ERR.roleAlreadyExist);
    await apply({ $case: 'authRoleGrantPermission', value: { name: 'r', perm: { permType: Permission_Type.READWRITE, key: b('/a/'), rangeEnd: b('/a0') } } });
    await apply({ $case: 'authUserAdd', value: { name: 'u', ...hash, noPassword: false } });
    await apply({ $case: 'authUserGrantRole', value: { user: 'u', role: 'r' } });
    const u = sm.auth.users.get('u');
    const need = (key: string) => commandNeed(Command.fromPartial({ op: { $case: 'etcdPut', value: { key: b(key), value: b('v') } } }));
    assert.equal(permitted(u, need('/a/x'), (n) => sm.auth.roles.get(n)), true);
    assert.equal(permitted(u, need('/b/x'), (n) => sm.auth.roles.get(n)), false);
    const issued = sm.auth.revision;
    assert.equal(tokenCurrent(sm.auth, 'u', issued), true);
    assert.equal((await apply({ $case: 'authRoleRevokePermission', value: { role: 'r', key: b('/zzz'), rangeEnd: Buffer.alloc(0) } })).message, AUTH_ERR.permissionNotGranted);
    await apply({ $case: 'authRoleRevokePermission', value: { role: 'r', key: b('/a/'), rangeEnd: b('/a0') } });
    assert.equal(tokenCurrent(sm.auth, 'u', issued), false, 'a token from before the role changed no longer stands');
    await apply({ $case: 'authDisable', value: {} });
    await apply({ $case: 'authRoleDelete', value: { role: 'r' } });
    assert.deepEqual(sm.auth.users.get('u')!.auth!.roles, [], 'a deleted role is taken from its users');
  });
});

test('apply-time re-check: a write checked before a revoke is refused on apply; the cluster\'s own commands are not checked', async () => {
  await withSm(async (apply, sm) => {
    await apply({ $case: 'authUserAdd', value: { name: 'root', ...hash, noPassword: false } });
    await apply({ $case: 'authUserGrantRole', value: { user: 'root', role: 'root' } });
    await apply({ $case: 'authRoleAdd', value: { name: 'w' } });
    await apply({ $case: 'authRoleGrantPermission', value: { name: 'w', perm: { permType: Permission_Type.WRITE, key: b('k'), rangeEnd: Buffer.alloc(0) } } });
    await apply({ $case: 'authUserAdd', value: { name: 'u', ...hash, noPassword: false } });
    await apply({ $case: 'authUserGrantRole', value: { user: 'u', role: 'w' } });
    await apply({ $case: 'authEnable', value: {} });
    const checkedAt = sm.auth.revision;
    const put: Op = { $case: 'etcdPut', value: { key: b('k'), value: b('v'), lease: 0, prevKv: false, ignoreValue: false, ignoreLease: false } };
    assert.equal((await apply(put, { user: 'u', authRevision: checkedAt })).code, ResultCode.RESULT_OK);
    await apply({ $case: 'authRoleRevokePermission', value: { role: 'w', key: b('k'), rangeEnd: Buffer.alloc(0) } });
    const late = await apply(put, { user: 'u', authRevision: checkedAt });
    assert.equal(late.message, AUTH_ERR.permissionDenied);
    assert.equal(sm.revision, 2, 'the refused put wrote nothing');
    assert.equal((await apply(put, { user: '', authRevision: checkedAt - 1 })).message, AUTH_ERR.userEmpty);
    assert.equal((await apply(put, { user: 'root', authRevision: checkedAt })).code, ResultCode.RESULT_OK);
    assert.equal((await apply(put)).code, ResultCode.RESULT_OK, 'no caller: the cluster itself');
  });
});

test('an admin-API user (an existing data directory\'s) keeps its password and per-prefix permissions in the auth model', async () => {
  await withSm(async (apply, sm) => {
    // As an older version stored it: no auth record, permissions on prefixes.
    await apply({ $case: 'userPut', value: { user: { name: 'broker', ...hash, permissions: [{ prefix: '/brokers/', read: true, write: true }, { prefix: '/cfg/', read: true, write: false }], createdAtMs: 0, updatedAtMs: 0 }, createOnly: true, updateOnly: false } });
    const u = sm.auth.users.get('broker')!;
    assert.deepEqual(Buffer.from(u.passwordHash), hash.passwordHash);
    const need = (key: string, write: boolean) =>
      commandNeed(Command.fromPartial({ op: write ? { $case: 'put', value: { key, value: b('v') } } : { $case: 'etcdDeleteRange', value: { key: b(key), rangeEnd: Buffer.alloc(0), prevKv: true } } }));
    const roleOf = (n: string) => sm.auth.roles.get(n);
    assert.equal(permitted(u, need('/brokers/1', true), roleOf), true);
    assert.equal(permitted(u, need('/cfg/x', true), roleOf), false, 'read-only prefix');
    assert.equal(permitted(u, need('/other', true), roleOf), false);
    // Roles granted through the Auth API add to them, and survive an admin-API update.
    await apply({ $case: 'authRoleAdd', value: { name: 'cfgw' } });
    await apply({ $case: 'authRoleGrantPermission', value: { name: 'cfgw', perm: { permType: Permission_Type.WRITE, key: b('/cfg/'), rangeEnd: b('/cfg0') } } });
    await apply({ $case: 'authUserGrantRole', value: { user: 'broker', role: 'cfgw' } });
    await apply({ $case: 'userPut', value: { user: { ...sm.auth.users.get('broker')!, auth: undefined }, createOnly: false, updateOnly: true } });
    assert.deepEqual(sm.auth.users.get('broker')!.auth!.roles, ['cfgw']);
    assert.equal(permitted(sm.auth.users.get('broker'), need('/cfg/x', true), roleOf), true);
  });
});

test('a retried write whose caller was checked at another auth revision is the same request for de-duplication', async () => {
  await withSm(async (apply, sm) => {
    const put: Op = { $case: 'put', value: { key: 'k', value: b('v'), lease: 0, prevKv: false } };
    const first = await apply(put, { user: '', authRevision: 0 }, { clientId: 'c1', seq: 1 });
    assert.equal(first.code, ResultCode.RESULT_OK);
    await apply({ $case: 'authRoleAdd', value: { name: 'r' } }); // the auth revision moves
    const retry = await apply(put, { user: '', authRevision: sm.auth.revision }, { clientId: 'c1', seq: 1 });
    assert.equal(retry.code, ResultCode.RESULT_OK, retry.message);
    assert.equal(retry.revision, first.revision, 'the stored result, not a second write');
    assert.equal(sm.revision, first.revision);
  });
});

test('LeaseRevoke needs write on every key attached to the lease, checked at apply time; a refusal deletes nothing', async () => {
  await withSm(async (apply, sm) => {
    await apply({ $case: 'authUserAdd', value: { name: 'root', ...hash, noPassword: false } });
    await apply({ $case: 'authUserGrantRole', value: { user: 'root', role: 'root' } });
    await apply({ $case: 'authRoleAdd', value: { name: 'w' } });
    await apply({ $case: 'authRoleGrantPermission', value: { name: 'w', perm: { permType: Permission_Type.WRITE, key: b('/a/'), rangeEnd: b('/a0') } } });
    await apply({ $case: 'authUserAdd', value: { name: 'u', ...hash, noPassword: false } });
    await apply({ $case: 'authUserGrantRole', value: { user: 'u', role: 'w' } });
    await apply({ $case: 'authEnable', value: {} });
    const rev = sm.auth.revision;
    const grant = (id: number): Op => ({ $case: 'leaseGrant', value: { id, ttlMs: 60_000 } }) as Op;
    const put = (key: string, lease: number): Op => ({ $case: 'etcdPut', value: { key: b(key), value: b('v'), lease, prevKv: false, ignoreValue: false, ignoreLease: false } });
    const revoke = (id: number): Op => ({ $case: 'leaseRevoke', value: { id } });
    assert.equal((await apply(grant(7))).code, ResultCode.RESULT_OK);
    assert.equal((await apply(grant(8))).code, ResultCode.RESULT_OK);
    await apply(put('/a/x', 7));
    await apply(put('/b/x', 7));
    await apply(put('/a/y', 8));
    const before = sm.revision;
    // Checked at the current auth revision, so only the lease rule can refuse it.
    const refused = await apply(revoke(7), { user: 'u', authRevision: rev });
    assert.equal(refused.message, AUTH_ERR.permissionDenied);
    assert.equal(sm.revision, before, 'nothing deleted');
    assert.equal((await apply(revoke(7), { user: '', authRevision: rev })).message, AUTH_ERR.userEmpty);
    assert.equal((await apply(revoke(8), { user: 'u', authRevision: rev })).code, ResultCode.RESULT_OK, 'write on every attached key');
    assert.equal(sm.revision, before + 1);
    assert.equal((await apply(revoke(7), { user: 'root', authRevision: rev })).code, ResultCode.RESULT_OK, 'root');
    // The cluster's own revoke (no caller) and any revoke with auth off are not checked.
    await apply(grant(9));
    await apply(put('/b/z', 9));
    assert.equal((await apply(revoke(9))).code, ResultCode.RESULT_OK);
  });
});
