/**
 * Where passwords come from: the credential source interface, a static users list, and the choice of the
 * HA1 to verify a response with.
 */
import { textToLatin1 } from '../../sip/lexer.js';
import { computeHa1, type DigestAlgorithm, hashOf, hexLength, isHex } from './digest.js';

/**
 * What a credential source knows of one user. Kamailio's `subscriber` table stores `password` (plain, may be
 * empty), `ha1` = MD5(username:realm:password) and `ha1b` = MD5(username@domain:realm:password), the latter
 * for clients that send `username="user@domain"`. The stored hashes are MD5 only: SHA-256 and SHA-512-256
 * need the plain password, or `ha1Sha256` / `ha1Sha512_256` computed the same way with that hash.
 */
export interface StoredCredentials {
  /** The plain password (text; hashed as UTF-8). */
  password?: string;
  /** MD5(username:realm:password), hex. */
  ha1?: string;
  /** MD5(username@domain:realm:password), hex. */
  ha1b?: string;
  /** SHA-256(username:realm:password), hex. */
  ha1Sha256?: string;
  /** SHA-512/256(username:realm:password), hex. */
  ha1Sha512_256?: string;
}

/**
 * Looks users up. `username` is the user part the client authenticated as, `realmOrDomain` the realm of the
 * challenge (olelo uses the user's domain as realm unless configured otherwise). Resolves `undefined` for
 * an unknown user. {@link SubscriberCredentialSource} (the database's `subscriber` table) and
 * {@link StaticCredentialSource} are two.
 */
export interface CredentialSource {
  /**
   * The user's credentials, or `undefined`. An in-memory source answers at once; one backed by a database
   * returns a Promise (the request is then checked asynchronously, in a transaction).
   */
  lookup(
    username: string,
    realmOrDomain: string,
  ): StoredCredentials | undefined | Promise<StoredCredentials | undefined>;
}

/**
 * Users from the configuration: `{ 'alice@example.com': 'secret' }` (user `alice` in realm/domain
 * `example.com`), or `{ alice: 'secret' }` for `alice` in any realm. The `user@domain` entry wins.
 */
export class StaticCredentialSource implements CredentialSource {
  private readonly users = new Map<string, string>();

  constructor(users: Readonly<Record<string, string>>) {
    for (const [key, password] of Object.entries(users)) {
      const at = key.lastIndexOf('@');
      const user = at === -1 ? key : key.slice(0, at);
      const domain = at === -1 ? undefined : key.slice(at + 1).toLowerCase();
      this.users.set(domain === undefined ? `${user}@` : `${user}@${domain}`, password);
    }
  }

  /** How many users it holds. */
  get size(): number {
    return this.users.size;
  }

  lookup(username: string, realmOrDomain: string): StoredCredentials | undefined {
    const password =
      this.users.get(`${username}@${realmOrDomain.toLowerCase()}`) ?? this.users.get(`${username}@`);
    return password === undefined ? undefined : { password };
  }
}

/** A source asking each of `sources` in turn; the first that knows the user answers. */
export function chainCredentialSources(...sources: CredentialSource[]): CredentialSource {
  // synchronous as long as the sources answering are
  const from = (
    i: number,
    username: string,
    realmOrDomain: string,
  ): StoredCredentials | undefined | Promise<StoredCredentials | undefined> => {
    for (; i < sources.length; i++) {
      const found = sources[i]!.lookup(username, realmOrDomain);
      if (found instanceof Promise) {
        const next = i + 1;
        return found.then((f) => (f !== undefined ? f : from(next, username, realmOrDomain)));
      }
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return { lookup: (username, realmOrDomain) => from(0, username, realmOrDomain) };
}

/**
 * The HA1 (lower-case hex, with the algorithm's hash, before any `-sess` step) to verify a response made
 * by `username` (as the client sent it, latin1) in `realm` (latin1), or `undefined` when the stored
 * credentials cannot serve this algorithm. `withDomain` says the client's username was `user@domain`, so
 * Kamailio's `ha1b` is the stored MD5 hash that fits.
 */
export function selectHa1(
  stored: StoredCredentials,
  algorithm: DigestAlgorithm,
  username: string,
  realm: string,
  withDomain: boolean,
): string | undefined {
  if (stored.password !== undefined) {
    return computeHa1(algorithm, username, realm, textToLatin1(stored.password));
  }
  let ha1: string | undefined;
  switch (hashOf(algorithm)) {
    case 'md5':
      ha1 = withDomain ? stored.ha1b : stored.ha1;
      break;
    case 'sha256':
      ha1 = stored.ha1Sha256;
      break;
    case 'sha512-256':
      ha1 = stored.ha1Sha512_256;
      break;
  }
  return ha1 !== undefined && isHex(ha1, hexLength(algorithm)) ? ha1.toLowerCase() : undefined;
}

/** What {@link SubscriberCredentialSource} reads: the `subscriber` table of the database (`core.db.subscribers`). */
export interface SubscriberLookup {
  get(
    username: string,
    domain: string,
  ): Promise<{ password: string | undefined; ha1: string; ha1b: string } | undefined>;
}

/** Options of {@link SubscriberCredentialSource}. */
export interface SubscriberSourceOptions {
  /** How long (ms) a found account is remembered; 0 (default) asks the table every time. */
  cacheTime?: number;
  /** Most accounts remembered; the oldest goes first (default 100,000). */
  cacheSize?: number;
  /** The clock, in ms (tests). */
  now?: () => number;
}

/**
 * The database's `subscriber` table as a credential source (Kamailio's `auth_db`): the account
 * `username@domain` with its plain password, or only the MD5 hashes Kamailio stores (`ha1`, `ha1b`, with
 * the domain as realm). Each lookup is a query, so the check answers with a Promise; with `cacheTime`, an
 * account found is kept that long and a check for it answers at once (a password changed or an account
 * removed meanwhile is noticed only when its entry expires). Unknown users are never cached.
 */
export class SubscriberCredentialSource implements CredentialSource {
  private readonly cache = new Map<string, { stored: StoredCredentials; until: number }>();
  private readonly cacheTime: number;
  private readonly cacheSize: number;
  private readonly now: () => number;

  constructor(
    private readonly table: SubscriberLookup,
    options: SubscriberSourceOptions = {},
  ) {
    this.cacheTime = options.cacheTime ?? 0;
    this.cacheSize = options.cacheSize ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  lookup(
    username: string,
    realmOrDomain: string,
  ): StoredCredentials | undefined | Promise<StoredCredentials | undefined> {
    const domain = realmOrDomain.toLowerCase();
    if (this.cacheTime > 0) {
      const key = `${username}@${domain}`;
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        if (hit.until > this.now()) return hit.stored;
        this.cache.delete(key);
      }
      return this.query(username, domain).then((stored) => {
        if (stored !== undefined) {
          if (this.cache.size >= this.cacheSize) this.cache.delete(this.cache.keys().next().value!);
          this.cache.set(key, { stored, until: this.now() + this.cacheTime });
        }
        return stored;
      });
    }
    return this.query(username, domain);
  }

  /** Forgets every remembered account (after bulk changes to the table). */
  clearCache(): void {
    this.cache.clear();
  }

  private async query(username: string, domain: string): Promise<StoredCredentials | undefined> {
    const row = await this.table.get(username, domain);
    if (row === undefined) return undefined;
    const stored: StoredCredentials = {};
    if (row.password !== undefined && row.password !== '') stored.password = row.password;
    if (row.ha1) stored.ha1 = row.ha1;
    if (row.ha1b) stored.ha1b = row.ha1b;
    return stored;
  }
}
