// Resolves who is calling (a token, a password over HTTP Basic, or a verified client certificate's
// CN with --client-cert-auth) and decides whether they may do what they ask, against the auth state
// of the last applied batch. Every entry point goes through here (guard.ts); the applier re-checks
// writes at apply time (storage/auth/recheck.ts).
import type { CommandCaller } from '../../proto/gen/placement/v1/command.js';
import { AUTH_ERR, AuthError, permitted, tokenCurrent, type AuthSnapshot, type Need } from '../../storage/index.js';
import { LoginLimiter, passwordMatches } from './login.js';
import type { TokenIssuer } from './tokens.js';

/** `user` null: anonymous. `error`: a credential was presented and is not valid. */
export interface Identity {
  user: string | null;
  error?: AuthError;
}

export const ANONYMOUS_IDENTITY: Identity = Object.freeze({ user: null });

export interface AuthenticatorOptions {
  auth: () => AuthSnapshot;
  tokens: TokenIssuer;
  clientCertAuth: boolean;
  /**
   * Resolves once this member has applied everything the leader had committed when it was called
   * (a read barrier), or rejects at `deadline`. A call is refused only on auth state at least that
   * new (see catchUp below).
   */
  catchUp?: (deadline: number) => Promise<void>;
}

export class Authenticator {
  readonly limiter = new LoginLimiter();
  constructor(private readonly opts: AuthenticatorOptions) {}

  get state(): AuthSnapshot {
    return this.opts.auth();
  }

  get tokens(): TokenIssuer {
    return this.opts.tokens;
  }

  /** A token's identity; with auth off tokens are ignored, as etcd does. */
  async fromToken(token: string): Promise<Identity> {
    const auth = this.opts.auth();
    if (!auth.enabled) return ANONYMOUS_IDENTITY;
    const claims = await this.opts.tokens.verify(token);
    if (!claims || !tokenCurrent(this.opts.auth(), claims.user, claims.revision)) return { user: null, error: new AuthError(AUTH_ERR.invalidAuthToken) };
    return { user: claims.user };
  }

  /** The CN of a verified client certificate names the user with --client-cert-auth (etcd's rule). */
  fromCertificate(cn: string): Identity {
    return this.opts.clientCertAuth && cn ? { user: cn } : ANONYMOUS_IDENTITY;
  }

  /** A name and password (Authenticate, HTTP Basic). Rate-limited per user and per peer address. */
  async login(name: string, password: string, peer: string): Promise<Identity> {
    const failed: Identity = { user: null, error: new AuthError(AUTH_ERR.authFailed) };
    const userKey = `u:${name}`;
    const peerKey = `p:${peer}`;
    if (this.limiter.blocked(userKey) || this.limiter.blocked(peerKey)) return failed;
    const ok = await passwordMatches(this.opts.auth().users.get(name), password);
    if (!ok) {
      this.limiter.fail(userKey);
      this.limiter.fail(peerKey);
      return failed;
    }
    this.limiter.succeed(userKey);
    this.limiter.succeed(peerKey);
    return { user: name };
  }

  /** etcd's refusal when `id` may not do what `need` asks; undefined when it may (or auth is off). */
  refusal(id: Identity, need: Need): AuthError | undefined {
    const auth = this.opts.auth();
    if (!auth.enabled || need.kind === 'none') return undefined;
    if (id.error) return id.error;
    if (id.user === null) return new AuthError(AUTH_ERR.userEmpty);
    if (!permitted(auth.users.get(id.user), need, (r) => auth.roles.get(r))) return new AuthError(AUTH_ERR.permissionDenied);
    return undefined;
  }

  /**
   * Before a refusal: a member that applies behind the leader may not have applied a change of
   * auth a client already saw acknowledged elsewhere (auth disabled, a role granted, a token
   * issued at a newer auth revision), and must not refuse on that older state. This waits until
   * the member has caught up with the leader's commit index; the caller then decides again.
   * False when there is nothing to wait with, or the wait failed (the refusal stands).
   */
  async catchUp(deadline: number): Promise<boolean> {
    if (!this.opts.catchUp) return false;
    try {
      await this.opts.catchUp(deadline);
      return true;
    } catch {
      return false;
    }
  }

  /** What a proposed command records about who asked (storage/auth/recheck.ts). */
  caller(id: Identity): CommandCaller {
    return { user: id.user ?? '', authRevision: this.opts.auth().revision };
  }
}
