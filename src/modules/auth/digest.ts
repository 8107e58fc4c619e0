/**
 * Digest computations (RFC 2617 §3.2.2, RFC 7616 §3.4.1-§3.4.3, RFC 8760 for SIP): HA1, the session HA1,
 * HA2 and the response, for MD5, SHA-256 and SHA-512/256 and their `-sess` variants.
 *
 * Every string here is a `latin1` string (one char per byte, as the SIP parser hands out header values), so
 * the hashes are computed over exactly the bytes that were on the wire. Text the server owns (passwords,
 * configured realms) is turned into such a string of its UTF-8 bytes by the caller (`textToLatin1`).
 */
import * as crypto from 'node:crypto';

/** The Digest algorithms olelo verifies (RFC 7616 §6.1 registry, RFC 8760 §2.1). */
export const DIGEST_ALGORITHMS = [
  'SHA-256',
  'SHA-256-sess',
  'SHA-512-256',
  'SHA-512-256-sess',
  'MD5',
  'MD5-sess',
] as const;

/** One of {@link DIGEST_ALGORITHMS}. */
export type DigestAlgorithm = (typeof DIGEST_ALGORITHMS)[number];

/** The quality-of-protection values (RFC 7616 §3.3). */
export type DigestQop = 'auth' | 'auth-int';

/** The hash behind an algorithm, as node:crypto names it. */
export type HashName = 'md5' | 'sha256' | 'sha512-256';

const HASH_OF: Readonly<Record<DigestAlgorithm, HashName>> = {
  MD5: 'md5',
  'MD5-sess': 'md5',
  'SHA-256': 'sha256',
  'SHA-256-sess': 'sha256',
  'SHA-512-256': 'sha512-256',
  'SHA-512-256-sess': 'sha512-256',
};

const BY_LOWER_NAME: ReadonlyMap<string, DigestAlgorithm> = new Map(
  DIGEST_ALGORITHMS.map((a) => [a.toLowerCase(), a]),
);

/** The algorithm named `name` (case-insensitive, as tokens compare), or `undefined` when unsupported. */
export function parseAlgorithm(name: string): DigestAlgorithm | undefined {
  return BY_LOWER_NAME.get(name.toLowerCase());
}

/** The hash an algorithm uses. */
export function hashOf(algorithm: DigestAlgorithm): HashName {
  return HASH_OF[algorithm];
}

/** Whether the algorithm is a `-sess` one (RFC 7616 §3.4.2: HA1 also covers the nonce and cnonce). */
export function isSessionAlgorithm(algorithm: DigestAlgorithm): boolean {
  return algorithm.endsWith('-sess');
}

/** Length in hex digits of a hash of this algorithm (32 for MD5, 64 for the SHA-2 ones). */
export function hexLength(algorithm: DigestAlgorithm): number {
  return HASH_OF[algorithm] === 'md5' ? 32 : 64;
}

/** `crypto.hash` (Node 20.12+), about twice as fast as `createHash` for short inputs; absent before. */
const oneShot: typeof crypto.hash | undefined = typeof crypto.hash === 'function' ? crypto.hash : undefined;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Lower-case hex of the hash of a latin1 string. */
export function hashHex(hash: HashName, data: string): string {
  if (oneShot !== undefined) {
    // a string is hashed as UTF-8, which is its latin1 bytes only when it is ASCII
    return oneShot(hash, isAscii(data) ? data : Buffer.from(data, 'latin1'), 'hex');
  }
  return crypto.createHash(hash).update(data, 'latin1').digest('hex');
}

/** Lower-case hex of the hash of bytes. */
function hashBytesHex(hash: HashName, data: Buffer): string {
  if (oneShot !== undefined) return oneShot(hash, data, 'hex');
  return crypto.createHash(hash).update(data).digest('hex');
}

/** HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2), for the hash of `algorithm`. */
export function computeHa1(
  algorithm: DigestAlgorithm,
  username: string,
  realm: string,
  password: string,
): string {
  return hashHex(HASH_OF[algorithm], `${username}:${realm}:${password}`);
}

/** What a response is computed from. */
export interface ResponseInput {
  algorithm: DigestAlgorithm;
  /** H(username:realm:password) with the algorithm's hash (not yet the `-sess` one). */
  ha1: string;
  nonce: string;
  /** `undefined` for the RFC 2069 form (no qop, no cnonce, no nc). */
  qop: DigestQop | undefined;
  /** 8 hex digits as the client wrote them; used only with a qop. */
  nc: string | undefined;
  /** Used with a qop and by `-sess` algorithms. */
  cnonce: string | undefined;
  method: string;
  /** The digest-uri as the client wrote it. */
  uri: string;
  /** The message body, hashed for `auth-int`. */
  body?: Buffer;
}

/**
 * The expected `response` (lower-case hex). RFC 7616 §3.4.1:
 * `KD(HA1, nonce:nc:cnonce:qop:HA2)` with a qop, `KD(HA1, nonce:HA2)` without (RFC 2069);
 * HA2 = `H(method:uri)`, or `H(method:uri:H(body))` for `auth-int` (§3.4.3);
 * a `-sess` HA1 is `H(H(user:realm:password):nonce:cnonce)` (§3.4.2).
 */
export function computeResponse(input: ResponseInput): string {
  const hash = HASH_OF[input.algorithm];
  let ha1 = input.ha1.toLowerCase();
  if (isSessionAlgorithm(input.algorithm)) ha1 = hashHex(hash, `${ha1}:${input.nonce}:${input.cnonce ?? ''}`);
  const ha2 =
    input.qop === 'auth-int'
      ? hashHex(hash, `${input.method}:${input.uri}:${hashBytesHex(hash, input.body ?? Buffer.alloc(0))}`)
      : hashHex(hash, `${input.method}:${input.uri}`);
  if (input.qop === undefined) return hashHex(hash, `${ha1}:${input.nonce}:${ha2}`);
  return hashHex(hash, `${ha1}:${input.nonce}:${input.nc ?? ''}:${input.cnonce ?? ''}:${input.qop}:${ha2}`);
}

/** Whether `s` is `length` hex digits (either case). */
export function isHex(s: string, length: number): boolean {
  if (s.length !== length) return false;
  for (let i = 0; i < length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) return false;
  }
  return true;
}
