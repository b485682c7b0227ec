// The cluster's shared peer secret: where it comes from and how it is kept.
//   1. PLACEMENT_PEER_SECRET (the value itself), or
//   2. --peer-secret-file (a file every member has a copy of; `npm start` and docker-compose.yml
//      generate one), or
//   3. for a cluster of one member, a secret it generates in its data dir (`peer-secret`, 0600)
//      on first start and reuses after: there is no peer to share it with yet, and a member added
//      later is given a copy. A configuration of several members without a secret (and without
//      peer client certificates) is refused by the config loader.
// The secret is never logged and never sent: only HMACs made with it travel (peer-auth.ts).
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, MIN_PEER_SECRET_CHARS, type NodeConfig } from '../config/index.js';
import { writeFileAtomic } from '../../storage/util/fs.js';
import { guardSecretFile, type TlsLogger } from '../tls/files.js';

export const GENERATED_SECRET_FILE = 'peer-secret';

/** A missing or unusable peer secret: a configuration error (the CLI exits 2 with this message). */
export class PeerSecretError extends ConfigError {
}

/** A new random secret in the form the loaders accept (64 hex characters). */
export function generatePeerSecret(): string {
  return randomBytes(32).toString('hex');
}

function fromFile(path: string): Buffer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PeerSecretError(`peer secret file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const secret = text.trim();
  if (secret.length < MIN_PEER_SECRET_CHARS) {
    throw new PeerSecretError(`peer secret file ${path}: the secret must be at least ${MIN_PEER_SECRET_CHARS} characters (got ${secret.length}); make one with \`openssl rand -hex 32\``);
  }
  return Buffer.from(secret, 'utf8');
}

/**
 * The secret this member authenticates peers with, or null when it relies on peer certificates
 * alone. The data dir must exist (it is private: see mkdirDurable).
 */
export async function loadPeerSecret(cfg: NodeConfig, log: TlsLogger): Promise<Buffer | null> {
  if (cfg.peerSecret) return Buffer.from(cfg.peerSecret.reveal().trim(), 'utf8');
  if (cfg.peerSecretFile) {
    await guardSecretFile(cfg.peerSecretFile, 'peer secret file', log);
    return fromFile(cfg.peerSecretFile);
  }
  if (cfg.peerClientCertAuth) return null;
  if (cfg.peers.size > 1) {
    // The config loader refuses this already; kept for programmatic callers.
    throw new PeerSecretError('peer traffic must be authenticated: set --peer-secret-file or PLACEMENT_PEER_SECRET on every member');
  }
  const path = join(cfg.dataDir, GENERATED_SECRET_FILE);
  if (!existsSync(path)) {
    await writeFileAtomic(path, `${generatePeerSecret()}\n`);
    log.info({ file: path }, 'generated this single-member cluster\'s peer secret: give members added later a copy (--peer-secret-file)');
  } else {
    await guardSecretFile(path, 'peer secret file', log);
  }
  return fromFile(path);
}
