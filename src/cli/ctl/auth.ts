// placement-ctl auth|user|role: the etcd Auth service's administration with etcdctl 3.4's command
// shapes and output lines ("User alice created", "Role app updated", role get's "KV Read:" /
// "KV Write:" blocks…), so scripts written for etcdctl read ours the same way. Passwords come
// from `name:password`, --new-user-password, one word on stdin with --interactive=false, or a
// prompt (asked twice) on a terminal. --json prints one JSON object instead.
import type { Command } from 'commander';
import { permissionRange, prefixEnd, type PermissionType, type RolePermission } from '../../client/index.js';
import { PlacementClientError } from '../../client/index.js';
import { printJson, println } from './output.js';
import { UsageError, withClient } from './program.js';
import { readPassword, readWord } from './password.js';

const ROOT_ROLE_MISSING = 'etcdserver: root user does not have root role';

/** etcd's printable form of a permission range (etcdctl's role get). */
function rangeText(p: RolePermission): string {
  const key = p.key.toString('utf8');
  if (p.rangeEnd.length === 0) return `\t${key}`;
  const end = p.rangeEnd.toString('utf8');
  let s = end !== '\u0000' ? `\t[${key}, ${end})` : `\t[${key}, <open ended>`;
  if (Buffer.from(prefixEnd(p.key)).equals(p.rangeEnd)) s += ` (prefix ${key})`;
  return s;
}

function printRole(role: string, perms: RolePermission[]): void {
  println(`Role ${role}`);
  println('KV Read:');
  for (const p of perms) if (p.type === 'read' || p.type === 'readwrite') println(rangeText(p));
  println('KV Write:');
  for (const p of perms) if (p.type === 'write' || p.type === 'readwrite') println(rangeText(p));
}

function permJson(p: RolePermission): Record<string, unknown> {
  return { type: p.type, key: p.key.toString('utf8'), rangeEnd: p.rangeEnd.toString('utf8') };
}

const PERM_TYPES: Record<string, PermissionType> = { READ: 'read', WRITE: 'write', READWRITE: 'readwrite' };

/** etcdctl's StrToPermissionType: read, write, readwrite in any case. */
function permType(raw: string): PermissionType {
  const t = PERM_TYPES[raw.toUpperCase()];
  if (!t) throw new UsageError(`invalid permission type: ${raw}`);
  return t;
}

/** etcdctl's permRange flags: at most one of an end key, --prefix and --from-key. */
function rangeFlags(args: string[], o: { prefix?: boolean; fromKey?: boolean }): { key: string; rangeEnd?: string; prefix: boolean; fromKey: boolean } {
  if (o.prefix && o.fromKey) throw new UsageError('--from-key and --prefix flags are mutually exclusive');
  const [key, end] = args as [string, string | undefined];
  if (end !== undefined && (o.prefix || o.fromKey)) throw new UsageError(`too many arguments, only accept one argument when \`--${o.prefix ? 'prefix' : 'from-key'}\` is set.`);
  return { key, ...(end !== undefined ? { rangeEnd: end } : {}), prefix: o.prefix === true, fromKey: o.fromKey === true };
}

/** What revoke-permission prints for the range it revoked (etcdctl: the end as sent). */
function revokedText(role: string, key: string, rangeEnd: Buffer): string {
  if (rangeEnd.length === 0) return `Permission of key ${key} is revoked from role ${role}`;
  const end = rangeEnd.toString('utf8');
  if (end !== '\u0000') return `Permission of range [${key}, ${end}) is revoked from role ${role}`;
  return `Permission of range [${key}, <open ended> is revoked from role ${role}`;
}

