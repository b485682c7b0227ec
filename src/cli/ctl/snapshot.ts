// placement-ctl snapshot save FILE | snapshot restore FILE --data-dir DIR --id N --peers ... --cluster-id NEW
//
// save: a backup from one member (the first endpoint) through etcd's Maintenance Snapshot stream,
// written to FILE.part, checked (its hash and trailer), then renamed to FILE: FILE exists only
// complete. restore: offline, src/maintenance/restore.ts.
import { promises as fsp } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { Command } from 'commander';
import { MaintenanceClient, type SnapshotResponse } from '../../../proto/gen/etcd/etcdserverpb/rpc.js';
import { verifyBackupFile } from '../../../storage/index.js';
import { RestoreError, restoreBackup } from '../../maintenance/restore.js';
import { EXIT } from './exit-codes.js';
import { printJson, println } from './output.js';
import { CtlError, UsageError, globals, parseEndpoints, parsePositiveInt, tlsFromGlobals } from './program.js';

function parsePeers(raw: string): Map<number, string> {
  const peers = new Map<number, string>();
  for (const part of raw.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^(\d+)=(\S+:\d{1,5})$/.exec(part);
    if (!m || Number(m[1]) <= 0) throw new UsageError(`bad --peers entry "${part}": expected id=host:port`);
    peers.set(Number(m[1]), m[2]!);
  }
  if (peers.size === 0) throw new UsageError('--peers is empty');
  return peers;
}

async function save(file: string, cmd: Command): Promise<void> {
  const g = globals(cmd);
  const endpoint = parseEndpoints(g.endpoints)[0]!;
  const tls = tlsFromGlobals(g);
  const creds = tls
    ? grpc.credentials.createSsl(tls.ca ? Buffer.from(tls.ca) : null, tls.key ? Buffer.from(tls.key) : null, tls.cert ? Buffer.from(tls.cert) : null)
    : grpc.credentials.createInsecure();
  const client = new MaintenanceClient(endpoint, creds, { 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  const part = `${file}.part`;
  const fh = await fsp.open(part, 'w', 0o600);
  const started = Date.now();
  let bytes = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const call = client.snapshot({});
      let writing = Promise.resolve();
      call.on('data', (m: SnapshotResponse) => {
        call.pause();
        writing = writing.then(async () => {
          await fh.write(m.blob);
          bytes += m.blob.length;
          call.resume();
        });
        writing.catch((err: unknown) => {
          call.cancel();
          reject(err as Error);
        });
      });
      call.on('error', reject);
      call.on('end', () => void writing.then(resolve, reject));
    });
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await fsp.rm(part, { force: true });
    const e = err as grpc.ServiceError;
    throw new CtlError(`snapshot from ${endpoint} failed: ${e.details ?? e.message}`, e.code === grpc.status.UNAVAILABLE ? EXIT.UNAVAILABLE : EXIT.FAILURE);
  } finally {
    client.close();
  }
  await fh.close();
  let v;
  try {
    v = await verifyBackupFile(part);
  } catch (err) {
    await fsp.rm(part, { force: true });
    throw new CtlError(`the backup received from ${endpoint} does not verify: ${(err as Error).message}`, EXIT.FAILURE);
  }
  await fsp.rename(part, file);
  const seconds = (Date.now() - started) / 1000;
  if (g.json) printJson({ file, bytes, revision: v.info.revision, index: v.info.index, clusterId: v.info.clusterId, seconds });
  else println(`Snapshot saved at ${file} (revision ${v.info.revision}, ${bytes} bytes)`);
}

export function registerSnapshot(program: Command): void {
  const snapshot = program.command('snapshot').description('back up the keyspace (save) and build a new cluster from a backup (restore)');
  snapshot
    .command('save')
    .description('save a consistent backup (one revision, taken while writes go on) from the first endpoint')
    .argument('<file>', 'where to write it (written to <file>.part, then renamed once complete and verified)')
    .action(async (file: string, _opts: unknown, cmd: Command) => save(file, cmd));
  snapshot
    .command('restore')
    .description('offline: write a fresh data directory of a NEW cluster from a backup (run once per member, same backup, --peers and --cluster-id)')
    .argument('<file>', 'a backup made by snapshot save (or etcdctl snapshot save against Placement Center)')
    .requiredOption('--data-dir <dir>', 'the member\'s new data directory (must not exist or be empty)')
    .requiredOption('--id <n>', 'the member\'s id in the new cluster', parsePositiveInt)
    .requiredOption('--peers <list>', 'every member of the new cluster as id=host:port,... (this one included)')
    .requiredOption('--cluster-id <name>', 'the new cluster\'s --cluster-id (must differ from the backup\'s)')
    .action(async (file: string, opts: { dataDir: string; id: number; peers: string; clusterId: string }, cmd: Command) => {
      const peers = parsePeers(opts.peers);
      try {
        const r = await restoreBackup({ file, dataDir: opts.dataDir, id: opts.id, peers, clusterId: opts.clusterId });
        if (globals(cmd).json) printJson({ dataDir: opts.dataDir, id: opts.id, clusterId: opts.clusterId, revision: r.info.revision, index: r.index, term: r.term, fromCluster: r.info.clusterId });
        else
          println(
            `restored revision ${r.info.revision} of cluster ${JSON.stringify(r.info.clusterId)} into ${opts.dataDir} as member ${opts.id} of cluster ${JSON.stringify(opts.clusterId)}: ` +
              `start it with --cluster-id ${opts.clusterId} --id ${opts.id} --data-dir ${opts.dataDir} --peers ${opts.peers}`,
          );
      } catch (err) {
        if (err instanceof RestoreError) throw new CtlError(err.message, EXIT.REJECTED, 'RESTORE_REFUSED');
        throw err;
      }
    });
}
