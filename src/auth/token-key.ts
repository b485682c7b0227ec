// The key auth tokens are signed with. Every member must hold the same one (a token from one
// member is presented to another), so by default it is derived from the cluster's peer secret,
// which every member already shares: HKDF with a label of its own, so a token key never reveals
// or equals the key peers authenticate with. --auth-token-key-file gives one explicitly (a
// cluster that authenticates peers by certificate alone needs it, or each member signs alone).
import { hkdfSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type NodeConfig } from '../config/index.js';
import { writeFileAtomic } from '../../storage/util/fs.js';
import { guardSecretFile, type TlsLogger } from '../tls/files.js';

const MIN_KEY_CHARS = 32;
export const GENERATED_TOKEN_KEY_FILE = 'auth-token-key';

export async function loadAuthTokenKey(cfg: NodeConfig, peerSecret: Buffer | null, log: TlsLogger): Promise<Uint8Array> {
  if (cfg.authTokenKeyFile) {
    await guardSecretFile(cfg.authTokenKeyFile, 'auth token key file', log);
    const text = readFileSync(cfg.authTokenKeyFile, 'utf8').trim();
    if (text.length < MIN_KEY_CHARS) throw new ConfigError(`auth token key file ${cfg.authTokenKeyFile}: the key must be at least ${MIN_KEY_CHARS} characters (got ${text.length})`);
    return derive(Buffer.from(text, 'utf8'), cfg.clusterId);
  }
  if (peerSecret) return derive(peerSecret, cfg.clusterId);
  // Peers authenticated by certificate only: a key of this member's own (tokens work on this member).
  const path = join(cfg.dataDir, GENERATED_TOKEN_KEY_FILE);
  if (!existsSync(path)) {
    await writeFileAtomic(path, `${randomBytes(32).toString('hex')}\n`);
    log.warn({ file: path }, 'no --auth-token-key-file and no peer secret: tokens are signed with a key of this member alone; give every member the same --auth-token-key-file');
  }
  return derive(Buffer.from(readFileSync(path, 'utf8').trim(), 'utf8'), cfg.clusterId);
}

/** The signing key from a key file's text (exported for tests that mint tokens). */
export function tokenKeyFromText(text: string, clusterId: string): Uint8Array {
  return derive(Buffer.from(text.trim(), 'utf8'), clusterId);
}

function derive(secret: Buffer, clusterId: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, Buffer.from(clusterId, 'utf8'), Buffer.from('placement-center auth token v1'), 32));
}
