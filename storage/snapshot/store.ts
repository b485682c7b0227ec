// Snapshot files: one self-describing, checksummed file per snapshot.
//
//   magic "PCSNAP01" (8) | metaLen u32 LE | meta JSON {index, term, confState} | content ...
//   | trailer: magic "PCSNEND1" (8) | contentLength u64 LE | SHA-256 (32) of every byte before the trailer
//
// The file is the transfer unit: a leader streams its bytes to a follower as-is (openReader().chunks()),
// the follower writes them with beginReceive() and commit() verifies before renaming into place.

import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { ConfState, SnapshotMeta } from '../../raft/types.js';
import { SnapshotCorruptionError, StorageError } from '../errors.js';
import { fsyncDir, mkdirDurable } from '../util/fs.js';
import { Pacer } from '../util/pace.js';
import { checkConfState, readU64, writeU64 } from '../wal/record.js';

const MAGIC = Buffer.from('PCSNAP01');
const END_MAGIC = Buffer.from('PCSNEND1');
const TRAILER = 8 + 8 + 32;
/** Default read size: hashing it takes well under a millisecond, so reads pace the event loop. */
const CHUNK = 256 * 1024;
const NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const hex16 = (n: number): string => n.toString(16).padStart(16, '0');

export const snapshotFileName = (meta: Pick<SnapshotMeta, 'index' | 'term'>): string => `${hex16(meta.index)}-${hex16(meta.term)}.snap`;

export interface SnapshotInfo {
  meta: SnapshotMeta;
  /** Absolute path of the committed file. */
  path: string;
  /** Total file size in bytes (what a peer transfer sends). */
  size: number;
}

export interface SnapshotStoreOptions {
  /** How many snapshots to keep (newest by index); older ones are deleted after each commit. Default 3. */
  retain?: number;
}

/** Streams one committed snapshot: raw file chunks for a peer, or verified content for installing. */
export interface SnapshotReader {
  readonly meta: SnapshotMeta;
  /** File size in bytes. */
  readonly size: number;
  /** The raw file bytes in chunks (send these to a peer; its receiver verifies them). */
  chunks(): AsyncIterable<Buffer>;
  /**
   * The content bytes (without header/trailer). The checksum is verified as the stream ends: the
   * iterator throws SnapshotCorruptionError instead of finishing if it does not match, so a
   * consumer must treat only a normally-completed iteration as valid.
   */
  content(): AsyncIterable<Buffer>;
}

/** Accepts a snapshot file's bytes from a peer; commit() verifies and renames atomically. */
export interface SnapshotReceiver {
  readonly meta: SnapshotMeta;
  readonly bytesReceived: number;
  /** Append the next chunk (in order). */
  write(chunk: Uint8Array): Promise<void>;
  /** fsync, verify header (must match meta) and checksum, rename into place, fsync dir, prune old ones. */
  commit(): Promise<SnapshotInfo>;
  /** Discard the partial file. Safe to call more than once or after a failed commit. */
  abort(): Promise<void>;
}

function encodeHeader(meta: SnapshotMeta): Buffer {
  const json = Buffer.from(JSON.stringify({ index: meta.index, term: meta.term, confState: { voters: meta.confState.voters, learners: meta.confState.learners } }));
  const h = Buffer.allocUnsafe(12 + json.length);
  MAGIC.copy(h, 0);
  h.writeUInt32LE(json.length, 8);
  json.copy(h, 12);
  return h;
}

function sameMeta(a: SnapshotMeta, b: SnapshotMeta): boolean {
  const conf = (c: ConfState): string => JSON.stringify([[...c.voters].sort(), [...c.learners].sort()]);
  return a.index === b.index && a.term === b.term && conf(a.confState) === conf(b.confState);
}

/**
 * Read and verify a snapshot file completely. Returns its meta and the byte range of the content.
 * Throws SnapshotCorruptionError on any mismatch.
 */
