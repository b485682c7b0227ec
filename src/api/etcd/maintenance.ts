// etcdserverpb.Maintenance, wire-compatible with etcd 3.4: Status, Hash/HashKV, MoveLeader,
// Alarm, Defragment and Snapshot (a backup streamed as etcd streams one: the bytes, then their
// SHA-256 as the last message; storage/snapshot/backup.ts describes the file).
import * as grpc from '@grpc/grpc-js';
import type { Metrics } from '../../metrics/metrics.js';
import { instrumentGrpcService } from '../../metrics/grpc.js';
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  MaintenanceService,
  type AlarmMember,
  AlarmRequest,
  DefragmentRequest,
  HashKVRequest,
  HashRequest,
  type MaintenanceServer,
  MoveLeaderRequest,
  type ResponseHeader,
  SnapshotRequest,
  StatusRequest,
  type SnapshotResponse,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { Alarm } from '../../../storage/index.js';
import { ResultCode } from '../../../proto/gen/placement/v1/command.js';
import { callerOf } from '../../auth/context.js';
import { alarmCommand, watchQuota } from '../../maintenance/quota.js';
import type { Logger } from '../../log.js';
import { PlacementError } from '../../errors.js';
import { tolerant } from '../../grpc/malformed.js';
import { etcdUnary } from './call.js';
import { clampedRequests } from './wire.js';
import { learnerRefusal } from './learner.js';
import { ETCD_MEMBER_NOT_FOUND, type ClusterNode } from './cluster.js';
import { ETCD_NO_LEADER, serviceError, toEtcdError } from './errors.js';
import { openBackup } from '../../maintenance/backup-stream.js';
import { memberStatus } from '../../maintenance/status.js';
import { headerFiller } from './header.js';
import { etcdMemberId } from './ids.js';
import { ETCD_API_VERSION } from './version.js';
import { drained } from '../../grpc/drained.js';

export const ETCD_BAD_TRANSFEREE = 'etcdserver: bad leader transferee';
/** Bytes per Snapshot message (etcd sends 32 KiB; larger pieces cost fewer messages). */
const SNAPSHOT_PIECE = 256 * 1024;

/** What the Maintenance service needs from a node beyond the Cluster service's. */
export interface MaintenanceNode extends ClusterNode {
  readonly cfg: ClusterNode['cfg'] & { readonly dataDir: string; readonly quotaBackendBytes: number };
  /** Bytes of log entries applied since start (paces the space-quota check). */
  appliedBytes(): number;
}

