// Peer authentication: who is on the other end of a PeerService call.
//
// Two mechanisms, either or both (README "Security"):
//  - The cluster secret. A dialer opens a session with Hello: it sends a fresh nonce, the member
//    answers with its own nonce and a proof (HMAC over both nonces and both member ids under the
//    cluster key, itself derived from the secret and the cluster id), so the dialer knows it
//    reached a holder of the secret before it sends anything. Both sides derive a session key
//    from the same inputs; every call of the session then carries, in its metadata, the session
//    id, a sequence number and an HMAC of (method, sequence number) under the session key. The
//    secret never travels; a recorded call cannot be replayed (each sequence number is accepted
//    once) and a recorded Hello is useless (the member's nonce is fresh every time). Without TLS
//    this keeps out every process that does not hold the secret; it does not protect the
//    content of an authenticated connection from an active man in the middle: use peer TLS.
//  - A peer certificate (--peer-client-cert-auth): the TLS handshake proved the certificate
//    chains to the peer CA, and it must name exactly one member as `member-<id>`.
// The member id in every request and every Raft message must be the authenticated one.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { PeerHello, PeerHelloReply } from '../../proto/gen/placement/v1/peer.js';
import type { GrpcAuthContext } from '../auth/caller.js';
import { memberIdsOf } from '../tls/identity.js';

export const NONCE_BYTES = 32;
export const MD_SESSION = 'x-pc-peer-session';
export const MD_SEQ = 'x-pc-peer-seq';
export const MD_MAC = 'x-pc-peer-mac';

/** Sequence numbers this far below the highest seen are refused outright (calls overtaking each other stay well within). */
const SEQ_WINDOW = 4096;
/** Sessions proven by at least one call, per member; the oldest is dropped beyond this. */
const MAX_SESSIONS_PER_MEMBER = 32;
/** Sessions opened by Hello and not used yet (anyone may open one); the oldest is dropped beyond this. */
const MAX_PENDING_SESSIONS = 256;
const PENDING_TTL_MS = 60_000;
const IDLE_TTL_MS = 30 * 60_000;

/** The cluster key: the shared secret bound to this cluster's id (one secret reused by two clusters keeps them apart). */
export function deriveClusterKey(secret: Buffer, clusterId: string): Buffer {
  return createHmac('sha256', secret).update('placement-center peer key v1\0').update(clusterId).digest();
}

/** HMAC-SHA256 over length-prefixed parts (no two different part lists encode alike). */
function mac(key: Buffer, label: string, ...parts: Array<Buffer | string | number>): Buffer {
  const h = createHmac('sha256', key);
  const len = Buffer.alloc(4);
  for (const p of [label, ...parts]) {
    const b = Buffer.isBuffer(p) ? p : Buffer.from(String(p), 'utf8');
    len.writeUInt32BE(b.length, 0);
    h.update(len).update(b);
  }
  return h.digest();
}

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A refused peer call: the gRPC status and a message naming what was wrong. */
export class PeerAuthError extends Error {
  override readonly name = 'PeerAuthError';
  constructor(
    readonly code: grpc.status,
    message: string,
  ) {
    super(message);
  }

  toServiceError(): grpc.ServiceError {
    const e = new Error(this.message) as grpc.ServiceError;
    e.code = this.code;
    e.details = this.message;
    e.metadata = new grpc.Metadata();
    return e;
  }
}

const unauthenticated = (msg: string): PeerAuthError => new PeerAuthError(grpc.status.UNAUTHENTICATED, msg);

/** The member a call was authenticated as. */
export class PeerIdentity {
  constructor(
    readonly member: number,
    readonly via: 'secret' | 'certificate' | 'secret+certificate',
  ) {}
}

interface Session {
  member: number;
  key: Buffer;
  verified: boolean;
  lastUsed: number;
  maxSeq: number;
  seen: Set<number>;
}

export interface PeerAuthServerOptions {
  clusterId: string;
  selfId: number;
  /** Cluster key (deriveClusterKey) or null when peers authenticate by certificate only. */
  key: Buffer | null;
  /** Peers must present a verified certificate naming exactly one member. */
  requireCert: boolean;
  isMember(id: number): boolean;
  now?: () => number;
}

