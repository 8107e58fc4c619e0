/**
 * Masks for topology hiding: deterministic authenticated encryption of header values (the SIV
 * construction: the IV is a MAC of the plaintext, RFC 5297 §2.6 in spirit), written as base64url.
 *
 * Deterministic, so a retransmission, a CANCEL built apart from its INVITE, or a Call-ID masked twice give
 * the same text; authenticated, so a forged or mangled mask is refused rather than decoded into an
 * arbitrary address. The kind of value (Via stack, URI, route set, Call-ID) is sealed with it: a masked
 * Call-ID cannot be passed off as a masked Contact.
 */
import { createCipheriv, createHmac, timingSafeEqual } from 'node:crypto';

/** What a mask holds: `v` Via values, `u` one URI, `r` a Record-Route set as sent in a request, `R` in a response, `c` a Call-ID. */
export type MaskKind = 'v' | 'u' | 'r' | 'R' | 'c';

/** Bytes of MAC kept as synthetic IV (96 bits). */
const TAG_LENGTH = 12;
/** Masks longer than this are refused unread (a Via stack of the maximum size fits). */
const MAX_TOKEN_LENGTH = 16_384;
const KINDS = new Set(['v', 'u', 'r', 'R', 'c']);

/** Seals and opens masks with one secret. */
export class Masker {
  private readonly encKey: Buffer;
  private readonly macKey: Buffer;

  constructor(secret: string | Buffer) {
    // two keys derived from the secret, one per use
    this.encKey = createHmac('sha256', secret).update('olelo-topoh-encrypt').digest();
    this.macKey = createHmac('sha256', secret).update('olelo-topoh-authenticate').digest();
  }

  /** The mask of `text` (latin1, one char per byte, as header values are held). */
  seal(kind: MaskKind, text: string): string {
    const plain = Buffer.from(kind + text, 'latin1');
    const tag = createHmac('sha256', this.macKey).update(plain).digest().subarray(0, TAG_LENGTH);
    const cipher = createCipheriv('aes-256-ctr', this.encKey, iv(tag));
    const out = Buffer.concat([tag, cipher.update(plain), cipher.final()]);
    return out.toString('base64url');
  }

  /** The value a mask holds, or `undefined` when it is not a mask sealed with this secret. */
  open(token: string): { kind: MaskKind; text: string } | undefined {
    if (token.length < 16 || token.length > MAX_TOKEN_LENGTH || !isBase64Url(token)) return undefined;
    const raw = Buffer.from(token, 'base64url');
    if (raw.length <= TAG_LENGTH) return undefined;
    const tag = raw.subarray(0, TAG_LENGTH);
    const decipher = createCipheriv('aes-256-ctr', this.encKey, iv(tag));
    const plain = Buffer.concat([decipher.update(raw.subarray(TAG_LENGTH)), decipher.final()]);
    const expected = createHmac('sha256', this.macKey).update(plain).digest().subarray(0, TAG_LENGTH);
    if (!timingSafeEqual(tag, expected)) return undefined;
    const text = plain.toString('latin1');
    const kind = text[0]!;
    if (!KINDS.has(kind)) return undefined;
    return { kind: kind as MaskKind, text: text.slice(1) };
  }
}

function iv(tag: Buffer): Buffer {
  const out = Buffer.alloc(16);
  tag.copy(out, 0);
  return out;
}

function isBase64Url(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x2d ||
      c === 0x5f;
    if (!ok) return false;
  }
  return true;
}
