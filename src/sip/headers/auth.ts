/**
 * Authorization / Proxy-Authorization (credentials) and WWW-Authenticate / Proxy-Authenticate (challenges):
 * RFC 3261 §20.7, §20.27, §20.28, §20.44 and §25.1, with the Digest parameters of RFC 7616 (`userhash`,
 * `charset`, `username*`) and the SHA-2 algorithms of RFC 8760, and the `token68` form of RFC 7235 §2.1.
 *
 * ```
 * credentials    = ("Digest" LWS digest-response) / other-response
 * other-response = auth-scheme LWS auth-param *(COMMA auth-param)
 * challenge      = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
 * auth-param     = auth-param-name EQUAL ( token / quoted-string )
 * ```
 *
 * Parameters are separated by commas, never by semicolons. All strings are `latin1` (one char per byte), so
 * a username or password hash is computed over `Buffer.from(s, 'latin1')`.
 */
import { SipParseError } from '../errors.js';
import { quote, scanQuotedString, scanToken, skipWs, unquote } from '../lexer.js';
import { tokenOrQuoted } from './common.js';

/** One parsed credentials or challenge value, whatever its scheme. */
export interface AuthParams {
  /** Auth scheme as written (`Digest`); schemes compare case-insensitively (RFC 7235 §2.1). */
  scheme: string;
  /** auth-params: lower-case names, values with quoted-strings unquoted. Empty when `token68` is set. */
  params: Map<string, string>;
  /** The `token68` form (RFC 7235 §2.1), as in `Basic dXNlcjpwYXNz`; `undefined` when params were used. */
  token68: string | undefined;
}

/** Whether a value is written as credentials (Authorization) or as a challenge (WWW-Authenticate). */
export type AuthRole = 'credentials' | 'challenge';

const COMMA = 0x2c;
const EQUAL = 0x3d;

/** ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" (RFC 7235 §2.1 token68, before its trailing "="s). */
function isToken68Char(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x7e ||
    c === 0x2b ||
    c === 0x2f
  );
}

/** True when `scheme` is `Digest` in any letter case. */
export function isDigest(a: AuthParams): boolean {
  return a.scheme.length === 6 && a.scheme.toLowerCase() === 'digest';
}

/**
 * Parses one credentials or challenge value: `scheme`, then comma-separated auth-params, or a token68, or
 * (for schemes other than Digest) nothing. Unknown schemes parse (RFC 4475 §3.3.7 regaut01). A repeated
 * parameter is an error (RFC 7235 §2.2); so is an empty one (`,,`). For Digest, `nc` must be 8 hex digits
 * and `stale` / `userhash` must be `true` or `false` (RFC 3261 §25.1, RFC 7616 §3.3).
 */
export function parseAuth(value: string): AuthParams {
  const n = value.length;
  let i = skipWs(value, 0);
  const schemeStart = i;
  i = scanToken(value, i);
  if (i === schemeStart) {
    throw new SipParseError(i >= n ? 'empty authentication value' : 'missing auth scheme', i);
  }
  const scheme = value.slice(schemeStart, i);
  const digest = scheme.length === 6 && scheme.toLowerCase() === 'digest';
  const params = new Map<string, string>();
  const schemeEnd = i;
  i = skipWs(value, i);
  if (i >= n) {
    if (digest) throw new SipParseError('Digest needs auth-params', i);
    return { scheme, params, token68: undefined };
  }
  if (i === schemeEnd) throw new SipParseError('expected a space after the auth scheme', i);

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=" -- only when nothing follows
  // (Digest has no token68 form: `Digest realm=` is an auth-param with an empty value)
  let j = i;
  while (!digest && j < n && isToken68Char(value.charCodeAt(j))) j++;
  if (j > i) {
    let k = j;
    while (k < n && value.charCodeAt(k) === EQUAL) k++;
    if (skipWs(value, k) >= n) return { scheme, params, token68: value.slice(i, k) };
  }

  for (;;) {
    const nameStart = i;
    i = scanToken(value, i);
    if (i === nameStart) {
      const c = value.charCodeAt(i);
      throw new SipParseError(
        i >= n || c === COMMA ? 'empty auth-param' : `unexpected character '${value[i]}' in auth-param`,
        i,
      );
    }
    const name = value.slice(nameStart, i).toLowerCase();
    i = skipWs(value, i);
    if (i >= n || value.charCodeAt(i) !== EQUAL) {
      throw new SipParseError(`expected '=' after auth-param '${name}'`, i);
    }
    i = skipWs(value, i + 1);
    const valueStart = i;
    let v: string;
    if (i < n && value.charCodeAt(i) === 0x22) {
      i = scanQuotedString(value, i);
      v = unquote(value, valueStart, i);
    } else {
      i = scanToken(value, i);
      if (i === valueStart) throw new SipParseError(`auth-param '${name}' has an empty value`, valueStart);
      v = value.slice(valueStart, i);
    }
    if (params.has(name)) throw new SipParseError(`duplicate auth-param '${name}'`, nameStart);
    if (digest) checkDigestParam(name, v, valueStart);
    params.set(name, v);
    i = skipWs(value, i);
    if (i >= n) break;
    if (value.charCodeAt(i) !== COMMA) {
      throw new SipParseError(`unexpected character '${value[i]}' after auth-param '${name}'`, i);
    }
    i = skipWs(value, i + 1);
    if (i >= n) throw new SipParseError('empty auth-param', i);
  }
  return { scheme, params, token68: undefined };
}

