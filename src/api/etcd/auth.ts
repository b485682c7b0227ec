// etcdserverpb.Auth: users, roles, permissions, enabling auth and getting a token, wire-compatible
// with etcd 3.4. Changes are commands (storage/auth applies them with etcd's rules and messages);
// reads answer from the member's applied auth state. Who may call what is decided in
// src/auth/decisions.ts (everything but Authenticate needs root once auth is on, except that a
// user may get itself and the roles it holds, as in etcd).
import * as grpc from '@grpc/grpc-js';
import type { Metrics } from '../../metrics/metrics.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import {
  AuthService,
  type AuthServer,
  type AuthenticateRequest,
  type AuthRoleAddRequest,
  type AuthRoleDeleteRequest,
  type AuthRoleGetRequest,
  type AuthRoleGrantPermissionRequest,
  type AuthRoleRevokePermissionRequest,
  type AuthUserAddRequest,
  type AuthUserChangePasswordRequest,
  type AuthUserDeleteRequest,
  type AuthUserGetRequest,
  type AuthUserGrantRoleRequest,
  type AuthUserRevokeRoleRequest,
  type ResponseHeader,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { ResultCode, type Command } from '../../../proto/gen/placement/v1/command.js';
import { AUTH_ERR, AuthError, codeOfAuthMessage } from '../../../storage/index.js';
import { ANONYMOUS_IDENTITY, type Authenticator } from '../../auth/authenticator.js';
import { callerOf, identityOf } from '../../auth/context.js';
import { hashPassword } from '../../http/passwords.js';
import { tolerant } from '../../grpc/malformed.js';
import { etcdUnary } from './call.js';
import { headerFiller } from './header.js';
import type { EtcdNode } from './node.js';

type Op = NonNullable<Command['op']>;