export async function verifySnapshotFile(path: string): Promise<{ meta: SnapshotMeta; contentStart: number; contentEnd: number; size: number }> {
  const fh = await fsp.open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (size < 12 + TRAILER) throw new SnapshotCorruptionError(path, `file too short (${size} bytes)`);
    const { meta, headerLen } = await readHeader(fh, path, size);
    const trailer = Buffer.alloc(TRAILER);
    await fh.read(trailer, 0, TRAILER, size - TRAILER);
    if (!trailer.subarray(0, 8).equals(END_MAGIC)) throw new SnapshotCorruptionError(path, 'bad trailer magic (truncated?)');
    const contentLen = readU64(trailer, 8);
    if (headerLen + contentLen + TRAILER !== size) throw new SnapshotCorruptionError(path, 'content length does not match file size');
    const h = createHash('sha256');
    // Read and hash in slices: every read is a turn of the event loop.
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    const end = size - TRAILER;
    while (pos < end) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) throw new SnapshotCorruptionError(path, 'short read');
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    if (!h.digest().equals(trailer.subarray(16))) throw new SnapshotCorruptionError(path, 'checksum mismatch');
    return { meta, contentStart: headerLen, contentEnd: end, size };
  } finally {
    await fh.close();
  }
}

/**
 * The meta JSON is a few hundred bytes (index, term, member ids); a length field beyond this is
 * damage and is refused before anything is allocated from it (etcd CVE-2020-15106).
 */
export const MAX_SNAPSHOT_HEADER = 1024 * 1024;

async function readHeader(fh: FileHandle, path: string, size: number): Promise<{ meta: SnapshotMeta; headerLen: number }> {
  if (size < 12 + TRAILER) throw new SnapshotCorruptionError(path, `file too short (${size} bytes)`);
  const pre = Buffer.alloc(12);
  await fh.read(pre, 0, 12, 0);
  if (!pre.subarray(0, 8).equals(MAGIC)) throw new SnapshotCorruptionError(path, 'bad magic');
  const len = pre.readUInt32LE(8);
  if (len > MAX_SNAPSHOT_HEADER) throw new SnapshotCorruptionError(path, `implausible header length ${len} (at most ${MAX_SNAPSHOT_HEADER})`);
  if (12 + len + TRAILER > size) throw new SnapshotCorruptionError(path, `header length ${len} overruns the file (${size} bytes)`);
  const json = Buffer.alloc(len);
  const { bytesRead } = await fh.read(json, 0, len, 12);
  if (bytesRead !== len) throw new SnapshotCorruptionError(path, 'short read of the header');
  let raw: { index?: unknown; term?: unknown; confState?: unknown };
  try {
    raw = JSON.parse(json.toString('utf8')) as typeof raw;
  } catch {
    throw new SnapshotCorruptionError(path, 'unparseable header');
  }
  if (typeof raw !== 'object' || raw === null || !Number.isSafeInteger(raw.index) || !Number.isSafeInteger(raw.term) || (raw.index as number) < 0 || (raw.term as number) < 0) {
    throw new SnapshotCorruptionError(path, 'invalid header fields');
  }
  let confState: ConfState;
  try {
    confState = checkConfState(raw.confState);
  } catch (err) {
    throw new SnapshotCorruptionError(path, `invalid header fields: ${(err as Error).message}`);
  }
  return { meta: { index: raw.index as number, term: raw.term as number, confState }, headerLen: 12 + len };
}

async function* readRange(fh: FileHandle, start: number, end: number, chunkSize: number): AsyncGenerator<Buffer> {
  let pos = start;
  while (pos < end) {
    const b = Buffer.allocUnsafe(Math.min(chunkSize, end - pos));
    const { bytesRead } = await fh.read(b, 0, b.length, pos);
    if (bytesRead === 0) throw new SnapshotCorruptionError('(snapshot)', `unexpected end of file at ${pos}`);
    pos += bytesRead;
    yield bytesRead === b.length ? b : b.subarray(0, bytesRead);
  }
}

/** Releases the pin of a snapshot stream that was dropped without being read to the end. */
const streamFinalizer = new FinalizationRegistry<() => void>((release) => release());

