/**
 * Stateless nonces and nonce-count replay protection.
 *
 * A nonce carries the time it was issued and an HMAC over that time, random bytes and the realm, keyed by a
 * secret: any server holding the secret verifies it without having stored it (RFC 7616 §3.3 suggests a
 * time stamp and a private key in the nonce). Layout, base64url (RFC 4648 §5) without padding:
 *
 * ```
 * bytes 0-5    issue time, ms since the epoch, big-endian
 * bytes 6-13   random
 * bytes 14-29  HMAC-SHA-256(secret, bytes 0-13 || realm), first 16 bytes
 * ```
 *
 * 30 bytes are 40 base64 characters with no spare bits, so a nonce has exactly one spelling.
 */
import { createHmac, randomFillSync, timingSafeEqual } from 'node:crypto';

const TIME_BYTES = 6;
const RANDOM_BYTES = 8;
const BODY_BYTES = TIME_BYTES + RANDOM_BYTES;
const MAC_BYTES = 16;
const NONCE_BYTES = BODY_BYTES + MAC_BYTES;
/** base64url length of {@link NONCE_BYTES} bytes (a multiple of 3: no padding, no spare bits). */
const NONCE_CHARS = (NONCE_BYTES / 3) * 4;
/** Nonces from a clock this far ahead (another server's) are still accepted. */
export const CLOCK_SKEW_MS = 5000;

/** What {@link NonceFactory.check} found. */
export type NonceCheck =
  | { kind: 'valid'; issuedAt: number }
  | { kind: 'stale'; issuedAt: number }
  | { kind: 'invalid' };

/** Makes and verifies nonces. */
export class NonceFactory {
  private readonly secret: Buffer;
  private readonly pool = Buffer.allocUnsafe(4096);
  private poolOffset = 4096;

  /**
   * @param secret the HMAC key; servers that must accept each other's nonces share it.
   * @param lifetimeMs how long a nonce stays valid; older ones are stale (RFC 7616 §3.3 `stale`).
   */
  constructor(
    secret: Buffer,
    readonly lifetimeMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (secret.length === 0) throw new RangeError('the nonce secret must not be empty');
    this.secret = Buffer.from(secret);
  }

  /** A new nonce for `realm` (a latin1 string), issued now. */
  create(realm: string): string {
    const buf = Buffer.allocUnsafe(NONCE_BYTES);
    buf.writeUIntBE(this.now(), 0, TIME_BYTES);
    if (this.poolOffset + RANDOM_BYTES > this.pool.length) {
      randomFillSync(this.pool);
      this.poolOffset = 0;
    }
    this.pool.copy(buf, TIME_BYTES, this.poolOffset, this.poolOffset + RANDOM_BYTES);
    this.poolOffset += RANDOM_BYTES;
    this.mac(buf, realm).copy(buf, BODY_BYTES, 0, MAC_BYTES);
    return buf.toString('base64url');
  }

  /**
   * Checks a nonce a client sent back for `realm`: `invalid` when it is not one of ours (bad form, wrong
   * MAC, other realm, issued in the future), `stale` when it is ours but older than the lifetime.
   */
  check(nonce: string, realm: string): NonceCheck {
    if (nonce.length !== NONCE_CHARS || !isBase64Url(nonce)) return { kind: 'invalid' };
    const buf = Buffer.from(nonce, 'base64url');
    if (buf.length !== NONCE_BYTES) return { kind: 'invalid' };
    const expected = this.mac(buf, realm);
    if (!timingSafeEqual(expected.subarray(0, MAC_BYTES), buf.subarray(BODY_BYTES)))
      return { kind: 'invalid' };
    const issuedAt = buf.readUIntBE(0, TIME_BYTES);
    const now = this.now();
    if (issuedAt > now + CLOCK_SKEW_MS) return { kind: 'invalid' };
    if (now - issuedAt > this.lifetimeMs) return { kind: 'stale', issuedAt };
    return { kind: 'valid', issuedAt };
  }

  private mac(buf: Buffer, realm: string): Buffer {
    return createHmac('sha256', this.secret)
      .update(buf.subarray(0, BODY_BYTES))
      .update(realm, 'latin1')
      .digest();
  }
}

function isBase64Url(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (
      !(
        (c >= 0x30 && c <= 0x39) ||
        (c >= 0x41 && c <= 0x5a) ||
        (c >= 0x61 && c <= 0x7a) ||
        c === 0x2d ||
        c === 0x5f
      )
    )
      return false;
  }
  return true;
}