function checkDigestParam(name: string, v: string, offset: number): void {
  switch (name) {
    case 'nc':
      // nonce-count = "nc" EQUAL nc-value; nc-value = 8LHEX (RFC 3261 §25.1)
      if (!isHex8(v)) throw new SipParseError('Digest nc must be 8 hex digits', offset);
      break;
    case 'stale':
      // stale = "stale" EQUAL ( "true" / "false" ), case-insensitive (RFC 7616 §3.3)
      if (!isBool(v)) throw new SipParseError("Digest stale must be 'true' or 'false'", offset);
      break;
    case 'userhash':
      // userhash = "userhash" EQUAL ( "true" / "false" ) (RFC 7616 §3.3, §3.4)
      if (!isBool(v)) throw new SipParseError("Digest userhash must be 'true' or 'false'", offset);
      break;
  }
}

function isHex8(v: string): boolean {
  if (v.length !== 8) return false;
  for (let i = 0; i < 8; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46))) return false;
  }
  return true;
}

function isBool(v: string): boolean {
  const l = v.toLowerCase();
  return l === 'true' || l === 'false';
}

// RFC 3261 §25.1 writes these as quoted-strings in both credentials and challenges.
const ALWAYS_QUOTED = new Set([
  'username',
  'realm',
  'nonce',
  'uri',
  'response',
  'cnonce',
  'opaque',
  'domain',
]);

/**
 * Writes credentials or a challenge. `username`, `realm`, `nonce`, `uri`, `response`, `cnonce`, `opaque` and
 * `domain` are quoted-strings; `algorithm`, `nc`, `stale`, `userhash` and `charset` are bare tokens; `qop` is
 * a quoted list in a challenge (`qop="auth,auth-int"`) and a bare token in credentials (`qop=auth`);
 * `username*` is written as it is (an RFC 8187 ext-value); other params are tokens when they can be.
 *
 * `role` defaults to `'credentials'` when the params hold `response`, `username`, `username*`, `cnonce` or
 * `nc`, and to `'challenge'` otherwise. A set `token68` is written instead of the params.
 */
export function formatAuth(a: AuthParams, role?: AuthRole): string {
  if (a.token68 !== undefined) return `${a.scheme} ${a.token68}`;
  if (a.params.size === 0) return a.scheme;
  const r = role ?? inferRole(a.params);
  let out = '';
  for (const [name, v] of a.params) {
    let written: string;
    if (ALWAYS_QUOTED.has(name)) written = quote(v);
    else if (name === 'qop') written = r === 'challenge' ? quote(v) : tokenOrQuoted(v);
    else if (name === 'username*') written = v;
    // algorithm, nc, stale, userhash, charset are bare tokens (RFC 3261 §25.1, RFC 7616 §3.3); so is any
    // other value that can be one
    else written = tokenOrQuoted(v);
    out += out.length === 0 ? `${a.scheme} ${name}=${written}` : `, ${name}=${written}`;
  }
  return out;
}

function inferRole(params: Map<string, string>): AuthRole {
  return params.has('response') ||
    params.has('username') ||
    params.has('username*') ||
    params.has('cnonce') ||
    params.has('nc')
    ? 'credentials'
    : 'challenge';
}