/** The content bytes of a snapshot file; throws SnapshotCorruptionError at the end if the checksum does not match. */
async function* readContent(path: string, chunkSize: number): AsyncGenerator<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const { headerLen } = await readHeader(fh, path, size);
    const end = size - TRAILER;
    if (end < headerLen) throw new SnapshotCorruptionError(path, 'file too short');
    const h = createHash('sha256');
    for await (const c of readRange(fh, 0, headerLen, chunkSize)) h.update(c);
    for await (const c of readRange(fh, headerLen, end, chunkSize)) {
      h.update(c);
      yield c;
    }
    const trailer = Buffer.alloc(TRAILER);
    await fh.read(trailer, 0, TRAILER, end);
    if (!trailer.subarray(0, 8).equals(END_MAGIC)) throw new SnapshotCorruptionError(path, 'bad trailer magic');
    if (readU64(trailer, 8) !== end - headerLen) throw new SnapshotCorruptionError(path, 'content length mismatch');
    if (!h.digest().equals(trailer.subarray(16))) throw new SnapshotCorruptionError(path, 'checksum mismatch');
  } finally {
    await fh.close();
  }
}

/** Buffered writer that hashes everything it writes. */
class HashingFileWriter {
  private readonly hash = createHash('sha256');
  private buf = Buffer.allocUnsafe(1 << 20);
  private used = 0;
  position = 0;
  constructor(private readonly fh: FileHandle) {}
  async write(chunk: Uint8Array, hashed = true): Promise<void> {
    if (hashed) this.hash.update(chunk);
    if (chunk.length > this.buf.length - this.used) {
      await this.flush();
      if (chunk.length >= this.buf.length) {
        await this.writeAll(chunk);
        return;
      }
    }
    this.buf.set(chunk, this.used);
    this.used += chunk.length;
  }
  digest(): Buffer {
    return this.hash.digest();
  }
  async flush(): Promise<void> {
    if (this.used === 0) return;
    const b = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(this.buf.length);
    this.used = 0;
    await this.writeAll(b);
  }
  private async writeAll(b: Uint8Array): Promise<void> {
    let off = 0;
    while (off < b.length) {
      const { bytesWritten } = await this.fh.write(b, off, b.length - off, this.position);
      off += bytesWritten;
      this.position += bytesWritten;
    }
  }
}

/**
 * Directory of snapshot files named `<index>-<term>.snap` (16 hex digits each). Files are created
 * as `.partial-*` temp files, fsynced, renamed into place and the directory fsynced; a crash leaves
 * either no file or a complete one (temp files are removed on open). Keeps the newest `retain`.
 */
