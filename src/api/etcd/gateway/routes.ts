// The etcd 3.4 JSON gateway's URLs: each names the gRPC method it stands for and its messages.
// etcd serves every path under /v3/ and, for older clients, the same under /v3beta/.

export type RouteKind = 'unary' | 'server-stream' | 'bidi';

export interface GatewayRoute {
  /** The gRPC method's path on the client port. */
  readonly method: string;
  /** Fully qualified request and response message names (in the descriptors of proto/etcd). */
  readonly request: string;
  readonly response: string;
  readonly kind: RouteKind;
}

const inPackage = (pkg: string) => (service: string, rpc: string, request: string, response: string, kind: RouteKind = 'unary'): GatewayRoute => ({
  method: `/${pkg}.${service}/${rpc}`,
  request: `${pkg}.${request}`,
  response: `${pkg}.${response}`,
  kind,
});
const route = inPackage('etcdserverpb');
const lock = inPackage('v3lockpb');
const election = inPackage('v3electionpb');

// etcd binds both Hash and HashKV to maintenance/hash; its gateway answers with Hash.
const ROUTES: ReadonlyArray<[string, GatewayRoute]> = [
  ['kv/range', route('KV', 'Range', 'RangeRequest', 'RangeResponse')],
  ['kv/put', route('KV', 'Put', 'PutRequest', 'PutResponse')],
  ['kv/deleterange', route('KV', 'DeleteRange', 'DeleteRangeRequest', 'DeleteRangeResponse')],
  ['kv/txn', route('KV', 'Txn', 'TxnRequest', 'TxnResponse')],
  ['kv/compaction', route('KV', 'Compact', 'CompactionRequest', 'CompactionResponse')],
  ['watch', route('Watch', 'Watch', 'WatchRequest', 'WatchResponse', 'bidi')],
  ['lease/grant', route('Lease', 'LeaseGrant', 'LeaseGrantRequest', 'LeaseGrantResponse')],
  ['lease/revoke', route('Lease', 'LeaseRevoke', 'LeaseRevokeRequest', 'LeaseRevokeResponse')],
  ['kv/lease/revoke', route('Lease', 'LeaseRevoke', 'LeaseRevokeRequest', 'LeaseRevokeResponse')],
  ['lease/keepalive', route('Lease', 'LeaseKeepAlive', 'LeaseKeepAliveRequest', 'LeaseKeepAliveResponse', 'bidi')],
  ['lease/timetolive', route('Lease', 'LeaseTimeToLive', 'LeaseTimeToLiveRequest', 'LeaseTimeToLiveResponse')],
  ['kv/lease/timetolive', route('Lease', 'LeaseTimeToLive', 'LeaseTimeToLiveRequest', 'LeaseTimeToLiveResponse')],
  ['lease/leases', route('Lease', 'LeaseLeases', 'LeaseLeasesRequest', 'LeaseLeasesResponse')],
  ['kv/lease/leases', route('Lease', 'LeaseLeases', 'LeaseLeasesRequest', 'LeaseLeasesResponse')],
  ['cluster/member/add', route('Cluster', 'MemberAdd', 'MemberAddRequest', 'MemberAddResponse')],
  ['cluster/member/remove', route('Cluster', 'MemberRemove', 'MemberRemoveRequest', 'MemberRemoveResponse')],
  ['cluster/member/update', route('Cluster', 'MemberUpdate', 'MemberUpdateRequest', 'MemberUpdateResponse')],
  ['cluster/member/list', route('Cluster', 'MemberList', 'MemberListRequest', 'MemberListResponse')],
  ['cluster/member/promote', route('Cluster', 'MemberPromote', 'MemberPromoteRequest', 'MemberPromoteResponse')],
  ['maintenance/alarm', route('Maintenance', 'Alarm', 'AlarmRequest', 'AlarmResponse')],
  ['maintenance/status', route('Maintenance', 'Status', 'StatusRequest', 'StatusResponse')],
  ['maintenance/defragment', route('Maintenance', 'Defragment', 'DefragmentRequest', 'DefragmentResponse')],
  ['maintenance/hash', route('Maintenance', 'Hash', 'HashRequest', 'HashResponse')],
  ['maintenance/snapshot', route('Maintenance', 'Snapshot', 'SnapshotRequest', 'SnapshotResponse', 'server-stream')],
  ['maintenance/transfer-leadership', route('Maintenance', 'MoveLeader', 'MoveLeaderRequest', 'MoveLeaderResponse')],
  ['auth/enable', route('Auth', 'AuthEnable', 'AuthEnableRequest', 'AuthEnableResponse')],
  ['auth/disable', route('Auth', 'AuthDisable', 'AuthDisableRequest', 'AuthDisableResponse')],
  ['auth/authenticate', route('Auth', 'Authenticate', 'AuthenticateRequest', 'AuthenticateResponse')],
  ['auth/user/add', route('Auth', 'UserAdd', 'AuthUserAddRequest', 'AuthUserAddResponse')],
  ['auth/user/get', route('Auth', 'UserGet', 'AuthUserGetRequest', 'AuthUserGetResponse')],
  ['auth/user/list', route('Auth', 'UserList', 'AuthUserListRequest', 'AuthUserListResponse')],
  ['auth/user/delete', route('Auth', 'UserDelete', 'AuthUserDeleteRequest', 'AuthUserDeleteResponse')],
  ['auth/user/changepw', route('Auth', 'UserChangePassword', 'AuthUserChangePasswordRequest', 'AuthUserChangePasswordResponse')],
  ['auth/user/grant', route('Auth', 'UserGrantRole', 'AuthUserGrantRoleRequest', 'AuthUserGrantRoleResponse')],
  ['auth/user/revoke', route('Auth', 'UserRevokeRole', 'AuthUserRevokeRoleRequest', 'AuthUserRevokeRoleResponse')],
  ['auth/role/add', route('Auth', 'RoleAdd', 'AuthRoleAddRequest', 'AuthRoleAddResponse')],
  ['auth/role/get', route('Auth', 'RoleGet', 'AuthRoleGetRequest', 'AuthRoleGetResponse')],
  ['auth/role/list', route('Auth', 'RoleList', 'AuthRoleListRequest', 'AuthRoleListResponse')],
  ['auth/role/delete', route('Auth', 'RoleDelete', 'AuthRoleDeleteRequest', 'AuthRoleDeleteResponse')],
  ['auth/role/grant', route('Auth', 'RoleGrantPermission', 'AuthRoleGrantPermissionRequest', 'AuthRoleGrantPermissionResponse')],
  ['auth/role/revoke', route('Auth', 'RoleRevokePermission', 'AuthRoleRevokePermissionRequest', 'AuthRoleRevokePermissionResponse')],
  ['lock/lock', lock('Lock', 'Lock', 'LockRequest', 'LockResponse')],
  ['lock/unlock', lock('Lock', 'Unlock', 'UnlockRequest', 'UnlockResponse')],
  ['election/campaign', election('Election', 'Campaign', 'CampaignRequest', 'CampaignResponse')],
  ['election/proclaim', election('Election', 'Proclaim', 'ProclaimRequest', 'ProclaimResponse')],
  ['election/leader', election('Election', 'Leader', 'LeaderRequest', 'LeaderResponse')],
  ['election/observe', election('Election', 'Observe', 'LeaderRequest', 'LeaderResponse', 'server-stream')],
  ['election/resign', election('Election', 'Resign', 'ResignRequest', 'ResignResponse')],
];

const BY_PATH = new Map<string, GatewayRoute>(ROUTES.flatMap(([p, r]) => [[`/v3/${p}`, r] as const, [`/v3beta/${p}`, r] as const]));

/** The route of a request path (without its query), if the gateway has one. */
export function gatewayRoute(path: string): GatewayRoute | undefined {
  return BY_PATH.get(path);
}

/** Every gRPC method the gateway can call (tests check each is registered on the client port). */
export function gatewayMethods(): string[] {
  return [...new Set(ROUTES.map(([, r]) => r.method))];
}

/** Paths the gateway answers on the client port (the rest of HTTP there is not gRPC: refused). */
export function isGatewayPath(path: string): boolean {
  return path.startsWith('/v3/') || path.startsWith('/v3beta/') || path === '/health' || path === '/version' || path === '/metrics';
}