export function maintenanceHandlers(node: MaintenanceNode): MaintenanceServer {
  const fill = headerFiller(node);
  const header = (revision?: number): { header: ResponseHeader } => ({ header: fill(revision) });
  const clusterId = node.cfg.clusterId;
  const unary = <Req, Rep>(fn: (req: Req, deadline: number, call: object) => Rep | Promise<Rep>): grpc.handleUnaryCall<Req, Rep> =>
    etcdUnary<Req, Rep>(node, fn) as unknown as grpc.handleUnaryCall<Req, Rep>;
  const sm = node.keyspace;

  return {
    status: unary(async () => {
      const st = await memberStatus(node);
      const errors: string[] = [];
      if (!st.leaderId) errors.push(ETCD_NO_LEADER);
      // As etcd prints an AlarmMember.
      for (const a of st.alarms) errors.push(`memberID:${etcdMemberId(clusterId, a.memberId)} alarm:${AlarmType[a.alarm] ?? a.alarm} `);
      return {
        ...header(),
        // The etcd API's version (version.ts), as /version reports it; ours is on our own API.
        version: ETCD_API_VERSION,
        dbSize: st.dbSize,
        dbSizeInUse: st.dbSize,
        leader: st.leaderId ? etcdMemberId(clusterId, st.leaderId) : 0,
        // etcd reports the commit index as raftIndex.
        raftIndex: st.raftIndex,
        raftTerm: st.raftTerm,
        raftAppliedIndex: st.raftAppliedIndex,
        errors,
        isLearner: st.isLearner,
      };
    }),
    hash: unary(async () => {
      // etcd hashes its whole database file; ours hashes the whole replicated state (storage's
      // hash(): equal on replicas at the same applied index), as a uint32.
      const hex = await sm.hash();
      return { ...header(), hash: parseInt(hex.slice(0, 8), 16) >>> 0 };
    }),
    hashKv: unary(async (req: HashKVRequest) => {
      const r = await sm.hashKv(req.revision);
      return { ...header(r.revision), hash: r.hash, compactRevision: r.compactRevision };
    }),
    moveLeader: unary(async (req: MoveLeaderRequest, deadline) => {
      const target = node.clusterStatus().members.find((m) => etcdMemberId(clusterId, m.id) === req.targetID);
      if (!target || target.role === 'learner') throw serviceError(grpc.status.FAILED_PRECONDITION, ETCD_BAD_TRANSFEREE);
      try {
        await node.changeMembership({ op: 'move-leader', id: target.id, address: '', isLearner: false }, deadline);
      } catch (err) {
        if (err instanceof PlacementError && (err.code === 'NOT_FOUND' || err.code === 'FAILED_PRECONDITION')) throw serviceError(grpc.status.FAILED_PRECONDITION, ETCD_BAD_TRANSFEREE);
        throw err;
      }
      return header();
    }),
    alarm: unary(async (req: AlarmRequest, deadline, call) => {
      const wire = (a: Alarm): AlarmMember => ({ memberID: etcdMemberId(clusterId, a.memberId), alarm: a.alarm });
      // etcd answers every Alarm request through Raft: the list is the cluster's, not what this
      // member had written when the request came (an acknowledged change may still be in flight).
      await node.readBarrier(false, deadline);
      const raised = await sm.alarms();
      // etcd answers Alarm without a response header, whatever the action.
      if (req.action === AlarmRequest_AlarmAction.GET) return { alarms: raised.map(wire) };
      if (req.action !== AlarmRequest_AlarmAction.ACTIVATE && req.action !== AlarmRequest_AlarmAction.DEACTIVATE) {
        throw serviceError(grpc.status.INVALID_ARGUMENT, `unknown alarm action ${req.action}`);
      }
      const member = node.clusterStatus().members.find((m) => etcdMemberId(clusterId, m.id) === req.memberID);
      if (!member) throw serviceError(grpc.status.NOT_FOUND, ETCD_MEMBER_NOT_FOUND);
      const r = await node.propose(alarmCommand(req.action, member.id, req.alarm), deadline, callerOf(call));
      if (r.code !== ResultCode.RESULT_OK) throw serviceError(grpc.status.INVALID_ARGUMENT, r.message);
      // As etcd: the alarm raised, or the one cleared (none when it was not raised).
      const affected = req.action === AlarmRequest_AlarmAction.ACTIVATE || raised.some((a) => a.memberId === member.id && a.alarm === req.alarm);
      return { alarms: affected ? [wire({ memberId: member.id, alarm: req.alarm })] : [] };
    }),
    defragment: unary(async () => {
      await sm.defragment();
      return header();
    }),
    snapshot: (call: grpc.ServerWritableStream<SnapshotRequest, SnapshotResponse>) => {
      if (node.isLearner) {
        call.emit('error', learnerRefusal());
        return;
      }
      // A status reaches the client through 'error' (grpc-js answers it); destroy() would only
      // drop the stream, leaving the client waiting for its deadline.
      if (!node.accepting()) {
        call.emit('error', toEtcdError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
        return;
      }
      void node.track(streamBackup(node, call)).catch((err: unknown) => call.emit('error', toEtcdError(err)));
    },
  };
}

/**
 * Streams one backup (src/maintenance/backup-stream.ts) as etcd does: the bytes, then their hash,
 * with no response header (etcd sends none on this stream).
 */
async function streamBackup(node: MaintenanceNode, call: grpc.ServerWritableStream<SnapshotRequest, SnapshotResponse>): Promise<void> {
  const backup = await openBackup(node, SNAPSHOT_PIECE);
  try {
    for await (const { blob, remainingBytes } of backup.pieces()) {
      if (call.cancelled) throw new PlacementError('UNAVAILABLE', 'the client cancelled the snapshot');
      if (!call.write({ remainingBytes, blob })) await drained(call);
    }
    call.end();
  } finally {
    await backup.close();
  }
}

/** Serves the Maintenance service and starts the space-quota check; returns the check's stop function. */
export function registerMaintenance(server: grpc.Server, node: MaintenanceNode, log?: Logger, metrics?: Metrics): () => void {
  const handlers = maintenanceHandlers(node);
  // Ids and revisions beyond 2^53 read as 2^53-1: no member, a future revision (wire.ts).
  const def = clampedRequests(MaintenanceService, {
    alarm: AlarmRequest,
    status: StatusRequest,
    defragment: DefragmentRequest,
    hash: HashRequest,
    hashKv: HashKVRequest,
    snapshot: SnapshotRequest,
    moveLeader: MoveLeaderRequest,
  });
  server.addService(tolerant(def), metrics ? instrumentGrpcService('etcdserverpb.Maintenance', handlers, metrics, MaintenanceService) : handlers);
  return watchQuota({
    selfId: node.cfg.id,
    quotaBytes: node.cfg.quotaBackendBytes,
    dbSize: () => node.keyspace.dbSize(),
    appliedBytes: () => node.appliedBytes(),
    alarms: () => node.keyspace.alarms(),
    propose: (cmd, deadline, by) => node.propose(cmd, deadline, by),
    log: log ?? { warn: () => undefined },
  });
}
