/**
 * A Digest client for the tests: answers a challenge the way a UA would (RFC 7616 §3.4).
 */
import { randomBytes } from 'node:crypto';
import {
  computeHa1,
  computeResponse,
  type DigestQop,
  parseAlgorithm,
} from '../../src/modules/auth/digest.js';
import { digestChallenge, parseAuth } from '../../src/sip/headers/auth.js';

/** How to answer. */
export interface Answer {
  username: string;
  password: string;
  method: string;
  uri: string;
  /** Default 1. */
  nc?: number;
  /** Default `auth` when offered, none otherwise. */
  qop?: DigestQop | 'none';
  body?: Buffer;
  cnonce?: string;
  /**
   * Params to write differently after the response was computed: a string replaces the value (quoted as
   * RFC 3261 writes that param), `undefined` leaves the param out.
   */
  override?: Record<string, string | undefined>;
}

const UNQUOTED = new Set(['algorithm', 'qop', 'nc', 'stale', 'userhash']);

/** Credentials answering the challenge value `challenge` (a WWW-/Proxy-Authenticate value). */
export function answer(challenge: string, a: Answer): string {
  const c = digestChallenge(parseAuth(challenge));
  const algorithm = parseAlgorithm(c.algorithm);
  if (algorithm === undefined) throw new Error(`test client cannot do ${c.algorithm}`);
  const qop = a.qop === 'none' ? undefined : (a.qop ?? (c.qop.includes('auth') ? 'auth' : undefined));
  const nc = (a.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = a.cnonce ?? randomBytes(8).toString('hex');
  const response = computeResponse({
    algorithm,
    ha1: computeHa1(algorithm, a.username, c.realm, a.password),
    nonce: c.nonce,
    qop,
    nc,
    cnonce,
    method: a.method,
    uri: a.uri,
    ...(a.body === undefined ? {} : { body: a.body }),
  });
  const params: Record<string, string | undefined> = {
    username: a.username,
    realm: c.realm,
    nonce: c.nonce,
    uri: a.uri,
    response,
    algorithm: c.algorithm,
    ...(qop === undefined ? {} : { qop, nc, cnonce }),
    ...a.override,
  };
  const written = Object.entries(params)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([name, v]) => (UNQUOTED.has(name) ? `${name}=${v}` : `${name}="${v}"`));
  return `Digest ${written.join(', ')}`;
}
