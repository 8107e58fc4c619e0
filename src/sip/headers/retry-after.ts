/**
 * Retry-After (RFC 3261 §20.33, §25.1):
 *
 * ```
 * Retry-After = "Retry-After" HCOLON delta-seconds [ comment ] *( SEMI retry-param )
 * retry-param = ("duration" EQUAL delta-seconds) / generic-param
 * comment     = LPAREN *(ctext / quoted-pair / comment) RPAREN
 * ```
 */
import { SipParseError } from '../errors.js';
import { formatParamValue, latin1ToText, type Params, parseParams, skipWs, textToLatin1 } from '../lexer.js';
import { digitsValue, MAX_UINT32, paramOffset, parseNumericParam, scanDigits } from './common.js';

/** A parsed Retry-After value. */
export interface RetryAfter {
  /** delta-seconds, 0 to 2^32-1. */
  seconds: number;
  /**
   * The comment without its outer parentheses, decoded from UTF-8 to text; nested comments and quoted-pairs are
   * kept as written (`"in (a) meeting"` for `(in (a) meeting)`). `undefined` when there is none.
   */
  comment: string | undefined;
  /** `duration` in seconds (0 to 2^32-1), or `undefined`. When formatting, this field wins over `params`. */
  duration: number | undefined;
  /** Every parameter, `duration` included, with lower-case names. */
  params: Params;
}

/**
 * Scans a comment whose "(" is at `i`; returns the index after its matching ")". Comments nest; a
 * quoted-pair escapes one character (RFC 3261 §25.1 ctext, quoted-pair).
 */
function scanComment(s: string, i: number): number {
  const n = s.length;
  const open = i;
  let depth = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x28) depth++;
    else if (c === 0x29) {
      if (--depth === 0) return i + 1;
    } else if (c === 0x5c) {
      // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
      const e = s.charCodeAt(i + 1);
      if (i + 1 >= n || e === 0x0a || e === 0x0d || e > 0x7f)
        throw new SipParseError('bad escape in comment', i);
      i++;
    } else if ((c < 0x20 && c !== 0x09) || c === 0x7f) {
      // ctext = %x21-27 / %x2A-5B / %x5D-7E / UTF8-NONASCII / LWS
      throw new SipParseError('control character in comment', i);
    }
  }
  throw new SipParseError('unterminated comment', open);
}

/**
 * Parses a Retry-After value such as `120 (I'm in a meeting);duration=3600`. The delta-seconds and
 * `duration` must not exceed 2^32-1 (RFC 4475 §3.1.2.5 scalarlg).
 */
export function parseRetryAfter(value: string): RetryAfter {
  const n = value.length;
  const start = skipWs(value, 0);
  let i = scanDigits(value, start);
  if (i === start) {
    if (start >= n) throw new SipParseError('Retry-After is empty', start);
    throw new SipParseError('Retry-After must start with delta-seconds', start);
  }
  const seconds = digitsValue(value, start, i, MAX_UINT32);
  if (seconds < 0) throw new SipParseError('Retry-After exceeds 2^32-1', start);
  i = skipWs(value, i);
  let comment: string | undefined;
  if (i < n && value.charCodeAt(i) === 0x28) {
    const end = scanComment(value, i);
    comment = latin1ToText(value.slice(i + 1, end - 1).trim());
    i = end;
  }
  const paramsStart = i;
  const params: Params = new Map();
  i = parseParams(value, i, params);
  if (i < n) throw new SipParseError('Retry-After holds a single value; unexpected comma', i);
  const d = params.get('duration');
  const duration =
    d === undefined
      ? undefined
      : parseNumericParam(
          d,
          MAX_UINT32,
          '2^32-1',
          'Retry-After duration',
          paramOffset(value, paramsStart, 'duration'),
        );
  return { seconds, comment, duration, params };
}

/**
 * Writes a Retry-After value. The comment is written inside parentheses; parentheses in it that do not
 * balance, and backslashes that would escape a closing one, are escaped.
 */
export function formatRetryAfter(r: RetryAfter): string {
  let out = `${r.seconds}`;
  if (r.comment !== undefined) out += ` (${escapeComment(textToLatin1(r.comment))})`;
  let durationWritten = false;
  for (const [name, v] of r.params) {
    if (name === 'duration') {
      if (!durationWritten && r.duration !== undefined) out += `;duration=${r.duration}`;
      durationWritten = true;
    } else {
      out += v === null ? `;${name}` : `;${name}=${formatParamValue(v)}`;
    }
  }
  if (!durationWritten && r.duration !== undefined) out += `;duration=${r.duration}`;
  return out;
}

/** Makes `c` safe between "(" and ")": a comment that already scans as balanced is kept as it is. */
function escapeComment(c: string): string {
  try {
    if (scanComment(`(${c})`, 0) === c.length + 2) return c;
  } catch (e) {
    if (!(e instanceof SipParseError)) throw e;
  }
  let out = '';
  for (let i = 0; i < c.length; i++) {
    const ch = c.charCodeAt(i);
    if (ch === 0x28 || ch === 0x29 || ch === 0x5c) out += `\\${c[i]}`;
    else if (ch < 0x20 || ch === 0x7f) out += ' ';
    else out += c[i];
  }
  return out;
}
