/**
 * SIP, SIPS and tel URIs (RFC 3261 §19.1, §25.1; RFC 3966), plus any other scheme kept as an opaque
 * absolute URI.
 *
 * Input strings are `latin1` strings (one char = one byte). Parsing scans with `charCodeAt`, decodes
 * `%HH` escapes exactly once and throws only {@link SipParseError}, whatever the input.
 */
import { SipParseError } from './errors.js';
import { formatHostPort, type HostKind, type HostPort, isIPv6, scanHostPort } from './host.js';
import { isAlphaNum, type Params, paramName, textToLatin1 } from './lexer.js';

/** A `sip:` or `sips:` URI (RFC 3261 §19.1.1). */
export interface SipUri {
  scheme: 'sip' | 'sips';
  /** User part with `%HH` escapes decoded (latin1 bytes); `undefined` when there is no userinfo. */
  user: string | undefined;
  /** Password with `%HH` escapes decoded; `undefined` when none was written (`''` for `user:@host`). */
  password: string | undefined;
  /** Host as written; IPv6 references keep their brackets. */
  host: string;
  /** Whether the host is a name, an IPv4 address or an IPv6 reference. */
  hostKind: HostKind;
  /** Port, or `undefined` when none was written (no default is filled in). */
  port: number | undefined;
  /** uri-parameters: lower-case names, names and values `%HH`-decoded once; `null` for a flag (`;lr`). */
  params: Params;
  /** URI headers (`?name=value&...`) in order, names and values `%HH`-decoded once. */
  headers: Array<[string, string]>;
}

/** A `tel:` URI (RFC 3966). */
export interface TelUri {
  scheme: 'tel';
  /** The telephone-subscriber number as written, visual separators included (`+1-201-555-0123`). */
  number: string;
  /** Parameters (`ext`, `isub`, `phone-context`, ...): lower-case names, values `%HH`-decoded once. */
  params: Params;
}

/** A URI of any other scheme (RFC 3261 §25.1 `absoluteURI`), kept opaque. */
export interface AbsoluteUri {
  /** Scheme, lower-case. */
  scheme: string;
  /** Everything after the first `:`, as written. */
  opaque: string;
}

/** Any URI that can appear in a SIP message. */
export type Uri = SipUri | TelUri | AbsoluteUri;

// ---------------------------------------------------------------------------------------------------
// Character classes (RFC 3261 §25.1)

const F_USER = 1; // unreserved / user-unreserved
const F_PASS = 2; // unreserved / "&" / "=" / "+" / "$" / ","
const F_PARAM = 4; // paramchar without escaped: param-unreserved / unreserved
const F_HNV = 8; // hnv-unreserved / unreserved
const F_SCHEME = 16; // ALPHA / DIGIT / "+" / "-" / "."
const F_PHONE = 32; // RFC 3966 phonedigit-hex, "+" and visual separators
const F_TELPV = 64; // RFC 3966 pvalue, plus the uric of isub (";" excluded)

const URI_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(256);
  const set = (chars: string, flag: number) => {
    for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)]! |= flag;
  };
  const alnum = F_USER | F_PASS | F_PARAM | F_HNV | F_SCHEME | F_TELPV;
  for (let c = 0x30; c <= 0x39; c++) t[c]! |= alnum | F_PHONE;
  for (let c = 0x41; c <= 0x5a; c++) t[c]! |= alnum;
  for (let c = 0x61; c <= 0x7a; c++) t[c]! |= alnum;
  set('ABCDEFabcdef*#+-.()', F_PHONE);
  // mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
  set("-_.!~*'()", F_USER | F_PASS | F_PARAM | F_HNV | F_TELPV);
  set('&=+$,;?/', F_USER); // user-unreserved
  set('&=+$,', F_PASS);
  set('[]/:&+$', F_PARAM | F_TELPV); // param-unreserved
  set('?@=,', F_TELPV);
  set('[]/?:+$', F_HNV); // hnv-unreserved
  set('+-.', F_SCHEME);
  return t;
})();

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function isAlpha(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Set by {@link scanPart}: whether the run it scanned holds at least one `%HH` escape. */
let sawEscape = false;

/**
 * Index after a run of characters of class `flag` and `%HH` escapes starting at `i`.
 * Throws on a `%` that does not start a valid escape (RFC 3261 §25.1 `escaped`).
 */
function scanPart(s: string, i: number, flag: number): number {
  const n = s.length;
  sawEscape = false;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && (URI_CLASS[c]! & flag) !== 0) {
      i++;
    } else if (c === 0x25) {
      if (hexValue(s.charCodeAt(i + 1)) < 0 || hexValue(s.charCodeAt(i + 2)) < 0) {
        throw new SipParseError('malformed %-escape in URI', i);
      }
      sawEscape = true;
      i += 3;
    } else {
      break;
    }
  }
  return i;
}

