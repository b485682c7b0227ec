// etcdserverpb.Maintenance, wire-compatible with etcd 3.4: Status, Hash/HashKV, MoveLeader,
// Alarm, Defragment and Snapshot (a backup streamed as etcd streams one: the bytes, then their
// SHA-256 as the last message; storage/snapshot/backup.ts describes the file).
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  AlarmRequest_AlarmAction,
  AlarmType,
  MaintenanceService,
  type AlarmMember,
  type AlarmRequest,
  type HashKVRequest,
  type MaintenanceServer,
  type MoveLeaderRequest,
  type ResponseHeader,
  type SnapshotRequest,
  type SnapshotResponse,
} from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { SnapshotStore, backupSize, backupTrailer, type Alarm, type BackupInfo, type SnapshotReader } from '../../../storage/index.js';
import { ResultCode } from '../../../proto/gen/placement/v1/command.js';
import { alarmCommand, watchQuota } from '../../maintenance/quota.js';
import type { Logger } from '../../log.js';
import { PlacementError } from '../../errors.js';
import { tolerant } from '../../grpc/malformed.js';
import { VERSION } from '../../version.js';
import { etcdUnary } from './call.js';
import { ETCD_MEMBER_NOT_FOUND, type ClusterNode } from './cluster.js';
import { ETCD_NO_LEADER, serviceError, toEtcdError } from './errors.js';
import { forEachRecord, REVISION_KEY } from '../../maintenance/records.js';
import { headerFiller } from './header.js';
import { etcdMemberId } from './ids.js';

export const ETCD_BAD_TRANSFEREE = 'etcdserver: bad leader transferee';
/** Bytes per Snapshot message (etcd sends 32 KiB; larger pieces cost fewer messages). */
const SNAPSHOT_PIECE = 256 * 1024;

/** What the Maintenance service needs from a node beyond the Cluster service's. */
export interface MaintenanceNode extends ClusterNode {
  readonly cfg: ClusterNode['cfg'] & { readonly dataDir: string; readonly quotaBackendBytes: number };
}

