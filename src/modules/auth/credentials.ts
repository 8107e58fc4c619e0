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
 * an unknown user. The database layer's `subscriber` table will be one; {@link StaticCredentialSource}
 * is another.
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
