/**
 * `name-addr` / `addr-spec` header values (RFC 3261 §20, §25.1): From, To, Contact, Route, Record-Route,
 * Path, Service-Route, Refer-To.
 *
 * Values are `latin1` strings, already unfolded and trimmed; error offsets are relative to the value.
 */
import { SipParseError } from './errors.js';
import {
  formatParams,
  latin1ToText,
  type Params,
  parseParams,
  quote,
  scanQuotedString,
  scanToken,
  skipWs,
  textToLatin1,
  unquote,
} from './lexer.js';
import { formatUri, parseUri, type Uri } from './uri.js';

/** One address: an optional display name, a URI and the header parameters that follow it. */
export interface NameAddr {
  /** Display name: unquoted, quoted-pairs resolved, UTF-8 decoded to text; `undefined` when absent. */
  displayName: string | undefined;
  /** The address: a SIP/SIPS, tel or other absolute URI. */
  uri: Uri;
  /** Header parameters after the URI (`tag`, `q`, `expires`, `+sip.instance`, ...), lower-case names. */
  params: Params;
  /** Whether the URI was written inside `< >`. */
  angle: boolean;
}

/** A Contact header value: either the wildcard `*` (RFC 3261 §10.2.2) or a list of addresses. */
export interface Contacts {
  /** True for `Contact: *`. */
  wildcard: boolean;
  /** The addresses; empty when `wildcard` is true. */
  list: NameAddr[];
}

function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Set by {@link parseElement}: the index where the element ended (at a `,` or the end of the value). */
let elementEnd = 0;

// name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
// display-name = *(token LWS) / quoted-string   RFC 3261 §25.1
function parseElement(s: string, i: number): NameAddr {
  const n = s.length;
  let displayName: string | undefined;
  const c = s.charCodeAt(i);
  if (c === 0x22) {
    const end = scanQuotedString(s, i);
    displayName = latin1ToText(unquote(s, i, end));
    i = skipWs(s, end);
    if (i >= n || s.charCodeAt(i) !== 0x3c) throw new SipParseError("expected '<' after the display name", i);
  } else if (c !== 0x3c) {
    let j = i;
    let tokensEnd = i;
    for (;;) {
      const t = scanToken(s, j);
      if (t === j) break;
      tokensEnd = t;
      j = skipWs(s, t);
    }
    // RFC 4475 §3.1.1.6: `caller<sip:...>` (no LWS before '<') is accepted
    if (tokensEnd === i || j >= n || s.charCodeAt(j) !== 0x3c) return parseAddrSpec(s, i);
    displayName = s.slice(i, tokensEnd);
    i = j;
  }
  // s[i] is '<'. RFC 3261 §25.1 allows no whitespace inside the brackets (RFC 4475 §3.1.2.14)
  const lt = i;
  const gt = s.indexOf('>', lt + 1);
  if (gt === -1) throw new SipParseError("missing '>' after the URI", lt);
  if (gt === lt + 1) throw new SipParseError("empty URI in '<' '>'", gt);
  if (isLws(s.charCodeAt(lt + 1))) throw new SipParseError("whitespace inside '<' '>'", lt + 1);
  if (isLws(s.charCodeAt(gt - 1))) throw new SipParseError("whitespace inside '<' '>'", gt - 1);
  const uri = parseUri(s.slice(lt + 1, gt), lt + 1);
  const params: Params = new Map();
  elementEnd = parseParams(s, gt + 1, params);
  return { displayName, uri, params, angle: true };
}

// addr-spec without < >: RFC 3261 §20 — a URI holding ',', ';' or '?' must be bracketed, so every ';'
// after it starts a header parameter (`Contact: sip:u@h;unknownparam`, RFC 4475 §3.3.12)
function parseAddrSpec(s: string, i: number): NameAddr {
  const n = s.length;
  let j = i;
  let colon = false;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (c === 0x3b || c === 0x2c || isLws(c)) break;
    if (c === 0x3f) throw new SipParseError("a URI with '?' headers must be enclosed in '<' '>'", j);
    if (c === 0x3a) colon = true;
    j++;
  }
  if (j === i) throw new SipParseError('missing URI', i);
  if (!colon && s.indexOf('<', j) !== -1) {
    // `Bell, Alexander <sip:...>` (RFC 4475 §3.1.2.15)
    throw new SipParseError("display name with characters other than tokens (such as ',') must be quoted", i);
  }
  const uri = parseUri(s.slice(i, j), i);
  const params: Params = new Map();
  elementEnd = parseParams(s, j, params);
  return { displayName: undefined, uri, params, angle: false };
}

function parseAll(s: string, single: boolean, contact: boolean): NameAddr[] {
  const n = s.length;
  let i = skipWs(s, 0);
  if (i >= n) throw new SipParseError('empty header value', i);
  const out: NameAddr[] = [];
  for (;;) {
    if (
      contact &&
      s.charCodeAt(i) === 0x2a &&
      (i + 1 >= n || isLws(s.charCodeAt(i + 1)) || s.charCodeAt(i + 1) === 0x2c)
    ) {
      throw new SipParseError("'*' must be the only Contact value", i);
    }
    out.push(parseElement(s, i));
    const end = elementEnd;
    if (end >= n) return out;
    // parseParams stops only at the end or at a top-level ','
    if (single)
      throw new SipParseError("only one value is allowed (a display name with ',' must be quoted)", end);
    i = skipWs(s, end + 1);
    if (i >= n || s.charCodeAt(i) === 0x2c)
      throw new SipParseError('empty element in comma-separated list', i);
  }
}

/**
 * Parses a header value holding exactly one address (From, To, Refer-To):
 * `name-addr` or `addr-spec`, then header parameters. A second comma-separated value is an error.
 */
export function parseNameAddr(value: string): NameAddr {
  return parseAll(value, true, false)[0]!;
}

/** Parses a comma-separated list of one or more addresses (Route, Record-Route, Path, Service-Route). */
export function parseNameAddrList(value: string): NameAddr[] {
  return parseAll(value, false, false);
}

/** Parses a Contact header value: `*` alone (RFC 3261 §10.2.2) or one or more addresses. */
export function parseContacts(value: string): Contacts {
  const n = value.length;
  const i = skipWs(value, 0);
  if (i < n && value.charCodeAt(i) === 0x2a && skipWs(value, i + 1) >= n) return { wildcard: true, list: [] };
  return { wildcard: false, list: parseAll(value, false, true) };
}

/** True when `name` can be written as `*(token LWS)`: tokens separated by single spaces. */
function isTokenPhrase(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  let i = 0;
  for (;;) {
    const t = scanToken(name, i);
    if (t === i) return false;
    if (t === n) return true;
    if (name.charCodeAt(t) !== 0x20) return false;
    i = t + 1;
  }
}

/**
 * Writes an address as a header value: always `name-addr` form (`<uri>`), the display name as tokens
 * when it can be, otherwise quoted (latin1 output: non-ASCII text is written as UTF-8 bytes).
 */
export function formatNameAddr(na: NameAddr): string {
  const addr = `<${formatUri(na.uri)}>${formatParams(na.params)}`;
  if (na.displayName === undefined) return addr;
  const name = isTokenPhrase(na.displayName) ? na.displayName : quote(textToLatin1(na.displayName));
  return `${name} ${addr}`;
}

/** The `tag` parameter (From/To), or `undefined` when there is none or it has no value. */
export function tagOf(na: NameAddr): string | undefined {
  return na.params.get('tag') ?? undefined;
}
