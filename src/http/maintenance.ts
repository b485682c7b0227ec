// Admin HTTP routes of maintenance, the same operations as etcd's Maintenance service
// (src/api/etcd/maintenance.ts) on the same modules, with this cluster's member ids:
//   GET  /v1/maintenance/status            this member's Status (version, db size, leader, Raft positions, alarms)
//   GET  /v1/maintenance/hashkv?revision=N this member's HashKV (compare replicas)
//   GET  /v1/maintenance/alarms            the alarms raised
//   POST /v1/maintenance/alarms/disarm     clear alarms (body {memberId?, alarm?}; none: all)
//   POST /v1/maintenance/defragment        defragment this member's store
//   GET  /v1/maintenance/snapshot          a consistent backup (application/octet-stream), the
//                                          file `placement-ctl snapshot save` writes
// Without a node behind them (a test backend) the routes answer UNAVAILABLE.
import type express from 'express';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { AlarmRequest_AlarmAction, AlarmType } from '../../proto/gen/etcd/etcdserverpb/rpc.js';
import type { ClusterStatus } from './backend.js';
import { KeyspaceError, type Alarm, type StateMachine } from '../../storage/index.js';
import { PlacementError, invalidArgument } from '../errors.js';
import { openBackup, type BackupHost } from '../maintenance/backup-stream.js';
import { alarmCommand } from '../maintenance/quota.js';
import { memberStatus, type StatusHost } from '../maintenance/status.js';
import { answerResult } from '../results.js';
import type { Command, CommandResult, CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { callerOf } from '../auth/context.js';
import { alarmDisarmBodySchema, emptyBodySchema, hashKvQuerySchema, noQuerySchema } from './schemas.js';
import { drained } from '../grpc/drained.js';

/** What the routes need from the node (PlacementNode has it all). */
export interface MaintenanceHost extends BackupHost, StatusHost {
  readonly cfg: BackupHost['cfg'] & { readonly id: number };
  readonly keyspace: Pick<StateMachine, 'createSnapshot' | 'dbSize' | 'alarms' | 'hashKv' | 'defragment'>;
  clusterStatus(): ClusterStatus;
  propose(cmd: Command, deadline: number, by: CommandCaller | undefined): Promise<CommandResult>;
  /** ReadIndex barrier: afterwards the store holds every write committed before (writers are answered before their batch is on disk). */
  readBarrier(serializable: boolean, deadline: number): Promise<void>;
  accepting(): boolean;
  track<T>(p: Promise<T>): Promise<T>;
}

export interface MaintenanceHttp {
  host: MaintenanceHost;
  requestTimeoutMs: number;
}

/** Bytes per write of a backup to the response. */
const PIECE = 256 * 1024;

const ok = (res: Response, data: unknown): void => {
  res.status(200).json({ code: 0, data });
};

function parse<S extends z.ZodType>(schema: S, input: unknown, where: 'query' | 'body'): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  throw invalidArgument(
    r.error.issues
      .map((i) => {
        if (i.code === 'unrecognized_keys') return `${where}: unknown parameter${i.keys.length > 1 ? 's' : ''} ${i.keys.join(', ')}`;
        return `${i.path.length > 0 ? i.path.map(String).join('.') : where}: ${i.message}`;
      })
      .join('; '),
  );
}

/** No body, or a JSON object (express.json leaves no body undefined). */
function body(req: Request): unknown {
  const b: unknown = req.body;
  if (b === undefined) return {};
  if (b === null || typeof b !== 'object' || Array.isArray(b)) throw invalidArgument('body: must be a JSON object (send Content-Type: application/json) or nothing');
  return b;
}

const alarmJson = (a: Alarm): { memberId: number; alarm: string } => ({ memberId: a.memberId, alarm: AlarmType[a.alarm] ?? String(a.alarm) });

