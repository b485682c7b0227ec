// Where the registry and the shard map live in the keyspace (documented in README.md), and the
// checks on the names that become part of those keys. Names are restricted so that one cluster's
// prefix never contains another's keys ("a" vs "a/b") and every key reads well in etcdctl.
import { invalidArgument } from '../errors.js';

export const REGISTRY_ROOT = '/placement/registry/';
export const SHARDS_ROOT = '/placement/shards/';

const NAME = /^[A-Za-z0-9._-]{1,128}$/;

export function checkClusterName(name: string): void {
  if (!NAME.test(name)) throw invalidArgument(`cluster_name must be 1..128 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`);
}

export function checkShardName(name: string): void {
  if (!NAME.test(name)) throw invalidArgument(`shard_name must be 1..128 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(name)}`);
}

export function checkNodeId(id: number): void {
  if (!Number.isSafeInteger(id) || id <= 0) throw invalidArgument(`node_id must be a positive integer below 2^53, got ${id}`);
}

export const nodesPrefix = (cluster: string): string => `${REGISTRY_ROOT}${cluster}/nodes/`;
export const nodeKey = (cluster: string, nodeId: number): string => `${nodesPrefix(cluster)}${nodeId}`;
export const shardsPrefix = (cluster: string): string => `${SHARDS_ROOT}${cluster}/`;
export const shardKey = (cluster: string, shard: string): string => `${shardsPrefix(cluster)}${shard}`;

/** (cluster, node id) of a registry key; undefined for any other key. */
export function parseNodeKey(key: string): { cluster: string; nodeId: number } | undefined {
  if (!key.startsWith(REGISTRY_ROOT)) return undefined;
  const m = /^([^/]+)\/nodes\/(\d+)$/.exec(key.slice(REGISTRY_ROOT.length));
  return m ? { cluster: m[1]!, nodeId: Number(m[2]) } : undefined;
}

/** (cluster, shard) of a shard key; undefined for any other key. */
export function parseShardKey(key: string): { cluster: string; shard: string } | undefined {
  if (!key.startsWith(SHARDS_ROOT)) return undefined;
  const m = /^([^/]+)\/([^/]+)$/.exec(key.slice(SHARDS_ROOT.length));
  return m ? { cluster: m[1]!, shard: m[2]! } : undefined;
}
