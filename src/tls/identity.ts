// Who a verified certificate names. A member's peer certificate names it as `member-<id>`, in
// its subject CN or in a DNS (or URI) subject alternative name; a client certificate names its
// user in the CN, as in etcd.
import type { PeerCertificate } from 'node:tls';

export const MEMBER_NAME = /^member-([1-9][0-9]{0,15})$/;

function cnOf(cert: PeerCertificate): string[] {
  const cn = cert.subject?.CN as string | string[] | undefined;
  return cn === undefined ? [] : Array.isArray(cn) ? cn : [cn];
}

/** Names in the certificate's subject alternative names (DNS and URI entries). */
function sanNames(cert: PeerCertificate): string[] {
  const raw = cert.subjectaltname ?? '';
  const out: string[] = [];
  for (const part of raw.split(',')) {
    const m = /^\s*(DNS|URI):(.*)$/.exec(part);
    if (m) out.push(m[2]!.trim());
  }
  return out;
}

/** Member ids a certificate names (CN or SAN `member-<id>`), each at most once. */
export function memberIdsOf(cert: PeerCertificate): number[] {
  const ids = new Set<number>();
  for (const name of [...cnOf(cert), ...sanNames(cert)]) {
    const m = MEMBER_NAME.exec(name);
    if (m) {
      const id = Number(m[1]);
      if (Number.isSafeInteger(id)) ids.add(id);
    }
  }
  return [...ids].sort((a, b) => a - b);
}

/** The first CN of the certificate's subject ('' when it has none). */
export function commonNameOf(cert: PeerCertificate): string {
  return cnOf(cert)[0] ?? '';
}

/** For a dialer: an error unless the server's certificate names member `id`. */
export function expectMember(id: number): (cert: PeerCertificate) => Error | undefined {
  return (cert) => {
    const ids = memberIdsOf(cert);
    if (ids.includes(id)) return undefined;
    return new Error(`the certificate of the server dialed as member ${id} names ${ids.length ? ids.map((x) => `member-${x}`).join(', ') : `no member (CN "${commonNameOf(cert)}")`}`);
  };
}
