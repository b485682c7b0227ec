// Signed auth tokens: a JWT (HS256) naming the user and the auth revision it was issued at, valid
// for a TTL. `jose` signs and verifies: a small, dependency-free, widely used JOSE implementation
// with constant-time signature checks and strict claim validation, which hand-written JWT code
// tends to get wrong (algorithm confusion, missing exp checks). Verified tokens are remembered
// until they expire, so a request pays for one map lookup, not an HMAC.
import { SignJWT, jwtVerify } from 'jose';

export interface TokenClaims {
  user: string;
  /** The auth revision when the token was issued (storage/auth tokenCurrent). */
  revision: number;
  /** Expiry, ms since the epoch. */
  expiresAtMs: number;
}

const MAX_CACHED = 10_000;

export class TokenIssuer {
  private readonly verified = new Map<string, TokenClaims>();

  constructor(
    private readonly key: Uint8Array,
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  async issue(user: string, revision: number): Promise<string> {
    const nowS = Math.floor(this.now() / 1000);
    return new SignJWT({ rev: revision })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(user)
      .setIssuedAt(nowS)
      .setExpirationTime(nowS + Math.max(1, Math.ceil(this.ttlMs / 1000)))
      .sign(this.key);
  }

  /** The token's claims, or null when it is not one of ours, is malformed or has expired. */
  async verify(token: string): Promise<TokenClaims | null> {
    const hit = this.verified.get(token);
    if (hit) {
      if (hit.expiresAtMs > this.now()) return hit;
      this.verified.delete(token);
      return null;
    }
    try {
      const { payload } = await jwtVerify(token, this.key, { algorithms: ['HS256'], currentDate: new Date(this.now()) });
      if (typeof payload.sub !== 'string' || typeof payload.rev !== 'number' || typeof payload.exp !== 'number') return null;
      const claims: TokenClaims = { user: payload.sub, revision: payload.rev, expiresAtMs: payload.exp * 1000 };
      if (this.verified.size >= MAX_CACHED) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(token, claims);
      return claims;
    } catch {
      return null;
    }
  }
}
