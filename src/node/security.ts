// What a node's configuration means for its ports: TLS credentials (watched and reloaded), the
// admin HTTP server's TLS options, and how peers authenticate and dial each other.
//
//   client port (--listen)   TLS when --cert-file is set; --trusted-ca-file verifies client
//                            certificates, which --client-cert-auth makes mandatory.
//   admin HTTP (--http)      the client port's TLS (--http-tls client), HTTPS without client
//                            certificates (no-client-cert), or plain (off).
//   peer service             on the client port by default: then peers dial each other as TLS
//                            clients of that port (its CA, its certificate as their identity).
//                            With --peer-listen it has its own port and its own TLS
//                            (--peer-cert-file ...), and --peer-client-cert-auth makes the TLS
//                            handshake refuse any process without a certificate from the peer
//                            CA; the certificate must name the member (member-<id>), and a
//                            dialer checks that the member it reached is the one it dialed.
//   peer authentication      the cluster secret (Hello sessions) and/or peer certificates; see
//                            src/transport/peer-auth.ts.
import * as grpc from '@grpc/grpc-js';
import type { NodeConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { DialCredentials, grpcServerCredentials, httpsServerOptions, type ServerTlsPolicy } from '../tls/credentials.js';
import { TlsWatcher, guardSecretFile } from '../tls/files.js';
import { expectMember } from '../tls/identity.js';
import { deriveClusterKey } from '../transport/peer-auth.js';
import { loadPeerSecret } from '../transport/peer-secret.js';
import { peerLimits } from '../transport/validate.js';
import { loadAuthTokenKey } from '../auth/token-key.js';
import type { PeerSecurity } from '../transport/index.js';

export interface NodeSecurity {
  /** Credentials of the client port (which also carries the peer service without --peer-listen). */
  clientServer: grpc.ServerCredentials;
  /** Credentials of the separate peer port; null without --peer-listen. */
  peerServer: grpc.ServerCredentials | null;
  peer: PeerSecurity;
  /** Admin HTTP over TLS: node:https options and the watcher its certificate follows; null = plain HTTP. */
  https: { options: ReturnType<typeof httpsServerOptions>; watcher: TlsWatcher } | null;
  /** Key auth tokens are signed with (src/auth/token-key.ts). */
  authTokenKey: Uint8Array;
  /** For the start-up log line: what is on, never any secret. */
  summary: Record<string, string | boolean>;
  close(): void;
}

export async function nodeSecurity(cfg: NodeConfig, log: Logger): Promise<NodeSecurity> {
  const watchers: TlsWatcher[] = [];
  const watch = async (name: string, certFile: string, keyFile: string, caFile: string): Promise<TlsWatcher | null> => {
    if (!certFile) return null;
    await guardSecretFile(keyFile, `${name} TLS private key`, log);
    const w = new TlsWatcher({ certFile, keyFile, caFile }, name, log);
    w.start(cfg.tlsReloadMs);
    watchers.push(w);
    return w;
  };
  const client = await watch('client', cfg.certFile, cfg.keyFile, cfg.trustedCaFile);
  const peerTls = cfg.peerListen ? await watch('peer', cfg.peerCertFile, cfg.peerKeyFile, cfg.peerTrustedCaFile) : null;
  const clientPolicy: ServerTlsPolicy = { requestCert: cfg.trustedCaFile !== '', requireCert: cfg.clientCertAuth };
  const peerPolicy: ServerTlsPolicy = { requestCert: cfg.peerTrustedCaFile !== '', requireCert: cfg.peerClientCertAuth };

  const secret = await loadPeerSecret(cfg, log);
  const dialWith = cfg.peerListen ? peerTls : client;
  const dialer = dialWith ? new DialCredentials(dialWith) : null;
  const checkMember = cfg.peerListen && cfg.peerClientCertAuth;
  const peer: PeerSecurity = {
    key: secret ? deriveClusterKey(secret, cfg.clusterId) : null,
    requireCert: cfg.peerClientCertAuth,
    dial: (id) => (dialer ? dialer.channel(checkMember ? expectMember(id) : undefined) : grpc.credentials.createInsecure()),
    limits: peerLimits(cfg),
  };
  const authTokenKey = await loadAuthTokenKey(cfg, secret, log);
  secret?.fill(0);

  const httpPolicy: ServerTlsPolicy | null = !client || cfg.httpTls === 'off' ? null : cfg.httpTls === 'client' ? clientPolicy : { requestCert: false, requireCert: false };
  return {
    clientServer: grpcServerCredentials(client, clientPolicy),
    peerServer: cfg.peerListen ? grpcServerCredentials(peerTls, peerPolicy) : null,
    peer,
    authTokenKey,
    https: client && httpPolicy ? { options: httpsServerOptions(client, httpPolicy), watcher: client } : null,
    summary: {
      clientTls: client !== null,
      clientCertAuth: cfg.clientCertAuth,
      httpTls: client && httpPolicy ? (httpPolicy.requireCert ? 'https+client-cert' : 'https') : 'off',
      peerPort: cfg.peerListen ? 'separate' : 'shared',
      peerTls: dialWith !== null,
      peerAuth: peer.key && peer.requireCert ? 'secret+certificate' : peer.key ? 'secret' : 'certificate',
    },
    close: () => {
      for (const w of watchers) w.close();
    },
  };
}