export function registerAuth(program: Command): void {
  // ---------------------------------------------------------------- auth
  const auth = program.command('auth').description('turn authentication on or off (etcd Auth API; needs root once on)');
  auth
    .command('enable')
    .description('enable authentication (the root user must exist; it is given the root role if it lacks it, as etcdctl does)')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        for (;;) {
          try {
            await client.authAdmin.enable();
            break;
          } catch (err) {
            if (!(err instanceof PlacementClientError) || err.message !== ROOT_ROLE_MISSING) throw err;
            // etcdctl's recovery: create the root role (it may exist) and grant it to root.
            await client.authAdmin.roleAdd('root').catch((e: unknown) => {
              if (!(e instanceof PlacementClientError && /role name already exists/.test(e.message))) throw e;
            });
            await client.authAdmin.userGrantRole('root', 'root');
          }
        }
        if (g.json) printJson({ enabled: true });
        else println('Authentication Enabled');
      });
    });
  auth
    .command('disable')
    .description('disable authentication')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.disable();
        if (g.json) printJson({ enabled: false });
        else println('Authentication Disabled');
      });
    });

  // ---------------------------------------------------------------- user
  const user = program.command('user').description('users of the etcd Auth API (add, delete, get, list, passwd, grant-role, revoke-role)');
  user
    .command('add')
    .description('add a user; the password from <name:password>, --new-user-password, stdin (--interactive=false) or a prompt')
    .argument('<user>', 'user name, or name:password')
    .option('--interactive', 'read the password from the terminal (the default)')
    .option('--no-interactive', 'read the password as one word from stdin')
    .option('--new-user-password <password>', 'the password, from the command line')
    .option('--no-password', 'a user without a password (named only by a client certificate CN)')
    .action(async (arg: string, o: { interactive?: boolean; newUserPassword?: string; password?: boolean }, cmd: Command) => {
      let name = arg;
      let password = '';
      const noPassword = o.password === false;
      if (!noPassword) {
        if (o.newUserPassword !== undefined && o.newUserPassword !== '') password = o.newUserPassword;
        else {
          const i = arg.indexOf(':');
          if (i >= 0) {
            name = arg.slice(0, i);
            password = arg.slice(i + 1);
            if (name === '') throw new UsageError('empty user name is not allowed');
          } else password = o.interactive === false ? await readWord() : await readPassword(name, true);
        }
      }
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.userAdd(name, password, { noPassword });
        if (g.json) printJson({ user: name, created: true });
        else println(`User ${name} created`);
      });
    });
  user
    .command('delete')
    .description('delete a user')
    .argument('<user>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.userDelete(name);
        if (g.json) printJson({ user: name, deleted: true });
        else println(`User ${name} deleted`);
      });
    });
  user
    .command('get')
    .description("a user's roles (--detail: each role's permissions)")
    .argument('<user>')
    .option('--detail', "show the permissions of the user's roles")
    .action(async (name: string, o: { detail?: boolean }, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const roles = await client.authAdmin.userGet(name);
        if (g.json) {
          const detail = o.detail ? await Promise.all(roles.map(async (r) => ({ role: r, permissions: (await client.authAdmin.roleGet(r)).map(permJson) }))) : undefined;
          printJson({ user: name, roles, ...(detail ? { detail } : {}) });
          return;
        }
        if (o.detail) {
          println(`User: ${name}`);
          for (const r of roles) {
            println();
            printRole(r, await client.authAdmin.roleGet(r));
          }
          return;
        }
        println(`User: ${name}`);
        println(`Roles:${roles.map((r) => ` ${r}`).join('')}`);
      });
    });
  user
    .command('list')
    .description('every user')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const users = await client.authAdmin.userList();
        if (g.json) printJson({ users });
        else for (const u of users) println(u);
      });
    });
  user
    .command('passwd')
    .description("change a user's password (from stdin with --interactive=false, else a prompt)")
    .argument('<user>')
    .option('--interactive', 'read the password from the terminal (the default)')
    .option('--no-interactive', 'read the password as one word from stdin')
    .action(async (name: string, o: { interactive?: boolean }, cmd: Command) => {
      const password = o.interactive === false ? await readWord() : await readPassword(name, true);
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.userChangePassword(name, password);
        if (g.json) printJson({ user: name, passwordUpdated: true });
        else println('Password updated');
      });
    });
  user
    .command('grant-role')
    .description('grant a role to a user')
    .argument('<user>')
    .argument('<role>')
    .action(async (name: string, role: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.userGrantRole(name, role);
        if (g.json) printJson({ user: name, role, granted: true });
        else println(`Role ${role} is granted to user ${name}`);
      });
    });
  user
    .command('revoke-role')
    .description('revoke a role from a user')
    .argument('<user>')
    .argument('<role>')
    .action(async (name: string, role: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.userRevokeRole(name, role);
        if (g.json) printJson({ user: name, role, revoked: true });
        else println(`Role ${role} is revoked from user ${name}`);
      });
    });

  // ---------------------------------------------------------------- role
  const role = program.command('role').description('roles of the etcd Auth API and their key permissions');
  role
    .command('add')
    .description('add a role')
    .argument('<role>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.roleAdd(name);
        if (g.json) printJson({ role: name, created: true });
        else println(`Role ${name} created`);
      });
    });
  role
    .command('delete')
    .description('delete a role (and take it from every user)')
    .argument('<role>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.roleDelete(name);
        if (g.json) printJson({ role: name, deleted: true });
        else println(`Role ${name} deleted`);
      });
    });
  role
    .command('get')
    .description("a role's permissions (KV Read / KV Write)")
    .argument('<role>')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const perms = await client.authAdmin.roleGet(name);
        if (g.json) printJson({ role: name, permissions: perms.map(permJson) });
        else printRole(name, perms);
      });
    });
  role
    .command('list')
    .description('every role')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, g) => {
        const roles = await client.authAdmin.roleList();
        if (g.json) printJson({ roles });
        else for (const r of roles) println(r);
      });
    });
  role
    .command('grant-permission')
    .description('grant a role read, write or readwrite on a key, a range [key, endkey), a prefix or every key from key on')
    .argument('<role>')
    .argument('<type>', 'read, write or readwrite')
    .argument('<key>')
    .argument('[endkey]')
    .option('--prefix', 'a prefix permission')
    .option('--from-key', 'every key greater than or equal to <key> (byte order)')
    .action(async (name: string, type: string, key: string, end: string | undefined, o: { prefix?: boolean; fromKey?: boolean }, cmd: Command) => {
      const t = permType(type);
      const range = rangeFlags(end === undefined ? [key] : [key, end], o);
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.roleGrantPermission(name, { type: t, ...range });
        if (g.json) printJson({ role: name, granted: true });
        else println(`Role ${name} updated`);
      });
    });
  role
    .command('revoke-permission')
    .description('revoke the permission of a role on a key, a range, a prefix or every key from key on')
    .argument('<role>')
    .argument('<key>')
    .argument('[endkey]')
    .option('--prefix', 'a prefix permission')
    .option('--from-key', 'every key greater than or equal to <key> (byte order)')
    .action(async (name: string, key: string, end: string | undefined, o: { prefix?: boolean; fromKey?: boolean }, cmd: Command) => {
      const range = rangeFlags(end === undefined ? [key] : [key, end], o);
      await withClient(cmd, async (client, g) => {
        await client.authAdmin.roleRevokePermission(name, range);
        if (g.json) printJson({ role: name, key, revoked: true });
        else println(revokedText(name, key, permissionRange(range).rangeEnd));
      });
    });
}

