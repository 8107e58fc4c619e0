/**
 * GRUUs (RFC 5627): the public GRUU of an instance is its AOR with a `gr` parameter holding the
 * instance ID (§3.1); a temporary GRUU is an opaque URI that names the AOR without revealing it (§3.2).
 *
 * A temporary GRUU is stateless: its user part is `tgruu.` and the AES-256-GCM encryption (under a key
 * derived from the registrar's secret) of the AOR and 8 bytes of a hash of the instance ID and the
 * REGISTER's Call-ID. It resolves while the AOR has a binding of that instance registered with that
 * Call-ID (§3.2: a new Call-ID ends the temporary GRUUs handed out before), and any worker or server
 * with the same secret can resolve it.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { formatUri, type SipUri } from '../../sip/uri.js';
import type { Binding } from '../usrloc/types.js';

const PREFIX = 'tgruu.';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const BINDING_BYTES = 8;

/** The instance ID without its `<` `>` (the `gr` parameter value, RFC 5627 §3.1). */
export function instanceUrn(instance: string): string {
  return instance.length >= 2 && instance.startsWith('<') && instance.endsWith('>')
    ? instance.slice(1, -1)
    : instance;
}

/** The public GRUU of an instance: the AOR URI (scheme, user, domain) with `;gr=<instance urn>` (RFC 5627 §3.1). */
export function publicGruu(aor: SipUri, instance: string): string {
  return formatUri({
    scheme: aor.scheme,
    user: aor.user,
    password: undefined,
    host: aor.host.toLowerCase(),
    hostKind: aor.hostKind,
    port: undefined,
    params: new Map([['gr', instanceUrn(instance)]]),
    headers: [],
  });
}

/** Encodes and resolves temporary GRUUs under one secret. */
export class TempGruuCodec {
  private readonly key: Buffer;

  /** `secret`: shared by every server that must resolve the others' GRUUs; random (per start) when absent. */
  constructor(secret?: string) {
    this.key = createHash('sha256')
      .update('olelo temp-gruu\0')
      .update(secret ?? randomBytes(32))
      .digest();
  }

  /** A new temporary GRUU for a binding of `aor` (`user@domain`): a different one at every call (RFC 5627 §3.2). */
  create(scheme: 'sip' | 'sips', aor: string, binding: Pick<Binding, 'instance' | 'callId'>): string {
    const at = aor.lastIndexOf('@');
    const domain = at < 0 ? aor : aor.slice(at + 1);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([
      cipher.update(bindingTag(binding)),
      cipher.update(aor, 'utf8'),
      cipher.final(),
    ]);
    const token = Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
    return `${scheme}:${PREFIX}${token}@${domain};gr`;
  }

  /**
   * The AOR and binding tag a temporary GRUU's user part stands for, or `undefined` when it is not one
   * of ours (forged, altered, or encrypted under another secret).
   */
  open(user: string): { aor: string; tag: Buffer } | undefined {
    if (!user.startsWith(PREFIX)) return undefined;
    let raw: Buffer;
    try {
      raw = Buffer.from(user.slice(PREFIX.length), 'base64url');
    } catch {
      return undefined;
    }
    if (raw.length < IV_BYTES + BINDING_BYTES + TAG_BYTES + 1) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(raw.subarray(IV_BYTES, raw.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return { aor: plain.toString('utf8', BINDING_BYTES), tag: plain.subarray(0, BINDING_BYTES) };
    } catch {
      return undefined;
    }
  }
}

/** True when a user part has the form of a temporary GRUU (it may still not resolve). */
export function isTempGruuUser(user: string | undefined): boolean {
  return user?.startsWith(PREFIX) === true;
}

/** The 8-byte tag of a binding's instance and Call-ID that a temporary GRUU carries. */
export function bindingTag(binding: Pick<Binding, 'instance' | 'callId'>): Buffer {
  return createHash('sha256')
    .update(binding.instance)
    .update('\0')
    .update(binding.callId)
    .digest()
    .subarray(0, BINDING_BYTES);
}
