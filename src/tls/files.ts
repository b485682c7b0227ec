// Certificate, key and CA files: loaded, checked and watched for changes. A change takes effect
// only once the files on disk form a valid whole again (certificate matching key, parseable CA):
// a rotation that writes the certificate and the key one after the other never leaves a server
// with no usable credentials, it keeps serving the previous ones until both are in place.
import { readFileSync, statSync, type Stats } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { tightenMode, PRIVATE_FILE_MODE } from '../../storage/util/fs.js';
import { ConfigError } from '../config/index.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle that peers' (or clients') certificates must chain to; '' = none. */
  caFile: string;
}

/** The contents of a TlsFiles set, known to be usable together. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  ca: Buffer | undefined;
  /** Not-after of the leaf certificate (for logs). */
  validTo: string;
}

/** Unusable TLS files: a configuration error (the CLI exits 2 with this message). */
export class TlsFileError extends ConfigError {
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsFileError(`${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Reads the files and proves they work together (Node's TLS accepts them). Throws TlsFileError. */
export function loadTlsMaterial(files: TlsFiles): TlsMaterial {
  const cert = read(files.certFile, 'certificate');
  const key = read(files.keyFile, 'private key');
  const ca = files.caFile ? read(files.caFile, 'CA bundle') : undefined;
  let validTo: string;
  try {
    validTo = new X509Certificate(cert).validTo;
  } catch (err) {
    throw new TlsFileError(`certificate ${files.certFile}: not a PEM certificate (${(err as Error).message})`);
  }
  try {
    createSecureContext({ cert, key, ca });
  } catch (err) {
    throw new TlsFileError(`certificate ${files.certFile} / key ${files.keyFile}${ca ? ` / CA ${files.caFile}` : ''}: ${(err as Error).message}`);
  }
  return { cert, key, ca, validTo };
}

/** Minimal logger shape (pino's Logger satisfies it). */
export interface TlsLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

function signature(paths: string[]): string {
  return paths
    .map((p) => {
      let st: Stats;
      try {
        st = statSync(p);
      } catch {
        return `${p}:missing`;
      }
      return `${p}:${st.ino}:${st.size}:${st.mtimeMs}`;
    })
    .join('|');
}

/**
 * Watches a TlsFiles set by polling (a stat per file per interval: cheap, and it works where
 * inotify does not, e.g. on Kubernetes secret volumes that swap a symlink). Listeners get each
 * new valid material; invalid states are logged once and ignored.
 */
export class TlsWatcher {
  private material: TlsMaterial;
  private seen: string;
  private timer: NodeJS.Timeout | null = null;
  private readonly listeners = new Set<(m: TlsMaterial) => void>();
  private lastError = '';

  constructor(
    readonly files: TlsFiles,
    readonly name: string,
    private readonly log: TlsLogger,
  ) {
    this.seen = signature(this.paths());
    this.material = loadTlsMaterial(files);
  }

  get current(): TlsMaterial {
    return this.material;
  }

  private paths(): string[] {
    return [this.files.certFile, this.files.keyFile, ...(this.files.caFile ? [this.files.caFile] : [])];
  }

  onChange(fn: (m: TlsMaterial) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Starts polling every `intervalMs`. */
  start(intervalMs: number): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  /** Re-reads the files if they changed on disk; true when new material was taken. */
  check(): boolean {
    const sig = signature(this.paths());
    if (sig === this.seen) return false;
    let next: TlsMaterial;
    try {
      next = loadTlsMaterial(this.files);
    } catch (err) {
      const msg = (err as Error).message;
      if (msg !== this.lastError) {
        this.lastError = msg;
        this.log.warn({ tls: this.name, err: msg }, 'TLS files changed but are not usable together (yet): still serving the previous certificate');
      }
      return false;
    }
    this.seen = sig;
    this.lastError = '';
    const cur = this.material;
    const sameCa = next.ca === undefined || cur.ca === undefined ? next.ca === cur.ca : next.ca.equals(cur.ca);
    if (next.cert.equals(cur.cert) && next.key.equals(cur.key) && sameCa) return false;
    this.material = next;
    this.log.info({ tls: this.name, certFile: this.files.certFile, validTo: next.validTo }, 'TLS certificate reloaded');
    for (const fn of this.listeners) fn(next);
    return true;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.listeners.clear();
  }
}

/**
 * A file holding a secret (private key, peer secret) should be readable by its owner only. One
 * this process owns is tightened to 0600; one it does not own (a read-only secret mount, a file
 * shared through a group) is left as it is, with a warning.
 */
export async function guardSecretFile(path: string, what: string, log: TlsLogger): Promise<void> {
  let st: Stats;
  try {
    st = statSync(path);
  } catch {
    return; // reading it reports what is wrong, naming the file
  }
  if ((st.mode & 0o077) === 0) return;
  const mine = typeof process.getuid === 'function' && st.uid === process.getuid();
  if (mine) {
    try {
      const was = await tightenMode(path, PRIVATE_FILE_MODE);
      if (was !== undefined) log.warn({ file: path, was: was.toString(8), now: '600' }, `${what} was readable by other users: permissions tightened`);
      return;
    } catch (err) {
      log.warn({ file: path, err: (err as Error).message }, `${what} is readable by other users and cannot be tightened`);
      return;
    }
  }
  log.warn({ file: path, mode: (st.mode & 0o777).toString(8) }, `${what} is readable by other users (not owned by this process: left as is)`);
}
