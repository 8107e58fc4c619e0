/**
 * The digest hashes Kamailio's `subscriber` table stores next to (or instead of) the password.
 */
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** `ha1` = MD5(username:realm:password) (RFC 2617 §3.2.2.2, A1 with algorithm MD5). */
export function computeHa1(username: string, realm: string, password: string): string {
  return md5(`${username}:${realm}:${password}`);
}

/** `ha1b` = MD5(username@domain:realm:password): the A1 of clients that send `username="user@domain"`. */
export function computeHa1b(username: string, domain: string, realm: string, password: string): string {
  return md5(`${username}@${domain}:${realm}:${password}`);
}

/** Both hashes of an account, with its domain as realm (what olelo challenges with). */
export function subscriberHashes(
  username: string,
  domain: string,
  password: string,
): { ha1: string; ha1b: string } {
  return {
    ha1: computeHa1(username, domain, password),
    ha1b: computeHa1b(username, domain, domain, password),
  };
}

// ---------------------------------------------------------------- dashboard administrators

const SCRYPT = { N: 16384, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const;

function scrypt(
  password: string,
  salt: Buffer,
  n: number,
  r: number,
  p: number,
  length: number,
): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(password.normalize('NFC'), salt, length, { N: n, r, p, maxmem: 256 * n * r }, (e, key) =>
      e === null ? resolve(key) : reject(e),
    ),
  );
}

/** An administrator's password as stored: `scrypt$N$r$p$salt$hash` (salt and hash in base64). */
export async function hashAdminPassword(password: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLength);
  const key = await scrypt(password, salt, SCRYPT.N, SCRYPT.r, SCRYPT.p, SCRYPT.keyLength);
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Whether `password` matches a hash made by {@link hashAdminPassword}; false for anything malformed. */
export async function verifyAdminPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![n, r, p].every((x) => Number.isInteger(x) && x > 0) || n > 1 << 20 || r > 32 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64');
  const expected = Buffer.from(parts[5]!, 'base64');
  if (expected.length < 16 || expected.length > 128) return false;
  const key = await scrypt(password, salt, n, r, p, expected.length);
  return timingSafeEqual(key, expected);
}
