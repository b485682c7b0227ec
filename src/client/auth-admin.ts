// The SDK's side of the etcd Auth service's administration (etcdserverpb.Auth): turning auth on
// and off, users, roles and their key permissions. `client.authAdmin.*`, with the client's
// endpoints, TLS and token; changes are etcd writes the server cannot de-duplicate, so they are
// retried on another member only when the attempt certainly never reached a server.
//
//   await client.authAdmin.userAdd('root', 'secret');
//   await client.authAdmin.roleGrantPermission('app', { type: 'readwrite', key: '/app/', prefix: true });
//   await client.authAdmin.enable();
import type * as grpc from '@grpc/grpc-js';
import { Permission_Type } from '../../proto/gen/etcd/authpb/auth.js';
import { InvalidArgumentError } from './errors.js';
import { prefixEnd } from './etcd-kv.js';
import type { CallOptions } from './types.js';

export type PermissionType = 'read' | 'write' | 'readwrite';

/** A key permission: one key, a range [key, rangeEnd), a prefix, or every key from `key` on. */
export interface PermissionSpec {
  type: PermissionType;
  key: string | Uint8Array;
  /** The end of a range (exclusive); "\0" means every key from `key` on. Excludes prefix/fromKey. */
  rangeEnd?: string | Uint8Array;
  prefix?: boolean;
  fromKey?: boolean;
}

/** A permission as the server holds it. */
export interface RolePermission {
  type: PermissionType;
  key: Buffer;
  /** Empty: the single key; "\0": every key from `key` on; otherwise [key, rangeEnd). */
  rangeEnd: Buffer;
}

/** How the client calls one Auth method (client.ts binds it to its retry loop). */
export type AuthInvoke = <Res>(method: AuthMethod, req: unknown, mutation: boolean, options: CallOptions) => Promise<Res>;

export type AuthMethod =
  | 'authEnable' | 'authDisable'
  | 'userAdd' | 'userGet' | 'userList' | 'userDelete' | 'userChangePassword' | 'userGrantRole' | 'userRevokeRole'
  | 'roleAdd' | 'roleGet' | 'roleList' | 'roleDelete' | 'roleGrantPermission' | 'roleRevokePermission';

const TYPES: Record<PermissionType, Permission_Type> = { read: Permission_Type.READ, write: Permission_Type.WRITE, readwrite: Permission_Type.READWRITE };
const NAMES = new Map<number, PermissionType>(Object.entries(TYPES).map(([k, v]) => [v, k as PermissionType]));
const bytes = (b: string | Uint8Array): Buffer => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b));

/**
 * etcd's key and range end of a permission (etcdctl's permRange): an empty key with --prefix or
 * --from-key is every key ("\0", "\0"); an empty key alone is the key "\0".
 */
export function permissionRange(p: Pick<PermissionSpec, 'key' | 'rangeEnd' | 'prefix' | 'fromKey'>): { key: Buffer; rangeEnd: Buffer } {
  if ([p.rangeEnd !== undefined, p.prefix === true, p.fromKey === true].filter(Boolean).length > 1) {
    throw new InvalidArgumentError('give at most one of rangeEnd, prefix and fromKey');
  }
  const key = bytes(p.key);
  if (key.length === 0) return { key: Buffer.from([0]), rangeEnd: p.prefix || p.fromKey ? Buffer.from([0]) : Buffer.alloc(0) };
  if (p.prefix) return { key, rangeEnd: prefixEnd(key) };
  if (p.fromKey) return { key, rangeEnd: Buffer.from([0]) };
  return { key, rangeEnd: p.rangeEnd === undefined ? Buffer.alloc(0) : bytes(p.rangeEnd) };
}

export class AuthAdminApi {
  constructor(private readonly invoke: AuthInvoke) {}

  private write<Res>(method: AuthMethod, req: unknown, options: CallOptions): Promise<Res> {
    return this.invoke<Res>(method, req, true, options);
  }

  async enable(options: CallOptions = {}): Promise<void> {
    await this.write('authEnable', {}, options);
  }

  async disable(options: CallOptions = {}): Promise<void> {
    await this.write('authDisable', {}, options);
  }

  /** `noPassword`: a user that can only be named by a client certificate's CN. */
  async userAdd(name: string, password: string, opts: { noPassword?: boolean } & CallOptions = {}): Promise<void> {
    await this.write('userAdd', { name, password, options: { noPassword: opts.noPassword ?? false } }, opts);
  }

  /** The user's roles. */
  async userGet(name: string, options: CallOptions = {}): Promise<string[]> {
    return (await this.invoke<{ roles: string[] }>('userGet', { name }, false, options)).roles;
  }

  async userList(options: CallOptions = {}): Promise<string[]> {
    return (await this.invoke<{ users: string[] }>('userList', {}, false, options)).users;
  }

  async userDelete(name: string, options: CallOptions = {}): Promise<void> {
    await this.write('userDelete', { name }, options);
  }

  async userChangePassword(name: string, password: string, options: CallOptions = {}): Promise<void> {
    await this.write('userChangePassword', { name, password }, options);
  }

  async userGrantRole(user: string, role: string, options: CallOptions = {}): Promise<void> {
    await this.write('userGrantRole', { user, role }, options);
  }

  async userRevokeRole(user: string, role: string, options: CallOptions = {}): Promise<void> {
    await this.write('userRevokeRole', { name: user, role }, options);
  }

  async roleAdd(name: string, options: CallOptions = {}): Promise<void> {
    await this.write('roleAdd', { name }, options);
  }

  /** The role's permissions, in the server's order. */
  async roleGet(role: string, options: CallOptions = {}): Promise<RolePermission[]> {
    const r = await this.invoke<{ perm: Array<{ permType: number; key: Uint8Array; rangeEnd: Uint8Array }> }>('roleGet', { role }, false, options);
    return r.perm.map((p) => ({ type: NAMES.get(p.permType) ?? 'read', key: Buffer.from(p.key), rangeEnd: Buffer.from(p.rangeEnd) }));
  }

  async roleList(options: CallOptions = {}): Promise<string[]> {
    return (await this.invoke<{ roles: string[] }>('roleList', {}, false, options)).roles;
  }

  async roleDelete(role: string, options: CallOptions = {}): Promise<void> {
    await this.write('roleDelete', { role }, options);
  }

  async roleGrantPermission(role: string, perm: PermissionSpec, options: CallOptions = {}): Promise<void> {
    const type = TYPES[perm.type];
    if (type === undefined) throw new InvalidArgumentError(`permission type must be read, write or readwrite, got ${String(perm.type)}`);
    const { key, rangeEnd } = permissionRange(perm);
    await this.write('roleGrantPermission', { name: role, perm: { permType: type, key, rangeEnd } }, options);
  }

  async roleRevokePermission(role: string, range: Omit<PermissionSpec, 'type'>, options: CallOptions = {}): Promise<void> {
    const { key, rangeEnd } = permissionRange(range);
    await this.write('roleRevokePermission', { role, key, rangeEnd }, options);
  }
}

/** A generated Auth stub's unary method, called with the client's metadata and deadline. */
export type AuthUnary = (req: unknown, md: grpc.Metadata, o: Partial<grpc.CallOptions>, cb: (e: grpc.ServiceError | null, r: unknown) => void) => grpc.ClientUnaryCall;
