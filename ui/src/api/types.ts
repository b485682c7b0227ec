// Shapes of the admin API's answers the pages read (see GET /v1/openapi.json).

export interface Member {
  id: number;
  address: string;
  httpAddress: string;
  role: 'voter' | 'learner';
  isLeader: boolean;
  matchIndex: number | null;
  lag: number | null;
}

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface Health {
  status: 'ok' | 'failing';
  checks: HealthCheck[];
}

export interface MemberStatus {
  leaderId: number;
  term: number;
  role: string;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  snapshotIndex: number;
  revision: number;
  version: string;
  dbSizeBytes: number | null;
}

export interface MemberOverview extends Member {
  reachable: boolean;
  error: string | null;
  status: MemberStatus | null;
  health: Health | null;
}

export interface ClusterOverview {
  clusterId: string;
  servedBy: number;
  leaderId: number;
  members: MemberOverview[];
}

export interface KeyValue {
  key: string;
  value?: string;
  encoding?: 'utf8' | 'base64';
  createRevision: number;
  modRevision: number;
  version: number;
  lease: number;
}

export interface KvPage {
  kvs: KeyValue[];
  prefixes?: string[];
  more: boolean;
  nextKey: string;
}

export interface Lease {
  id: number;
  ttlMs: number;
  expiresAtMs: number;
}

export interface Permission {
  prefix: string;
  read: boolean;
  write: boolean;
}

export interface User {
  name: string;
  permissions: Permission[];
  createdAtMs: number;
  updatedAtMs: number;
}

/** A broker's last load report (its heartbeat). */
export interface BrokerLoad {
  shardCount?: number;
  cpuPercent?: number;
  diskUsedBytes?: number;
  diskTotalBytes?: number;
}

/** A registered broker (GET /v1/cluster/nodes): present only while its lease lives. */
export interface BrokerNode {
  clusterName: string;
  nodeId: number;
  nodeType: string;
  addresses: string[];
  zone: string;
  capacity: number;
  extendInfo: string;
  leaseId: number;
  draining: boolean;
  load?: BrokerLoad;
  createRevision: number;
}

/** A shard of the placement map (GET /v1/shards). */
export interface Shard {
  clusterName: string;
  shardName: string;
  replicas: number[];
  /** 0: no live replica can lead. */
  leader: number;
  epoch: number;
  status: string;
  replicationFactor: number;
  modRevision: number;
}
