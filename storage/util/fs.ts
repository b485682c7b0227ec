import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** fsync a directory so that creates, renames and unlinks in it are durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * mkdir -p, then fsync the parent of every directory it created: otherwise a power loss could
 * drop a freshly created data directory (and every synced file in it) as a whole.
 */
export async function mkdirDurable(dir: string): Promise<void> {
  const created = await fsp.mkdir(dir, { recursive: true });
  if (created === undefined) return;
  const stop = dirname(created);
  for (let p = dir; p !== stop && dirname(p) !== p; p = dirname(p)) await fsyncDir(dirname(p));
}

/** Write a small file atomically: temp file, fsync, rename over the target, fsync the directory. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  await fsyncDir(dir);
}
