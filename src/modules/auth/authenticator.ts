/**
 * Digest verification of a request (RFC 3261 §22, RFC 7616 §3.4, RFC 8760) and the challenges that go
 * with it (RFC 7616 §3.3), independent of the script API.
 */
import { timingSafeEqual } from 'node:crypto';
import { SipParseError } from '../../sip/errors.js';
import {
  type AuthParams,
  type DigestCredentials,
  digestCredentials,
  formatDigestChallenge,
  isDigest,
  parseAuth,
} from '../../sip/headers/auth.js';
import { flattened } from '../../sip/keep.js';
import { latin1ToText, textToLatin1 } from '../../sip/lexer.js';
import type { HeaderField, SipRequest } from '../../sip/message.js';
import { uriEquals } from '../../sip/uri.js';
import { type CredentialSource, type StoredCredentials, selectHa1 } from './credentials.js';
import { computeResponse, type DigestAlgorithm, type DigestQop, parseAlgorithm } from './digest.js';
import type { NonceCheck, NonceCountTable, NonceFactory } from './nonce.js';

/**
 * The outcome of checking a request's credentials:
 * - `authorized`: the response is right, the nonce fresh and its nonce-count new;
 * - `no-credentials`: no credentials at all (answer with a challenge);
 * - `invalid`: credentials for our realm that fail: malformed, unsupported algorithm, wrong digest-uri,
 *   a nonce that is not ours, an unknown user or a wrong password (the last two cannot be told apart);
 *   credentials present only for other realms count as invalid too;
 * - `stale`: the response is right but the nonce expired (challenge again with `stale=true`);
 * - `replayed`: right response, but its nonce-count was used already (a replay);
 * - `error`: the credential source failed (answer 500).
 */
export type AuthResult = 'authorized' | 'no-credentials' | 'invalid' | 'stale' | 'replayed' | 'error';

/** Who a request was authenticated as. */
export interface AuthenticatedUser {
  /** The username the client sent (text), `user@domain` included when it sent one. */
  username: string;
  /** Its user part (the username without `@domain`). */
  user: string;
  /** The user's domain: the `@domain` of the username, else the realm. */
  domain: string;
  /** The realm the credentials were for (text). */
  realm: string;
  algorithm: DigestAlgorithm;
}

/** What {@link DigestAuthenticator.verify} found. */
export interface Verification {
  result: AuthResult;
  /** The header field holding the credentials checked (for our realm), if there was one. */
  field: HeaderField | undefined;
  /** Set when `result` is `authorized`. */
  user: AuthenticatedUser | undefined;
  /** Why it failed, for debug logs (never says whether the user exists). */
  reason: string;
}

/** Which header carries the credentials: Authorization (to a registrar/UAS, 401) or Proxy-Authorization (407). */
export type CredentialsHeader = 'authorization' | 'proxy-authorization';

/** Settings of a {@link DigestAuthenticator}. */
export interface AuthenticatorOptions {
  nonces: NonceFactory;
  counts: NonceCountTable;
  /** Algorithms accepted in credentials (and offered in challenges, in this order). */
  algorithms: readonly DigestAlgorithm[];
  /** qop values offered in challenges. */
  qop: readonly DigestQop[];
  /** Reject credentials without qop (RFC 2069 style: no nonce-count, so no replay protection). */
  requireQop: boolean;
  /** The credential source, read at each verification (it may be replaced while running). */
  source: () => CredentialSource;
}

/** The challenge options of {@link DigestAuthenticator.challenges}. */
export interface ChallengeOptions {
  /** Says the previous nonce expired but the credentials were right (RFC 7616 §3.3). */
  stale?: boolean;
  /** Algorithms to offer, most preferred first; by default the configured ones. */
  algorithms?: readonly DigestAlgorithm[];
  /** qop values to offer; by default the configured ones. */
  qop?: readonly DigestQop[];
}

const fail = (result: AuthResult, reason: string, field?: HeaderField): Verification => ({
  result,
  field,
  user: undefined,
  reason,
});

/** Verifies Digest credentials and writes challenges. */
export class DigestAuthenticator {
  /** A password nobody has: unknown users are checked against it, so they cost what a wrong password costs. */
  private readonly dummy: StoredCredentials = { password: `olelo-dummy-${Math.random()}-${Date.now()}` };

  constructor(private readonly options: AuthenticatorOptions) {}

  /** The WWW-/Proxy-Authenticate values for `realm` (text): one per algorithm, all with one new nonce. */
  challenges(realm: string, options: ChallengeOptions = {}): string[] {
    const r = textToLatin1(realm);
    const nonce = this.options.nonces.create(r);
    const qop = options.qop ?? this.options.qop;
    return (options.algorithms ?? this.options.algorithms).map((algorithm) =>
      formatDigestChallenge({ realm: r, nonce, algorithm, qop: [...qop], stale: options.stale === true }),
    );
  }

