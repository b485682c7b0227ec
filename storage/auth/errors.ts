// etcd 3.4's auth errors: the message every etcd client shows (etcdctl prints it as is) and the
// gRPC code it travels with. An applied auth command that fails carries the message in its
// CommandResult; the Auth service maps it back to the code (codeOfAuthMessage).

/** gRPC status codes used here (numbers, so storage needs no gRPC import). */
export const AUTH_CODE = { INVALID_ARGUMENT: 3, PERMISSION_DENIED: 7, FAILED_PRECONDITION: 9, UNAUTHENTICATED: 16 } as const;

export const AUTH_ERR = {
  rootUserNotExist: 'etcdserver: root user does not exist',
  rootRoleNotExist: 'etcdserver: root user does not have root role',
  userAlreadyExist: 'etcdserver: user name already exists',
  userEmpty: 'etcdserver: user name is empty',
  userNotFound: 'etcdserver: user name not found',
  roleAlreadyExist: 'etcdserver: role name already exists',
  roleNotFound: 'etcdserver: role name not found',
  roleEmpty: 'etcdserver: role name is empty',
  authFailed: 'etcdserver: authentication failed, invalid user ID or password',
  permissionDenied: 'etcdserver: permission denied',
  roleNotGranted: 'etcdserver: role is not granted to the user',
  permissionNotGranted: 'etcdserver: permission is not granted to the role',
  authNotEnabled: 'etcdserver: authentication is not enabled',
  invalidAuthToken: 'etcdserver: invalid auth token',
  invalidAuthMgmt: 'etcdserver: invalid auth management',
} as const;

const CODES = new Map<string, number>([
  [AUTH_ERR.rootUserNotExist, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.rootRoleNotExist, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.userAlreadyExist, AUTH_CODE.FAILED_PRECONDITION],
  // etcd answers INVALID_ARGUMENT; an anonymous caller where auth is on is UNAUTHENTICATED here
  // (same message, so etcd clients print the same thing).
  [AUTH_ERR.userEmpty, AUTH_CODE.UNAUTHENTICATED],
  [AUTH_ERR.userNotFound, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.roleAlreadyExist, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.roleNotFound, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.roleEmpty, AUTH_CODE.INVALID_ARGUMENT],
  [AUTH_ERR.authFailed, AUTH_CODE.INVALID_ARGUMENT],
  [AUTH_ERR.permissionDenied, AUTH_CODE.PERMISSION_DENIED],
  [AUTH_ERR.roleNotGranted, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.permissionNotGranted, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.authNotEnabled, AUTH_CODE.FAILED_PRECONDITION],
  [AUTH_ERR.invalidAuthToken, AUTH_CODE.UNAUTHENTICATED],
  [AUTH_ERR.invalidAuthMgmt, AUTH_CODE.INVALID_ARGUMENT],
]);

/** The gRPC code of one of etcd's auth messages, or undefined for any other message. */
export function codeOfAuthMessage(message: string): number | undefined {
  return CODES.get(message);
}

/** An auth refusal: etcd's message and its gRPC code. */
export class AuthError extends Error {
  readonly grpcCode: number;
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
    this.grpcCode = CODES.get(message) ?? AUTH_CODE.INVALID_ARGUMENT;
  }
}