export function authHandlers(node: EtcdNode, authn: Authenticator): AuthServer {
  const fill = headerFiller(node);
  const header = (): { header: ResponseHeader } => ({ header: fill() });
  // The shared etcd call wrapper (call.ts): shutdown, deadline, malformed request, etcd's errors.
  const unary = <Req, Rep>(fn: (req: Req, deadline: number, call: grpc.ServerUnaryCall<unknown, Rep>) => Rep | Promise<Rep>): grpc.handleUnaryCall<Req, Rep> =>
    etcdUnary<Req, Rep>(node, fn) as unknown as grpc.handleUnaryCall<Req, Rep>;
  /** Proposes an auth command; an etcd refusal comes back as etcd's error. */
  const run = async (op: Op, deadline: number, call: object): Promise<{ header: ResponseHeader }> => {
    const r = await node.propose({ clientId: '', seq: 0, leaderTimeMs: 0, op }, deadline, callerOf(call));
    if (r.code !== ResultCode.RESULT_OK) {
      if (codeOfAuthMessage(r.message) !== undefined) throw new AuthError(r.message);
      const se = new Error(r.message) as grpc.ServiceError;
      se.code = grpc.status.INVALID_ARGUMENT;
      se.details = r.message;
      se.metadata = new grpc.Metadata();
      throw se;
    }
    return header();
  };
  /**
   * UserGet and RoleGet are open to any user (decisions.ts) and judged here, as etcd's applier
   * does: root may read anything, another user only what `own` allows (itself, its roles).
   */
  const mayRead = (call: object, own: (caller: string) => boolean): void => {
    if (!authn.state.enabled) return;
    const id = identityOf(call) ?? ANONYMOUS_IDENTITY;
    const refusal = authn.refusal(id, { kind: 'root' });
    if (refusal && !(id.user !== null && !id.error && own(id.user))) throw refusal;
  };
  const userOf = (name: string) => {
    const u = authn.state.users.get(name);
    if (!u) throw new AuthError(AUTH_ERR.userNotFound);
    return u;
  };
  return {
    authEnable: unary((_req, d, c) => run({ $case: 'authEnable', value: {} }, d, c)),
    authDisable: unary((_req, d, c) => run({ $case: 'authDisable', value: {} }, d, c)),
    authenticate: unary(async (req: AuthenticateRequest, _d, call) => {
      if (!authn.state.enabled) throw new AuthError(AUTH_ERR.authNotEnabled);
      const id = await authn.login(req.name, req.password, call.getPeer());
      if (id.error || id.user === null) throw id.error ?? new AuthError(AUTH_ERR.authFailed);
      return { ...header(), token: await authn.tokens.issue(id.user, authn.state.revision) };
    }),
    userAdd: unary(async (req: AuthUserAddRequest, d, c) => {
      if (!req.name) throw new AuthError(AUTH_ERR.userEmpty);
      const noPassword = req.options?.noPassword ?? false;
      const { hash, salt } = noPassword ? { hash: Buffer.alloc(0), salt: Buffer.alloc(0) } : await hashPassword(req.password);
      return run({ $case: 'authUserAdd', value: { name: req.name, passwordHash: hash, salt, noPassword } }, d, c);
    }),
    userGet: unary((req: AuthUserGetRequest, _d, c) => {
      // etcd 3.4: root, or a user asking about itself.
      mayRead(c, (caller) => caller === req.name);
      return { ...header(), roles: [...(userOf(req.name).auth?.roles ?? [])] };
    }),
    userList: unary(() => ({ ...header(), users: [...authn.state.users.keys()].sort() })),
    userDelete: unary((req: AuthUserDeleteRequest, d, c) => run({ $case: 'authUserDelete', value: { name: req.name } }, d, c)),
    userChangePassword: unary(async (req: AuthUserChangePasswordRequest, d, c) => {
      if (!req.name) throw new AuthError(AUTH_ERR.userEmpty);
      const { hash, salt } = await hashPassword(req.password);
      return run({ $case: 'authUserChangePassword', value: { name: req.name, passwordHash: hash, salt } }, d, c);
    }),
    userGrantRole: unary((req: AuthUserGrantRoleRequest, d, c) => run({ $case: 'authUserGrantRole', value: req }, d, c)),
    userRevokeRole: unary((req: AuthUserRevokeRoleRequest, d, c) => run({ $case: 'authUserRevokeRole', value: req }, d, c)),
    roleAdd: unary((req: AuthRoleAddRequest, d, c) => run({ $case: 'authRoleAdd', value: req }, d, c)),
    roleGet: unary((req: AuthRoleGetRequest, _d, c) => {
      // etcd 3.4: root, or a user holding the role.
      mayRead(c, (caller) => authn.state.users.get(caller)?.auth?.roles.includes(req.role) === true);
      const role = authn.state.roles.get(req.role);
      if (!role) throw new AuthError(AUTH_ERR.roleNotFound);
      return { ...header(), perm: role.permissions };
    }),
    roleList: unary(() => ({ ...header(), roles: [...authn.state.roles.keys()].sort() })),
    roleDelete: unary((req: AuthRoleDeleteRequest, d, c) => run({ $case: 'authRoleDelete', value: req }, d, c)),
    roleGrantPermission: unary((req: AuthRoleGrantPermissionRequest, d, c) => run({ $case: 'authRoleGrantPermission', value: req }, d, c)),
    roleRevokePermission: unary((req: AuthRoleRevokePermissionRequest, d, c) => run({ $case: 'authRoleRevokePermission', value: req }, d, c)),
  };
}

export function registerAuth(server: grpc.Server, node: EtcdNode, authn: Authenticator, metrics?: Metrics): void {
  // tolerant: a request that does not decode is answered INVALID_ARGUMENT by the handler.
  const handlers = authHandlers(node, authn);
  server.addService(tolerant(AuthService), metrics ? instrumentGrpcService('etcdserverpb.Auth', handlers, metrics, AuthService) : handlers);
}
