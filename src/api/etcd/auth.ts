// etcdserverpb.Auth: users, roles, permissions, enabling auth and getting a token, wire-compatible
// with etcd 3.4. Changes are commands (storage/auth applies them with etcd's rules and messages);
// reads answer from the member's applied auth state. Who may call what is decided in
// src/auth/decisions.ts (everything but Authenticate needs root once auth is on).
import * as grpc from '@grpc/grpc-js';
import {
  AuthService,
  type AuthServer,
  type ResponseHeader,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { ResultCode, type Command, type CommandResult } from '../../../proto/gen/placement/v1/command.js';
import { AUTH_ERR, AuthError, codeOfAuthMessage } from '../../../storage/index.js';
import type { Authenticator } from '../../auth/authenticator.js';
import { hashPassword } from '../../http/passwords.js';
import { toServiceError } from '../../grpc/services.js';

export interface AuthServiceNode {
  propose(cmd: Command): Promise<CommandResult>;
  /** The etcd ResponseHeader of this member (ids, term, revision). */
  etcdHeader(): ResponseHeader;
}

type Op = NonNullable<Command['op']>;

function serviceError(err: unknown): grpc.ServiceError {
  if (err instanceof AuthError) {
    const se = new Error(err.message) as grpc.ServiceError;
    se.code = err.grpcCode;
    se.details = err.message;
    se.metadata = new grpc.Metadata();
    return se;
  }
  return toServiceError(err);
}

function unary<Req, Rep>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Rep>) => Promise<Rep>): grpc.handleUnaryCall<Req, Rep> {
  return (call, cb) => {
    fn(call.request, call).then(
      (rep) => cb(null, rep),
      (err: unknown) => cb(serviceError(err)),
    );
  };
}

export function authHandlers(node: AuthServiceNode, authn: Authenticator): AuthServer {
  const header = (): { header: ResponseHeader } => ({ header: node.etcdHeader() });
  /** Proposes an auth command; an etcd refusal comes back as etcd's error. */
  const run = async (op: Op): Promise<{ header: ResponseHeader }> => {
    const r = await node.propose({ clientId: '', seq: 0, leaderTimeMs: 0, op });
    if (r.code !== ResultCode.RESULT_OK) {
      if (codeOfAuthMessage(r.message) !== undefined) throw new AuthError(r.message);
      const se = new Error(r.message) as grpc.ServiceError;
      se.code = grpc.status.INVALID_ARGUMENT;
      se.details = r.message;
      throw se;
    }
    return header();
  };
  const userOf = (name: string) => {
    const u = authn.state.users.get(name);
    if (!u) throw new AuthError(AUTH_ERR.userNotFound);
    return u;
  };
  return {
    authEnable: unary(async () => run({ $case: 'authEnable', value: {} })),
    authDisable: unary(async () => run({ $case: 'authDisable', value: {} })),
    authenticate: unary(async (req, call) => {
      if (!authn.state.enabled) throw new AuthError(AUTH_ERR.authNotEnabled);
      const id = await authn.login(req.name, req.password, call.getPeer());
      if (id.error || id.user === null) throw id.error ?? new AuthError(AUTH_ERR.authFailed);
      return { ...header(), token: await authn.tokens.issue(id.user, authn.state.revision) };
    }),
    userAdd: unary(async (req) => {
      if (!req.name) throw new AuthError(AUTH_ERR.userEmpty);
      const noPassword = req.options?.noPassword ?? false;
      const { hash, salt } = noPassword ? { hash: Buffer.alloc(0), salt: Buffer.alloc(0) } : await hashPassword(req.password);
      return run({ $case: 'authUserAdd', value: { name: req.name, passwordHash: hash, salt, noPassword } });
    }),
    userGet: unary(async (req) => ({ ...header(), roles: [...(userOf(req.name).auth?.roles ?? [])] })),
    userList: unary(async () => ({ ...header(), users: [...authn.state.users.keys()].sort() })),
    userDelete: unary(async (req) => run({ $case: 'authUserDelete', value: { name: req.name } })),
    userChangePassword: unary(async (req) => {
      if (!req.name) throw new AuthError(AUTH_ERR.userEmpty);
      const { hash, salt } = await hashPassword(req.password);
      return run({ $case: 'authUserChangePassword', value: { name: req.name, passwordHash: hash, salt } });
    }),
    userGrantRole: unary(async (req) => run({ $case: 'authUserGrantRole', value: req })),
    userRevokeRole: unary(async (req) => run({ $case: 'authUserRevokeRole', value: req })),
    roleAdd: unary(async (req) => run({ $case: 'authRoleAdd', value: req })),
    roleGet: unary(async (req) => {
      const role = authn.state.roles.get(req.role);
      if (!role) throw new AuthError(AUTH_ERR.roleNotFound);
      return { ...header(), perm: role.permissions };
    }),
    roleList: unary(async () => ({ ...header(), roles: [...authn.state.roles.keys()].sort() })),
    roleDelete: unary(async (req) => run({ $case: 'authRoleDelete', value: req })),
    roleGrantPermission: unary(async (req) => run({ $case: 'authRoleGrantPermission', value: req })),
    roleRevokePermission: unary(async (req) => run({ $case: 'authRoleRevokePermission', value: req })),
  };
}

export function registerAuth(server: grpc.Server, node: AuthServiceNode, authn: Authenticator): void {
  server.addService(AuthService, authHandlers(node, authn));
}