export function registerMaintenanceRoutes(app: express.Express, m: MaintenanceHttp | undefined): void {
  const need = (): MaintenanceHost => {
    if (!m) throw new PlacementError('UNAVAILABLE', 'maintenance is not served by this server');
    return m.host;
  };
  const deadline = (): number => Date.now() + (m?.requestTimeoutMs ?? 5000);

  app.get('/v1/maintenance/status', async (req: Request, res: Response) => {
    parse(noQuerySchema, req.query, 'query');
    const host = need();
    const st = await memberStatus(host);
    const errors: string[] = [];
    if (!st.leaderId) errors.push('no leader');
    for (const a of st.alarms) errors.push(`alarm ${AlarmType[a.alarm] ?? a.alarm} raised by member ${a.memberId}`);
    ok(res, { memberId: host.cfg.id, ...st, alarms: st.alarms.map(alarmJson), errors });
  });

  app.get('/v1/maintenance/hashkv', async (req: Request, res: Response) => {
    const q = parse(hashKvQuerySchema, req.query, 'query');
    const host = need();
    const revision = q.revision ?? 0;
    try {
      const r = await host.keyspace.hashKv(revision);
      ok(res, { memberId: host.cfg.id, hash: r.hash, revision: r.revision, compactRevision: r.compactRevision });
    } catch (err) {
      if (err instanceof KeyspaceError && err.kind === 'FUTURE_REV') throw new PlacementError('OUT_OF_RANGE', `revision: ${revision} is a future revision (not yet written)`);
      if (err instanceof KeyspaceError && err.kind === 'COMPACTED') throw new PlacementError('OUT_OF_RANGE', `revision: ${revision} has been compacted (compact revision ${err.compactRevision})`);
      throw err;
    }
  });

  app.get('/v1/maintenance/alarms', async (req: Request, res: Response) => {
    parse(noQuerySchema, req.query, 'query');
    const host = need();
    await host.readBarrier(false, deadline());
    ok(res, { alarms: (await host.keyspace.alarms()).map(alarmJson) });
  });

  // As `etcdctl alarm disarm`: every raised alarm that matches is cleared, one command each.
  app.post('/v1/maintenance/alarms/disarm', async (req: Request, res: Response) => {
    parse(noQuerySchema, req.query, 'query');
    const b = parse(alarmDisarmBodySchema, body(req), 'body');
    const host = need();
    if (b.memberId !== undefined && !host.clusterStatus().members.some((x) => x.id === b.memberId)) {
      throw new PlacementError('NOT_FOUND', `memberId: ${b.memberId} is not a member of this cluster`);
    }
    const want = b.alarm === undefined ? undefined : AlarmType[b.alarm];
    await host.readBarrier(false, deadline());
    const matching = (await host.keyspace.alarms()).filter((a) => (b.memberId === undefined || a.memberId === b.memberId) && (want === undefined || a.alarm === want));
    for (const a of matching) {
      answerResult(await host.propose(alarmCommand(AlarmRequest_AlarmAction.DEACTIVATE, a.memberId, a.alarm), deadline(), callerOf(req)), { what: `alarm ${AlarmType[a.alarm]} of member ${a.memberId}` });
    }
    await host.readBarrier(false, deadline());
    ok(res, { disarmed: matching.map(alarmJson), alarms: (await host.keyspace.alarms()).map(alarmJson) });
  });

  app.post('/v1/maintenance/defragment', async (req: Request, res: Response) => {
    parse(noQuerySchema, req.query, 'query');
    parse(emptyBodySchema, body(req), 'body');
    const host = need();
    const dbSizeBefore = await host.keyspace.dbSize();
    await host.track(host.keyspace.defragment());
    ok(res, { memberId: host.cfg.id, dbSizeBefore, dbSize: await host.keyspace.dbSize() });
  });

  app.get('/v1/maintenance/snapshot', async (req: Request, res: Response) => {
    parse(noQuerySchema, req.query, 'query');
    const host = need();
    if (!host.accepting()) throw new PlacementError('UNAVAILABLE', 'node is shutting down');
    await host.track(sendBackup(host, res));
  });
}

/**
 * Streams one backup. Its size is known before the first byte, so the response carries a
 * Content-Length: a download cut short (the member stopped, a read failed) is visibly truncated,
 * and placement-ctl snapshot restore refuses it by its hash anyway.
 */
async function sendBackup(host: MaintenanceHost, res: Response): Promise<void> {
  const backup = await openBackup(host, PIECE);
  try {
    res.status(200).set({
      'Content-Type': 'application/octet-stream',
      'Content-Length': String(backup.size),
      'Content-Disposition': `attachment; filename="${host.cfg.clusterId.replace(/[^A-Za-z0-9_.-]/g, '_')}-rev${backup.info.revision}.backup"`,
      'X-Placement-Backup-Revision': String(backup.info.revision),
      'X-Placement-Backup-Index': String(backup.info.index),
    });
    res.flushHeaders();
    // Each piece is written once the next is read, so the last one (the hash) goes out only after
    // the private copy is removed: a client holding the whole backup leaves no copy behind.
    let held: Buffer | undefined;
    for await (const { blob } of backup.pieces()) {
      if (res.destroyed) return; // the client went away: nothing more to send
      if (held && !res.write(held)) await drained(res);
      held = blob;
    }
    await backup.close();
    res.end(held);
  } catch (err) {
    // Headers are out: the only honest signal left is a cut connection.
    if (res.headersSent) res.destroy(err as Error);
    else throw err;
  } finally {
    await backup.close();
  }
}