export class SnapshotStore {
  private readonly retain: number;
  private snapshots: SnapshotInfo[] = [];
  /** Paths with a stream handed out (chunks()/content() called, not finished): prune() keeps them. */
  private readonly pins = new Map<string, number>();
  private pruneChain: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    opts: SnapshotStoreOptions,
  ) {
    this.retain = Math.max(1, opts.retain ?? 3);
  }

  /** Open (or create) the directory, delete leftover temp files and index the snapshots present. */
  static async open(dir: string, opts: SnapshotStoreOptions = {}): Promise<SnapshotStore> {
    await mkdirDurable(dir);
    const s = new SnapshotStore(dir, opts);
    for (const name of await fsp.readdir(dir)) {
      if (name.startsWith('.partial-')) {
        await fsp.rm(join(dir, name), { force: true });
        continue;
      }
      const m = NAME_RE.exec(name);
      if (!m) continue;
      const path = join(dir, name);
      const fh = await fsp.open(path, 'r');
      try {
        const size = (await fh.stat()).size;
        const { meta } = await readHeader(fh, path, size);
        s.snapshots.push({ meta, path, size });
      } catch {
        // Unreadable header: not usable; leave it for an operator, never serve it.
      } finally {
        await fh.close();
      }
    }
    s.snapshots.sort((a, b) => a.meta.index - b.meta.index || a.meta.term - b.meta.term);
    return s;
  }

  /** Newest committed snapshot (by index), if any. Not re-verified: use verify() or content() for that. */
  latest(): SnapshotInfo | undefined {
    return this.snapshots[this.snapshots.length - 1];
  }

  /** All committed snapshots, oldest first. */
  list(): SnapshotInfo[] {
    return [...this.snapshots];
  }

  /**
   * Drops from the index the snapshots whose files are gone (deleted by hand, a lost disk);
   * returns them. The index is otherwise only read at open().
   */
  async forgetMissing(): Promise<SnapshotInfo[]> {
    const gone: SnapshotInfo[] = [];
    for (const s of this.snapshots) {
      try {
        await fsp.stat(s.path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') gone.push(s);
        else throw e;
      }
    }
    if (gone.length > 0) this.snapshots = this.snapshots.filter((s) => !gone.includes(s));
    return gone;
  }

  /** Find a committed snapshot by index and term. */
  find(meta: Pick<SnapshotMeta, 'index' | 'term'>): SnapshotInfo | undefined {
    return this.snapshots.find((s) => s.meta.index === meta.index && s.meta.term === meta.term);
  }

  /** Fully verify a committed snapshot's checksum. Throws SnapshotCorruptionError. */
  async verify(meta: Pick<SnapshotMeta, 'index' | 'term'>): Promise<void> {
    await verifySnapshotFile(this.require(meta).path);
  }

  /**
   * Write a new snapshot from `content` (any sequence of byte chunks), durably and atomically.
   * Resolves with the committed file once it is fsynced and renamed into place.
   */
  async create(meta: SnapshotMeta, content: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<SnapshotInfo> {
    const tmp = join(this.dir, `.partial-${randomBytes(6).toString('hex')}`);
    const fh = await fsp.open(tmp, 'wx');
    try {
      const w = new HashingFileWriter(fh);
      const header = encodeHeader(meta);
      await w.write(header);
      let contentLen = 0;
      const pacer = new Pacer();
      for await (const chunk of content) {
        contentLen += chunk.length;
        await w.write(chunk);
        const p = pacer.pace();
        if (p) await p;
      }
      const trailer = Buffer.allocUnsafe(TRAILER);
      END_MAGIC.copy(trailer, 0);
      writeU64(trailer, contentLen, 8);
      w.digest().copy(trailer, 16);
      await w.write(trailer, false);
      await w.flush();
      await fh.sync();
      await fh.close();
      return await this.install(tmp, meta, header.length + contentLen + TRAILER);
    } catch (e) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      throw e;
    }
  }

  /** Stream a committed snapshot (to a peer, or into a state machine). */
  openReader(meta: Pick<SnapshotMeta, 'index' | 'term'>, opts: { chunkSize?: number } = {}): SnapshotReader {
    const info = this.require(meta);
    const chunkSize = opts.chunkSize ?? CHUNK;
    const path = info.path;
    // A stream is pinned from the moment it is handed out (chunks()/content() called) until it
    // finishes: the generator body, and so its open(), only runs at the first read, which may come
    // much later (a transport connecting to a slow peer); prune() must not delete the file meanwhile.
    // A stream dropped before its first read is released by return()/throw(), or when it is
    // garbage-collected.
    const pinned = <T>(gen: (release: () => void) => AsyncGenerator<T>): AsyncIterableIterator<T> => {
      this.pin(path);
      let released = false;
      const release = (): void => {
        if (!released) {
          released = true;
          this.unpin(path);
        }
      };
      const it = gen(release);
      const wrapper: AsyncIterableIterator<T> = {
        next: () => it.next(),
        return: (v?: unknown) => {
          release();
          return it.return(v as never);
        },
        throw: (e?: unknown) => {
          release();
          return it.throw(e);
        },
        [Symbol.asyncIterator]() {
          return wrapper;
        },
      };
      streamFinalizer.register(wrapper, release);
      return wrapper;
    };
    return {
      meta: info.meta,
      size: info.size,
      chunks: () =>
        pinned(async function* (release) {
          try {
            // One descriptor for the whole stream.
            const fh = await fsp.open(path, 'r');
            try {
              yield* readRange(fh, 0, (await fh.stat()).size, chunkSize);
            } finally {
              await fh.close();
            }
          } finally {
            release();
          }
        }),
      content: () => pinned(async function* (release) {
        try {
          yield* readContent(path, chunkSize);
        } finally {
          release();
        }
      }),
    };
  }

  private pin(path: string): void {
    this.pins.set(path, (this.pins.get(path) ?? 0) + 1);
  }

  private unpin(path: string): void {
    const n = (this.pins.get(path) ?? 1) - 1;
    if (n > 0) {
      this.pins.set(path, n);
      return;
    }
    this.pins.delete(path);
    // It may have been kept past the retain limit only because it was pinned.
    if (this.snapshots.length > this.retain) this.prune().catch(() => undefined);
  }


  /** Start receiving a snapshot file from a peer (raw bytes as produced by SnapshotReader.chunks()). */
  async beginReceive(meta: SnapshotMeta): Promise<SnapshotReceiver> {
    const tmp = join(this.dir, `.partial-${randomBytes(6).toString('hex')}`);
    const fh = await fsp.open(tmp, 'wx');
    let pos = 0;
    let done = false;
    // Writes run one after another in call order, and commit() waits for them: a caller that does
    // not await each write() must neither interleave chunks nor fsync before the last one landed.
    let writes: Promise<void> = Promise.resolve();
    let writeError: unknown;
    const store = this;
    const abort = async (): Promise<void> => {
      if (done) return;
      done = true;
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
    };
    return {
      meta,
      get bytesReceived() {
        return pos;
      },
      write(chunk: Uint8Array): Promise<void> {
        if (done) return Promise.reject(new StorageError('SNAPSHOT_CORRUPT', 'receiver already finished'));
        const p = writes.then(async () => {
          if (writeError) throw writeError;
          let off = 0;
          while (off < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, pos);
            off += bytesWritten;
            pos += bytesWritten;
          }
        });
        writes = p.catch((e: unknown) => {
          writeError ??= e;
        });
        return p;
      },
      async commit(): Promise<SnapshotInfo> {
        if (done) throw new StorageError('SNAPSHOT_CORRUPT', 'receiver already finished');
        try {
          await writes;
          if (writeError) throw writeError;
          await fh.sync();
          await fh.close();
          const v = await verifySnapshotFile(tmp);
          if (!sameMeta(v.meta, meta)) {
            throw new SnapshotCorruptionError(tmp, `header ${JSON.stringify(v.meta)} does not match expected ${JSON.stringify(meta)}`);
          }
          done = true;
          return await store.install(tmp, v.meta, v.size);
        } catch (e) {
          done = false;
          await abort();
          throw e;
        }
      },
      abort,
    };
  }

  /** Delete all but the newest `retain` snapshots. Called automatically after each commit. */
  prune(): Promise<void> {
    // One at a time, so that awaiting prune() also waits for one started by a finished stream.
    const p = this.pruneChain.then(() => this.pruneNow());
    this.pruneChain = p.catch(() => undefined);
    return p;
  }

  private async pruneNow(): Promise<void> {
    // Decide synchronously (concurrent prunes/installs see a consistent list). The newest `retain`
    // always stay; older ones go unless a stream of theirs is in progress (see openReader).
    const excess = this.snapshots.length - this.retain;
    if (excess <= 0) return;
    const victims = this.snapshots.slice(0, excess).filter((s) => !this.pins.has(s.path));
    if (victims.length === 0) return;
    const gone = new Set(victims);
    this.snapshots = this.snapshots.filter((s) => !gone.has(s));
    for (const v of victims) await fsp.rm(v.path, { force: true });
    await fsyncDir(this.dir);
  }

  private async install(tmp: string, meta: SnapshotMeta, size: number): Promise<SnapshotInfo> {
    const path = join(this.dir, snapshotFileName(meta));
    await fsp.rename(tmp, path);
    await fsyncDir(this.dir);
    const info: SnapshotInfo = { meta, path, size };
    this.snapshots = this.snapshots.filter((s) => s.path !== path);
    this.snapshots.push(info);
    this.snapshots.sort((a, b) => a.meta.index - b.meta.index || a.meta.term - b.meta.term);
    await this.prune();
    return info;
  }

  private require(meta: Pick<SnapshotMeta, 'index' | 'term'>): SnapshotInfo {
    const info = this.find(meta);
    if (!info) throw new StorageError('SNAPSHOT_NOT_FOUND', `no snapshot at index ${meta.index} term ${meta.term} in ${this.dir}`);
    return info;
  }
}
