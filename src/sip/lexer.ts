/**
 * Character classes and small scanners shared by every header parser (RFC 3261 §25.1).
 *
 * All scanners work on `latin1` strings, where one char is one byte of the message, and return
 * the index where they stopped. They never allocate unless they return a new string.
 */
import { SipParseError } from './errors.js';

/** Parameters of a header value or URI: lower-case name → value (`null` for a flag such as `;lr`). */
export type Params = Map<string, string | null>;

const C_TOKEN = 1;
const C_WS = 2;
const C_ALNUM = 4;
const C_WORD = 8;
const C_PARAMVAL = 16;

/** Per-byte class flags. */
export const CHAR_CLASS: Uint8Array = (() => {
  const t = new Uint8Array(256);
  const set = (chars: string, flag: number) => {
    for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)]! |= flag;
  };
  for (let c = 0x30; c <= 0x39; c++) t[c]! |= C_TOKEN | C_ALNUM | C_WORD | C_PARAMVAL;
  for (let c = 0x41; c <= 0x5a; c++) t[c]! |= C_TOKEN | C_ALNUM | C_WORD | C_PARAMVAL;
  for (let c = 0x61; c <= 0x7a; c++) t[c]! |= C_TOKEN | C_ALNUM | C_WORD | C_PARAMVAL;
  // token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
  set("-.!%*_+`'~", C_TOKEN | C_WORD | C_PARAMVAL);
  // word adds ( ) < > : \ DQUOTE / [ ] ? { }
  set('()<>:\\"/[]?{}', C_WORD);
  // gen-value = token / host / quoted-string: a host adds [ ] and : (IPv6 references)
  set('[]:', C_PARAMVAL);
  set(' \t', C_WS);
  return t;
})();

/** `token` character (RFC 3261 §25.1). */
export function isTokenChar(c: number): boolean {
  return (CHAR_CLASS[c]! & C_TOKEN) !== 0;
}

/** `word` character, as used by Call-ID (RFC 3261 §25.1). */
export function isWordChar(c: number): boolean {
  return (CHAR_CLASS[c]! & C_WORD) !== 0;
}

/** ALPHA or DIGIT. */
export function isAlphaNum(c: number): boolean {
  return (CHAR_CLASS[c]! & C_ALNUM) !== 0;
}

/** SP or HTAB. */
export function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Skips SP, HTAB and (in values that kept their folding) CR/LF. */
export function skipWs(s: string, i: number): number {
  const n = s.length;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) break;
    i++;
  }
  return i;
}

/** Index after a run of token characters starting at `i` (equal to `i` when there is none). */
export function scanToken(s: string, i: number): number {
  const n = s.length;
  while (i < n && (CHAR_CLASS[s.charCodeAt(i)]! & C_TOKEN) !== 0) i++;
  return i;
}

/** Index after a run of `word` characters (Call-ID). */
export function scanWord(s: string, i: number): number {
  const n = s.length;
  while (i < n && (CHAR_CLASS[s.charCodeAt(i)]! & C_WORD) !== 0) i++;
  return i;
}

/**
 * Scans a quoted-string whose opening DQUOTE is at `i`. Returns the index after the closing DQUOTE.
 * Throws when the string never closes or a quoted-pair escapes CR/LF.
 */
export function scanQuotedString(s: string, i: number): number {
  const n = s.length;
  let j = i + 1;
  while (j < n) {
    const c = s.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c === 0x5c) {
      // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
      const e = s.charCodeAt(j + 1);
      if (j + 1 >= n || e === 0x0a || e === 0x0d || e > 0x7f)
        throw new SipParseError('bad escape in quoted string', j);
      j += 2;
      continue;
    }
    j++;
  }
  throw new SipParseError('unterminated quoted string', i);
}

/** The content of the quoted-string `s.slice(start, end)` (quotes included) with quoted-pairs resolved. */
export function unquote(s: string, start: number, end: number): string {
  const inner = s.slice(start + 1, end - 1);
  if (inner.indexOf('\\') === -1) return inner;
  let out = '';
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (c === '\\' && i + 1 < inner.length) out += inner[++i];
    else out += c;
  }
  return out;
}

/**
 * Writes `value` as a quoted-string: `"` and `\` and control characters become quoted-pairs; CR and LF,
 * which no quoted-pair can carry, become a space (so a value can never inject a header line).
 */
export function quote(value: string): string {
  let plain = true;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x22 || c === 0x5c || (c < 0x20 && c !== 0x09) || c === 0x7f) {
      plain = false;
      break;
    }
  }
  if (plain) return `"${value}"`;
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x0d || c === 0x0a) out += ' ';
    else if (c === 0x22 || c === 0x5c || (c < 0x20 && c !== 0x09) || c === 0x7f) out += `\\${value[i]}`;
    else out += value[i];
  }
  return `${out}"`;
}

/** Writes a gen-value: as it is when it is a token or host, otherwise as a quoted-string. */
export function formatParamValue(value: string): string {
  if (value.length === 0) return '""';
  for (let i = 0; i < value.length; i++) {
    if ((CHAR_CLASS[value.charCodeAt(i)]! & C_PARAMVAL) === 0) return quote(value);
  }
  return value;
}

/**
 * True when `s.slice(start, start + lit.length)` equals `lit` ignoring ASCII case. `lit` is lower case
 * (letters, digits, `-`, `.`, `/`) and `s` holds token characters there: among those, `| 0x20` maps only
 * A-Z onto a-z, so the comparison cannot match anything else.
 */