export function maintenanceHandlers(node: MaintenanceNode): MaintenanceServer {
  const fill = headerFiller(node);
  const header = (revision?: number): { header: ResponseHeader } => ({ header: fill(revision) });
  const clusterId = node.cfg.clusterId;
  const unary = <Req, Rep>(fn: (req: Req, deadline: number) => Rep | Promise<Rep>): grpc.handleUnaryCall<Req, Rep> =>
    etcdUnary<Req, Rep>(node, fn) as unknown as grpc.handleUnaryCall<Req, Rep>;
  const sm = node.keyspace;

  return {
    status: unary(async () => {
      const st = node.clusterStatus();
      const dbSize = await sm.dbSize();
      const errors: string[] = [];
      if (!st.leaderId) errors.push(ETCD_NO_LEADER);
      // As etcd prints an AlarmMember.
      for (const a of await sm.alarms()) errors.push(`memberID:${etcdMemberId(clusterId, a.memberId)} alarm:${AlarmType[a.alarm] ?? a.alarm} `);
      return {
        ...header(),
        version: VERSION,
        dbSize,
        dbSizeInUse: dbSize,
        leader: st.leaderId ? etcdMemberId(clusterId, st.leaderId) : 0,
        // etcd reports the commit index as raftIndex.
        raftIndex: st.commitIndex,
        raftTerm: st.term,
        raftAppliedIndex: st.appliedIndex,
        errors,
        isLearner: st.role === 'learner',
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
    alarm: unary(async (req: AlarmRequest, deadline) => {
      const wire = (a: Alarm): AlarmMember => ({ memberID: etcdMemberId(clusterId, a.memberId), alarm: a.alarm });
      const raised = await sm.alarms();
      if (req.action === AlarmRequest_AlarmAction.GET) return { ...header(), alarms: raised.map(wire) };
      if (req.action !== AlarmRequest_AlarmAction.ACTIVATE && req.action !== AlarmRequest_AlarmAction.DEACTIVATE) {
        throw serviceError(grpc.status.INVALID_ARGUMENT, `unknown alarm action ${req.action}`);
      }
      const member = node.clusterStatus().members.find((m) => etcdMemberId(clusterId, m.id) === req.memberID);
      if (!member) throw serviceError(grpc.status.NOT_FOUND, ETCD_MEMBER_NOT_FOUND);
      const r = await node.propose(alarmCommand(req.action, member.id, req.alarm), deadline);
      if (r.code !== ResultCode.RESULT_OK) throw serviceError(grpc.status.INVALID_ARGUMENT, r.message);
      // As etcd: the alarm raised, or the one cleared (none when it was not raised).
      const affected = req.action === AlarmRequest_AlarmAction.ACTIVATE || raised.some((a) => a.memberId === member.id && a.alarm === req.alarm);
      return { ...header(), alarms: affected ? [wire({ memberId: member.id, alarm: req.alarm })] : [] };
    }),
    defragment: unary(async () => {
      await sm.defragment();
      return header();
    }),
    snapshot: (call: grpc.ServerWritableStream<SnapshotRequest, SnapshotResponse>) => {
      if (!node.accepting()) {
        call.destroy(toEtcdError(new PlacementError('UNAVAILABLE', 'node is shutting down')));
        return;
      }
      void node.track(streamBackup(node, call, header)).catch((err: unknown) => call.destroy(toEtcdError(err)));
    },
  };
}

/**
 * One backup: a snapshot of the state machine taken now (one LevelDB snapshot, so one applied
 * index and one revision even while writes go on), written to a private directory in the data
 * dir, streamed, then removed.
 */
async function streamBackup(
  node: MaintenanceNode,
  call: grpc.ServerWritableStream<SnapshotRequest, SnapshotResponse>,
  header: () => { header: ResponseHeader },
): Promise<void> {
  const dir = join(node.cfg.dataDir, 'backups', `${Date.now()}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    const store = await SnapshotStore.open(dir, { retain: 1 });
    const info = await node.keyspace.createSnapshot(store);
    const reader = store.openReader(info.meta, { chunkSize: SNAPSHOT_PIECE });
    const revision = await revisionOfSnapshot(reader);
    const note: BackupInfo = { clusterId: node.cfg.clusterId, revision, index: info.meta.index, takenAt: new Date().toISOString() };
    const total = backupSize(reader.size, note);
    const h = createHash('sha256');
    let sent = 0;
    const send = async (blob: Buffer): Promise<void> => {
      h.update(blob);
      sent += blob.length;
      if (call.cancelled) throw new PlacementError('UNAVAILABLE', 'the client cancelled the snapshot');
      if (!call.write({ ...header(), remainingBytes: total - 32 - sent, blob })) await drained(call);
    };
    for await (const chunk of reader.chunks()) await send(chunk);
    await send(backupTrailer(reader.size, note));
    const digest = h.digest();
    call.write({ ...header(), remainingBytes: 0, blob: digest });
    call.end();
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Resolves when `call` can take more, or when it ends (cancelled by the client, closed). */
function drained(call: grpc.ServerWritableStream<SnapshotRequest, SnapshotResponse>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      call.off('close', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
    call.on('close', done);
  });
}

/** The keyspace revision a snapshot holds (its `!meta!revision` record; 1 when absent, a new store). */
async function revisionOfSnapshot(reader: SnapshotReader): Promise<number> {
  let found = 1;
  await forEachRecord(reader.content(), (k, v) => {
    // storage writes u64s little-endian (storage/wal/record.ts).
    if (k.equals(REVISION_KEY)) found = Number(v.readBigUInt64LE(0));
  });
  return found;
}

/** Serves the Maintenance service and starts the space-quota check; returns the check's stop function. */
export function registerMaintenance(server: grpc.Server, node: MaintenanceNode, log?: Logger): () => void {
  server.addService(tolerant(MaintenanceService), maintenanceHandlers(node));
  return watchQuota({
    selfId: node.cfg.id,
    quotaBytes: node.cfg.quotaBackendBytes,
    dbSize: () => node.keyspace.dbSize(),
    alarms: () => node.keyspace.alarms(),
    propose: (cmd, deadline) => node.propose(cmd, deadline),
    log: log ?? { warn: () => undefined },
  });
}
