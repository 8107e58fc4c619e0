/**
 * auth: Digest authentication (Kamailio's `auth` + `auth_db`): RFC 3261 §22 with RFC 7616 and RFC 8760
 * (MD5, SHA-256, SHA-512-256), stateless HMAC nonces, nonce-count replay protection, and the identity
 * checks of a proxy that authenticates its users.
 */
import { randomBytes } from 'node:crypto';
import type { RequestContext } from '../../core/context.js';
import { defineModule } from '../../core/module.js';
import { s } from '../../core/schema.js';
import { SipParseError } from '../../sip/errors.js';
import { latin1ToText } from '../../sip/lexer.js';
import type { NameAddr } from '../../sip/name-addr.js';
import { isSipUri, type SipUri } from '../../sip/uri.js';
import {
  type AuthenticatedUser,
  type AuthResult,
  type ChallengeOptions,
  type CredentialsHeader,
  DigestAuthenticator,
  type Verification,
} from './authenticator.js';
import {
  type CredentialSource,
  chainCredentialSources,
  StaticCredentialSource,
  SubscriberCredentialSource,
  type SubscriberLookup,
} from './credentials.js';
import { DIGEST_ALGORITHMS, type DigestAlgorithm, type DigestQop } from './digest.js';
import { CLOCK_SKEW_MS, NonceCountTable, NonceFactory } from './nonce.js';

export type { AuthenticatedUser, AuthResult, ChallengeOptions } from './authenticator.js';
export type { CredentialSource, StoredCredentials } from './credentials.js';
export { chainCredentialSources, StaticCredentialSource, SubscriberCredentialSource } from './credentials.js';
export type { DigestAlgorithm, DigestQop } from './digest.js';

/** The `auth` script API. */
export interface AuthApi {
  /**
   * Checks the Authorization credentials of a request for `realm` (by default the `realm` parameter, else the
   * To domain): for REGISTER and requests to this server as a UAS (Kamailio's `www_authorize`). Never throws.
   */
  wwwAuthorize(req: RequestContext, realm?: string): AuthResult | Promise<AuthResult>;
  /**
   * Checks the Proxy-Authorization credentials for `realm` (by default the `realm` parameter, else the From
   * domain): for requests this server proxies (Kamailio's `proxy_authorize`). Never throws.
   */
  proxyAuthorize(req: RequestContext, realm?: string): AuthResult | Promise<AuthResult>;
  /**
   * Replies 401 with a WWW-Authenticate challenge per algorithm (Kamailio's `www_challenge`); `stale=true`
   * when the last check of this request found a stale nonce, unless `options.stale` says otherwise.
   */
  wwwChallenge(req: RequestContext, realm?: string, options?: ChallengeOptions): void;
  /** Replies 407 with Proxy-Authenticate challenges (Kamailio's `proxy_challenge`); as {@link wwwChallenge}. */
  proxyChallenge(req: RequestContext, realm?: string, options?: ChallengeOptions): void;
  /** Removes the credentials that were checked, before forwarding (Kamailio's `consume_credentials`). */
  consumeCredentials(req: RequestContext): boolean;
  /** True when the request was authorized and the From URI is the authenticated user's (user and domain). */
  checkFrom(req: RequestContext): boolean;
  /** True when the request was authorized and the To URI is the authenticated user's (for REGISTER). */
  checkTo(req: RequestContext): boolean;
  /** Who the request was authenticated as, once a check returned `authorized`. */
  user(req: RequestContext): AuthenticatedUser | undefined;
  /**
   * All of it (Kamailio's `auth_check` followed by the challenge): checks a REGISTER with `wwwAuthorize` and
   * its To identity, any other request with `proxyAuthorize` and its From identity; on failure replies
   * 401/407 (challenge), 403 (identity mismatch) or 500 (credential source failed) and resolves false. On
   * success removes Proxy-Authorization credentials it checked and resolves true.
   */
  authenticate(req: RequestContext, realm?: string): boolean | Promise<boolean>;
  /**
   * True when `user@domain` is an account of the credential source (Kamailio's `is_subscriber`): tells an
   * unknown user (404) from a known one who is not registered (480). Asks the database unless the account
   * is a static user or cached.
   */
  isSubscriber(user: string, domain: string): boolean | Promise<boolean>;
  /** Replaces where passwords come from (the `users` parameter, then the `subscriber` table, by default). */
  setCredentialSource(source: CredentialSource): void;
}

const QOP_VALUES = ['auth', 'auth-int'] as const;

