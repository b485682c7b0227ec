// The limits every replicated command obeys, whoever proposes it. The leader checks each command
// here right before proposing it (node.ts proposeLocal), so a forwarded command gets exactly the
// checks a client request gets, and followers check every entry they receive against the same
// rules (src/transport/validate.ts). A rule added here is therefore enforced on every path; a
// rule a client path does not also enforce must not be added (the leader would refuse what its
// own API accepted, never the reverse: followers cannot fall behind on an entry the leader took).
import type { Command } from '../../proto/gen/placement/v1/command.js';
import { validateKey, validateValue } from '../grpc/services.js';
import { configNameSchema, userNameSchema } from '../http/schemas.js';

export interface CommandLimits {
  maxKeyBytes: number;
  maxValueBytes: number;
  maxLeaseTtlMs: number;
}

/** As the admin API's body schema accepts them (src/http/schemas.ts). */
const MAX_PERMISSIONS = 1000;
/** One renewal batch (src/lease/renewals.ts cuts batches far below this). */
export const MAX_RENEW_IDS = 100_000;
/** scrypt hash and salt sizes are fixed by src/http/passwords.ts; anything near this is bogus. */
const MAX_SECRET_FIELD = 1024;

/** What is wrong with `cmd`, in the words a client would get, or null when it is within limits. */
export function commandProblem(cmd: Command, lim: CommandLimits): string | null {
  try {
    checkCommand(cmd, lim);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

function fail(message: string): never {
  throw new Error(message);
}

function checkCommand(cmd: Command, lim: CommandLimits): void {
  const op = cmd.op;
  if (!op) fail('command carries no operation');
  switch (op.$case) {
    case 'put':
      validateKey(op.value.key, lim.maxKeyBytes);
      validateValue(op.value.value, lim.maxValueBytes);
      return;
    case 'delete':
      validateKey(op.value.key, lim.maxKeyBytes);
      return;
    case 'cas': {
      validateKey(op.value.key, lim.maxKeyBytes);
      validateValue(op.value.value, lim.maxValueBytes);
      const expect = op.value.expect;
      if (!expect) fail('compare-and-swap needs one expectation: expected_mod_revision, expected_value or expect_absent');
      if (expect.$case === 'expectedValue') validateValue(expect.value, lim.maxValueBytes);
      if (expect.$case === 'expectAbsent' && !expect.value) fail('expect_absent must be true when set');
      return;
    }
    case 'leaseGrant':
      // 0 lets the applier pick the id.
      if (!(op.value.id >= 0 && op.value.id <= Number.MAX_SAFE_INTEGER)) fail(`lease id ${op.value.id} is outside 0..2^53-1`);
      if (!(op.value.ttlMs >= 1 && op.value.ttlMs <= lim.maxLeaseTtlMs)) {
        fail(`lease TTL ${op.value.ttlMs} ms is outside 1..${lim.maxLeaseTtlMs} ms (max-lease-ttl-ms)`);
      }
      return;
    case 'leaseRevoke':
    case 'leaseKeepAlive':
    case 'leaseExpire':
      if (op.value.id === 0) fail('lease id must be non-zero');
      return;
    case 'leaseRenew':
      if (op.value.ids.length > MAX_RENEW_IDS) fail(`at most ${MAX_RENEW_IDS} leases per renewal, got ${op.value.ids.length}`);
      if (op.value.ids.some((id) => id === 0)) fail('lease id must be non-zero');
      return;
    case 'leaseLimits':
      if (!(op.value.maxLeases >= 1 && op.value.maxKeysPerLease >= 1)) fail('lease limits must be at least 1');
      return;
    case 'userPut': {
      const u = op.value.user;
      if (!u) fail('user is missing');
      checkUserName(u.name);
      if (u.passwordHash.byteLength > MAX_SECRET_FIELD || u.salt.byteLength > MAX_SECRET_FIELD) fail('password hash or salt is oversized');
      if (u.permissions.length > MAX_PERMISSIONS) fail(`at most ${MAX_PERMISSIONS} permissions per user, got ${u.permissions.length}`);
      for (const p of u.permissions) {
        const n = Buffer.byteLength(p.prefix, 'utf8');
        if (n > lim.maxKeyBytes) fail(`permission prefix is ${n} bytes, over the limit of ${lim.maxKeyBytes} bytes (max-key-bytes)`);
      }
      return;
    }
    case 'userDelete':
      checkUserName(op.value.name);
      return;
    case 'configSet':
      checkConfigName(op.value.name);
      validateValue(op.value.value, lim.maxValueBytes);
      return;
    case 'configDelete':
      checkConfigName(op.value.name);
      return;
    case 'etcdPut':
    case 'etcdDeleteRange':
    case 'etcdTxn':
    case 'etcdCompaction':
      // etcd's own rules, no others: the etcd KV service checks them before proposing (with the
      // configured --max-txn-ops / --max-request-bytes) and the applier again on every replica
      // (storage/keyspace/validate.ts), answering etcd's errors.
      return;
    case 'authEnable':
    case 'authDisable':
    // Fixed-size fields; an unknown action or type is refused by the applier (storage/alarms).
    case 'etcdAlarm':
      return;
    case 'authUserAdd':
    case 'authUserChangePassword':
      checkAuthName(op.value.name, lim);
      if (op.value.passwordHash.byteLength > MAX_SECRET_FIELD || op.value.salt.byteLength > MAX_SECRET_FIELD) fail('password hash or salt is oversized');
      return;
    case 'authUserDelete':
    case 'authRoleAdd':
      checkAuthName(op.value.name, lim);
      return;
    case 'authUserGrantRole':
      checkAuthName(op.value.user, lim);
      checkAuthName(op.value.role, lim);
      return;
    case 'authUserRevokeRole':
      checkAuthName(op.value.name, lim);
      checkAuthName(op.value.role, lim);
      return;
    case 'authRoleDelete':
      checkAuthName(op.value.role, lim);
      return;
    case 'authRoleGrantPermission':
      // etcd's own rules (empty names, unknown roles) are answered by the applier (storage/auth).
      checkAuthName(op.value.name, lim);
      if (op.value.perm) checkRange(op.value.perm.key, op.value.perm.rangeEnd, lim);
      return;
    case 'authRoleRevokePermission':
      checkAuthName(op.value.role, lim);
      checkRange(op.value.key, op.value.rangeEnd, lim);
      return;
    default: {
      // A new operation must decide its limits here before it can be proposed at all.
      const unknown: never = op;
      fail(`unknown operation ${(unknown as { $case: string }).$case}`);
    }
  }
}

// Names follow the admin API's own schemas, so the two can never disagree.
function checkUserName(name: string): void {
  if (!userNameSchema.safeParse(name).success) fail(`user name "${name.slice(0, 64)}" is invalid: 1..128 letters, digits and _ . @ -`);
}

function checkConfigName(name: string): void {
  if (!configNameSchema.safeParse(name).success) fail(`config entry name "${name.slice(0, 64)}" is invalid: 1..256 letters, digits and _ . : / -`);
}

// etcd's auth names are free-form; only their size is bounded here (the applier answers etcd's
// "user name is empty" / "role name is empty").
function checkAuthName(name: string, lim: CommandLimits): void {
  const n = Buffer.byteLength(name, 'utf8');
  if (n > lim.maxKeyBytes) fail(`auth name is ${n} bytes, over the limit of ${lim.maxKeyBytes} bytes (max-key-bytes)`);
}

function checkRange(key: Uint8Array, rangeEnd: Uint8Array, lim: CommandLimits): void {
  if (key.byteLength > lim.maxKeyBytes || rangeEnd.byteLength > lim.maxKeyBytes) fail(`permission key is over the limit of ${lim.maxKeyBytes} bytes (max-key-bytes)`);
}