  /**
   * Checks the credentials for `realm` (text) in `header` of `msg`. Never throws (a Promise it returns
   * never rejects). Answers at once unless the credential source answers with a Promise: a request
   * without credentials, and any request checked against an in-memory source, is decided without
   * waiting — so a route script that awaits the result need not suspend (and create a transaction).
   */
  verify(msg: SipRequest, header: CredentialsHeader, realm: string): Verification | Promise<Verification> {
    const realmBytes = textToLatin1(realm);
    const fields = msg.fields(header);
    if (fields.length === 0) return fail('no-credentials', 'no credentials');
    let field: HeaderField | undefined;
    let parsed: AuthParams | undefined;
    for (const f of fields) {
      let a: AuthParams;
      try {
        a = parseAuth(f.value);
      } catch (e) {
        if (e instanceof SipParseError) continue;
        throw e;
      }
      // RFC 3261 §22.4: the credentials whose realm is ours
      if (isDigest(a) && a.params.get('realm') === realmBytes) {
        field = f;
        parsed = a;
        break;
      }
    }
    if (field === undefined || parsed === undefined) return fail('invalid', 'no credentials for this realm');

    let c: DigestCredentials;
    try {
      c = digestCredentials(parsed);
    } catch (e) {
      if (e instanceof SipParseError) return fail('invalid', e.reason, field);
      throw e;
    }
    const algorithm = parseAlgorithm(c.algorithm);
    if (algorithm === undefined || !this.options.algorithms.includes(algorithm)) {
      return fail('invalid', `algorithm ${c.algorithm} not accepted`, field);
    }
    if (c.userhash) return fail('invalid', 'userhash is not supported', field);
    let qop: DigestQop | undefined;
    if (c.qop === undefined) {
      if (this.options.requireQop) return fail('invalid', 'credentials without qop', field);
    } else {
      const q = c.qop.toLowerCase();
      if (q !== 'auth' && q !== 'auth-int') return fail('invalid', `qop ${c.qop} unknown`, field);
      qop = q;
    }
    if (c.qop === undefined && algorithm.endsWith('-sess'))
      return fail('invalid', '-sess without qop', field);
    // RFC 2617 §3.2.2.5: the digest-uri names the Request-URI
    if (c.uri !== msg.requestUri && !uriEquals(c.uri, msg.requestUri)) {
      return fail('invalid', 'digest-uri is not the Request-URI', field);
    }
    const nonce = this.options.nonces.check(c.nonce, realmBytes);
    if (nonce.kind === 'invalid') return fail('invalid', 'nonce not ours', field);

    // who: `user@domain` usernames carry their domain (Kamailio's ha1b), others are in the realm's domain
    const at = c.username.lastIndexOf('@');
    const withDomain = at > 0 && at < c.username.length - 1;
    const user = withDomain ? c.username.slice(0, at) : c.username;
    const domain = withDomain ? latin1ToText(c.username.slice(at + 1)) : realm;
    const sourceFailed = (e: unknown): Verification =>
      fail('error', `credential source failed: ${e instanceof Error ? e.message : String(e)}`, field);
    let found: StoredCredentials | undefined | Promise<StoredCredentials | undefined>;
    try {
      found = this.options.source().lookup(latin1ToText(user), domain);
    } catch (e) {
      return sourceFailed(e);
    }
    const check = { msg, field, c, algorithm, qop, nonce, user, domain, withDomain, realm, realmBytes };
    if (found instanceof Promise) return found.then((stored) => this.check(check, stored), sourceFailed);
    return this.check(check, found);
  }

  /** The rest of {@link verify} once the stored credentials are known. */
  private check(
    v: {
      msg: SipRequest;
      field: HeaderField;
      c: DigestCredentials;
      algorithm: DigestAlgorithm;
      qop: DigestQop | undefined;
      nonce: Exclude<NonceCheck, { kind: 'invalid' }>;
      user: string;
      domain: string;
      withDomain: boolean;
      realm: string;
      realmBytes: string;
    },
    stored: StoredCredentials | undefined,
  ): Verification {
    const { msg, field, c, algorithm, qop, nonce, user, domain, withDomain, realm, realmBytes } = v;
    // an unknown user, or one whose stored hash does not fit the algorithm, costs the same as a wrong password
    let ha1 =
      stored === undefined ? undefined : selectHa1(stored, algorithm, c.username, realmBytes, withDomain);
    const known = ha1 !== undefined;
    ha1 ??= selectHa1(this.dummy, algorithm, c.username, realmBytes, withDomain)!;
    const expected = computeResponse({
      algorithm,
      ha1,
      nonce: c.nonce,
      qop,
      nc: c.nc,
      cnonce: c.cnonce,
      method: msg.method,
      uri: c.uri,
      ...(qop === 'auth-int' ? { body: msg.body } : {}),
    });
    const a = Buffer.from(expected, 'latin1');
    const b = Buffer.from(c.response.toLowerCase(), 'latin1');
    // the length of a hash is no secret; its bytes are compared in constant time
    const same = a.length === b.length && timingSafeEqual(a, b);
    if (!same || !known) return fail('invalid', 'wrong response (unknown user or wrong password)', field);
    if (nonce.kind === 'stale') return fail('stale', 'nonce expired', field);
    if (c.nc !== undefined) {
      const used = this.options.counts.use(
        c.nonce,
        nonce.issuedAt,
        Number.parseInt(c.nc, 16),
        transactionIdentity(msg),
      );
      if (used === 'replayed') return fail('replayed', `nonce-count ${c.nc} used before`, field);
      if (used === 'forgotten') return fail('stale', 'nonce no longer tracked', field);
    }
    return {
      result: 'authorized',
      field,
      user: {
        username: latin1ToText(c.username),
        user: latin1ToText(user),
        domain,
        realm,
        algorithm,
      },
      reason: 'authorized',
    };
  }
}

/**
 * The transaction a request belongs to (RFC 3261 §17.2.3: top Via branch and sent-by, CSeq), as one flat
 * string: the nonce-count table keeps it, and it must not keep the whole message text alive (a slice of
 * the message would).
 */
function transactionIdentity(msg: SipRequest): string | undefined {
  const via = msg.topVia;
  if (via?.branch === undefined) return undefined;
  return flattened(`${via.branch}\u0000${via.host}:${via.port ?? ''}\u0000${msg.cseq?.seq ?? ''}`);
}
