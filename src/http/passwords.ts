// Password hashing for users created through the admin API: scrypt with a random 16-byte salt,
// N=16384, r=8, p=1, 64-byte key. Hash and salt are what `User.passwordHash` / `User.salt` hold;
// neither is ever returned by any API.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export const SCRYPT_KEY_LENGTH = 64;
export const SCRYPT_SALT_LENGTH = 16;
const SCRYPT_PARAMS = { N: 16384, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

function scryptAsync(password: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password, salt, SCRYPT_KEY_LENGTH, SCRYPT_PARAMS, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** Hashes `password` with a fresh random salt. */
export async function hashPassword(password: string): Promise<{ hash: Buffer; salt: Buffer }> {
  const salt = randomBytes(SCRYPT_SALT_LENGTH);
  return { hash: await scryptAsync(password, salt), salt };
}

/** True when `password` matches `hash` made with `salt` (constant-time comparison). */
export async function verifyPassword(password: string, hash: Buffer, salt: Buffer): Promise<boolean> {
  if (hash.length !== SCRYPT_KEY_LENGTH) return false;
  const candidate = await scryptAsync(password, salt);
  return timingSafeEqual(candidate, hash);
}