/** `s.slice(start, end)` with its (already validated) `%HH` escapes decoded once. */
function decodeRange(s: string, start: number, end: number): string {
  let out = '';
  let chunk = start;
  let i = start;
  while (i < end) {
    if (s.charCodeAt(i) === 0x25) {
      if (i > chunk) out += s.slice(chunk, i);
      out += String.fromCharCode(hexValue(s.charCodeAt(i + 1)) * 16 + hexValue(s.charCodeAt(i + 2)));
      i += 3;
      chunk = i;
    } else {
      i++;
    }
  }
  return chunk < end ? out + s.slice(chunk, end) : out;
}

/** Decodes the part just scanned by {@link scanPart}; must be called before the next scan. */
function takePart(s: string, start: number, end: number): string {
  return sawEscape ? decodeRange(s, start, end) : s.slice(start, end);
}

function describe(s: string, i: number): string {
  const c = s.charCodeAt(i);
  return c > 0x20 && c < 0x7f ? `'${s[i]}'` : `0x${c.toString(16).padStart(2, '0')}`;
}

/** The error for the character at `i`, which cannot continue the URI component `where`. */
function unexpected(s: string, i: number, where: string): SipParseError {
  if (i >= s.length) return new SipParseError(`unexpected end of URI in ${where}`, i);
  if (isLws(s.charCodeAt(i))) return new SipParseError('whitespace in URI', i);
  return new SipParseError(`unexpected character ${describe(s, i)} in URI ${where}`, i);
}

// ---------------------------------------------------------------------------------------------------
// Escaping

const HEX = '0123456789ABCDEF';

function escapeWith(s: string, flag: number): string {
  const n = s.length;
  let i = 0;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || (URI_CLASS[c]! & flag) === 0) break;
    i++;
  }
  if (i === n) return s;
  for (let j = i; j < n; j++) {
    if (s.charCodeAt(j) > 0xff) {
      // not a latin1 byte string: escape its UTF-8 bytes
      return escapeWith(textToLatin1(s), flag);
    }
  }
  let out = s.slice(0, i);
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80 && (URI_CLASS[c]! & flag) !== 0) out += s[i];
    else out += `%${HEX[c >> 4]}${HEX[c & 15]}`;
  }
  return out;
}

/** Escapes a user part: everything but unreserved and user-unreserved becomes `%HH` (RFC 3261 §25.1). */
export function escapeUser(s: string): string {
  return escapeWith(s, F_USER);
}

/** Escapes a password: everything but unreserved and `& = + $ ,` becomes `%HH` (RFC 3261 §25.1). */
export function escapePassword(s: string): string {
  return escapeWith(s, F_PASS);
}

/** Escapes a uri-parameter name or value: everything but paramchar becomes `%HH` (RFC 3261 §25.1). */
export function escapeUriParam(s: string): string {
  return escapeWith(s, F_PARAM);
}

/** Escapes a URI header name or value: everything but hnv-unreserved/unreserved becomes `%HH`. */
export function escapeUriHeader(s: string): string {
  return escapeWith(s, F_HNV);
}

/**
 * Decodes every `%HH` escape in `s` once (`%2541` → `%41`). `%00` gives a NUL char.
 * Throws a {@link SipParseError} (offset within `s`) on a `%` not followed by two hex digits.
 */