/** Typed view of a Digest challenge (RFC 3261 §25.1 digest-cln, RFC 7616 §3.3). */
export interface DigestChallenge {
  realm: string;
  nonce: string;
  /** `domain`: the URIs of the protection space, split at spaces; empty when absent. */
  domain: string[];
  opaque: string | undefined;
  /** `stale=true` (case-insensitive); `false` when absent. */
  stale: boolean;
  /** `algorithm` as written (`MD5`, `MD5-sess`, `SHA-256`, `SHA-512-256`, ...); `MD5` when absent. */
  algorithm: string;
  /** qop-options split at commas (`['auth', 'auth-int']`); empty when absent. */
  qop: string[];
  /** `charset` (RFC 7616: only `UTF-8`), or `undefined`. */
  charset: string | undefined;
  /** `userhash=true` (RFC 7616 §3.3); `false` when absent. */
  userhash: boolean;
}

/** Typed view of Digest credentials (RFC 3261 §25.1 digest-response, RFC 7616 §3.4). */
export interface DigestCredentials {
  /**
   * `username`, or the decoded `username*` (RFC 7616 §3.4.4) as a latin1 string of its UTF-8 bytes.
   * When `userhash` is true, this is the hashed username.
   */
  username: string;
  realm: string;
  nonce: string;
  /** `uri` (digest-uri): the Request-URI as the client wrote it. */
  uri: string;
  /** `response`: the hex digest. */
  response: string;
  /** `algorithm` as written; `MD5` when absent. */
  algorithm: string;
  cnonce: string | undefined;
  opaque: string | undefined;
  /** The single chosen `qop` (`auth` or `auth-int`), or `undefined` (RFC 2069 compatibility). */
  qop: string | undefined;
  /** `nc`: 8 hex digits as written, or `undefined`. */
  nc: string | undefined;
  /** `userhash=true`; `false` when absent. */
  userhash: boolean;
}

/** Fields a caller must give to write a Digest challenge; the others default as in {@link DigestChallenge}. */
export type DigestChallengeInit = Pick<DigestChallenge, 'realm' | 'nonce'> & Partial<DigestChallenge>;

/** Fields a caller must give to write Digest credentials. */
export type DigestCredentialsInit = Pick<
  DigestCredentials,
  'username' | 'realm' | 'nonce' | 'uri' | 'response'
> &
  Partial<DigestCredentials>;

function requireParam(a: AuthParams, name: string, what: string): string {
  const v = a.params.get(name);
  if (v === undefined) throw new SipParseError(`${what} without ${name}`, 0);
  return v;
}

/**
 * The typed view of a parsed Digest challenge. Throws {@link SipParseError} (offset 0) when the scheme is not
 * Digest or `realm` or `nonce` is missing (RFC 3261 §22.4, RFC 7616 §3.3).
 */
export function digestChallenge(a: AuthParams): DigestChallenge {
  if (!isDigest(a)) throw new SipParseError(`auth scheme '${a.scheme}' is not Digest`, 0);
  const p = a.params;
  const domain = p.get('domain');
  const qop = p.get('qop');
  return {
    realm: requireParam(a, 'realm', 'Digest challenge'),
    nonce: requireParam(a, 'nonce', 'Digest challenge'),
    domain: domain === undefined ? [] : domain.split(/[ \t]+/).filter((s) => s.length > 0),
    opaque: p.get('opaque'),
    stale: p.get('stale')?.toLowerCase() === 'true',
    algorithm: p.get('algorithm') ?? 'MD5',
    qop:
      qop === undefined
        ? []
        : qop
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s.length > 0),
    charset: p.get('charset'),
    userhash: p.get('userhash')?.toLowerCase() === 'true',
  };
}

/**
 * The typed view of parsed Digest credentials. Throws {@link SipParseError} (offset 0) when the scheme is not
 * Digest, when `username` (or `username*`), `realm`, `nonce`, `uri` or `response` is missing, when both
 * `username` and `username*` are present, or when `qop` is present without `cnonce` and `nc`
 * (RFC 3261 §22.4, RFC 7616 §3.4).
 */
