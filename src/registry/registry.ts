// The broker registry: registrations as lease-bound keys (layout.ts). Transport-free: the gRPC
// service (src/api/placement/registry.ts) and the admin HTTP routes call these.
import type { KeyValue } from '../../proto/gen/etcd/mvccpb/kv.js';
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import type { NodeInfo, NodeLoad, RegisterNodeRequest } from '../../proto/gen/placement/v1/registry.js';
import { PlacementError, invalidArgument } from '../errors.js';
import type { Candidate } from '../placement/choose.js';
import { checkClusterName, checkNodeId, nodeKey, nodesPrefix } from './layout.js';
import { PlacementKv, type KvNode } from './kv.js';

/** What the registry needs from the node: the keyspace and its leases. */
export interface RegistryNode extends KvNode {
  readonly leases: {
    readonly timing: { readonly minTtlMs: number };
    grant(ttlMs: number, id: number, deadline: number, by: CommandCaller | undefined): Promise<{ id: number; ttlMs: number }>;
    renew(id: number): Promise<{ id: number; ttlMs: number } | null>;
    /** On the leader, a keep-alive answered at once when the replicated expiry covers it (src/lease/keeper.ts). */
    renewNow(id: number, nowMs: number): { id: number; ttlMs: number } | undefined;
  };
  readonly cfg: { readonly maxLeaseTtlMs: number };
}

/** The stored JSON of a registration (cluster, id and lease are in the key and its metadata). */
interface StoredNode {
  nodeType: string;
  addresses: string[];
  zone: string;
  capacity: number;
  extendInfo: string;
  draining: boolean;
  load?: NodeLoad;
}

const MAX_ADDRESSES = 16;
const MAX_TEXT = 256;
const MAX_EXTEND_INFO = 16 * 1024;
/** Compare-and-set rounds before a write that keeps losing to others gives up (ABORTED). */
const CAS_ROUNDS = 8;

export function nodeFromKv(cluster: string, nodeId: number, kv: KeyValue): NodeInfo {
  const s = JSON.parse(Buffer.from(kv.value).toString('utf8')) as StoredNode;
  return {
    clusterName: cluster,
    nodeId,
    nodeType: s.nodeType,
    addresses: s.addresses,
    zone: s.zone,
    capacity: s.capacity,
    extendInfo: s.extendInfo,
    leaseId: kv.lease,
    draining: s.draining,
    load: s.load,
    createRevision: kv.createRevision,
  };
}

export function candidateOf(n: NodeInfo): Candidate {
  return { nodeId: n.nodeId, zone: n.zone, nodeType: n.nodeType, draining: n.draining };
}

function checkText(what: string, s: string, max = MAX_TEXT): void {
  if (Buffer.byteLength(s, 'utf8') > max) throw invalidArgument(`${what} is over ${max} bytes`);
}

function checkRegistration(req: RegisterNodeRequest): void {
  checkClusterName(req.clusterName);
  checkNodeId(req.nodeId);
  checkText('node_type', req.nodeType);
  checkText('zone', req.zone);
  if (req.addresses.length > MAX_ADDRESSES) throw invalidArgument(`at most ${MAX_ADDRESSES} addresses, got ${req.addresses.length}`);
  for (const a of req.addresses) checkText('an address', a);
  checkText('extend_info', req.extendInfo, MAX_EXTEND_INFO);
  if (req.extendInfo !== '') {
    try {
      JSON.parse(req.extendInfo);
    } catch {
      throw invalidArgument('extend_info must be JSON text (or empty)');
    }
  }
  if (!Number.isSafeInteger(req.leaseId) || req.leaseId < 0) throw invalidArgument(`lease_id ${req.leaseId} is not a lease id of this cluster`);
}

const encode = (s: StoredNode): Buffer => Buffer.from(JSON.stringify(s), 'utf8');

export class Registry {
  readonly kv: PlacementKv;
  constructor(private readonly node: RegistryNode) {
    this.kv = new PlacementKv(node);
  }

  async register(req: RegisterNodeRequest, deadline: number, by: CommandCaller | undefined): Promise<{ node: NodeInfo; ttlSeconds: number }> {
    checkRegistration(req);
    const maxS = Math.floor(this.node.cfg.maxLeaseTtlMs / 1000);
    if (req.ttlSeconds > maxS) throw invalidArgument(`ttl_seconds ${req.ttlSeconds} is over this cluster's maximum lease TTL of ${maxS} s`);
    let leaseId = req.leaseId;
    let ttlMs: number;
    if (leaseId === 0) {
      const lease = await this.node.leases.grant(Math.max(req.ttlSeconds * 1000, this.node.leases.timing.minTtlMs), 0, deadline, by);
      leaseId = lease.id;
      ttlMs = lease.ttlMs;
    } else {
      // The caller's lease (its session's): renewing it proves it exists and tells its TTL.
      const lease = await this.keepAlive(leaseId);
      if (!lease) throw new PlacementError('NOT_FOUND', `lease ${leaseId} does not exist (expired or revoked): register with lease_id 0 or a live lease`);
      ttlMs = lease.ttlMs;
    }
    const key = nodeKey(req.clusterName, req.nodeId);
    for (let round = 0; round < CAS_ROUNDS; round++) {
      const { kv } = await this.kv.get(key, deadline);
      // A re-registration keeps an operator's drain: the broker restarting does not undo it.
      const draining = kv ? (JSON.parse(Buffer.from(kv.value).toString('utf8')) as StoredNode).draining : false;
      const stored: StoredNode = {
        nodeType: req.nodeType,
        addresses: req.addresses,
        zone: req.zone,
        capacity: req.capacity,
        extendInfo: req.extendInfo,
        draining,
      };
      const w = await this.kv.put(key, encode(stored), leaseId, kv ? { modRevision: kv.modRevision } : { absent: true }, deadline, by);
      if (w.succeeded) {
        const { kv: now } = await this.kv.get(key, deadline);
        if (!now) throw new PlacementError('UNAVAILABLE', `the registration of node ${req.nodeId} vanished at once (its lease ${leaseId} expired); register again`);
        return { node: nodeFromKv(req.clusterName, req.nodeId, now), ttlSeconds: Math.ceil(ttlMs / 1000) };
      }
    }
    throw new PlacementError('ABORTED', `node ${req.nodeId} is being registered concurrently; retry`);
  }