export function unescapeUri(s: string): string {
  const n = s.length;
  let any = false;
  for (let i = 0; i < n; i++) {
    if (s.charCodeAt(i) === 0x25) {
      if (hexValue(s.charCodeAt(i + 1)) < 0 || hexValue(s.charCodeAt(i + 2)) < 0) {
        throw new SipParseError('malformed %-escape', i);
      }
      any = true;
      i += 2;
    }
  }
  return any ? decodeRange(s, 0, n) : s;
}

// ---------------------------------------------------------------------------------------------------
// Parsing

/**
 * Parses a URI: `sip:`/`sips:` (RFC 3261 §19.1.1), `tel:` (RFC 3966) or any other `absoluteURI`.
 * The whole of `text` must be the URI (no surrounding whitespace or `< >`).
 * Throws a {@link SipParseError} whose offset is the position in `text` plus `offset`.
 */
export function parseUri(text: string, offset = 0): Uri {
  if (offset === 0) return parseUriText(text);
  try {
    return parseUriText(text);
  } catch (e) {
    throw e instanceof SipParseError ? e.rebase(offset) : e;
  }
}

/** Parses a `sip:` or `sips:` URI; any other scheme is a {@link SipParseError}. */
export function parseSipUri(text: string): SipUri {
  const u = parseUriText(text);
  if (!isSipUri(u)) throw new SipParseError(`expected a sip or sips URI, got '${u.scheme}:'`, 0);
  return u;
}

/** True for a `sip:` or `sips:` URI. */
export function isSipUri(u: Uri): u is SipUri {
  return u.scheme === 'sip' || u.scheme === 'sips';
}

/** True for a `tel:` URI. */
export function isTelUri(u: Uri): u is TelUri {
  return u.scheme === 'tel';
}

function parseUriText(s: string): Uri {
  const n = s.length;
  if (n === 0) throw new SipParseError('empty URI', 0);
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )   RFC 3261 §25.1
  if (!isAlpha(s.charCodeAt(0))) throw unexpected(s, 0, 'scheme');
  let i = 1;
  while (i < n && (URI_CLASS[s.charCodeAt(i)]! & F_SCHEME) !== 0) i++;
  if (i >= n || s.charCodeAt(i) !== 0x3a) {
    throw i >= n ? new SipParseError("missing ':' after URI scheme", i) : unexpected(s, i, 'scheme');
  }
  const c0 = s.charCodeAt(0) | 0x20;
  const c1 = s.charCodeAt(1) | 0x20;
  const c2 = s.charCodeAt(2) | 0x20;
  if (i === 3 && c0 === 0x73 && c1 === 0x69 && c2 === 0x70) return parseSipRest(s, 'sip', 4);
  if (i === 4 && c0 === 0x73 && c1 === 0x69 && c2 === 0x70 && (s.charCodeAt(3) | 0x20) === 0x73) {
    return parseSipRest(s, 'sips', 5);
  }
  if (i === 3 && c0 === 0x74 && c1 === 0x65 && c2 === 0x6c) return parseTelRest(s, 4);
  return parseAbsoluteRest(s, i);
}

// SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]   RFC 3261 §25.1
function parseSipRest(s: string, scheme: 'sip' | 'sips', i: number): SipUri {
  const n = s.length;
  let user: string | undefined;
  let password: string | undefined;
  // userinfo ends at the first '@': no other component may hold an unescaped '@'
  const at = s.indexOf('@', i);
  if (at !== -1) {
    let j = scanPart(s, i, F_USER);
    if (j === i)
      throw j === at ? new SipParseError('empty user part in URI', i) : unexpected(s, j, 'user part');
    user = takePart(s, i, j);
    if (j < at && s.charCodeAt(j) === 0x3a) {
      const p = j + 1;
      j = scanPart(s, p, F_PASS);
      password = takePart(s, p, j);
    }
    if (j !== at) throw unexpected(s, j, password === undefined ? 'user part' : 'password');
    i = at + 1;
  }
  // RFC 5118 §4.2-4.4: IPv6 references must be bracketed; a port can only follow the ']'
  let hp: HostPort;
  try {
    hp = scanHostPort(s, i);
  } catch (e) {
    throw bareIPv6(s, i) ? new SipParseError("IPv6 address must be enclosed in '[' ']'", i) : e;
  }
  i = hp.end;

  // uri-parameters = *( ";" uri-parameter ), uri-parameter = pname [ "=" pvalue ]
  const params: Params = new Map();
  while (i < n && s.charCodeAt(i) === 0x3b) {
    const nameStart = ++i;
    i = scanPart(s, i, F_PARAM);
    if (i === nameStart)
      throw i < n && s.charCodeAt(i) !== 0x3b ? unexpected(s, i, 'parameter') : emptyParam(i);
    const name = sawEscape ? decodeRange(s, nameStart, i).toLowerCase() : paramName(s, nameStart, i);
    let value: string | null = null;
    if (i < n && s.charCodeAt(i) === 0x3d) {
      const valueStart = ++i;
      i = scanPart(s, i, F_PARAM);
      if (i === valueStart) throw unexpected(s, i, `parameter '${name}' value`);
      value = takePart(s, valueStart, i);
    }
    params.set(name, value);
  }

  // headers = "?" header *( "&" header ), header = hname "=" hvalue
  const headers: Array<[string, string]> = [];
  if (i < n && s.charCodeAt(i) === 0x3f) {
    do {
      const nameStart = ++i;
      i = scanPart(s, i, F_HNV);
      if (i === nameStart) throw unexpected(s, i, 'header name');
      const name = takePart(s, nameStart, i);
      if (i >= n || s.charCodeAt(i) !== 0x3d) throw unexpected(s, i, `header '${name}'`);
      const valueStart = ++i;
      i = scanPart(s, i, F_HNV); // hvalue may be empty
      headers.push([name, takePart(s, valueStart, i)]);
    } while (i < n && s.charCodeAt(i) === 0x26);
  }
  if (i < n) throw unexpected(s, i, headers.length > 0 ? 'headers' : 'after host');
  return { scheme, user, password, host: hp.host, hostKind: hp.kind, port: hp.port, params, headers };
}

/** Whether the host at `i` is an IPv6 address written without brackets (RFC 5118 §4.2). */
function bareIPv6(s: string, i: number): boolean {
  let j = i;
  while (j < s.length && s.charCodeAt(j) !== 0x3b && s.charCodeAt(j) !== 0x3f) j++;
  return isIPv6(s.slice(i, j));
}

function emptyParam(i: number): SipParseError {
  return new SipParseError('empty URI parameter', i);
}

// telephone-uri = "tel:" telephone-subscriber   RFC 3966 §3
function parseTelRest(s: string, i: number): TelUri {
  const n = s.length;
  const start = i;
  while (i < n && (URI_CLASS[s.charCodeAt(i)]! & F_PHONE) !== 0) i++;
  if (i === start) throw unexpected(s, i, 'telephone number');
  const numberEnd = i;
  checkTelNumber(s, start, numberEnd);
  const params: Params = new Map();
  // par = parameter / extension / isdn-subaddress; pname = 1*( alphanum / "-" )
  while (i < n && s.charCodeAt(i) === 0x3b) {
    const nameStart = ++i;
    while (i < n && (isAlphaNum(s.charCodeAt(i)) || s.charCodeAt(i) === 0x2d)) i++;
    if (i === nameStart)
      throw i < n && s.charCodeAt(i) !== 0x3b ? unexpected(s, i, 'parameter') : emptyParam(i);
    const name = s.slice(nameStart, i).toLowerCase();
    let value: string | null = null;
    if (i < n && s.charCodeAt(i) === 0x3d) {
      const valueStart = ++i;
      i = scanPart(s, i, F_TELPV);
      if (i === valueStart) throw unexpected(s, i, `parameter '${name}' value`);
      value = takePart(s, valueStart, i);
    }
    params.set(name, value);
  }
  if (i < n) throw unexpected(s, i, 'telephone number');
  return { scheme: 'tel', number: s.slice(start, numberEnd), params };
}

function isVisualSeparator(c: number): boolean {
  return c === 0x2d || c === 0x2e || c === 0x28 || c === 0x29; // - . ( )   RFC 3966 §3
}