export const authModule = defineModule({
  name: 'auth',
  doc: 'Digest authentication.',
  params: s.object({
    realm: s
      .string({
        minLength: 1,
        doc: 'Realm of every challenge. By default the domain of the request: To for www (REGISTER), From for proxy authentication.',
      })
      .optional(),
    secret: s
      .string({
        minLength: 16,
        doc: 'Key of the nonce HMAC. Servers (and workers) that must accept each other’s nonces need the same secret; when unset a random one is made at each start, so nonces do not survive a restart.',
      })
      .optional(),
    nonceLifetime: s.duration({
      default: '5m',
      min: 100,
      doc: 'How long a nonce is valid; a right answer with an older one gets a new challenge with stale=true.',
    }),
    algorithms: s.array(s.enum(DIGEST_ALGORITHMS), {
      default: ['SHA-256', 'MD5'],
      minItems: 1,
      doc: 'Algorithms offered (one challenge each, most preferred first) and accepted. A credential source holding only Kamailio’s MD5 ha1 needs MD5 alone.',
    }),
    qop: s.array(s.enum(QOP_VALUES), {
      default: ['auth'],
      minItems: 1,
      doc: 'qop values offered in challenges (auth, auth-int); credentials with either are accepted.',
    }),
    requireQop: s.boolean({
      default: true,
      doc: 'Reject credentials without qop (RFC 2069 style): they carry no nonce-count, so replays could not be detected.',
    }),
    replayTableSize: s.integer({
      default: 100_000,
      min: 1,
      doc: 'Nonces whose nonce-counts are remembered (replay protection). When full, the oldest is dropped and its clients get a fresh nonce.',
    }),
    users: s.record(s.string(), {
      default: {},
      doc: 'Static users: `user@domain` (or just `user`, any domain) to password. Asked before the subscriber table, unless the script sets another credential source.',
      example: { 'alice@example.com': 'secret' },
    }),
    subscriberTable: s.boolean({
      default: true,
      doc: 'Look users up in the database’s `subscriber` table (Kamailio’s auth_db: password, or ha1/ha1b with the domain as realm) when `users` does not know them.',
    }),
    subscriberCacheTime: s.duration({
      default: 0,
      doc: 'How long an account read from the subscriber table is remembered (at most 100,000 of them), so checks of its requests answer without a query. 0 = ask the table every time. A changed password or a removed account takes effect when the entry expires.',
    }),
  }),
  create(core, params) {
    const lifetime = params.nonceLifetime as number;
    const secret =
      params.secret === undefined ? randomBytes(32) : Buffer.from(params.secret as string, 'utf8');
    const staticUsers = new StaticCredentialSource(params.users as Record<string, string>);
    let source: CredentialSource = staticUsers;
    if (params.subscriberTable as boolean) {
      // the database is opened by the server before modules are created; a core without one has no table
      let subscribers: SubscriberLookup | undefined;
      try {
        subscribers = core.db.subscribers;
      } catch {
        subscribers = undefined;
      }
      if (subscribers !== undefined) {
        const table = new SubscriberCredentialSource(subscribers, {
          cacheTime: params.subscriberCacheTime as number,
        });
        source = chainCredentialSources(staticUsers, table);
      }
    }
    const authenticator = new DigestAuthenticator({
      nonces: new NonceFactory(secret, lifetime),
      counts: new NonceCountTable(params.replayTableSize as number, lifetime + CLOCK_SKEW_MS),
      algorithms: params.algorithms as DigestAlgorithm[],
      qop: params.qop as DigestQop[],
      requireQop: params.requireQop as boolean,
      source: () => source,
    });
    const fixedRealm = params.realm as string | undefined;
    const stat = (name: string, doc: string) => core.stats.counter('auth', name, doc);
    const stats = {
      authorized: stat('authorized', 'requests whose credentials were accepted'),
      noCredentials: stat('no_credentials', 'requests checked without credentials'),
      invalid: stat(
        'invalid',
        'credentials rejected: wrong password, unknown user, malformed, foreign nonce',
      ),
      stale: stat('stale', 'right credentials with an expired nonce'),
      replayed: stat('replayed', 'credentials whose nonce-count was used before'),
      errors: stat('errors', 'credential source failures'),
      challenges: stat('challenges', '401/407 challenges sent'),
      forbidden: stat('forbidden', 'authenticated requests refused for a From/To identity not the user’s'),
    };
    const counterOf: Record<AuthResult, { value: number }> = {
      authorized: stats.authorized,
      'no-credentials': stats.noCredentials,
      invalid: stats.invalid,
      stale: stats.stale,
      replayed: stats.replayed,
      error: stats.errors,
    };
    /** The last check of each request. */
    const checked = new WeakMap<RequestContext, Verification>();

    /** The domain of a From/To/Request-URI, lower-case; `undefined` when it is not a readable SIP URI. */
    const domainOf = (read: () => NameAddr | undefined): string | undefined => {
      try {
        const uri = read()?.uri;
        return uri !== undefined && isSipUri(uri) ? latin1ToText(uri.host).toLowerCase() : undefined;
      } catch (e) {
        if (e instanceof SipParseError) return undefined;
        throw e;
      }
    };
    const realmFor = (req: RequestContext, header: CredentialsHeader, realm: string | undefined): string => {
      if (realm !== undefined) return realm;
      if (fixedRealm !== undefined) return fixedRealm;
      const msg = req.msg;
      const domain = domainOf(() => (header === 'authorization' ? msg.to : msg.from));
      if (domain !== undefined) return domain;
      let ruri: SipUri | undefined;
      try {
        ruri = req.sipUri;
      } catch (e) {
        if (!(e instanceof SipParseError)) throw e;
      }
      return ruri !== undefined ? latin1ToText(ruri.host).toLowerCase() : req.source.listener.advertisedHost;
    };

    const authorize = (
      req: RequestContext,
      header: CredentialsHeader,
      realm: string | undefined,
    ): AuthResult | Promise<AuthResult> => {
      const r = realmFor(req, header, realm);
      const v = authenticator.verify(req.msg, header, r);
      return v instanceof Promise ? v.then((done) => record(req, done, r)) : record(req, v, r);
    };

    const record = (req: RequestContext, v: Verification, r: string): AuthResult => {
      checked.set(req, v);
      counterOf[v.result].value++;
      if (v.result === 'error') req.log.error('auth: credential source failed', { reason: v.reason });
      else if (v.result !== 'authorized' && req.log.enabled('debug')) {
        req.log.debug('auth: not authorized', { result: v.result, reason: v.reason, realm: r });
      }
      return v.result;
    };

    const challenge = (
      req: RequestContext,
      header: CredentialsHeader,
      realm: string | undefined,
      options: ChallengeOptions = {},
    ): void => {
      const r = realmFor(req, header, realm);
      const stale = options.stale ?? checked.get(req)?.result === 'stale';
      const name = header === 'authorization' ? 'WWW-Authenticate' : 'Proxy-Authenticate';
      const values = authenticator.challenges(r, { ...options, stale });
      stats.challenges.value++;
      // RFC 3261 §22.1 (401 from a UAS/registrar), §22.3 (407 from a proxy)
      core.reply(
        req,
        header === 'authorization' ? 401 : 407,
        undefined,
        values.map((v) => [name, v] as const),
      );
    };

    const identityMatches = (req: RequestContext, read: () => NameAddr | undefined): boolean => {
      const user = checked.get(req)?.user;
      if (user === undefined) return false;
      try {
        const uri = read()?.uri;
        if (uri === undefined || !isSipUri(uri) || uri.user === undefined) return false;
        return (
          latin1ToText(uri.user) === user.user &&
          latin1ToText(uri.host).toLowerCase() === user.domain.toLowerCase()
        );
      } catch (e) {
        if (e instanceof SipParseError) return false;
        throw e;
      }
    };

    const api: AuthApi = {
      wwwAuthorize: (req, realm) => authorize(req, 'authorization', realm),
      proxyAuthorize: (req, realm) => authorize(req, 'proxy-authorization', realm),
      wwwChallenge: (req, realm, options) => challenge(req, 'authorization', realm, options),
      proxyChallenge: (req, realm, options) => challenge(req, 'proxy-authorization', realm, options),
      consumeCredentials(req) {
        const field = checked.get(req)?.field;
        return field !== undefined && req.msg.removeField(field);
      },
      checkFrom: (req) => identityMatches(req, () => req.msg.from),
      checkTo: (req) => identityMatches(req, () => req.msg.to),
      user: (req) => checked.get(req)?.user,
      authenticate(req, realm) {
        const register = req.method === 'REGISTER';
        const header: CredentialsHeader = register ? 'authorization' : 'proxy-authorization';
        const result = authorize(req, header, realm);
        return result instanceof Promise
          ? result.then((r) => settle(req, r, header, register, realm))
          : settle(req, result, header, register, realm);
      },
      isSubscriber(user, domain) {
        const found = source.lookup(user, domain);
        return found instanceof Promise ? found.then((f) => f !== undefined) : found !== undefined;
      },
      setCredentialSource(next) {
        source = next;
      },
    };
    /** The rest of `authenticate` once the credentials are checked. */
    const settle = (
      req: RequestContext,
      result: AuthResult,
      header: CredentialsHeader,
      register: boolean,
      realm: string | undefined,
    ): boolean => {
      if (result === 'error') {
        core.reply(req, 500, 'Server Error (Credentials Unavailable)');
        return false;
      }
      if (result !== 'authorized') {
        challenge(req, header, realm);
        return false;
      }
      // Kamailio's auth_check: the To of a REGISTER (the AOR bound), the From of anything else
      if (!(register ? api.checkTo(req) : api.checkFrom(req))) {
        stats.forbidden.value++;
        core.reply(req, 403, 'Forbidden (Identity Mismatch)');
        return false;
      }
      if (!register) api.consumeCredentials(req);
      return true;
    };
    return { api };
  },
});