/** The member side: answers Hello and authenticates every call. */
export class PeerAuthServer {
  private readonly pending = new Map<string, Session>();
  private readonly verified = new Map<string, Session>();
  private readonly now: () => number;

  constructor(private readonly o: PeerAuthServerOptions) {
    if (!o.key && !o.requireCert) throw new Error('peer authentication needs a cluster secret or peer certificates');
    this.now = o.now ?? Date.now;
  }

  get sessions(): number {
    return this.pending.size + this.verified.size;
  }

  /** The one member a verified peer certificate names; throws when there is none or several. */
  private certMember(auth: GrpcAuthContext): number {
    const cert = auth.sslPeerCertificate;
    if (!cert) throw unauthenticated('no peer certificate from the peer CA was presented (--peer-client-cert-auth)');
    const ids = memberIdsOf(cert);
    if (ids.length !== 1) {
      throw unauthenticated(ids.length === 0 ? 'the peer certificate names no member (CN or SAN member-<id>)' : `the peer certificate names several members (${ids.join(', ')})`);
    }
    return ids[0]!;
  }

  hello(req: PeerHello, auth: GrpcAuthContext): PeerHelloReply {
    if (req.clusterId !== this.o.clusterId) {
      throw new PeerAuthError(grpc.status.FAILED_PRECONDITION, `cluster id mismatch: got "${req.clusterId}", this node belongs to "${this.o.clusterId}"`);
    }
    if (req.to !== this.o.selfId) throw new PeerAuthError(grpc.status.FAILED_PRECONDITION, `hello for member ${req.to} reached member ${this.o.selfId}`);
    if (!this.o.key) throw new PeerAuthError(grpc.status.FAILED_PRECONDITION, `member ${this.o.selfId} has no peer secret: it authenticates peers by certificate only`);
    if (!this.o.isMember(req.from)) throw new PeerAuthError(grpc.status.PERMISSION_DENIED, `member ${req.from} is not in this cluster's configuration`);
    if (this.o.requireCert && this.certMember(auth) !== req.from) {
      throw unauthenticated(`the peer certificate does not name member ${req.from}`);
    }
    if (req.clientNonce.byteLength !== NONCE_BYTES) throw new PeerAuthError(grpc.status.INVALID_ARGUMENT, `client nonce must be ${NONCE_BYTES} bytes`);
    const clientNonce = Buffer.from(req.clientNonce);
    const serverNonce = randomBytes(NONCE_BYTES);
    const key = this.o.key;
    const now = this.now();
    this.sweep(now);
    const sid = serverNonce.toString('base64');
    this.pending.set(sid, {
      member: req.from,
      key: mac(key, 'session', clientNonce, serverNonce, req.from, req.to),
      verified: false,
      lastUsed: now,
      maxSeq: 0,
      seen: new Set(),
    });
    while (this.pending.size > MAX_PENDING_SESSIONS) this.pending.delete(this.pending.keys().next().value!);
    return { serverNonce, serverProof: mac(key, 'server', clientNonce, serverNonce, req.from, req.to) };
  }