export function digestCredentials(a: AuthParams): DigestCredentials {
  if (!isDigest(a)) throw new SipParseError(`auth scheme '${a.scheme}' is not Digest`, 0);
  const p = a.params;
  let username = p.get('username');
  const ext = p.get('username*');
  if (ext !== undefined) {
    // RFC 7616 §3.4.4: username* MUST NOT be used together with username
    if (username !== undefined)
      throw new SipParseError('Digest credentials hold both username and username*', 0);
    username = decodeExtValue(ext);
  }
  if (username === undefined) throw new SipParseError('Digest credentials without username', 0);
  const qop = p.get('qop');
  const cnonce = p.get('cnonce');
  const nc = p.get('nc');
  if (qop !== undefined && (cnonce === undefined || nc === undefined)) {
    // RFC 3261 §25.1 / RFC 7616 §3.4: cnonce and nc MUST be sent when qop is
    throw new SipParseError('Digest credentials with qop but without cnonce and nc', 0);
  }
  return {
    username,
    realm: requireParam(a, 'realm', 'Digest credentials'),
    nonce: requireParam(a, 'nonce', 'Digest credentials'),
    uri: requireParam(a, 'uri', 'Digest credentials'),
    response: requireParam(a, 'response', 'Digest credentials'),
    algorithm: p.get('algorithm') ?? 'MD5',
    cnonce,
    opaque: p.get('opaque'),
    qop,
    nc,
    userhash: p.get('userhash')?.toLowerCase() === 'true',
  };
}

/**
 * Decodes an RFC 8187 ext-value (`UTF-8''J%C3%A4s%C3%B8n`) into a latin1 string of its bytes. Only the UTF-8
 * charset is accepted (RFC 7616 §3.4.4).
 */
function decodeExtValue(v: string): string {
  const q1 = v.indexOf("'");
  const q2 = q1 === -1 ? -1 : v.indexOf("'", q1 + 1);
  if (q2 === -1) throw new SipParseError('Digest username* is not an ext-value', 0);
  if (v.slice(0, q1).toLowerCase() !== 'utf-8')
    throw new SipParseError('Digest username* charset must be UTF-8', 0);
  let out = '';
  for (let i = q2 + 1; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= v.length || !isHexPair(v, i + 1))
        throw new SipParseError('bad %-escape in Digest username*', 0);
      out += String.fromCharCode(Number.parseInt(v.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (isAttrChar(c)) {
      out += v[i];
    } else {
      throw new SipParseError(`character '${v[i]}' not allowed in Digest username*`, 0);
    }
  }
  return out;
}

function isHexPair(s: string, i: number): boolean {
  for (let k = i; k < i + 2; k++) {
    const c = s.charCodeAt(k);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/** attr-char (RFC 8187 §3.2.1): ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" */
function isAttrChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x61 && c <= 0x7a) ||
    c === 0x21 ||
    c === 0x23 ||
    c === 0x24 ||
    c === 0x26 ||
    c === 0x2b ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5e ||
    c === 0x5f ||
    c === 0x60 ||
    c === 0x7c ||
    c === 0x7e
  );
}

/**
 * Writes a Digest challenge for WWW-Authenticate / Proxy-Authenticate, params in the order realm, domain,
 * nonce, opaque, stale, algorithm, qop, charset, userhash. `stale` and `userhash` are written only when true.
 */
export function formatDigestChallenge(c: DigestChallengeInit): string {
  const p = new Map<string, string>();
  p.set('realm', c.realm);
  if (c.domain !== undefined && c.domain.length > 0) p.set('domain', c.domain.join(' '));
  p.set('nonce', c.nonce);
  if (c.opaque !== undefined) p.set('opaque', c.opaque);
  if (c.stale) p.set('stale', 'true');
  if (c.algorithm !== undefined) p.set('algorithm', c.algorithm);
  if (c.qop !== undefined && c.qop.length > 0) p.set('qop', c.qop.join(','));
  if (c.charset !== undefined) p.set('charset', c.charset);
  if (c.userhash) p.set('userhash', 'true');
  return formatAuth({ scheme: 'Digest', params: p, token68: undefined }, 'challenge');
}

/**
 * Writes Digest credentials for Authorization / Proxy-Authorization, params in the order username, realm,
 * nonce, uri, response, algorithm, cnonce, opaque, qop, nc, userhash.
 */
export function formatDigestCredentials(c: DigestCredentialsInit): string {
  const p = new Map<string, string>();
  p.set('username', c.username);
  p.set('realm', c.realm);
  p.set('nonce', c.nonce);
  p.set('uri', c.uri);
  p.set('response', c.response);
  if (c.algorithm !== undefined) p.set('algorithm', c.algorithm);
  if (c.cnonce !== undefined) p.set('cnonce', c.cnonce);
  if (c.opaque !== undefined) p.set('opaque', c.opaque);
  if (c.qop !== undefined) p.set('qop', c.qop);
  if (c.nc !== undefined) p.set('nc', c.nc);
  if (c.userhash) p.set('userhash', 'true');
  return formatAuth({ scheme: 'Digest', params: p, token68: undefined }, 'credentials');
}