/** What {@link NonceCountTable.use} found. */
export type NonceCountCheck = 'fresh' | 'replayed' | 'forgotten';

interface CountEntry {
  issuedAt: number;
  /** The highest nc accepted. */
  highest: number;
  /** Bit i set: nc `highest - 1 - i` was accepted (a window of 32 below the highest). */
  window: number;
  /** Which request used the highest nc (its transaction identity), to tell a retransmission from a replay. */
  request: string | undefined;
}

/** How far below the highest nc a late request may come (requests sent in parallel may be reordered). */
const WINDOW = 32;

/**
 * Nonce-count replay protection (RFC 7616 §3.4, §5.2): per nonce, the highest nc accepted and which of the
 * 32 below it were, so a request repeated with an nc already used is rejected while requests that overtook
 * each other still pass.
 *
 * Entries live in two generations that rotate every `retentionMs` (the nonce lifetime plus the clock skew
 * allowed), so a nonce is forgotten only after it expired. The table is bounded: when full, the oldest entry is evicted and every nonce issued up to that
 * entry's time becomes `forgotten` unless it has an entry — the caller treats it as stale, so the client
 * gets a fresh nonce and a replay is never accepted.
 */
export class NonceCountTable {
  private current = new Map<string, CountEntry>();
  private previous = new Map<string, CountEntry>();
  private rotateAt: number;
  /** Nonces issued at or before this time without an entry may have been evicted. */
  private evictedUpTo = Number.NEGATIVE_INFINITY;

  constructor(
    readonly maxEntries: number,
    private readonly retentionMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(maxEntries >= 1)) throw new RangeError('maxEntries must be at least 1');
    this.rotateAt = now() + retentionMs;
  }

  /** Entries held. */
  get size(): number {
    return this.current.size + this.previous.size;
  }

  /**
   * Records that nonce-count `nc` was used with `nonce` (issued at `issuedAt`), if it was not used before:
   * `fresh` (recorded), `replayed` (used before, or too far below the highest) or `forgotten` (the table
   * may have evicted this nonce: the caller must not trust it). `request` identifies the request (its
   * transaction: top Via branch and CSeq): the same request again with the highest nc is a UDP
   * retransmission, answered like the first — so a stateless registrar stays idempotent (RFC 3261 §8.2.6)
   * while a replay in a new transaction is still refused.
   */
  use(nonce: string, issuedAt: number, nc: number, request?: string): NonceCountCheck {
    const now = this.now();
    if (now >= this.rotateAt) this.rotate(now);
    let entry = this.current.get(nonce) ?? this.previous.get(nonce);
    if (entry === undefined) {
      if (issuedAt <= this.evictedUpTo) return 'forgotten';
      if (this.size >= this.maxEntries) this.evictOldest();
      entry = { issuedAt, highest: nc, window: 0, request };
      this.current.set(nonce, entry);
      return 'fresh';
    }
    if (nc > entry.highest) {
      const shift = nc - entry.highest;
      // the old highest becomes bit shift-1 of the window
      if (shift > WINDOW) entry.window = 0;
      else if (shift === WINDOW)
        entry.window = 0x80000000; // (<< 32 would be << 0)
      else entry.window = ((entry.window << shift) | (1 << (shift - 1))) >>> 0;
      entry.highest = nc;
      entry.request = request;
      return 'fresh';
    }
    const below = entry.highest - nc;
    // the very request that used this nc, again: a retransmission (its reply was lost), not a replay
    if (below === 0 && request !== undefined && request === entry.request) return 'fresh';
    if (below === 0 || below > WINDOW) return 'replayed';
    const bit = 1 << (below - 1);
    if ((entry.window & bit) !== 0) return 'replayed';
    entry.window = (entry.window | bit) >>> 0;
    return 'fresh';
  }

  private rotate(now: number): void {
    // entries of `previous` were first used over a retention period ago, so their nonces have expired
    this.previous = now - this.rotateAt >= this.retentionMs ? new Map() : this.current;
    this.current = new Map();
    this.rotateAt = now + this.retentionMs;
  }

  private evictOldest(): void {
    const from = this.previous.size > 0 ? this.previous : this.current;
    const first = from.entries().next();
    if (first.done === true) return;
    const [nonce, entry] = first.value;
    from.delete(nonce);
    if (entry.issuedAt > this.evictedUpTo) this.evictedUpTo = entry.issuedAt;
  }
}