// global-number-digits = "+" *phonedigit DIGIT *phonedigit
// local-number-digits  = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex   RFC 3966 §3
function checkTelNumber(s: string, start: number, end: number): void {
  const global = s.charCodeAt(start) === 0x2b;
  let digits = 0;
  for (let i = global ? start + 1 : start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (isVisualSeparator(c)) continue;
    if (c === 0x2b || (global && (c < 0x30 || c > 0x39))) {
      throw new SipParseError(`unexpected character ${describe(s, i)} in telephone number`, i);
    }
    digits++;
  }
  if (digits === 0) throw new SipParseError('telephone number without digits', start);
}

// absoluteURI = scheme ":" ( hier-part / opaque-part )   RFC 3261 §25.1
function parseAbsoluteRest(s: string, colon: number): AbsoluteUri {
  const n = s.length;
  if (colon + 1 >= n) throw new SipParseError('empty URI after scheme', colon + 1);
  for (let i = colon + 1; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x3c || c === 0x3e || c === 0x22) throw unexpected(s, i, 'body');
    if (c === 0x25 && (hexValue(s.charCodeAt(i + 1)) < 0 || hexValue(s.charCodeAt(i + 2)) < 0)) {
      throw new SipParseError('malformed %-escape in URI', i);
    }
  }
  return { scheme: s.slice(0, colon).toLowerCase(), opaque: s.slice(colon + 1) };
}

// ---------------------------------------------------------------------------------------------------
// Formatting

/**
 * Writes a URI in canonical form: lower-case scheme and parameter names, and `%HH` escapes for every
 * character a component may not carry literally (so `parseUri(formatUri(u))` gives `u` back).
 */
export function formatUri(u: Uri): string {
  if (isSipUri(u)) {
    let out = `${u.scheme}:`;
    if (u.user !== undefined) {
      out += escapeUser(u.user);
      if (u.password !== undefined) out += `:${escapePassword(u.password)}`;
      out += '@';
    }
    out += formatHostPort(u.host, u.port);
    for (const [name, value] of u.params) {
      out +=
        value === null ? `;${escapeUriParam(name)}` : `;${escapeUriParam(name)}=${escapeUriParam(value)}`;
    }
    for (let k = 0; k < u.headers.length; k++) {
      const [name, value] = u.headers[k]!;
      out += `${k === 0 ? '?' : '&'}${escapeUriHeader(name)}=${escapeUriHeader(value)}`;
    }
    return out;
  }
  if (isTelUri(u)) {
    let out = `tel:${u.number}`;
    for (const [name, value] of u.params) {
      out += value === null ? `;${name}` : `;${name}=${escapeWith(value, F_TELPV)}`;
    }
    return out;
  }
  const a = u as AbsoluteUri;
  return `${a.scheme.toLowerCase()}:${a.opaque}`;
}

// ---------------------------------------------------------------------------------------------------
// Comparison

/** ASCII case-insensitive equality, without allocating. */
function equalsIgnoreCase(a: string, b: string): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0x41 && x <= 0x5a) x |= 0x20;
    if (y >= 0x41 && y <= 0x5a) y |= 0x20;
    if (x !== y) return false;
  }
  return true;
}

/** The eight 16-bit groups of an IPv6 address (brackets optional), for comparing spellings. */
function ipv6Key(host: string): string {
  let h = host.charCodeAt(0) === 0x5b ? host.slice(1, -1) : host;
  const triple = h.indexOf(':::'); // RFC 5118 §4.10: tolerated spelling of "::" before an IPv4 tail
  if (triple !== -1) h = h.slice(0, triple) + h.slice(triple + 1);
  const dbl = h.indexOf('::');
  const head = groupsOf(dbl === -1 ? h : h.slice(0, dbl));
  const tail = dbl === -1 ? [] : groupsOf(h.slice(dbl + 2));
  const zeros = Math.max(0, 8 - head.length - tail.length);
  for (let k = 0; k < zeros; k++) head.push(0);
  return head.concat(tail).join(':');
}

function groupsOf(part: string): number[] {
  const out: number[] = [];
  if (part === '') return out;
  for (const g of part.split(':')) {
    if (g.indexOf('.') === -1) {
      out.push(Number.parseInt(g, 16));
    } else {
      const b = g.split('.').map(Number);
      out.push((b[0]! << 8) + b[1]!, (b[2]! << 8) + b[3]!);
    }
  }
  return out;
}