  /** Authenticates one call (`method`: "Raft", "InstallSnapshot", "Forward"). Throws PeerAuthError. */
  authenticate(method: string, md: grpc.Metadata, auth: GrpcAuthContext): PeerIdentity {
    const certMember = this.o.requireCert ? this.certMember(auth) : 0;
    if (!this.o.key) return new PeerIdentity(certMember, 'certificate');
    const sid = md.get(MD_SESSION)[0];
    const seqRaw = md.get(MD_SEQ)[0];
    const macRaw = md.get(MD_MAC)[0];
    if (typeof sid !== 'string' || typeof seqRaw !== 'string' || typeof macRaw !== 'string') {
      throw unauthenticated('no peer session: a peer call must carry the session of a Hello (does the caller hold the cluster secret?)');
    }
    const s = this.verified.get(sid) ?? this.pending.get(sid);
    if (!s) throw unauthenticated('unknown or expired peer session');
    const seq = /^[0-9]{1,15}$/.test(seqRaw) ? Number(seqRaw) : -1;
    if (!(seq > 0)) throw unauthenticated('malformed peer call sequence number');
    const expected = mac(s.key, 'call', method, seq);
    if (!sameBytes(Buffer.from(macRaw, 'base64'), expected)) throw unauthenticated('peer call authentication failed (wrong cluster secret?)');
    if (seq <= s.maxSeq - SEQ_WINDOW || s.seen.has(seq)) throw unauthenticated(`replayed peer call (sequence number ${seq})`);
    if (this.o.requireCert && certMember !== s.member) throw unauthenticated(`the peer certificate names member ${certMember}, the session member ${s.member}`);
    s.seen.add(seq);
    if (seq > s.maxSeq) {
      s.maxSeq = seq;
      if (s.seen.size > 2 * SEQ_WINDOW) for (const x of s.seen) if (x <= s.maxSeq - SEQ_WINDOW) s.seen.delete(x);
    }
    s.lastUsed = this.now();
    if (!s.verified) this.promote(sid, s);
    return new PeerIdentity(s.member, this.o.requireCert ? 'secret+certificate' : 'secret');
  }

  /** A session proven by a call leaves the pending pool, where a flood of Hellos cannot evict it. */
  private promote(sid: string, s: Session): void {
    this.pending.delete(sid);
    s.verified = true;
    this.verified.set(sid, s);
    let n = 0;
    for (const x of this.verified.values()) if (x.member === s.member) n++;
    for (const [id, x] of this.verified) {
      if (n <= MAX_SESSIONS_PER_MEMBER) break;
      if (x.member === s.member) {
        this.verified.delete(id);
        n--;
      }
    }
  }

  private sweep(now: number): void {
    for (const [id, s] of this.pending) if (now - s.lastUsed > PENDING_TTL_MS) this.pending.delete(id);
    for (const [id, s] of this.verified) if (now - s.lastUsed > IDLE_TTL_MS) this.verified.delete(id);
  }
}

/** A session this member opened on another member. */
export class PeerSession {
  private seq = 0;

  constructor(
    readonly to: number,
    private readonly sid: string,
    private readonly key: Buffer,
  ) {}

  /** Metadata authenticating one call of `method` (each call gets a fresh sequence number). */
  metadata(method: string): grpc.Metadata {
    const seq = ++this.seq;
    const md = new grpc.Metadata();
    md.set(MD_SESSION, this.sid);
    md.set(MD_SEQ, String(seq));
    md.set(MD_MAC, mac(this.key, 'call', method, seq).toString('base64'));
    return md;
  }
}

/** The dialing side: opens sessions with Hello and checks the member's proof. */
export class PeerAuthClient {
  constructor(private readonly o: { clusterId: string; selfId: number; key: Buffer | null }) {}

  get usesSecret(): boolean {
    return this.o.key !== null;
  }

  /**
   * Opens a session on member `to` through `hello` (the Hello RPC). Rejects when the member
   * cannot prove it holds the cluster secret.
   */
  async open(to: number, hello: (req: PeerHello) => Promise<PeerHelloReply>): Promise<PeerSession> {
    const key = this.o.key;
    if (!key) throw new Error('no cluster secret: peer sessions are not used');
    const clientNonce = randomBytes(NONCE_BYTES);
    const reply = await hello({ clusterId: this.o.clusterId, from: this.o.selfId, to, clientNonce });
    const serverNonce = Buffer.from(reply.serverNonce);
    if (serverNonce.length !== NONCE_BYTES) throw new Error(`member ${to} answered Hello with a malformed nonce`);
    const proof = mac(key, 'server', clientNonce, serverNonce, this.o.selfId, to);
    if (!sameBytes(Buffer.from(reply.serverProof), proof)) {
      throw new Error(`member ${to} could not prove it holds the cluster secret (a different secret, or not a member)`);
    }
    return new PeerSession(to, serverNonce.toString('base64'), mac(key, 'session', clientNonce, serverNonce, this.o.selfId, to));
  }
}