  /**
   * One keep-alive of a registration's lease (null: it does not exist). As etcd's LeaseKeepAlive:
   * the leader answers at once when the replicated expiry covers it, instead of waiting to share a
   * renewal command (up to 200 ms) with others.
   */
  private async keepAlive(leaseId: number): Promise<{ id: number; ttlMs: number } | null> {
    return this.node.leases.renewNow(leaseId, Date.now()) ?? (await this.node.leases.renew(leaseId));
  }

  /** Keeps a registration alive (renews its lease); a load report is stored with it. */
  async heartbeat(cluster: string, nodeId: number, load: NodeLoad | undefined, deadline: number, by: CommandCaller | undefined): Promise<{ ttlSeconds: number }> {
    checkClusterName(cluster);
    checkNodeId(nodeId);
    const key = nodeKey(cluster, nodeId);
    const { kv } = await this.kv.get(key, deadline);
    if (!kv) throw new PlacementError('NOT_FOUND', `node ${nodeId} is not registered in cluster ${cluster} (its lease expired, or it never registered): register again`);
    const lease = await this.keepAlive(kv.lease);
    if (!lease) throw new PlacementError('NOT_FOUND', `node ${nodeId}'s lease ${kv.lease} has expired: register again`);
    if (load) {
      const s = JSON.parse(Buffer.from(kv.value).toString('utf8')) as StoredNode;
      // Best effort: a load report that loses a race with a drain or re-registration is dropped
      // (the next heartbeat carries a fresh one); liveness is the renewal above.
      await this.kv.put(key, encode({ ...s, load }), kv.lease, { modRevision: kv.modRevision }, deadline, by);
    }
    return { ttlSeconds: Math.ceil(lease.ttlMs / 1000) };
  }

  async unregister(cluster: string, nodeId: number, deadline: number, by: CommandCaller | undefined): Promise<boolean> {
    checkClusterName(cluster);
    checkNodeId(nodeId);
    const r = await this.kv.delete(nodeKey(cluster, nodeId), undefined, deadline, by);
    return r.deleted > 0;
  }

  async list(cluster: string, nodeType: string, deadline: number, local = false): Promise<{ nodes: NodeInfo[]; revision: number }> {
    checkClusterName(cluster);
    const { kvs, revision } = await this.kv.list(nodesPrefix(cluster), deadline, local);
    const nodes: NodeInfo[] = [];
    for (const kv of kvs) {
      const id = Number(Buffer.from(kv.key).toString('utf8').slice(nodesPrefix(cluster).length));
      if (!Number.isSafeInteger(id) || id <= 0) continue;
      const n = nodeFromKv(cluster, id, kv);
      if (!nodeType || n.nodeType === nodeType) nodes.push(n);
    }
    nodes.sort((a, b) => a.nodeId - b.nodeId);
    return { nodes, revision };
  }

  async describe(cluster: string, nodeId: number, deadline: number): Promise<NodeInfo> {
    checkClusterName(cluster);
    checkNodeId(nodeId);
    const { kv } = await this.kv.get(nodeKey(cluster, nodeId), deadline);
    if (!kv) throw new PlacementError('NOT_FOUND', `node ${nodeId} is not registered in cluster ${cluster}`);
    return nodeFromKv(cluster, nodeId, kv);
  }

  /** Marks a node draining (no new replicas; the controller moves its shards off) or ends it. */
  async drain(cluster: string, nodeId: number, draining: boolean, deadline: number, by: CommandCaller | undefined): Promise<NodeInfo> {
    checkClusterName(cluster);
    checkNodeId(nodeId);
    const key = nodeKey(cluster, nodeId);
    for (let round = 0; round < CAS_ROUNDS; round++) {
      const { kv } = await this.kv.get(key, deadline);
      if (!kv) throw new PlacementError('NOT_FOUND', `node ${nodeId} is not registered in cluster ${cluster}`);
      const s = JSON.parse(Buffer.from(kv.value).toString('utf8')) as StoredNode;
      if (s.draining === draining) return nodeFromKv(cluster, nodeId, kv);
      const w = await this.kv.put(key, encode({ ...s, draining }), kv.lease, { modRevision: kv.modRevision }, deadline, by);
      if (w.succeeded) return this.describe(cluster, nodeId, deadline);
    }
    throw new PlacementError('ABORTED', `node ${nodeId} changed concurrently ${CAS_ROUNDS} times; retry`);
  }
}
