// Auth decisions of the registry and placement services (merged into src/auth/decisions.ts).
// Each is expressed as the keys the call reads or writes under /placement/ (layout.ts), so the
// etcd-style role permissions govern them: a broker's user may be granted readwrite on
// /placement/registry/<cluster>/nodes/ and read on /placement/shards/<cluster>/, an operator's
// readwrite on both. Requests are judged one message at a time (HeartbeatStream included).
import { prefixEnd, type KeyNeed, type Need } from '../../../storage/index.js';
import { nodeKey, nodesPrefix, shardKey, shardsPrefix } from '../../registry/layout.js';

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');
const key = (k: string, access: KeyNeed['access']): KeyNeed => ({ key: utf8(k), rangeEnd: new Uint8Array(0), access });
const prefix = (p: string, access: KeyNeed['access']): KeyNeed => ({ key: utf8(p), rangeEnd: prefixEnd(utf8(p)), access });
const keys = (...k: KeyNeed[]): Need => ({ kind: 'keys', keys: k });

type NodeReq = { clusterName: string; nodeId: number };
type ShardReq = { clusterName: string; shardName: string };
const nodeWrite = (r: unknown): Need => {
  const q = r as NodeReq;
  return keys(key(nodeKey(q.clusterName, q.nodeId), 'read'), key(nodeKey(q.clusterName, q.nodeId), 'write'));
};
/** A shard change that chooses brokers: reads the registry and the shard map, writes the shard. */
const shardPlace = (r: unknown): Need => {
  const q = r as ShardReq;
  return keys(prefix(nodesPrefix(q.clusterName), 'read'), prefix(shardsPrefix(q.clusterName), 'read'), key(shardKey(q.clusterName, q.shardName), 'write'));
};

type CfgReq = { clusterName: string; resources: string[] };
type IdemReq = { clusterName: string; producerId: string; seqNum: number };
type OffReq = { clusterName: string; group: string };
// The keys as stored (src/placement/meta.ts); no validation here: the handler refuses bad names.
const cfgKey = (r: unknown): string => `/placement/config/${(r as CfgReq).clusterName}/${((r as CfgReq).resources ?? []).join('/')}`;
const idemKey = (r: unknown): string => `/placement/idempotent/${(r as IdemReq).clusterName}/${(r as IdemReq).producerId}/${(r as IdemReq).seqNum}`;
const offPrefix = (r: unknown): string => `/placement/offsets/${(r as OffReq).clusterName}/${(r as OffReq).group}/`;

export const PLACEMENT_GRPC_DECISIONS: Record<string, (req: unknown) => Need> = {
  '/placement.v1.BrokerMetaService/SetResourceConfig': (r) => keys(key(cfgKey(r), 'write')),
  '/placement.v1.BrokerMetaService/GetResourceConfig': (r) => keys(key(cfgKey(r), 'read')),
  '/placement.v1.BrokerMetaService/DeleteResourceConfig': (r) => keys(key(cfgKey(r), 'write')),
  '/placement.v1.BrokerMetaService/SetIdempotentData': (r) => keys(key(idemKey(r), 'read'), key(idemKey(r), 'write')),
  '/placement.v1.BrokerMetaService/ExistsIdempotentData': (r) => keys(key(idemKey(r), 'read')),
  '/placement.v1.BrokerMetaService/DeleteIdempotentData': (r) => keys(key(idemKey(r), 'write')),
  '/placement.v1.BrokerMetaService/SaveOffset': (r) => keys(prefix(offPrefix(r), 'write')),
  '/placement.v1.BrokerMetaService/GetOffset': (r) => keys(prefix(offPrefix(r), 'read')),
  '/placement.v1.RegistryService/RegisterNode': nodeWrite,
  '/placement.v1.RegistryService/Heartbeat': nodeWrite,
  '/placement.v1.RegistryService/HeartbeatStream': nodeWrite,
  '/placement.v1.RegistryService/UnregisterNode': nodeWrite,
  '/placement.v1.RegistryService/DrainNode': nodeWrite,
  '/placement.v1.RegistryService/ListNodes': (r) => keys(prefix(nodesPrefix((r as NodeReq).clusterName), 'read')),
  '/placement.v1.PlacementService/CreateShard': shardPlace,
  '/placement.v1.PlacementService/MoveShard': shardPlace,
  '/placement.v1.PlacementService/GetShard': (r) => keys(key(shardKey((r as ShardReq).clusterName, (r as ShardReq).shardName), 'read')),
  '/placement.v1.PlacementService/ListShards': (r) => keys(prefix(shardsPrefix((r as ShardReq).clusterName), 'read')),
  '/placement.v1.PlacementService/DeleteShard': (r) => keys(key(shardKey((r as ShardReq).clusterName, (r as ShardReq).shardName), 'write')),
  '/placement.v1.PlacementService/UpdateShardStatus': (r) => {
    const k = shardKey((r as ShardReq).clusterName, (r as ShardReq).shardName);
    return keys(key(k, 'read'), key(k, 'write'));
  },
  '/placement.v1.PlacementService/ReportShardLeader': (r) => {
    const q = r as ShardReq;
    return keys(prefix(nodesPrefix(q.clusterName), 'read'), key(shardKey(q.clusterName, q.shardName), 'read'), key(shardKey(q.clusterName, q.shardName), 'write'));
  },
};

type Query = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The admin HTTP routes (src/http/placement.ts), judged by the same keys. */
export const PLACEMENT_HTTP_DECISIONS: Record<string, (req: { query: unknown; body?: unknown }) => Need> = {
  'GET /v1/cluster/nodes': (req) => keys(prefix(nodesPrefix(str((req.query as Query).cluster)), 'read')),
  'GET /v1/shards': (req) => keys(prefix(shardsPrefix(str((req.query as Query).cluster)), 'read')),
  'POST /v1/shards': (req) => {
    const b = (req.body ?? {}) as Query;
    return shardPlace({ clusterName: str(b.cluster), shardName: str(b.shard) });
  },
};