function hostEquals(a: SipUri, b: SipUri): boolean {
  if (equalsIgnoreCase(a.host, b.host)) return true;
  return a.hostKind === 'ipv6' && b.hostKind === 'ipv6' && ipv6Key(a.host) === ipv6Key(b.host);
}

/** uri-parameters that never match when present in one URI only (RFC 3261 §19.1.4). */
function isSignificantParam(name: string): boolean {
  return name === 'user' || name === 'ttl' || name === 'method' || name === 'maddr' || name === 'transport';
}

function paramValueEquals(x: string | null, y: string | null): boolean {
  if (x === null || y === null) return x === y;
  return equalsIgnoreCase(x, y);
}

// RFC 3261 §19.1.4
function sipEquals(a: SipUri, b: SipUri): boolean {
  // never equal across sip/sips; userinfo is case-sensitive, compared after unescaping
  if (a.scheme !== b.scheme || a.user !== b.user || a.password !== b.password) return false;
  // a port present on one side only does not match, not even 5060
  if (a.port !== b.port || !hostEquals(a, b)) return false;
  for (const [name, va] of a.params) {
    const vb = b.params.get(name);
    if (vb === undefined) {
      if (isSignificantParam(name)) return false; // user, ttl, method, maddr, transport
    } else if (!paramValueEquals(va, vb)) {
      return false; // a parameter present in both must match
    }
  }
  for (const name of b.params.keys()) {
    if (isSignificantParam(name) && !a.params.has(name)) return false;
  }
  // header components are never ignored: each must appear on both sides (order is irrelevant)
  const ha = a.headers;
  const hb = b.headers;
  if (ha.length !== hb.length) return false;
  if (ha.length === 0) return true;
  const used = new Array<boolean>(hb.length).fill(false);
  outer: for (const [name, value] of ha) {
    for (let k = 0; k < hb.length; k++) {
      if (!used[k] && hb[k]![1] === value && equalsIgnoreCase(hb[k]![0], name)) {
        used[k] = true;
        continue outer;
      }
    }
    return false;
  }
  return true;
}

/** The telephone digits without visual separators, upper-cased (RFC 3966 §4). */
function phoneKey(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isVisualSeparator(c)) out += c >= 0x61 && c <= 0x7a ? String.fromCharCode(c - 0x20) : s[i];
  }
  return out;
}

// RFC 3966 §4: same global/local kind, same digits, same parameter set; comparisons case-insensitive
function telEquals(a: TelUri, b: TelUri): boolean {
  if (phoneKey(a.number) !== phoneKey(b.number)) return false; // keeps the leading '+'
  if (a.params.size !== b.params.size) return false;
  for (const [name, va] of a.params) {
    const vb = b.params.get(name);
    if (vb === undefined) return false;
    if (va === null || vb === null) {
      if (va !== vb) return false;
    } else if (name === 'ext' || (name === 'phone-context' && va.charCodeAt(0) === 0x2b)) {
      if (phoneKey(va) !== phoneKey(vb)) return false;
    } else if (!equalsIgnoreCase(va, vb)) {
      return false;
    }
  }
  return true;
}

/**
 * URI equivalence. SIP/SIPS per RFC 3261 §19.1.4 (not transitive: `;security=on` and `;security=off`
 * both equal the bare URI but not each other); tel per RFC 3966 §4; any other scheme compares the
 * scheme case-insensitively and the rest exactly. Strings are parsed first; an unparsable one is never
 * equal to anything.
 */
export function uriEquals(a: Uri | string, b: Uri | string): boolean {
  let ua: Uri;
  let ub: Uri;
  try {
    ua = typeof a === 'string' ? parseUriText(a) : a;
    ub = typeof b === 'string' ? parseUriText(b) : b;
  } catch {
    return false;
  }
  if (isSipUri(ua)) return isSipUri(ub) && sipEquals(ua, ub);
  if (isSipUri(ub)) return false;
  if (isTelUri(ua)) return isTelUri(ub) && telEquals(ua, ub);
  if (isTelUri(ub)) return false;
  const x = ua as AbsoluteUri;
  const y = ub as AbsoluteUri;
  return equalsIgnoreCase(x.scheme, y.scheme) && x.opaque === y.opaque;
}
