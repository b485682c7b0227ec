// `placement-ctl snapshot restore FILE --data-dir DIR --id N --peers ... --cluster-id NEW`, offline
// (etcdutl's snapshot restore): builds a member's data directory of a NEW cluster from a backup.
//
// - The backup's hash and its snapshot's own checksum are verified before anything is written;
//   a damaged file is refused and leaves nothing behind.
// - The directory must not exist or be empty: a restore never overwrites data.
// - The new cluster has its own --cluster-id (refused if it is the backup's): the peer handshake
//   binds every session to the cluster id, so restored members and the old cluster's members
//   refuse each other, and the etcd cluster_id changes with it.
// - Every member of the new cluster is restored from the same backup with the same --peers and
//   --cluster-id: each starts with the same log (a snapshot at the backup's index and term, whose
//   membership is the voters --peers names) and installs the snapshot when it starts.
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { SnapshotStore, Wal, verifyBackupFile, verifySnapshotFile, type BackupInfo } from '../../storage/index.js';
import { mkdirDurable, writeFileAtomic } from '../../storage/util/fs.js';
import { IDENTITY_FILE, type Identity } from '../node/identity.js';
import { CONF_STATE_KEY, encodeRecord, records } from './records.js';

export interface RestoreOptions {
  file: string;
  dataDir: string;
  id: number;
  /** Every member of the new cluster (this one included): id → gRPC address. */
  peers: Map<number, string>;
  clusterId: string;
}

export class RestoreError extends Error {
  override name = 'RestoreError';
}

export interface RestoreResult {
  info: BackupInfo;
  index: number;
  term: number;
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  if (!o.peers.has(o.id)) throw new RestoreError(`--peers must name this member (${o.id}) too: it lists ${[...o.peers.keys()].join(', ') || 'nothing'}`);
  if (!o.clusterId) throw new RestoreError('--cluster-id is required: the restored cluster needs a new identity (the same on every member restored)');
  if (existsSync(o.dataDir) && (await fsp.readdir(o.dataDir)).length > 0) {
    throw new RestoreError(`${o.dataDir} is not empty: a restore writes a fresh data directory and never overwrites one (choose another, or move it aside)`);
  }
  let verified;
  try {
    verified = await verifyBackupFile(o.file);
  } catch (err) {
    throw new RestoreError(`refusing ${o.file}: ${(err as Error).message}`);
  }
  const { info, fileLen } = verified;
  if (info.clusterId === o.clusterId) {
    throw new RestoreError(
      `the backup was taken from cluster ${JSON.stringify(info.clusterId)}: the restored cluster needs another --cluster-id, so that it and the old cluster never take each other's members for their own`,
    );
  }

  await mkdirDurable(o.dataDir);
  const work = join(o.dataDir, '.restore');
  try {
    // The snapshot file inside the backup, copied out and checked against its own checksum.
    await mkdirDurable(work);
    const inner = join(work, 'backup.snap');
    const src = await fsp.open(o.file, 'r');
    try {
      const dst = await fsp.open(inner, 'wx', 0o600);
      try {
        const buf = Buffer.allocUnsafe(1 << 20);
        for (let pos = 0; pos < fileLen; ) {
          const { bytesRead } = await src.read(buf, 0, Math.min(buf.length, fileLen - pos), pos);
          if (bytesRead === 0) throw new RestoreError(`${o.file} ended early while being read`);
          await dst.write(buf.subarray(0, bytesRead));
          pos += bytesRead;
        }
      } finally {
        await dst.close();
      }
    } finally {
      await src.close();
    }
    let snap;
    try {
      snap = await verifySnapshotFile(inner);
    } catch (err) {
      throw new RestoreError(`refusing ${o.file}: ${(err as Error).message}`);
    }

    // The new membership: the voters --peers names, recorded in the snapshot's meta and content.
    const confState = { voters: [...o.peers.keys()].sort((a, b) => a - b), learners: [] as number[] };
    const store = await SnapshotStore.open(join(o.dataDir, 'snap'), { retain: 3 });
    const meta = { index: snap.meta.index, term: snap.meta.term, confState };
    const content = async function* (): AsyncGenerator<Buffer> {
      const fh = await fsp.open(inner, 'r');
      try {
        const raw = async function* (): AsyncGenerator<Buffer> {
          const buf = Buffer.allocUnsafe(1 << 20);
          for (let pos = snap.contentStart; pos < snap.contentEnd; ) {
            const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, snap.contentEnd - pos), pos);
            if (bytesRead === 0) throw new RestoreError(`${inner} ended early`);
            yield Buffer.from(buf.subarray(0, bytesRead));
            pos += bytesRead;
          }
        };
        let out: Buffer[] = [];
        let size = 0;
        for await (const [k, v] of records(raw())) {
          const rec = k.equals(CONF_STATE_KEY) ? encodeRecord(k, Buffer.from(JSON.stringify(confState), 'utf8')) : encodeRecord(k, v);
          out.push(rec);
          size += rec.length;
          if (size >= 256 * 1024) {
            yield Buffer.concat(out, size);
            out = [];
            size = 0;
          }
        }
        if (out.length > 0) yield Buffer.concat(out, size);
      } finally {
        await fh.close();
      }
    };
    const written = await store.create(meta, content());
    // The log starts at the snapshot: committed up to it, no vote cast in the new cluster yet.
    const { wal } = await Wal.open(join(o.dataDir, 'wal'));
    try {
      await wal.save({ snapshot: written.meta, hardState: { term: meta.term, vote: 0, commit: meta.index } });
    } finally {
      await wal.close();
    }
    const identity: Identity = {
      clusterId: o.clusterId,
      memberId: o.id,
      createdAt: new Date().toISOString(),
      peers: Object.fromEntries([...o.peers].map(([id, a]) => [String(id), a])),
    };
    await writeFileAtomic(join(o.dataDir, IDENTITY_FILE), `${JSON.stringify(identity, null, 2)}\n`);
    return { info, index: meta.index, term: meta.term };
  } catch (err) {
    // Nothing half-restored is left to be started: the directory was empty (or absent) before.
    await fsp.rm(o.dataDir, { recursive: true, force: true });
    throw err;
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
  }
}
