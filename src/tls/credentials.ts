// gRPC and HTTPS credentials built from watched TLS files (files.ts), so a certificate rotated on
// disk is served to every new connection without a restart. Connections already open keep the
// certificate they were made with.
import type { Server as HttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import { checkServerIdentity, rootCertificates, type PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { TlsMaterial, TlsWatcher } from './files.js';

export interface ServerTlsPolicy {
  /** Ask clients for a certificate (verified against the CA when they send one). */
  requestCert: boolean;
  /** Refuse the handshake without a certificate that chains to the CA. */
  requireCert: boolean;
}

function contextOptions(m: TlsMaterial): SecureContextOptions {
  return { cert: m.cert, key: m.key, ca: m.ca };
}

/**
 * ServerCredentials whose certificate, key and CA follow a TlsWatcher. grpc-js applies a new
 * secure context to its listening server through the watcher hook every ServerCredentials has
 * (the same path its own certificate-provider credentials take).
 */
class WatchedServerCredentials extends grpc.ServerCredentials {
  constructor(watcher: TlsWatcher, policy: ServerTlsPolicy) {
    super({ requestCert: policy.requestCert, rejectUnauthorized: policy.requireCert }, contextOptions(watcher.current));
    watcher.onChange((m) => this.updateSecureContextOptions(contextOptions(m)));
  }

  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export function grpcServerCredentials(watcher: TlsWatcher | null, policy: ServerTlsPolicy): grpc.ServerCredentials {
  return watcher ? new WatchedServerCredentials(watcher, policy) : grpc.ServerCredentials.createInsecure();
}

/** Options for node:https.createServer, and the hook that keeps its certificate current. */
export function httpsServerOptions(watcher: TlsWatcher, policy: ServerTlsPolicy): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean } {
  return { ...contextOptions(watcher.current), requestCert: policy.requestCert, rejectUnauthorized: policy.requireCert };
}

export function followCertificates(server: HttpsServer, watcher: TlsWatcher): () => void {
  return watcher.onChange((m) => server.setSecureContext(contextOptions(m)));
}

/** Feeds a TlsWatcher's CA and identity to grpc-js's certificate-provider channel credentials. */
class WatcherCertificateProvider implements grpc.experimental.CertificateProvider {
  private readonly ca = new Set<grpc.experimental.CaCertificateUpdateListener>();
  private readonly identity = new Set<grpc.experimental.IdentityCertificateUpdateListener>();

  constructor(private readonly watcher: TlsWatcher) {
    watcher.onChange(() => {
      for (const l of this.ca) l(this.caUpdate());
      for (const l of this.identity) l(this.identityUpdate());
    });
  }

  private caUpdate(): grpc.experimental.CaCertificateUpdate {
    // No CA file: the server's certificate is checked against the system's roots.
    return { caCertificate: this.watcher.current.ca ?? Buffer.from(rootCertificates.join('\n')) };
  }

  private identityUpdate(): grpc.experimental.IdentityCertificateUpdate {
    return { certificate: this.watcher.current.cert, privateKey: this.watcher.current.key };
  }

  // Listeners are answered synchronously: the first connection must find the material loaded.
  addCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.ca.add(l);
    l(this.caUpdate());
  }
  removeCaCertificateListener(l: grpc.experimental.CaCertificateUpdateListener): void {
    this.ca.delete(l);
  }
  addIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identity.add(l);
    l(this.identityUpdate());
  }
  removeIdentityCertificateListener(l: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.identity.delete(l);
  }
}

/** Dials with the watched certificate as client identity and the watched CA as trust anchor. */
export class DialCredentials {
  private readonly provider: WatcherCertificateProvider;

  constructor(watcher: TlsWatcher) {
    this.provider = new WatcherCertificateProvider(watcher);
  }

  /**
   * Credentials for one channel. `identity` adds a check on the server's certificate after the
   * usual host-name check (e.g. that it names the member being dialed).
   */
  channel(identity?: (cert: PeerCertificate) => Error | undefined): grpc.ChannelCredentials {
    return grpc.experimental.createCertificateProviderChannelCredentials(this.provider, this.provider, {
      checkServerIdentity: (host, cert) => checkServerIdentity(host, cert) ?? identity?.(cert),
    });
  }
}
