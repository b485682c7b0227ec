import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Directories holding node data: owner only (etcd CVE-2020-15113: loose existing ones were kept). */
export const PRIVATE_DIR_MODE = 0o700;
/** Files holding secrets (keys, tokens): owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;

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
 * Makes `path` (which exists) no more permissive than `mode`: group and other bits beyond it are
 * removed. Returns the mode it had when it was looser, undefined when nothing changed. Throws
 * (EPERM, EROFS...) when the change is needed and impossible.
 */
export async function tightenMode(path: string, mode: number): Promise<number | undefined> {
  const st = await fsp.stat(path);
  const current = st.mode & 0o777;
  if ((current & ~mode) === 0) return undefined;
  await fsp.chmod(path, current & mode);
  return current;
}

/**
 * mkdir -p, then fsync the parent of every directory it created: otherwise a power loss could
 * drop a freshly created data directory (and every synced file in it) as a whole. The directories
 * it creates are private (0700), and `dir` itself is tightened to 0700 if it already existed with
 * looser permissions: node data is never readable by other users.
 */
export async function mkdirDurable(dir: string): Promise<void> {
  const created = await fsp.mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (created === undefined) {
    await tightenMode(dir, PRIVATE_DIR_MODE);
    return;
  }
  const stop = dirname(created);
  for (let p = dir; p !== stop && dirname(p) !== p; p = dirname(p)) await fsyncDir(dirname(p));
}

/** Write a small file atomically: temp file, fsync, rename over the target, fsync the directory. */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = PRIVATE_FILE_MODE): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, 'w', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
  await fsyncDir(dir);
}