export function equalsLower(s: string, start: number, lit: string): boolean {
  for (let k = 0; k < lit.length; k++)
    if ((s.charCodeAt(start + k) | 0x20) !== lit.charCodeAt(k)) return false;
  return true;
}

/** Parameter names nearly every message carries, by length (Via, URI, From/To/Contact parameters). */
const COMMON_PARAMS: readonly (readonly string[])[] = (() => {
  const names = 'q lr ob gr tag ttl user ftag rport maddr branch method expires received transport';
  const byLength: string[][] = [];
  for (const n of names.split(' ')) {
    while (byLength.length <= n.length) byLength.push([]);
    byLength[n.length]!.push(n);
  }
  return byLength;
})();

/**
 * The lower-case name of the parameter written at `s[start, end)`: the common ones as interned literals,
 * found without slicing, lower-casing or hashing a new string; others sliced and lower-cased.
 */
export function paramName(s: string, start: number, end: number): string {
  const len = end - start;
  if (len < COMMON_PARAMS.length) {
    const candidates = COMMON_PARAMS[len]!;
    for (let k = 0; k < candidates.length; k++) {
      const lit = candidates[k]!;
      if (equalsLower(s, start, lit)) return lit;
    }
  }
  return s.slice(start, end).toLowerCase();
}

/** Writes parameters as `;name=value;flag`. */
export function formatParams(params: Params): string {
  let out = '';
  for (const [name, value] of params)
    out += value === null ? `;${name}` : `;${name}=${formatParamValue(value)}`;
  return out;
}

/**
 * Parses `*( SEMI generic-param )` starting at `i` (which must point at `;` or at the end) into `params`.
 * Stops at a `,` (the next list element) or the end; returns the index where it stopped.
 * Parameter names are stored lower-case; quoted values are stored unquoted.
 */
export function parseParams(s: string, i: number, params: Params): number {
  const n = s.length;
  i = skipWs(s, i);
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === 0x2c) return i; // ,
    if (c !== 0x3b)
      throw new SipParseError(`unexpected character '${s[i]}' where a parameter was expected`, i);
    i = skipWs(s, i + 1);
    const nameStart = i;
    i = scanToken(s, i);
    if (i === nameStart) throw new SipParseError('empty parameter', nameStart);
    const name = paramName(s, nameStart, i);
    i = skipWs(s, i);
    if (i < n && s.charCodeAt(i) === 0x3d) {
      i = skipWs(s, i + 1);
      if (i < n && s.charCodeAt(i) === 0x22) {
        const end = scanQuotedString(s, i);
        params.set(name, unquote(s, i, end));
        i = end;
      } else {
        const valueStart = i;
        while (i < n && (CHAR_CLASS[s.charCodeAt(i)]! & C_PARAMVAL) !== 0) i++;
        if (i === valueStart) throw new SipParseError(`parameter '${name}' has an empty value`, valueStart);
        params.set(name, s.slice(valueStart, i));
      }
      i = skipWs(s, i);
    } else {
      params.set(name, null);
    }
  }
  return i;
}

/** One element of a comma-separated header value, with its offset inside the value. */
export interface ListElement {
  text: string;
  offset: number;
}

/**
 * Splits a header value at top-level commas: commas inside quoted strings and `<...>` do not split.
 * Each element is trimmed; an empty element (`a,,b` or a trailing comma) is a parse error.
 */
export function splitList(s: string): ListElement[] {
  const out: ListElement[] = [];
  const n = s.length;
  let start = 0;
  let i = 0;
  let inAngle = false;
  while (i <= n) {
    const c = i < n ? s.charCodeAt(i) : 0x2c;
    if (c === 0x22 && !inAngle) {
      i = scanQuotedString(s, i);
      continue;
    }
    if (c === 0x3c) inAngle = true;
    else if (c === 0x3e) inAngle = false;
    else if (c === 0x2c && !inAngle) {
      const a = skipWs(s, start);
      let b = i;
      while (b > a && isWsOrLineEnd(s.charCodeAt(b - 1))) b--;
      if (a === b) throw new SipParseError('empty element in comma-separated list', a);
      out.push({ text: s.slice(a, b), offset: a });
      start = i + 1;
    }
    i++;
  }
  if (inAngle) throw new SipParseError("unclosed '<'", start);
  return out;
}

function isWsOrLineEnd(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/** Decodes a latin1 string holding UTF-8 bytes into text. Pure ASCII is returned as it is. */
export function latin1ToText(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'latin1').toString('utf8');
  }
  return s;
}

/** Encodes text as a latin1 string of its UTF-8 bytes (the inverse of {@link latin1ToText}). */
export function textToLatin1(s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1');
  }
  return s;
}

/** Parses a non-negative decimal integer of at most `maxDigits` digits; returns -1 when `s` is not one. */
export function parseDecimal(s: string, maxDigits = 10): number {
  const n = s.length;
  if (n === 0) return -1;
  let v = 0;
  let digits = 0;
  let i = 0;
  while (i < n && s.charCodeAt(i) === 0x30 && i < n - 1) i++; // leading zeros are legal (RFC 4475 wsinv)
  for (; i < n; i++) {
    const c = s.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    if (++digits > maxDigits) return -1;
    v = v * 10 + c;
  }
  return v;
}
