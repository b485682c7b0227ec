// Certificates for TLS tests, made at run time by deploy/make-certs.sh (openssl): the script
// the compose TLS profile uses, so the tests also prove what it makes works. Each directory is
// its own CA; re-running a spec in the same directory rotates that certificate (same CA).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './cluster.js';

const SCRIPT = join(REPO_ROOT, 'deploy', 'make-certs.sh');

export interface CertFiles {
  cert: string;
  key: string;
}

export class CertDir {
  constructor(readonly dir: string) {}

  /** Runs deploy/make-certs.sh with `specs` (member:<id>:<hosts>, client:<name>). */
  make(...specs: string[]): this {
    execFileSync('bash', [SCRIPT, this.dir, ...specs], { stdio: ['ignore', 'ignore', 'pipe'] });
    return this;
  }

  get caFile(): string {
    return join(this.dir, 'ca.crt');
  }

  get ca(): Buffer {
    return readFileSync(this.caFile);
  }

  member(id: number): CertFiles {
    return { cert: join(this.dir, `member-${id}.crt`), key: join(this.dir, `member-${id}.key`) };
  }

  client(name: string): CertFiles {
    return { cert: join(this.dir, `client-${name}.crt`), key: join(this.dir, `client-${name}.key`) };
  }

  /** PEM contents of a certificate/key pair. */
  read(f: CertFiles): { cert: Buffer; key: Buffer } {
    return { cert: readFileSync(f.cert), key: readFileSync(f.key) };
  }
}

/** Makes member certificates for ids 1..n (valid on 127.0.0.1 and localhost) and the given clients. */
export function makeClusterCerts(dir: string, n: number, clients: string[] = []): CertDir {
  const specs = Array.from({ length: n }, (_, i) => `member:${i + 1}:127.0.0.1,localhost`);
  return new CertDir(dir).make(...specs, ...clients.map((c) => `client:${c}`));
}
