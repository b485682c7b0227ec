// Password logins, rate-limited: after a few failures in a row a user (and, apart, a peer address)
// must wait, doubling each time up to a minute, so guessing passwords over the network is slow.
// The wait is answered with etcd's "authentication failed" and never says which limit applied.
import type { User } from '../../proto/gen/placement/v1/command.js';
import { verifyPassword } from '../http/passwords.js';

const FREE_FAILURES = 5;
const MAX_WAIT_MS = 60_000;
const MAX_TRACKED = 10_000;

interface Failures {
  count: number;
  until: number;
}

export class LoginLimiter {
  private readonly failures = new Map<string, Failures>();
  constructor(private readonly now: () => number = Date.now) {}

  /** True when `key` must wait before its next attempt is even checked. */
  blocked(key: string): boolean {
    const f = this.failures.get(key);
    return f !== undefined && f.until > this.now();
  }

  fail(key: string): void {
    const f = this.failures.get(key) ?? { count: 0, until: 0 };
    f.count++;
    if (f.count > FREE_FAILURES) f.until = this.now() + Math.min(MAX_WAIT_MS, 250 * 2 ** (f.count - FREE_FAILURES));
    if (!this.failures.has(key) && this.failures.size >= MAX_TRACKED) this.failures.delete(this.failures.keys().next().value!);
    this.failures.set(key, f);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }
}

/** Checks `password` against the user's scrypt hash; a user without a password never logs in with one. */
export async function passwordMatches(user: User | undefined, password: string): Promise<boolean> {
  if (!user || user.auth?.noPassword || user.passwordHash.length === 0) return false;
  return verifyPassword(password, Buffer.from(user.passwordHash), Buffer.from(user.salt));
}
